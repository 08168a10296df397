// The web console in a real browser (Debian's chromium, driven by
// playwright-core from web/package-lock.json): run by test_web.py with
// SV_URL, SV_TOKEN, SV_VM, SV_MARKER, SV_WEB_DIR, SV_OUT set. Prints one
// JSON line of results; exits non-zero on the first failed step.
import { createRequire } from "node:module";
import { join } from "node:path";

const env = process.env;
const require = createRequire(join(env.SV_WEB_DIR, "package.json"));
const { chromium } = require("playwright-core");
const url = env.SV_URL, tok = env.SV_TOKEN, vm = env.SV_VM;
const T = Number(env.SV_TIMEOUT_MS || 180000);
const out = {};

function step(name) {
  out.step = name;
  console.error("web: " + name);
}

// Wait until the console (xterm's buffer) holds text.
function waitConsole(page, text, timeout = T) {
  return page.waitForFunction((m) => {
    const t = window.__svConsole;
    if (!t) return false;
    const b = t.buffer.active;
    for (let i = 0; i < b.length; i++) if (b.getLine(i).translateToString(true).includes(m)) return true;
    return false;
  }, text, { timeout });
}

// Wait until the guest's shell answers on the VM page's console: what is
// typed while it boots may be lost, so it is asked again (at most 30
// times, 5 s each).
async function shellAnswers(page) {
  await page.locator("#console-status", { hasText: "connected" }).waitFor();
  await page.click("#console");
  for (let i = 0; ; i++) {
    await page.keyboard.type(`echo up=$((3*3))x${i}\n`);
    try {
      return await waitConsole(page, `up=9x${i}`, 5000);
    } catch (e) {
      if (i >= 30) throw e;
    }
  }
}

