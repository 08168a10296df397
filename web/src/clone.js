// The VM page's template and clone box, for a VM that is off: convert it
// to a template (POST /v1/vms/{vm}/template) or back, and clone it (POST
// /v1/vms/{vm}/clone: linked, from a template only, or full), then show
// the new VM. A full clone is a task: its progress is shown until it
// ends (GET /v1/tasks/{id}).
import { call, watchTask } from "./api.js";
import { h } from "./dom.js";

// vm: GET /v1/vms/{vm}; after(): refresh the page; err(msg): tell the user.
export function cloneBox(vm, after, err) {
  const path = `/v1/vms/${encodeURIComponent(vm.name)}`;
  const convert = h("button", {
    type: "button",
    "data-action": vm.template ? "untemplate" : "template",
    onclick: async (e) => {
      e.target.disabled = true;
      try {
        await call("POST", path + "/template", { template: !vm.template });
      } catch (x) {
        err(`${vm.name}: ${x.message}`);
      }
      after();
    },
  }, vm.template ? "Convert to VM" : "Convert to template");

  const name = h("input", { id: "clone-name", required: true, size: 16,
    pattern: "[A-Za-z0-9][A-Za-z0-9._-]*", placeholder: vm.name + "-1" });
  const mode = h("select", { id: "clone-mode" },
    h("option", { value: "linked", disabled: !vm.template, selected: !!vm.template },
      "linked (overlays on the template's disks)"),
    h("option", { value: "full", selected: !vm.template }, "full (copies of the disks)"));
  const msg = h("span", { id: "clone-status", class: "muted" });
  const form = h("form", {
    id: "clone",
    onsubmit: async (e) => {
      e.preventDefault();
      const n = name.value.trim();
      const btn = form.querySelector("button[type=submit]");
      btn.disabled = true;
      msg.className = "muted";
      msg.textContent = "cloning…";
      try {
        // a full clone copies the disks: followed for up to an hour
        const t = await watchTask(await call("POST", path + "/clone", { name: n, mode: mode.value }), (t) => {
          if (t.state === "running")
            msg.textContent = `cloning: ${t.progress || 0} %` + (t.message ? ` (${t.message})` : "");
        }, { maxPolls: 3600, maxMs: 3600e3 });
        if (t.state === "running") throw new Error(`still cloning after an hour: task ${t.id} goes on`);
        if (t.state !== "success") throw new Error(t.message || "the clone failed");
        location.hash = "#/vm/" + encodeURIComponent(n);
      } catch (x) {
        msg.className = "error";
        msg.textContent = x.message;
        btn.disabled = false;
      }
    },
  },
  h("label", {}, "Name ", name), " ",
  h("label", {}, "Clone ", mode), " ",
  h("button", { type: "submit" }, "Clone"), " ", msg);

  const lead = vm.template
    ? "A template: it cannot start; clone it to make VMs from it. "
    : "";
  // a template is there to be cloned: its form is open
  return h("details", { class: "create", id: "clone-box", open: !!vm.template },
    h("summary", {}, vm.template ? "Template: clone" : "Clone or convert to template"),
    h("p", {}, lead, convert), form);
}
