// A live CPU chart of one VM (uPlot): used and ready %, polled from
// GET /v1/vms/{vm}/stats, the last 120 samples; onStats(stats) gets each
// answer whole (the page's Disks and Network tables: no second request).
import uPlot from "uplot";
import { call } from "./api.js";

export function cpuChart(el, vm, onStats, periodMs = 2000) {
  const n = 120;
  const xs = [], used = [], ready = [];
  const plot = new uPlot({
    width: Math.max(300, el.clientWidth || 600),
    height: 180,
    scales: { y: { range: (u, min, max) => [0, Math.max(100, max)] } },
    series: [
      {},
      { label: "used %", stroke: "#2a7ab0", width: 2 },
      { label: "ready %", stroke: "#c0392b", width: 1 },
    ],
    axes: [{}, { label: "%" }],
  }, [xs, used, ready], el);

  let timer = null;
  async function tick() {
    try {
      const s = await call("GET", `/v1/vms/${encodeURIComponent(vm)}/stats`);
      xs.push(Date.now() / 1000);
      used.push(s.used_pct || 0);
      ready.push(s.ready_pct || 0);
      if (xs.length > n) { xs.shift(); used.shift(); ready.shift(); }
      plot.setData([xs, used, ready]);
      if (onStats) onStats(s);
    } catch (e) {
      /* a stopped VM has no figures: keep the chart */
    }
  }
  tick();
  timer = setInterval(tick, periodMs);
  const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(300, el.clientWidth), height: 180 }));
  ro.observe(el);
  return () => {
    clearInterval(timer);
    ro.disconnect();
    plot.destroy();
  };
}