const browser = await chromium.launch({
  executablePath: env.SV_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu"],
});
let page = null;
try {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.setDefaultTimeout(T);
  page.on("dialog", (d) => d.accept()); // confirm(): delete, revert
  // GET a path with the page's token (what the API says, to compare)
  const api = (path) => page.evaluate(async (p) => {
    const t = sessionStorage.getItem("softvisor.token");
    const r = await fetch(p, { headers: { Authorization: "Bearer " + t } });
    return r.json();
  }, path);

  step("a wrong token is refused");
  await page.goto(url + "/");
  await page.fill("#token", "svt_1_" + "0".repeat(64));
  await page.click("#login button[type=submit]");
  await page.waitForFunction(() => /not valid/.test(document.getElementById("login-error")?.textContent || ""));

  step("log in");
  await page.fill("#token", tok);
  await page.click("#login button[type=submit]");
  await page.locator(`#vms tr[data-vm="${env.SV_OTHER_VM}"]`).waitFor();

  step("create a VM with the form");
  await page.click("details.create summary");
  await page.fill("#new-name", vm);
  await page.fill("#new-memory", "256M");
  await page.fill("#new-kernel", env.SV_KERNEL);
  await page.fill("#new-initrd", env.SV_INITRD);
  await page.fill("#new-append", env.SV_APPEND);
  // the disk and NIC rows come with the VM page's code, on the first open
  await page.fill("#new-disks .devrow .d-path", env.SV_DISK);
  await page.click("#create button[data-action=add-NIC]");
  await page.click("#create button[type=submit]");
  const row = page.locator(`#vms tr[data-vm="${vm}"]`);
  await row.waitFor();
  out.listed_state = await row.locator(".state").textContent();
  out.created = await page.evaluate(async (n) => {
    const t = sessionStorage.getItem("softvisor.token");
    const r = await fetch(`/v1/vms/${n}`, { headers: { Authorization: "Bearer " + t } });
    const d = (await r.json()).definition;
    return { disks: d.disks, nics: d.nics };
  }, vm);

  step("start from the list");
  await row.locator("button[data-action=start]").click();
  await page.waitForFunction((n) =>
    document.querySelector(`#vms tr[data-vm="${n}"] .state`)?.textContent === "running", vm);

  step("the VM page: the console shows the boot");
  await row.locator("a").click();
  await waitConsole(page, env.SV_MARKER);
  out.console_status = await page.textContent("#console-status");

  step("type a command, see its answer");
  await page.click("#console");
  await page.keyboard.type("echo sum=$((40+2))\n");
  await waitConsole(page, "sum=42");

  step("a read-only token gets the console as a viewer");
  const ro = await browser.newContext({ ignoreHTTPSErrors: true });
  await ro.addInitScript((t) => sessionStorage.setItem("softvisor.token", t), env.SV_RO_TOKEN);
  const rop = await ro.newPage();
  await rop.goto(url + "/#/vm/" + vm);
  await rop.locator("#console-status", { hasText: "view only" }).waitFor();
  await waitConsole(rop, "sum=42");
  await ro.close();

  step("keystroke echo latency");
  const lat = [];
  for (let i = 0; i < 20; i++) {
    const ch = "abcdefghijklmnopqrst"[i];
    const before = await page.evaluate(() => {
      const b = window.__svConsole.buffer.active;
      return b.getLine(b.baseY + b.cursorY).translateToString(true);
    });
    const t0 = Date.now();
    await page.keyboard.type(ch);
    await page.waitForFunction((prev) => {
      const b = window.__svConsole.buffer.active;
      return b.getLine(b.baseY + b.cursorY).translateToString(true) !== prev;
    }, before, { polling: "raf" });
    lat.push(Date.now() - t0);
  }
  await page.keyboard.press("Control+U");
  lat.sort((a, b) => a - b);
  out.echo_ms = { median: lat[lat.length >> 1], p90: lat[Math.floor(lat.length * 0.9)], max: lat[lat.length - 1] };

  step("the Disks and Network tables: rows, then figures that grow");
  // a counter cell's raw value (data-v), null while there is none
  const fig = (table, key) => page.evaluate(([t, k]) => {
    const td = document.querySelector(`#${t} tbody tr[data-index="0"] td[data-k="${k}"]`);
    return td && td.dataset.v != null ? Number(td.dataset.v) : null;
  }, [table, key]);
  await page.waitForFunction(() =>
    document.querySelector('#disks tbody tr[data-index="0"] td[data-k="read_ops"]')?.dataset.v != null &&
    document.querySelector('#nics tbody tr[data-index="0"] td[data-k="tx_packets"]')?.dataset.v != null);
  out.disk_row = await page.evaluate(() =>
    [...document.querySelectorAll('#disks tbody tr[data-index="0"] td')].slice(0, 4).map((td) => td.textContent));
  out.nic_row = await page.evaluate(() =>
    [...document.querySelectorAll('#nics tbody tr[data-index="0"] td')].slice(0, 3).map((td) => td.textContent));
  const before = { read: await fig("disks", "read_bytes"), tx: await fig("nics", "tx_packets"),
    rx: await fig("nics", "rx_packets") };
  // the read's rate shows for one sample (2 s) only, and the command
  // below may run longer than that (udhcpc retries a lost discover after
  // 3 s): note the highest read rate the table shows with the read's
  // total, meanwhile
  await page.evaluate((read) => {
    window.__svReadRate = 0;
    setInterval(() => {
      const td = document.querySelector('#disks tbody tr[data-index="0"] td[data-k="read_bytes"]');
      if (Number(td?.dataset.v) >= read + 64 * 4096)
        window.__svReadRate = Math.max(window.__svReadRate, Number(td.dataset.rate) || 0);
    }, 100);
  }, before.read);
  // read 256 KiB the guest never read (2 MiB in: not the partition
  // table's blocks), bring the NIC up and ask for a lease (frames both
  // ways through the user back end, inside the VM's process)
  await page.click("#console");
  await page.keyboard.type("dd if=/dev/vda of=/dev/null bs=4096 count=64 skip=512 2>/dev/null; " +
    "ip link set eth0 up; udhcpc -i eth0 -n -q -t 5 -s /bin/true >/dev/null 2>&1; echo io=$((6*7))done\n");
  await waitConsole(page, "io=42done");
  await page.waitForFunction((b) => {
    const v = (t, k) => Number(document.querySelector(`#${t} tbody tr[data-index="0"] td[data-k="${k}"]`)?.dataset.v);
    // the sample that first showed the read's total showed its rate too:
    // the sample before it had less
    return v("disks", "read_bytes") >= b.read + 64 * 4096 && v("nics", "tx_packets") > b.tx &&
      v("nics", "rx_packets") > b.rx && window.__svReadRate > 0;
  }, before);
  // every rate cell: its raw figure (data-rate) and what it shows
  out.rates = await page.evaluate(() => Object.fromEntries(
    [...document.querySelectorAll("#disks tbody td[data-rate], #nics tbody td[data-rate]")].map((td) =>
      [`${td.closest("table").id}.${td.dataset.k}`, { v: Number(td.dataset.rate), text: td.querySelector(".rate").textContent,
        total: td.querySelector("small").textContent }])));
  out.read_rate_seen = await page.evaluate(() => window.__svReadRate);
  out.io = { before, after: { read: await fig("disks", "read_bytes"), read_ops: await fig("disks", "read_ops"),
    tx: await fig("nics", "tx_packets"), rx: await fig("nics", "rx_packets"),
    rx_bytes: await fig("nics", "rx_bytes"), tx_bytes: await fig("nics", "tx_bytes") } };
  await page.screenshot({ path: join(env.SV_OUT, "web-devices.png"), fullPage: true });

  step("a snapshot the API refuses (a raw disk): its message is shown");
  await page.locator("#snapshots-slot[data-loaded]").waitFor();
  out.snap_memory_default = await page.isChecked("#snap-memory");
  await page.fill("#snap-name", "nope1");
  await page.click("#snap-take button[type=submit]");
  await page.waitForFunction(() => document.getElementById("snap-error")?.className === "error" &&
    document.getElementById("snap-error").textContent !== "");
  out.snap_refused = await page.textContent("#snap-error");

  step("pause and resume: events arrive on the VM page");
  await page.click(".vmhead button[data-action=pause]");
  await page.locator("#vm-events li", { hasText: "pause ok" }).waitFor();
  await page.locator(".vmhead .state", { hasText: "paused" }).waitFor();
  await page.click(".vmhead button[data-action=resume]");
  await page.locator("#vm-events li", { hasText: "resume ok" }).waitFor();
  await page.locator("#cpu-chart canvas").waitFor();
  await page.screenshot({ path: join(env.SV_OUT, "web-vm.png") });

  step("edit QoS while it runs");
  await page.click("#edit-box summary");
  await page.selectOption("#e-cshares", "high");
  await page.fill("#e-clim", "4000");
  await page.fill("#e-mres", "64M");
  await page.click("#edit button[type=submit]");
  await page.locator(".flash", { hasText: "saved" }).waitFor();
  out.qos = await page.evaluate(async (n) => {
    const t = sessionStorage.getItem("softvisor.token");
    const r = await fetch(`/v1/vms/${n}`, { headers: { Authorization: "Bearer " + t } });
    return (await r.json()).definition.qos;
  }, vm);

  step("devices of a running VM: the API's refusal (409) is shown");
  await page.reload();
  await page.click("#edit-box summary");
  await page.click("#e-disks .devrow button[data-action=remove]");
  await page.click("#edit button[type=submit]");
  await page.waitForFunction(() => document.getElementById("edit-error")?.textContent !== "");
  out.edit_running = await page.textContent("#edit-error");
  out.disks_after_refusal = (await api(`/v1/vms/${vm}`)).definition.disks.length;

  step("the events page lists them, live");
  await page.goto(url + "/#/events");
  await page.locator("#events tbody tr", { hasText: "resume" }).first().waitFor();
  // an event made elsewhere (the API) shows up without a reload
  const r = await page.evaluate(async (n) => {
    const t = sessionStorage.getItem("softvisor.token");
    const res = await fetch(`/v1/vms/${n}/stop`, { method: "POST", headers: { Authorization: "Bearer " + t } });
    return res.status;
  }, vm);
  out.stop_status = r;
  await page.locator("#events tbody tr", { hasText: "stop" }).first().waitFor();
  out.event_rows = await page.locator("#events tbody tr").count();
  await page.screenshot({ path: join(env.SV_OUT, "web-events.png") });

  step("the host page");
  await page.goto(url + "/#/host");
  await page.locator("#host", { hasText: "running of" }).waitFor();
  out.host_text = (await page.textContent("#host")).slice(0, 400);

  step("back on the list the VM is stopped");
  await page.goto(url + "/#/");
  await page.waitForFunction((n) =>
    document.querySelector(`#vms tr[data-vm="${n}"] .state`)?.textContent === "stopped", vm);
  await page.screenshot({ path: join(env.SV_OUT, "web-list.png") });

  step("start it again, shut it down from its page: the task's progress, then off");
  await page.locator(`#vms tr[data-vm="${vm}"] button[data-action=start]`).click();
  await page.waitForFunction((n) =>
    document.querySelector(`#vms tr[data-vm="${n}"] .state`)?.textContent === "running", vm);
  await page.goto(url + "/#/vm/" + vm);
  // the guest's shell answers (its /init listens for the power button
  // before the shell starts); what is typed while it boots may be lost:
  // asked again, at most 30 times
  await shellAnswers(page);
  // every text the task's line shows, in order
  await page.evaluate(() => {
    window.__taskTexts = [];
    new MutationObserver(() => {
      const el = document.querySelector("[data-task]");
      const t = el && `${el.dataset.state}|${el.textContent}`;
      if (t && window.__taskTexts[window.__taskTexts.length - 1] !== t) window.__taskTexts.push(t);
    }).observe(document.getElementById("main"), { subtree: true, childList: true, characterData: true, attributes: true });
  });
  await page.click(".vmhead button[data-action=shutdown]");
  await page.locator("[data-task][data-state=success]").waitFor();
  await page.locator(".vmhead .state", { hasText: "stopped" }).waitFor();
  out.shutdown_texts = await page.evaluate(() => window.__taskTexts);
  out.shutdown_state = (await api(`/v1/vms/${vm}`)).state;

  step("delete it from its page");
  await page.click(".vmhead button[data-action=delete]");
  await page.waitForFunction((n) => location.hash === "#/" &&
    document.querySelector("#vms tbody tr") && !document.querySelector(`#vms tr[data-vm="${n}"]`), vm);

  step("convert a VM to a template, clone it from its page");
  await page.goto(url + "/#/vm/" + env.SV_TEMPLATE);
  await page.click("#clone-box summary");
  await page.click("#clone-box button[data-action=template]");
  // now a template: the form opens with a linked clone chosen
  await page.locator("#clone-box[open] button[data-action=untemplate]").waitFor();
  out.clone_mode = await page.inputValue("#clone-mode");
  out.template_start_disabled = await page.isDisabled(".vmhead button[data-action=start]");
  await page.screenshot({ path: join(env.SV_OUT, "web-template.png") });
  await page.fill("#clone-name", env.SV_CLONE);
  await page.click("#clone button[type=submit]");
  await page.waitForFunction((n) => location.hash === "#/vm/" + n &&
    document.querySelector(".vmhead h1")?.textContent.startsWith(n), env.SV_CLONE);
  await page.locator('#disks tbody tr[data-index="0"]').waitFor();
  out.clone_disk_row = await page.evaluate(() =>
    [...document.querySelectorAll('#disks tbody tr[data-index="0"] td')].slice(0, 4).map((td) => td.textContent));

  step("the list shows the clone and marks the template");
  await page.goto(url + "/#/");
  await page.locator(`#vms tr[data-vm="${env.SV_CLONE}"]`).waitFor();
  const trow = page.locator(`#vms tr[data-vm="${env.SV_TEMPLATE}"]`);
  out.template_tag = await trow.locator(".tag").textContent();
  out.template_actions = await trow.locator(".actions [data-action]").evaluateAll((a) => a.map((x) => x.dataset.action));
  await page.screenshot({ path: join(env.SV_OUT, "web-list-template.png") });

  step("snapshots of a VM that is off: take, a second s1 refused, revert, delete");
  const sv = env.SV_SNAP_VM, spath = `/v1/vms/${sv}/snapshots`;
  await page.goto(url + "/#/vm/" + sv);
  await page.locator("#snapshots-slot[data-loaded]").waitFor();
  out.snap_none_shown = await page.isVisible("#snapshots-slot p.muted");
  out.snap_memory_disabled = await page.isDisabled("#snap-memory");
  await page.fill("#snap-name", "s1");
  await page.fill("#snap-desc", "before the test");
  await page.click("#snap-take button[type=submit]");
  const srow = page.locator('#snapshots tr[data-snapshot="s1"]');
  await srow.waitFor();
  out.snap_row = await srow.locator("td").evaluateAll((a) => a.slice(0, 4).map((x) => x.textContent));
  out.snap_api = (await api(spath)).snapshots;
  await page.fill("#snap-name", "s1");
  await page.click("#snap-take button[type=submit]");
  await page.waitForFunction(() => document.getElementById("snap-error")?.className === "error" &&
    document.getElementById("snap-error").textContent !== "");
  out.snap_dup = await page.textContent("#snap-error");
  await srow.locator("button[data-action=snapshot-revert]").click();
  await page.locator("#vm-events li", { hasText: "snapshot-revert ok" }).waitFor();
  await srow.locator("button[data-action=snapshot-delete]").click();
  await page.locator("#vm-events li", { hasText: "snapshot-delete ok" }).waitFor();
  await page.waitForFunction(() => !document.querySelector("#snapshots tr[data-snapshot]"));
  out.snap_after_delete = (await api(spath)).snapshots;
  // disk-only: an external snapshot (an overlay), then deleted (its
  // overlay committed: the VM is off)
  await page.check("#snap-external");
  await page.fill("#snap-name", "x1");
  await page.click("#snap-take button[type=submit]");
  const xrow = page.locator('#snapshots tr[data-snapshot="x1"]');
  await xrow.waitFor();
  out.snap_ext_kind = await xrow.locator("td").nth(2).textContent();
  out.snap_ext_api = (await api(spath)).snapshots.map((x) => [x.name, x.type, x.memory, (x.overlays || []).length]);
  await page.screenshot({ path: join(env.SV_OUT, "web-snapshots.png"), fullPage: true });
  await xrow.locator("button[data-action=snapshot-delete]").click();
  await page.waitForFunction(() => !document.querySelector("#snapshots tr[data-snapshot]"));
  out.snap_ext_after_delete = (await api(spath)).snapshots;
  await page.uncheck("#snap-external");

  step("a snapshot with memory of the same VM running: take, revert, delete");
  await page.click(".vmhead button[data-action=start]");
  await shellAnswers(page);
  // memory is offered, and chosen, for a running VM
  await page.waitForFunction(() => !document.getElementById("snap-memory").disabled);
  out.snap_live_memory_default = await page.isChecked("#snap-memory");
  await page.fill("#snap-name", "m1");
  await page.click("#snap-take button[type=submit]");
  const mrow = page.locator('#snapshots tr[data-snapshot="m1"]');
  await mrow.waitFor();
  out.snap_live_kind = await mrow.locator("td[data-kind]").textContent();
  out.snap_live_api = (await api(spath)).snapshots.map((x) => [x.name, x.memory, x.vm_state]);
  await mrow.locator("button[data-action=snapshot-revert]").click();
  await page.locator("#vm-events li", { hasText: "snapshot-revert ok" }).waitFor();
  await page.locator(".vmhead .state", { hasText: "running" }).waitFor();
  await mrow.locator("button[data-action=snapshot-delete]").click();
  await page.waitForFunction(() => !document.querySelector("#snapshots tr[data-snapshot]"));
  out.snap_live_after_delete = (await api(spath)).snapshots;
  out.snap_live_state = (await api(`/v1/vms/${sv}`)).state;
  await page.click(".vmhead button[data-action=stop]");
  await page.locator(".vmhead .state", { hasText: "stopped" }).waitFor();

  step("create a VM with two disks and two NICs, edit them while it is off");
  const mv = env.SV_MULTI_VM;
  await page.goto(url + "/#/");
  await page.click("details.create summary");
  await page.fill("#new-name", mv);
  await page.fill("#new-kernel", env.SV_KERNEL);
  await page.fill("#new-disks .devrow .d-path", env.SV_DISK2);
  await page.click("#create button[data-action=add-disk]");
  await page.locator("#new-disks .devrow >> nth=1").waitFor();
  await page.fill("#new-disks .devrow >> nth=1 >> .d-path", env.SV_DISK3);
  await page.check("#new-disks .devrow >> nth=1 >> .d-ro");
  await page.click("#create button[data-action=add-NIC]");
  await page.click("#create button[data-action=add-NIC]");
  // a row added then removed is not sent
  await page.click("#create button[data-action=add-disk]");
  await page.click("#new-disks .devrow >> nth=2 >> button[data-action=remove]");
  await page.click("#create button[type=submit]");
  await page.locator(`#vms tr[data-vm="${mv}"]`).waitFor();
  out.multi_created = (await api(`/v1/vms/${mv}`)).definition;
  await page.goto(url + "/#/vm/" + mv);
  await page.locator('#disks tbody tr[data-index="1"]').waitFor();
  out.multi_disk_rows = await page.locator("#disks tbody tr").count();
  out.multi_nic_rows = await page.locator("#nics tbody tr").count();
  await page.click("#edit-box summary");
  // drop the first disk and the second NIC, make the disk left writable
  await page.click("#e-disks .devrow >> nth=0 >> button[data-action=remove]");
  await page.uncheck("#e-disks .devrow >> nth=0 >> .d-ro");
  await page.click("#e-nics .devrow >> nth=1 >> button[data-action=remove]");
  await page.click("#edit button[type=submit]");
  await page.locator(".flash", { hasText: "saved" }).waitFor();
  out.multi_edited = (await api(`/v1/vms/${mv}`)).definition;
  await page.waitForFunction(() => document.querySelectorAll("#disks tbody tr").length === 1);
  await page.screenshot({ path: join(env.SV_OUT, "web-multi.png"), fullPage: true });

  step("create a VM from an image with the form: a copy and a linked overlay");
  const iv = env.SV_IMPORT_VM;
  await page.goto(url + "/#/");
  await page.click("details.create summary");
  await page.fill("#new-name", iv);
  await page.fill("#new-kernel", env.SV_KERNEL);
  await page.selectOption("#new-disks .devrow .d-src", "import");
  await page.fill("#new-disks .devrow .d-path", env.SV_IMPORT + ".missing");
  await page.click("#create button[data-action=add-disk]");
  await page.locator("#new-disks .devrow >> nth=1").waitFor();
  await page.selectOption("#new-disks .devrow >> nth=1 >> .d-src", "import");
  await page.fill("#new-disks .devrow >> nth=1 >> .d-path", env.SV_IMPORT);
  await page.check("#new-disks .devrow >> nth=1 >> .d-linked");
  out.import_format_disabled = await page.isDisabled("#new-disks .devrow >> nth=1 >> .d-format");
  await page.click("#create button[type=submit]");
  await page.waitForFunction(() => /import_from/.test(document.getElementById("create-error")?.textContent || ""));
  out.import_error = await page.textContent("#create-error");
  await page.fill("#new-disks .devrow .d-path", env.SV_IMPORT);
  await page.click("#create button[type=submit]");
  // the form follows the task to its end, then says what it made
  await page.waitForFunction(() => /^created /.test(document.getElementById("create-error")?.textContent || ""));
  await page.locator(`#vms tr[data-vm="${iv}"]`).waitFor();
  out.import_msg = await page.textContent("#create-error");
  out.import_created = (await api(`/v1/vms/${iv}`)).definition;

  out.page_errors = errors;
  out.ok = errors.length === 0;
  delete out.step;
} catch (e) {
  out.ok = false;
  out.error = String(e).slice(0, 2000);
  // what the page's console showed last, and the figures, if there is one
  out.console_tail = await page?.evaluate(() => {
    const t = window.__svConsole;
    if (!t) return null;
    const b = t.buffer.active, lines = [];
    for (let i = Math.max(0, b.length - 25); i < b.length; i++) lines.push(b.getLine(i).translateToString(true));
    return lines.join("\n").trim();
  }).catch(() => null);
  out.device_cells = await page?.evaluate(() =>
    [...document.querySelectorAll("#disks tbody td[data-k], #nics tbody td[data-k]")].map((td) =>
      `${td.dataset.k}=${td.dataset.v}/${td.dataset.rate}`).join(" ")).catch(() => null);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
process.exit(out.ok ? 0 : 1);
