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
  const enc = new TextEncoder();
  let ws = null, writing = write, closed = false;

  // As writer first; an attach refused before it opened (a read-only
  // token, or another writer is attached) is retried once as a viewer.
  function connect(asWriter) {
    const url = `${proto}//${location.host}/v1/vms/${encodeURIComponent(vm)}/console` +
      (asWriter ? "?write=1" : "");
    let opened = false;
    writing = asWriter;
    ws = new WebSocket(url, ["softvisor.console", "bearer." + token()]);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      opened = true;
      onStatus && onStatus("connected" + (asWriter ? "" : " (view only)"));
    };
    ws.onmessage = (m) => {
      if (typeof m.data === "string") term.write(m.data);
      else term.write(new Uint8Array(m.data));
    };
    ws.onclose = (e) => {
      if (!opened && asWriter && !closed) return connect(false);
      onStatus && onStatus(`closed (${e.code})`);
    };
  }
  connect(write);
  // typed keys and pasted text (xterm turns a paste into onData)
  const sub = term.onData((d) => {
    if (writing && ws.readyState === WebSocket.OPEN) ws.send(enc.encode(d));
  });
  // copy: the selection goes to the clipboard as it is made
  term.onSelectionChange(() => {
    const s = term.getSelection();
    if (s && navigator.clipboard) navigator.clipboard.writeText(s).catch(() => {});
  });
  term.focus();
  window.__svConsole = term; // for the browser test and debugging

  return () => {
    closed = true;
    sub.dispose();
    ro.disconnect();
    ws.close();
    term.dispose();
    if (window.__svConsole === term) window.__svConsole = null;
  };
}
