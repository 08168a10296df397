// Rows to edit a VM's disks and NICs (docs/vm-definition.md: disks[],
// nics[]), add and remove: the create form's and the edit form's. A row
// made from an existing device keeps the fields the form does not show
// (a NIC's MAC, forwards; a disk's cache settings) unless its kind
// changes. Inputs are found by class (d-path, d-format, d-ro; n-type,
// n-switch, n-pg) within #ID-disks and #ID-nics.
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
// path left out).
export function diskRows(id, disks = []) {
  const r = rowsOf(id, "disk", (d) => [
    h("label", {}, "Disk ", h("input", { class: "d-path", size: 40, value: d ? d.path : "",
      placeholder: "/path/to/image (none: empty)" })),
    h("label", {}, "Format ", h("select", { class: "d-format" },
      ["raw", "qcow2"].map((f) => h("option", { value: f, selected: ((d && d.format) || "raw") === f }, f)))),
    h("label", {}, h("input", { type: "checkbox", class: "d-ro", checked: !!(d && d.readonly) }), " read-only"),
  ], disks);
  return {
    el: r.el,
    value: () => [...r.rows.children].map((row) => {
      const q = (c) => row.querySelector("." + c);
      const path = q("d-path").value.trim();
      return path && { ...(row.orig || {}), path, format: q("d-format").value, readonly: q("d-ro").checked };
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
