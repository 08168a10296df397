// Softvisor's web console: a hash router over four views (log in, VM
// list, VM detail with console and chart, events). Plain DOM, no
// framework; every value from the server goes in as text, never as HTML.
import { call, reply, token, setToken, followEvents, watchTask, ApiError } from "./api.js";
import { h } from "./dom.js";

// VMPAGE_JS, VMPAGE_CSS: the URLs of the VM page's script and styles,
// named by their content's hash (set by build.mjs)

const main = document.getElementById("main");
let cleanup = [];           // what the current view must undo
const events = [];          // the newest events, oldest first (<= 500)
const eventListeners = new Set();
let stopEvents = null;
let streamState = "";

function fmtBytes(n) {
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(n % (1 << 30) ? 1 : 0) + " GiB";
  return Math.round(n / (1 << 20)) + " MiB";
}

function fmtTime(ms) {
  return new Date(ms).toLocaleString();
}

function fmtUptime(s) {
  if (!s) return "";
  s = Math.floor(s);
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600);
  const mm = Math.floor((s % 3600) / 60), ss = s % 60;
  return (d ? d + "d " : "") + `${hh}:${String(mm).padStart(2, "0")}:${String(ss).padStart(2, "0")}`;
}

function flash(msg, bad = true) {
  const el = h("div", { class: bad ? "flash bad" : "flash", role: "status" }, msg);
  main.prepend(el);
  setTimeout(() => el.remove(), 6000);
}

const ACTIONS = {
  start: ["defined", "stopped", "crashed"],
  shutdown: ["running"],
  stop: ["running", "paused"],
  pause: ["running"],
  resume: ["paused"],
};

// The power buttons of a VM, enabled by its state (a template cannot
// start); only the ones it allows with applicable (the list: fewer
// controls to lay out).
function actionButtons(vm, after, applicable = false) {
  const allows = (act, states) => states.includes(vm.state) && !(vm.template && act === "start");
  return Object.entries(ACTIONS).filter(([act, states]) => !applicable || allows(act, states)).map(([act, states]) =>
    h("button", {
      type: "button",
      class: "act-" + act,
      "data-action": act,
      disabled: !allows(act, states),
      onclick: async (e) => {
        e.target.disabled = true;
        try {
          const r = await call("POST", `/v1/vms/${encodeURIComponent(vm.name)}/${act}`);
          // its task's progress: the code is the VM page's (the list
          // page stays small), fetched once, on the first shutdown
          if (act === "shutdown")
            import(VMPAGE_JS).then((m) => m.followTask(main, `shutdown ${vm.name}`, r),
              (x) => flash(`shutdown ${vm.name}: started; its progress cannot be shown (${x.message})`));
        } catch (err) {
          flash(`${act} ${vm.name}: ${err.message}`);
        }
        after && after();
      },
    }, act));
}

function stateBadge(state) {
  return h("span", { class: "state state-" + state }, state);
}

// ---- log in ---------------------------------------------------------------

function viewLogin() {
  document.getElementById("nav").hidden = true;
  const input = h("input", { type: "password", id: "token", autocomplete: "off",
    placeholder: "svt_...", size: 50, required: true });
  const msg = h("p", { class: "error", id: "login-error" });
  const form = h("form", {
    id: "login",
    onsubmit: async (e) => {
      e.preventDefault();
      setToken(input.value.trim());
      try {
        await call("GET", "/v1/host");
        startSession();
        location.hash = "#/";
        route();
      } catch (err) {
        setToken("");
        msg.textContent = err instanceof ApiError && err.status === 401
          ? "That token is not valid (unknown, revoked or expired)."
          : "Cannot log in: " + err.message;
      }
    },
  },
  h("h1", {}, "Log in"),
  h("p", {}, "Paste an API token (softvisor token create NAME on the host)."),
  h("label", { for: "token" }, "Token "), input, " ",
  h("button", { type: "submit" }, "Log in"), msg);
  main.append(form);
  input.focus();
}

// ---- VM list --------------------------------------------------------------

// The create form: a VM that boots a kernel and initrd (vm create's
// --kernel/--initrd/--append) with disks and NICs (rows to add and
// remove: the VM page's code, fetched when the form is first opened);
// docs/vm-definition.md has the rest.
function createForm(after) {
  // the form itself is built when the box is first opened: a page load
  // lays out, and the browser's form scanning (autofill) reads, no form
  const box = h("details", {
    class: "create",
    ontoggle: () => {
      if (box.open && !box.querySelector("form")) box.append(buildCreateForm(after));
    },
  }, h("summary", {}, "Create a VM"));
  return box;
}

