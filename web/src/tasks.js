// The progress of a task started from a button (a shutdown), for both
// pages: in the VM page's bundle, which the list page imports when it
// needs it.
import { watchTask } from "./api.js";
import { h } from "./dom.js";

// A task's progress (a shutdown's: the guest is asked, then powered off
// hard after its timeout, 120 s by default) at the top of where (the
// page's main), until it ends and 10 s after; followed for at most 150 s
// and while it is shown (another page: no more requests).
export async function followTask(where, label, task) {
  const el = h("div", { class: "flash", role: "status", "data-task": task.id });
  where.prepend(el);
  const show = (t) => {
    if (!el.isConnected) throw new Error("gone"); // another page: stop asking
    el.dataset.state = t.state;
    el.className = t.state === "error" ? "flash bad" : "flash";
    el.textContent = `${label}: ${t.state === "running" ? `running ${t.progress || 0} %` : t.state}` +
      (t.message ? ` (${t.message})` : "");
  };
  try {
    const t = await watchTask(task, show, { maxPolls: 150, maxMs: 150e3 });
    if (t.state === "running") el.textContent += ": still running, see the events";
  } catch (e) {
    el.className = "flash bad";
    el.textContent = `${label}: ${e.message}`;
  }
  setTimeout(() => el.remove(), 10000);
}
