// The daemon's REST API from the browser: the bearer token lives in
// sessionStorage (gone with the tab) and goes in the Authorization header,
// never in a URL.

const KEY = "softvisor.token";

export function token() {
  return sessionStorage.getItem(KEY) || "";
}

export function setToken(t) {
  if (t) sessionStorage.setItem(KEY, t);
  else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// method path [body] -> the reply's JSON (null for 204); ApiError with
// the server's message otherwise.
export async function call(method, path, body) {
  const headers = { Authorization: "Bearer " + token() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return reply(fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  }));
}

// A fetch's response (a promise) -> as call() returns it.
export async function reply(pending) {
  const r = await pending;
  const text = await r.text();
  let j = null;
  try {
    j = text ? JSON.parse(text) : null;
  } catch (e) {
    j = null;
  }
  if (!r.ok) {
    const msg = (j && j.error && j.error.message) || `HTTP ${r.status}`;
    throw new ApiError(r.status, msg);
  }
  return j;
}

// Follow GET /v1/events/stream (server-sent events) with fetch, since
// EventSource cannot send a header. onEvent(event) for each Event;
// resumes after the last id when the stream ends. Returns stop().
export function followEvents(onEvent, onState) {
  let last = null;
  let stopped = false;
  let ctl = null;

  async function once() {
    ctl = new AbortController();
    const headers = { Authorization: "Bearer " + token() };
    if (last !== null) headers["Last-Event-ID"] = String(last);
    const r = await fetch("/v1/events/stream", {
      headers,
      signal: ctl.signal,
      cache: "no-store",
    });
    if (!r.ok) throw new ApiError(r.status, `event stream: HTTP ${r.status}`);
    onState && onState("live");
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += dec.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let type = "message", data = [], id = null;
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue;
          const c = line.indexOf(":");
          const f = c < 0 ? line : line.slice(0, c);
          let v = c < 0 ? "" : line.slice(c + 1);
          if (v.startsWith(" ")) v = v.slice(1);
          if (f === "event") type = v;
          else if (f === "data") data.push(v);
          else if (f === "id") id = v;
        }
        if (id !== null) last = Number(id);
        if (type === "event" && data.length) onEvent(JSON.parse(data.join("\n")));
      }
    }
  }

  (async () => {
    while (!stopped) {
      try {
        await once();
      } catch (e) {
        if (stopped) return;
        onState && onState("reconnecting: " + e.message);
      }
      if (!stopped) await new Promise((res) => setTimeout(res, 2000));
    }
  })();
  return () => {
    stopped = true;
    if (ctl) ctl.abort();
  };
}

// Follow a task (POST's 202 answer: a Task) with GET /v1/tasks/{id} until
// it ends: onUpdate(task) for each answer. Bounded in polls and in time
// (a task the daemon keeps running longer is left to it: the last
// answer, still "running", is returned). The promise gives the last task.
export async function watchTask(task, onUpdate, { periodMs = 1000, maxPolls = 200, maxMs = 200000 } = {}) {
  const end = Date.now() + maxMs;
  onUpdate && onUpdate(task);
  for (let n = 0; task.state === "running" && n < maxPolls && Date.now() < end; n++) {
    await new Promise((res) => setTimeout(res, periodMs));
    task = await call("GET", `/v1/tasks/${task.id}`);
    onUpdate && onUpdate(task);
  }
  return task;
}
