// Web console figures (bench/web/run sets the environment): the VM list
// page's load time with SV_NVMS VMs defined, cold (new browser context)
// and warm (reload: the files revalidate with 304s), and the console's
// keystroke echo latency on the running VM SV_VM. One JSON line out.
import { createRequire } from "node:module";
import { join } from "node:path";

const env = process.env;
const require = createRequire(join(env.SV_WEB_DIR, "package.json"));
const { chromium } = require("playwright-core");
const url = env.SV_URL, tok = env.SV_TOKEN, nvms = Number(env.SV_NVMS);
const runs = Number(env.SV_RUNS || 10);

const pct = (a, p) => a.slice().sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * p))];
const summary = (a) => ({ median: pct(a, 0.5), p90: pct(a, 0.9), min: Math.min(...a), max: Math.max(...a), n: a.length });

const browser = await chromium.launch({
  executablePath: env.SV_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu"],
});
const out = {};
try {
  const coldWall = [], phases = [], painted = [], warmPainted = [];
  // the page's own mark: the frame after its first list was drawn (not
  // bent by when the driver gets to look)
  const painted1 = () => performance.getEntriesByName("sv:list-painted")[0]?.startTime || 0;
  // where a cold load's time goes (ms from navigation start): the page's
  // response, its script run, each request's start and end and bytes
  const timings = () => {
    const n = performance.getEntriesByType("navigation")[0];
    const r = {
      doc_request: Math.round(n.requestStart), doc_response: Math.round(n.responseEnd),
      doc_bytes: n.encodedBodySize, dom_interactive: Math.round(n.domInteractive),
      requests: 1,
    };
    for (const e of performance.getEntriesByType("resource")) {
      const k = new URL(e.name).pathname.replace(/^\/v1\//, "api_").replace(/\W/g, "_");
      r.requests++;
      r[k + "_start"] = Math.round(e.startTime);
      r[k + "_end"] = Math.round(e.responseEnd);
      r[k + "_bytes"] = e.encodedBodySize;
    }
    return r;
  };
  // Until the page has drawn its list the driver leaves it alone:
  // playwright-core's first look into a page (waitForFunction, evaluate)
  // injects its own script, about 30 ms of the renderer's CPU on the
  // critical path. The page asks for the event log in the task after its
  // mark (afterFirstPaint in main.js), so that request, seen from here
  // through DevTools' network events, says the mark is set.
  const loaded = (page, go) => Promise.all([
    page.waitForRequest((r) => r.url().includes("/v1/events?")), go()]);
  for (let i = 0; i < runs; i++) {
    const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
    await ctx.addInitScript((t) => sessionStorage.setItem("softvisor.token", t), tok);
    const page = await ctx.newPage();
    const t0 = Date.now();
    await loaded(page, () => page.goto(url + "/#/"));
    coldWall.push(Date.now() - t0);
    // then check that the mark is set and all rows are there, each
    // with its state
    const mark = async () => {
      const n = await page.evaluate(() => document.querySelectorAll("#vms tbody tr .state").length);
      if (n !== nvms) throw new Error(`the page's mark is set with ${n} rows of ${nvms} drawn`);
      const t = await page.evaluate(painted1) || (await (await page.waitForFunction(painted1)).jsonValue());
      return Math.round(t);
    };
    painted.push(await mark());
    phases.push(await page.evaluate(timings));
    await loaded(page, () => page.reload());
    warmPainted.push(await mark());
    await ctx.close();
  }
  // cold and warm: navigation start to the page's mark
  out.list_load_ms = { cold: summary(painted), warm: summary(warmPainted), cold_wall: summary(coldWall) };
  // the renderer's main-thread CPU time of a cold load, from a trace
  // (thread time, so less bent by the machine's load than the wall
  // clock): all its tasks from navigation to the rows seen, and the
  // main kinds of work
  const cpu = [];
  for (let i = 0; i < Math.min(runs, 5); i++) {
    const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
    await ctx.addInitScript((t) => sessionStorage.setItem("softvisor.token", t), tok);
    const page = await ctx.newPage();
    await browser.startTracing(page, { categories: ["toplevel", "devtools.timeline", "blink.user_timing"] });
    await loaded(page, () => page.goto(url + "/#/"));
    const tr = JSON.parse((await browser.stopTracing()).toString());
    const evs = tr.traceEvents || tr;
    // the page's renderer: the one that asked for the list; its tasks up
    // to the page's mark
    const ph = evs.find((e) => e.name === "ResourceSendRequest" && /\/v1\/vms/.test(e.args?.data?.url));
    const mark = evs.find((e) => e.name === "sv:list-painted" && ph && e.pid === ph.pid);
    const r = { total: 0, script: 0, style_layout: 0, paint: 0 };
    for (const e of evs) {
      if (!ph || e.pid !== ph.pid || e.tid !== ph.tid || e.ph !== "X") continue;
      if (mark && e.ts > mark.ts) continue;
      const ms = (e.tdur || 0) / 1000;
      if (e.name === "RunTask" || e.name === "ThreadControllerImpl::RunTask") r.total += ms;
      else if (e.name === "EvaluateScript" || e.name === "FunctionCall" || e.name === "RunMicrotasks") r.script += ms;
      else if (e.name === "Layout" || e.name === "UpdateLayoutTree") r.style_layout += ms;
      else if (e.name === "Paint" || e.name === "PrePaint") r.paint += ms;
    }
    cpu.push(r);
    await ctx.close();
  }
  out.cold_cpu_ms = Object.fromEntries(["total", "script", "style_layout", "paint"].map((k) =>
    [k, Math.round(pct(cpu.map((r) => r[k]), 0.5))]));
  // the median of each phase over the cold loads
  const keys = new Set(phases.flatMap((p) => Object.keys(p)));
  out.cold_phases = Object.fromEntries([...keys].map((k) =>
    [k, pct(phases.map((p) => p[k]).filter((v) => v != null), 0.5)]));

  const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
  await ctx.addInitScript((t) => sessionStorage.setItem("softvisor.token", t), tok);
  const page = await ctx.newPage();
  await page.goto(url + "/#/vm/" + env.SV_VM);
  await page.waitForFunction((m) => {
    const t = window.__svConsole;
    if (!t) return false;
    const b = t.buffer.active;
    for (let i = 0; i < b.length; i++) if (b.getLine(i).translateToString(true).includes(m)) return true;
    return false;
  }, env.SV_MARKER, { timeout: 300000 });
  await page.click("#console");
  await page.keyboard.press("Enter");
  await page.waitForTimeout(500);
  const lat = [];
  const line = () => {
    const b = window.__svConsole.buffer.active;
    return b.getLine(b.baseY + b.cursorY).translateToString(true);
  };
  for (let i = 0; i < 60; i++) {
    if (i % 30 === 29) await page.keyboard.press("Control+U");
    const before = await page.evaluate(line);
    const t0 = Date.now();
    await page.keyboard.type("x");
    await page.waitForFunction((prev) => {
      const b = window.__svConsole.buffer.active;
      return b.getLine(b.baseY + b.cursorY).translateToString(true) !== prev;
    }, before, { polling: "raf" });
    lat.push(Date.now() - t0);
    await page.waitForTimeout(50);
  }
  out.echo_ms = summary(lat);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
