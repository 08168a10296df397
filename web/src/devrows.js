// Rows to edit a VM's disks and NICs (docs/vm-definition.md: disks[],
// nics[]), add and remove: the create form's and the edit form's. A row
// made from an existing device keeps the fields the form does not show
// (a NIC's MAC, forwards; a disk's cache settings) unless its kind
// changes. Inputs are found by class (d-src, d-path, d-format, d-linked,
// d-ro; n-type, n-switch, n-pg) within #ID-disks and #ID-nics.
import { h } from "./dom.js";

function rowsOf(id, what, make, list) {
  const rows = h("div", { class: "devrows", id });
  const add = (orig) => {
    const row = h("div", { class: "devrow" }, make(orig),
      h("button", { type: "button", "data-action": "remove", onclick: () => row.remove() }, "remove"));
    row.orig = orig;
    rows.append(row);
  };
  list.forEach(add);
  const el = h("div", {}, rows,
    h("button", { type: "button", "data-action": "add-" + what, onclick: () => add(null) }, "add " + what));
  return { el, rows, add };
}

// disks: the definition's disks. value(): the rows' disks (rows with no
// path left out). imports (the create form): a row may instead make its
// disk from an image (disks[].import_from, docs/vm-definition.md "Disks
// from an image"): "import from image" takes the image's path and a
// linked checkbox (a qcow2 overlay on the image instead of a copy); the
// format is the image's, probed by the daemon.
export function diskRows(id, disks = [], { imports = false } = {}) {
  const r = rowsOf(id, "disk", (d) => {
    const fmt = h("select", { class: "d-format" },
      ["raw", "qcow2"].map((f) => h("option", { value: f, selected: ((d && d.format) || "raw") === f }, f)));
    const linked = h("input", { type: "checkbox", class: "d-linked", disabled: true });
    const path = h("input", { class: "d-path", size: 40, value: d ? d.path : "",
      placeholder: "/path/to/image (none: empty)" });
    const src = imports && h("select", {
      class: "d-src",
      onchange: (e) => {
        const imp = e.target.value === "import";
        fmt.disabled = imp;
        linked.disabled = !imp;
        path.placeholder = imp ? "/path/to/image to import (raw or qcow2)" : "/path/to/image (none: empty)";
      },
    }, h("option", { value: "path" }, "existing image"), h("option", { value: "import" }, "import from image"));
    return [
      src ? h("label", {}, "Disk ", src) : null,
      h("label", {}, src ? " " : "Disk ", path),
      h("label", {}, "Format ", fmt),
      src ? h("label", {}, linked, " linked") : null,
      h("label", {}, h("input", { type: "checkbox", class: "d-ro", checked: !!(d && d.readonly) }), " read-only"),
    ];
  }, disks);
  return {
    el: r.el,
    value: () => [...r.rows.children].map((row) => {
      const q = (c) => row.querySelector("." + c);
      const path = q("d-path").value.trim();
      if (!path) return null;
      if (q("d-src") && q("d-src").value === "import")
        return { import_from: path, linked: q("d-linked").checked || undefined, readonly: q("d-ro").checked };
      return { ...(row.orig || {}), path, format: q("d-format").value, readonly: q("d-ro").checked };
    }).filter(Boolean),
  };
}

// nics: the definition's nics. value(): the rows' NICs.
export function nicRows(id, nics = []) {
  const r = rowsOf(id, "NIC", (n) => {
    const sw = (n && n.type) === "switch";
    const swIn = (cls, v, attrs) => h("input", { class: cls, value: v || "", disabled: !sw, ...attrs });
    return [
      h("label", {}, "Network ", h("select", {
        class: "n-type",
        onchange: (e) => e.target.closest(".devrow").querySelectorAll(".n-switch, .n-pg")
          .forEach((x) => (x.disabled = e.target.value !== "switch")),
      }, h("option", { value: "user", selected: !sw }, "user (NAT)"),
      h("option", { value: "switch", selected: sw }, "switch"))),
      h("label", {}, "Switch ", swIn("n-switch", n && n.switch, { size: 16, required: true })),
      h("label", {}, "Port group ", swIn("n-pg", n && n.portgroup, { size: 12, placeholder: "default" })),
      n && n.mac ? h("span", { class: "muted" }, n.mac) : null,
    ];
  }, nics);
  return {
    el: r.el,
    value: () => [...r.rows.children].map((row) => {
      const q = (c) => row.querySelector("." + c);
      const o = row.orig || {}, type = q("n-type").value;
      // the same kind: keep what the form does not show; another: its MAC
      const base = (o.type || "user") === type ? { ...o } : o.mac ? { mac: o.mac } : {};
      if (type === "user") {
        delete base.switch;
        delete base.portgroup;
        return { ...base, type };
      }
      const pg = q("n-pg").value.trim();
      const n = { ...base, type, switch: q("n-switch").value.trim() };
      if (pg) n.portgroup = pg;
      else delete n.portgroup;
      return n;
    }),
  };
}
