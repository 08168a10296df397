// The VM page's Snapshots section: the VM's snapshots (GET
// /v1/vms/{vm}/snapshots, oldest first: name, when, with the VM's memory
// or of the disks only, description), a form to take one (POST: name,
// description, memory for a running or paused VM, or disk-only: an
// external snapshot, a new qcow2 overlay per disk) and per row revert
// (POST .../revert) and delete (DELETE). Errors are the API's own
// messages (a raw disk, a name in use, revert while running: 409).
import { call } from "./api.js";
import { h } from "./dom.js";

const live = (s) => s === "running" || s === "paused";

// el: where the section goes; err(msg): tell the user (the page's flash);
// after(): refresh the page (a revert changes the VM's state).
// Returns { vm(v): the VM's latest GET, reload(): list again }.
export function snapshotBox(el, name, err, after) {
  const path = `/v1/vms/${encodeURIComponent(name)}/snapshots`;
  const tbody = h("tbody");
  const table = h("table", { id: "snapshots", class: "grid" },
    h("thead", {}, h("tr", {}, ["Name", "Taken", "Kind", "Description", ""].map((t) => h("th", {}, t)))),
    tbody);
  const none = h("p", { class: "muted" }, "No snapshots.");
  const sname = h("input", { id: "snap-name", required: true, size: 16,
    pattern: "[A-Za-z0-9][A-Za-z0-9._-]{0,63}", placeholder: "before-upgrade" });
  const desc = h("input", { id: "snap-desc", size: 30, maxlength: 512 });
  const mem = h("input", { type: "checkbox", id: "snap-memory" });
  // external: overlays instead of internal snapshots, never with memory
  const ext = h("input", {
    type: "checkbox", id: "snap-external",
    onchange: () => {
      mem.disabled = ext.checked || !live(state);
      mem.checked = !mem.disabled && live(state);
    },
  });
  const msg = h("span", { class: "error", id: "snap-error" });
  const form = h("form", {
    id: "snap-take",
    onsubmit: async (e) => {
      e.preventDefault();
      const btn = form.querySelector("button[type=submit]");
      btn.disabled = true;
      msg.className = "muted";
      msg.textContent = "taking…";
      const body = { name: sname.value.trim(), memory: !mem.disabled && mem.checked };
      if (ext.checked) body.disk_only = true;
      if (desc.value.trim()) body.description = desc.value.trim();
      try {
        await call("POST", path, body);
        msg.textContent = "";
        sname.value = desc.value = "";
      } catch (x) {
        msg.className = "error";
        msg.textContent = x.message;
      }
      btn.disabled = false;
      reload();
    },
  },
  h("label", {}, "Name ", sname), " ",
  h("label", {}, "Description ", desc), " ",
  h("label", { title: "the VM's memory too (a running or paused VM): a revert continues it from this instant" },
    mem, " with memory"), " ",
  h("label", { title: "an external snapshot: each disk goes on in a new qcow2 overlay next to its image" },
    ext, " disk-only (overlays)"), " ",
  h("button", { type: "submit" }, "Take snapshot"), " ", msg);
  el.replaceChildren(h("section", {}, h("h2", {}, "Snapshots"), table, none, form));

  let state = null, gen = 0;
  // a row's button: confirm, call, list again, refresh the page
  const act = (label, question, method, url) => h("button", {
    type: "button",
    "data-action": "snapshot-" + label,
    onclick: async (e) => {
      if (!confirm(question)) return;
      e.target.disabled = true;
      try {
        await call(method, url);
      } catch (x) {
        err(`${label} snapshot: ${x.message}`);
      }
      reload();
      after();
    },
  }, label);

  function draw(list) {
    tbody.replaceChildren(...list.map((s) => {
      const u = `${path}/${encodeURIComponent(s.name)}`;
      const kind = s.memory ? "with memory" : "disk-only" + (s.type === "external" ? " (overlays)" : "");
      return h("tr", { "data-snapshot": s.name },
        h("td", {}, s.name),
        h("td", {}, s.created_ms ? new Date(s.created_ms).toLocaleString() : ""),
        h("td", { "data-kind": s.memory ? "memory" : "disk" }, kind),
        h("td", {}, s.description || ""),
        h("td", { class: "actions" },
          act("revert", `Revert ${name} to ${s.name}?` + (s.memory
            ? " A running VM is stopped and continues from the snapshot."
            : " Its disks return to the snapshot (the VM must be off)."), "POST", u + "/revert"),
          act("delete", `Delete snapshot ${s.name} of ${name}?`, "DELETE", u)));
    }));
    table.hidden = !list.length;
    none.hidden = !!list.length;
    el.dataset.loaded = "1";
  }
  async function reload() {
    const g = ++gen;
    try {
      const r = await call("GET", path);
      if (g === gen) draw(r.snapshots || []);
    } catch (x) {
      err("snapshots: " + x.message);
    }
  }
  reload();
  return {
    // memory is for a running or paused VM only (the API refuses it for
    // one that is off); checked by default there, as virsh does
    vm(v) {
      if (state !== null && live(v.state) === live(state)) return;
      state = v.state;
      mem.disabled = ext.checked || !live(state);
      mem.checked = !mem.disabled;
    },
    reload,
  };
}
