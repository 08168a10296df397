// The VM page's Disks and Network tables: what the definition says of each
// disk and NIC (image, format, access; MAC, network) and, while the VM
// runs, its counters since it started or the guest rebooted (GET
// /v1/vms/{vm}/stats: disks[], nics[], the request the CPU chart makes
// anyway). A counter with a rate shows it per second (from this sample
// and the one before, 2 s apart: no request of its own) over its total.
// Rows are keyed by the device's index; a refresh only rewrites the
// cells whose text changed.
import { h } from "./dom.js";

export function fmtIo(n) {
  if (n == null) return "";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return (i ? n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0) : String(n)) + " " + u[i];
}

// a rate: bytes/s in binary units, counts/s with one decimal below 10
const perSec = (fmt) => (r) =>
  (fmt ? fmtIo(r < 1024 ? Math.round(r) : r) : r && r < 10 ? r.toFixed(1) : String(Math.round(r))) + "/s";

// [heading, counter, its format, true: shown as a rate over the total]
const DISK_COLS = [
  ["Disk"], ["Image"], ["Format"], ["Access"],
  ["Read", "read_bytes", fmtIo, true], ["Reads", "read_ops", null, true],
  ["Written", "write_bytes", fmtIo, true], ["Writes", "write_ops", null, true],
  ["Flushes", "flush_ops"], ["Errors", "errors"],
];
const NIC_COLS = [
  ["NIC"], ["MAC"], ["Network"],
  ["Received", "rx_bytes", fmtIo, true], ["Rx packets", "rx_packets", null, true],
  ["Sent", "tx_bytes", fmtIo, true], ["Tx packets", "tx_packets", null, true],
  ["Dropped", "dropped"],
];

function table(id, cols) {
  return h("table", { id, class: "grid devices" },
    h("thead", {}, h("tr", {}, cols.map(([name, key, , rate]) =>
      h("th", { class: key ? "num" : null, title: rate ? "per second; the total since the start below" : null },
        rate ? name + "/s" : name)))),
    h("tbody"));
}

function setText(td, text) {
  if (td.textContent !== text) td.textContent = text;
}

// Fill tbody with one row per static entry ([text...] per device), then
// the counters of stats (an array of objects, by index; missing: blank).
function fill(tbody, cols, statics, counters) {
  while (tbody.rows.length > statics.length) tbody.deleteRow(-1);
  statics.forEach((cells, i) => {
    const tr = tbody.rows[i] || tbody.insertRow();
    tr.dataset.index = String(i);
    while (tr.cells.length < cols.length) tr.insertCell();
    const c = counters[i];
    cols.forEach(([, key, fmt, rate], k) => {
      const td = tr.cells[k];
      if (!key) return setText(td, cells[k] ?? "");
      td.className = "num";
      td.dataset.k = key;
      const v = c ? c[key] : null, r = c && c.rates ? c.rates[key] : null;
      // the raw figures, for tests and for copying
      if (v == null) delete td.dataset.v;
      else td.dataset.v = String(v);
      const total = v == null ? "" : fmt ? fmt(v) : String(v);
      if (!rate) return setText(td, total);
      if (r == null) delete td.dataset.rate;
      else td.dataset.rate = String(r);
      if (!td.firstChild) td.append(h("span", { class: "rate" }), h("br"), h("small", { class: "muted" }));
      setText(td.firstChild, r == null ? "" : perSec(fmt)(r));
      setText(td.lastChild, total);
    });
  });
}

function network(n) {
  if (n.type === "switch") {
    const pg = n.portgroup && n.portgroup !== "default" ? `, port group ${n.portgroup}` : "";
    return `switch ${n.switch}${pg}`;
  }
  const fw = (n.hostfwd || []).length ? `, forwards ${n.hostfwd.join(" ")}` : "";
  return (n.restrict ? "user (NAT, restricted)" : "user (NAT)") + fw;
}

// Each counter's rate per second into cur[i].rates, from the sample
// before (dt s earlier), matched by the device's index. None when a
// counter went down (the guest rebooted: its counters restarted) or no
// time passed.
function rates(cur, old, idx, cols, dt) {
  for (const x of cur) {
    const o = old.find((y) => y[idx] === x[idx]);
    if (!o || !(dt > 0)) continue;
    x.rates = {};
    for (const [, key, , rate] of cols) {
      if (rate && x[key] >= o[key]) x.rates[key] = (x[key] - o[key]) / dt;
    }
  }
}

// el: where the two sections go. Returns { definition(vm), stats(s) }.
export function deviceTables(el) {
  const disks = table("disks", DISK_COLS), nics = table("nics", NIC_COLS);
  const noDisks = h("p", { class: "muted" }, "No disks."), noNics = h("p", { class: "muted" }, "No NICs.");
  const sec = (title, ...kids) => h("section", {}, h("h2", {}, title), ...kids);
  el.replaceChildren(sec("Disks", disks, noDisks), sec("Network", nics, noNics));

  let def = { disks: [], nics: [] }, live = { disks: [], nics: [] }, prev = null;
  function draw() {
    const d = def.disks.map((x, i) => [`disk${i}`, x.path, x.format || "raw",
      x.readonly ? "read-only" : "read-write"]);
    const byIndex = (arr, k) => {
      const out = [];
      for (const x of arr || []) out[x[k]] = x;
      return out;
    };
    fill(disks.tBodies[0], DISK_COLS, d, byIndex(live.disks, "disk"));
    const macs = byIndex(live.nics, "nic");
    const n = def.nics.map((x, i) => [`net${i}`, x.mac || macs[i]?.mac || "", network(x)]);
    fill(nics.tBodies[0], NIC_COLS, n, byIndex(live.nics, "nic"));
    disks.hidden = !d.length;
    noDisks.hidden = !!d.length;
    nics.hidden = !n.length;
    noNics.hidden = !!n.length;
  }
  draw();
  return {
    // the VM (GET /v1/vms/{vm}): its definition's disks and nics; a VM
    // that does not run has no counters
    definition(vm) {
      const d = vm.definition || {};
      def = { disks: d.disks || [], nics: d.nics || [] };
      if (vm.state !== "running" && vm.state !== "paused") {
        live = { disks: [], nics: [] };
        prev = null;
      }
      draw();
    },
    stats(s) {
      const now = performance.now();
      const nics = (s.nics || []).map((x) => ({ ...x, dropped: x.rx_dropped + x.tx_dropped }));
      const next = { t: now, disks: s.disks || [], nics };
      if (prev) {
        rates(next.disks, prev.disks, "disk", DISK_COLS, (now - prev.t) / 1000);
        rates(next.nics, prev.nics, "nic", NIC_COLS, (now - prev.t) / 1000);
      }
      prev = next;
      live = next;
      draw();
    },
  };
}
