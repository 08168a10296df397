// The VM's serial console: xterm.js over the console WebSocket
// (docs/api.md "Console WebSocket"). The token rides in the subprotocol
// "bearer.<token>" (a browser cannot set headers on a WebSocket).
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import { token } from "./api.js";

export function openConsole(el, vm, { write = true, onStatus } = {}) {
  const term = new Terminal({
    convertEol: false,
    cursorBlink: true,
    scrollback: 5000,
    fontSize: 14,
    fontFamily: "monospace",
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(el);
  fit.fit();
  const ro = new ResizeObserver(() => fit.fit());
  ro.observe(el);

  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const url = `${proto}//${location.host}/v1/vms/${encodeURIComponent(vm)}/console` +
    (write ? "?write=1" : "");
  const ws = new WebSocket(url, ["softvisor.console", "bearer." + token()]);
  ws.binaryType = "arraybuffer";
  const enc = new TextEncoder();
  ws.onopen = () => onStatus && onStatus("connected" + (write ? "" : " (view only)"));
  ws.onmessage = (m) => {
    if (typeof m.data === "string") term.write(m.data);
    else term.write(new Uint8Array(m.data));
  };
  ws.onclose = (e) => onStatus && onStatus(`closed (${e.code})`);
  ws.onerror = () => onStatus && onStatus("error");
  // typed keys and pasted text (xterm turns a paste into onData)
  const sub = term.onData((d) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(enc.encode(d));
  });
  // copy: the selection goes to the clipboard as it is made
  term.onSelectionChange(() => {
    const s = term.getSelection();
    if (s && navigator.clipboard) navigator.clipboard.writeText(s).catch(() => {});
  });
  term.focus();
  window.__svConsole = term; // for the browser test and debugging

  return () => {
    sub.dispose();
    ro.disconnect();
    ws.close();
    term.dispose();
    if (window.__svConsole === term) window.__svConsole = null;
  };
}