function buildCreateForm(after) {
  const f = (id, label, attrs = {}) => h("label", {}, label + " ",
    h("input", { id: "new-" + id, ...attrs }));  // no name: form.append would be the input
  const msg = h("span", { class: "error", id: "create-error" });
  const devSlot = h("div", { id: "new-devices" }, h("span", { class: "muted" }, "loading…"));
  const submit = h("button", { type: "submit", disabled: true }, "Create");
  let rows = null;
  const fillRows = (m) => {
    rows = { disks: m.diskRows("new-disks", [null], { imports: true }), nics: m.nicRows("new-nics") };
    devSlot.replaceChildren(rows.disks.el, rows.nics.el);
    submit.disabled = false;
  };
  let heavy = null;
  const form = h("form", {
    id: "create",
    onsubmit: async (e) => {
      e.preventDefault();
      const v = (id) => form.querySelector("#new-" + id).value.trim();
      const def = { name: v("name"), cpus: Number(v("cpus")), memory: v("memory"),
        boot: { kernel: v("kernel"), initrd: v("initrd") || undefined, append: v("append") || undefined } };
      const disks = rows.disks.value().map((d) => ({ ...d, readonly: d.readonly || undefined }));
      const nics = rows.nics.value();
      if (disks.length) def.disks = disks;
      if (nics.length) def.nics = nics;
      msg.className = "error";
      msg.textContent = "";
      try {
        const r = await call("POST", "/v1/vms", def);
        if (disks.some((d) => d.import_from)) {
          // disks made from images: a task (202), copies take a while;
          // followed as the clone box does, for up to an hour
          msg.className = "muted";
          submit.disabled = true;
          const t = await watchTask(r, (t) => {
            if (t.state === "running")
              msg.textContent = `creating: ${t.progress || 0} %` + (t.message ? ` (${t.message})` : "");
          }, { maxPolls: 3600, maxMs: 3600e3 }).finally(() => (submit.disabled = false));
          if (t.state === "running") throw new Error(`still creating after an hour: task ${t.id} goes on`);
          if (t.state !== "success") throw new Error(t.message || "creating the VM failed");
          msg.textContent = t.message;
        }
        form.reset();
        fillRows(heavy);
        form.closest("details").open = false;
        after();
      } catch (err) {
        msg.className = "error";
        msg.textContent = err.message;
      }
    },
  },
  f("name", "Name", { required: true, size: 16, pattern: "[A-Za-z0-9][A-Za-z0-9._-]*" }),
  f("cpus", "vCPUs", { type: "number", min: 1, max: 64, value: 1, required: true }),
  f("memory", "Memory", { value: "512M", size: 6, required: true }),
  h("br"),
  f("kernel", "Kernel", { required: true, size: 40, placeholder: "/path/to/Image" }),
  f("initrd", "Initrd", { size: 40 }),
  h("br"),
  f("append", "Command line", { size: 60, value: "console=ttyS0" }),
  devSlot,
  submit, " ", msg);
  import(VMPAGE_JS).then((m) => {
    heavy = m;
    fillRows(m);
  }).catch((err) => (msg.textContent = "cannot load the form: " + err.message));
  return form;
}

