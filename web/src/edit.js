// The VM page's edit form (in its own file: the list page never shows
// it).
import { call } from "./api.js";
import { h } from "./dom.js";
import { diskRows, nicRows } from "./devrows.js";

// The edit form of a VM: size, disks and NICs (while it is not running;
// the API refuses those with 409 otherwise) and QoS (at any time), sent
// as a JSON merge patch of its definition (RFC 7396: an empty limit is
// null, i.e. unlimited; disks and nics, when changed, replace the lists
// whole). after(): refresh the page; flash(msg, bad): tell the user.
export function editForm(vm, after, flash) {
  const d = vm.definition || {};
  const q = d.qos || {}, qc = q.cpu || {}, qm = q.memory || {};
  const running = vm.state === "running" || vm.state === "paused";
  const shares = (id, v) => h("select", { id },
    ...["low", "normal", "high"].map((o) => h("option", { value: o, selected: o === v }, o)),
    ...(["low", "normal", "high"].includes(v) ? [] : [h("option", { value: String(v), selected: true }, String(v))]));
  const inp = (id, v, attrs = {}) => h("input", { id, value: v == null ? "" : String(v), ...attrs });
  const lab = (text, el) => h("label", {}, text + " ", el);
  const msg = h("span", { class: "error", id: "edit-error" });
  const disks = diskRows("e-disks", d.disks || []), nics = nicRows("e-nics", d.nics || []);
  const d0 = JSON.stringify(disks.value()), n0 = JSON.stringify(nics.value());
  const form = h("form", {
    id: "edit",
    onsubmit: async (e) => {
      e.preventDefault();
      const val = (id) => form.querySelector("#" + id).value.trim();
      const num = (s) => (/^[0-9]+$/.test(s) ? Number(s) : s);
      const patch = {
        qos: {
          cpu: { shares: num(val("e-cshares")), reservation_mhz: Number(val("e-cres") || 0),
            limit_mhz: val("e-clim") ? Number(val("e-clim")) : null },
          memory: { shares: num(val("e-mshares")), reservation: val("e-mres") || "0",
            limit: val("e-mlim") || null },
        },
      };
      if (!running) {
        patch.cpus = Number(val("e-cpus"));
        patch.memory = val("e-mem");
      }
      // changed devices are sent even while it runs: the API's 409 says why not
      const dv = disks.value(), nv = nics.value();
      if (JSON.stringify(dv) !== d0) patch.disks = dv;
      if (JSON.stringify(nv) !== n0) patch.nics = nv;
      msg.textContent = "";
      try {
        await call("PATCH", `/v1/vms/${encodeURIComponent(vm.name)}`, patch);
        msg.textContent = "";
        flash(`${vm.name}: saved`, false);
        after();
      } catch (err) {
        msg.textContent = err.message;
      }
    },
  },
  lab("vCPUs", inp("e-cpus", d.cpus, { type: "number", min: 1, max: 64, disabled: running })),
  lab("Memory", inp("e-mem", d.memory, { size: 6, disabled: running })),
  running ? h("span", { class: "muted" }, " (size: stop the VM to change)") : null,
  h("br"),
  lab("CPU shares", shares("e-cshares", qc.shares || "normal")),
  lab("reservation MHz", inp("e-cres", qc.reservation_mhz || 0, { size: 7 })),
  lab("limit MHz", inp("e-clim", qc.limit_mhz, { size: 7, placeholder: "unlimited" })),
  h("br"),
  lab("Memory shares", shares("e-mshares", qm.shares || "normal")),
  lab("reservation", inp("e-mres", qm.reservation || "0", { size: 6 })),
  lab("limit", inp("e-mlim", qm.limit, { size: 6, placeholder: "unlimited" })),
  h("h3", {}, "Disks and NICs", running ? h("span", { class: "muted" }, " (stop the VM to change them)") : null),
  disks.el, nics.el,
  h("button", { type: "submit" }, "Save"), " ", msg);
  return h("details", { class: "create", id: "edit-box" }, h("summary", {}, "Edit size, devices and QoS"), form);
}