function viewList() {
  const tbody = h("tbody");
  const summary = h("p", { class: "summary" });
  main.append(
    h("h1", {}, "Virtual machines"), summary, createForm(() => refresh()),
    h("table", { id: "vms", class: "grid" },
      h("thead", {}, h("tr", {},
        ["Name", "State", "vCPUs", "Memory", "CPU used", "CPU ready", "Uptime", ""].map((t) => h("th", {}, t)))),
      tbody));

  // one request draws the list: GET /v1/vms?view=summary (the VMs, their
  // CPU figures, the host's name and CPU); a row is rebuilt only when
  // what it shows changed
  let busy = false, first = true;
  const shown = new Map(); // name -> { sig, tr }
  function row(vm) {
    const live = vm.state === "running" || vm.state === "paused";
    const pct = (v) => (live && v != null ? v.toFixed(1) + " %" : "");
    const cells = [vm.state, vm.cpus, fmtBytes(vm.memory), pct(vm.used_pct), pct(vm.ready_pct), fmtUptime(vm.uptime_s)];
    const sig = cells.join("\u0000") + (vm.template ? "\u0000t" : "");
    const old = shown.get(vm.name);
    if (old && old.sig === sig) return old.tr;
    const tr = h("tr", { "data-vm": vm.name },
      h("td", {}, h("a", { href: "#/vm/" + encodeURIComponent(vm.name) }, vm.name),
        vm.template ? h("span", { class: "tag" }, "template") : null),
      h("td", {}, stateBadge(vm.state)),
      cells.slice(1).map((c) => h("td", { class: "num" }, c)),
      h("td", { class: "actions" }, actionButtons(vm, refresh, true),
        vm.template ? h("a", { class: "button", "data-action": "clone",
          href: "#/vm/" + encodeURIComponent(vm.name) }, "clone") : null));
    shown.set(vm.name, { sig, tr });
    return tr;
  }
  function render(list) {
    const rows = list.vms.map(row);
    const names = new Set(list.vms.map((v) => v.name));
    for (const n of shown.keys()) if (!names.has(n)) shown.delete(n);
    // put the rows in order, moving only those out of place
    let at = tbody.firstChild;
    for (const tr of rows) {
      if (tr === at) at = at.nextSibling;
      else tbody.insertBefore(tr, at);
    }
    while (at) {
      const next = at.nextSibling;
      at.remove();
      at = next;
    }
    const running = list.vms.filter((v) => v.state === "running").length;
    const templates = list.vms.filter((v) => v.template).length;
    const host = list.host || {};
    summary.textContent = `${list.vms.length} VMs, ${running} running` +
      (templates ? `, ${templates} template${templates > 1 ? "s" : ""}` : "") +
      (host.hostname ? ` · host ${host.hostname}` : "") +
      (host.used_pct != null ? ` · host CPU ${host.used_pct.toFixed(1)} %` : "");
    main.dataset.loaded = "1";
  }
  async function refresh() {
    if (busy) return;
    busy = true;
    // the first time, the request boot.js made as the page began
    const early = first && window.svFirstList;
    window.svFirstList = null;
    let drawn = false;
    try {
      render(await (early ? reply(early) : call("GET", "/v1/vms?view=summary")));
      drawn = true;
    } catch (e) {
      if (e.status === 401) return logout();
      flash("VM list: " + e.message);
    } finally {
      busy = false;
      if (first) {
        first = false;
        // for bench/web: the end of the first frame with every VM's row
        // and state drawn (none when the list could not be read)
        if (drawn) requestAnimationFrame(() => setTimeout(() => performance.mark("sv:list-painted")));
        // the event log and stream once the list is on screen: fetching
        // and reading 1000 events must not delay its first frame
        afterFirstPaint(() => { if (token()) startSession(); });
      }
    }
  }
  refresh();
  const t = setInterval(refresh, 2000);
  const onEv = (e) => { if (e.vm) refresh(); };
  eventListeners.add(onEv);
  cleanup.push(() => { clearInterval(t); eventListeners.delete(onEv); });
}

// ---- VM detail ------------------------------------------------------------

function viewVm(name) {
  const head = h("div", { class: "vmhead" });
  const status = h("span", { id: "console-status", class: "muted" });
  const term = h("div", { id: "console", class: "console" });
  const chart = h("div", { id: "cpu-chart", class: "chart" });
  const evs = h("ul", { id: "vm-events", class: "feed" });
  const edit = h("div", { id: "edit-slot" });
  const clone = h("div", { id: "clone-slot" });
  const devs = h("div", { id: "devices" });
  const snapSlot = h("div", { id: "snapshots-slot" });
  main.append(
    h("p", {}, h("a", { href: "#/" }, "← all VMs")),
    head, edit, clone,
    h("section", {}, h("h2", {}, "Console ", status), term),
    h("section", {}, h("h2", {}, "CPU"), chart),
    devs, snapSlot,
    h("section", {}, h("h2", {}, "Events"), evs));

  let closeConsole = null, state = null, vmObj = null, cloneKey = null, tables = null, snaps = null;
  function attach() {
    if (closeConsole) closeConsole();
    closeConsole = null;
    term.replaceChildren();
    if (vmObj.state === "running" || vmObj.state === "paused") {
      closeConsole = heavy.openConsole(term, name, { onStatus: (s) => (status.textContent = s) });
    } else {
      status.textContent = "the VM is " + vmObj.state;
    }
  }
  async function refresh() {
    if (!heavy) return; // an event before the page's chunk is loaded
    try {
      vmObj = await call("GET", `/v1/vms/${encodeURIComponent(name)}`);
    } catch (e) {
      if (e.status === 401) return logout();
      head.replaceChildren(h("p", { class: "error" }, e.message));
      return;
    }
    head.replaceChildren(
      h("h1", {}, vmObj.name, " ", stateBadge(vmObj.state),
        vmObj.template ? h("span", { class: "tag" }, "template") : null),
      h("p", {}, `${vmObj.cpus} vCPUs · ${fmtBytes(vmObj.memory)}` +
        (vmObj.uptime_s ? ` · up ${fmtUptime(vmObj.uptime_s)}` : "")),
      h("div", { class: "actions" }, actionButtons(vmObj, refresh),
        h("button", {
          type: "button", "data-action": "delete", class: "danger",
          disabled: vmObj.state === "running" || vmObj.state === "paused",
          onclick: async () => {
            if (!confirm(`Delete ${vmObj.name}? Its definition is removed (disks stay).`)) return;
            try {
              await call("DELETE", `/v1/vms/${encodeURIComponent(vmObj.name)}`);
              location.hash = "#/";
            } catch (err) {
              flash(`delete ${vmObj.name}: ${err.message}`);
            }
          },
        }, "delete")));
    const was = state;
    state = vmObj.state;
    if (was !== state && !edit.querySelector("details[open]"))
      edit.replaceChildren(heavy.editForm(vmObj, refresh, flash));
    tables.definition(vmObj);
    snaps.vm(vmObj);
    // clone and convert: a VM that is off; rebuilt when that or its
    // being a template changes (not under the user's typing otherwise)
    const off = vmObj.state !== "running" && vmObj.state !== "paused";
    const key = off ? String(!!vmObj.template) : "";
    if (key !== cloneKey) {
      cloneKey = key;
      clone.replaceChildren(...(off ? [heavy.cloneBox(vmObj, refresh, flash)] : []));
    }
    const live = (s) => s === "running" || s === "paused";
    if (was === null || live(was) !== live(state)) attach();
  }
  function showEvent(e) {
    evs.prepend(h("li", {}, h("time", {}, fmtTime(e.time_ms)), " ",
      `${e.action} ${e.result} by ${e.actor}`, e.message ? ": " + e.message : ""));
  }
  events.filter((e) => e.vm === name).forEach(showEvent);
  const onEv = (e) => {
    if (e.vm !== name) return;
    showEvent(e);
    if (snaps && e.action.startsWith("snapshot")) snaps.reload();
    refresh();
  };
  eventListeners.add(onEv);
  let heavy = null, stopChart = null, t = null, gone = false;
  cleanup.push(() => {
    gone = true;
    clearInterval(t);
    eventListeners.delete(onEv);
    if (stopChart) stopChart();
    if (closeConsole) closeConsole();
  });
  Promise.all([import(VMPAGE_JS), loadCss(VMPAGE_CSS)]).then(([m]) => {
    if (gone) return;
    heavy = m;
    tables = heavy.deviceTables(devs);
    snaps = heavy.snapshotBox(snapSlot, name, flash, refresh);
    refresh();
    stopChart = heavy.cpuChart(chart, name, (s) => tables.stats(s));
    t = setInterval(refresh, 5000);
  });
}

// ---- host -----------------------------------------------------------------

function meter(used, total) {
  const pct = total ? Math.min(100, (100 * used) / total) : 0;
  return h("span", { class: "meter", title: pct.toFixed(0) + " %" },
    h("span", { style: `width:${pct.toFixed(1)}%` }));
}

function viewHost() {
  const box = h("div", { id: "host" });
  main.append(h("h1", {}, "Host"), box);
  async function refresh() {
    try {
      const [hi, st] = await Promise.all([call("GET", "/v1/host"), call("GET", "/v1/host/stats")]);
      const row = (k, v, m) => h("tr", {}, h("th", {}, k), h("td", { class: "num" }, v), h("td", {}, m || ""));
      box.replaceChildren(h("table", { class: "grid kv" }, h("tbody", {},
        row("Host name", hi.hostname), row("Softvisor", hi.version),
        row("Uptime", fmtUptime(hi.uptime_s)),
        row("pCPUs", `${hi.pcpus} × ${hi.mhz_per_pcpu} MHz`),
        row("CPU used", (st.used_pct || 0).toFixed(1) + " %", meter(st.used_pct || 0, 100)),
        row("CPU reserved", `${hi.reserved_mhz} of ${hi.capacity_mhz} MHz`, meter(hi.reserved_mhz, hi.capacity_mhz)),
        row("Memory of running VMs", `${fmtBytes(hi.memory_configured_running)} of ${fmtBytes(hi.memory_total)}`,
          meter(hi.memory_configured_running, hi.memory_total)),
        row("VMs", `${hi.vms_running} running of ${hi.vms_total}`),
        row("Scheduler", hi.scheduler ? "on" : "off (--no-scheduler)"))));
      main.dataset.loaded = "1";
    } catch (e) {
      if (e.status === 401) return logout();
      flash("host: " + e.message);
    }
  }
  refresh();
  const t = setInterval(refresh, 2000);
  cleanup.push(() => clearInterval(t));
}

// ---- events ---------------------------------------------------------------

function eventRow(e) {
  return h("tr", { "data-id": e.id },
    h("td", {}, fmtTime(e.time_ms)), h("td", {}, e.vm), h("td", {}, e.actor),
    h("td", {}, e.action), h("td", {}, e.result), h("td", {}, e.message));
}

function viewEvents() {
  const tbody = h("tbody");
  const st = h("span", { id: "stream-state", class: "muted" }, streamState);
  main.append(h("h1", {}, "Events ", st),
    h("table", { id: "events", class: "grid" },
      h("thead", {}, h("tr", {}, ["Time", "VM", "Actor", "Action", "Result", "Message"].map((t) => h("th", {}, t)))),
      tbody));
  tbody.append(...events.slice().reverse().map(eventRow));
  const onEv = (e) => {
    tbody.prepend(eventRow(e));
    st.textContent = streamState;
  };
  eventListeners.add(onEv);
  cleanup.push(() => eventListeners.delete(onEv));
}

// ---- session and routing --------------------------------------------------

async function loadRecentEvents() {
  // the log is oldest first: page to its end, keep the newest 500
  let after = 0;
  for (;;) {
    const r = await call("GET", `/v1/events?after=${after}&limit=1000`);
    for (const e of r.events) pushEvent(e, false);
    if (r.events.length < 1000) return after;
    after = r.events[r.events.length - 1].id;
  }
}

function pushEvent(e, notify = true) {
  if (events.length && e.id <= events[events.length - 1].id) return;
  events.push(e);
  if (events.length > 500) events.shift();
  if (notify) eventListeners.forEach((f) => f(e));
}

// fn once the next frame is painted (or after 1 s: a hidden tab paints
// no frames)
function afterFirstPaint(fn) {
  let done = false;
  const go = () => {
    if (!done) {
      done = true;
      fn();
    }
  };
  requestAnimationFrame(() => setTimeout(go));
  setTimeout(go, 1000);
}

let sessionOn = false, sessionGen = 0;
function startSession() {
  document.getElementById("nav").hidden = false;
  if (sessionOn) return;
  sessionOn = true;
  const gen = ++sessionGen;
  loadRecentEvents().catch(() => {}).finally(() => {
    if (!token() || gen !== sessionGen) return;
    stopEvents = followEvents((e) => pushEvent(e), (s) => {
      streamState = s;
      const el = document.getElementById("stream-state");
      if (el) el.textContent = s;
    });
  });
}

function logout() {
  setToken("");
  if (stopEvents) stopEvents();
  stopEvents = null;
  sessionOn = false;
  sessionGen++;
  events.length = 0;
  location.hash = "#/login";
  route();
}

// A stylesheet of the daemon's (the VM page's xterm.js and uPlot CSS),
// once; resolves when it applies (or failed: the page works unstyled).
const cssLoaded = new Map();
function loadCss(href) {
  if (!cssLoaded.has(href))
    cssLoaded.set(href, new Promise((res) => {
      document.head.append(h("link", { rel: "stylesheet", href, onload: res, onerror: res }));
    }));
  return cssLoaded.get(href);
}

function route() {
  cleanup.forEach((f) => f());
  cleanup = [];
  main.replaceChildren();
  delete main.dataset.loaded;
  const hash = location.hash.replace(/^#/, "") || "/";
  if (!token() || hash === "/login") return viewLogin();
  document.getElementById("nav").hidden = false;
  if (hash === "/") return viewList(); // starts the session once drawn
  startSession();
  if (hash.startsWith("/vm/")) return viewVm(decodeURIComponent(hash.slice(4)));
  if (hash === "/events") return viewEvents();
  if (hash === "/host") return viewHost();
  return viewList();
}

document.getElementById("logout").addEventListener("click", logout);
window.addEventListener("hashchange", route);
route();
