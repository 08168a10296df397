"""The event log as a live stream (issue 19): GET /v1/events/stream
(server-sent events) on a real daemon with a Debian guest: lifecycle
events arrive as they happen, a reconnect with Last-Event-ID replays what
was missed, idle streams get heartbeats, a scoped token sees only its VMs
(over TLS and the socket), streams are bounded, and `softvisor events
--follow` prints events from the stream. docs/api.md "Event stream"."""

import json
import os
import signal
import socket
import ssl
import subprocess
import time

from daemon_util import Daemon, guest_definition, softvisor_exe, free_port


class Stream:
    """A raw SSE client: reads the chunked reply line by line."""

    def __init__(self, sock=None, port=None, token=None,
                 path="/v1/events/stream?heartbeat=1", last_id=None):
        if sock:
            self.s = socket.socket(socket.AF_UNIX)
            self.s.settimeout(30)
            self.s.connect(sock)
        else:
            raw = socket.create_connection(("127.0.0.1", port), timeout=30)
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self.s = ctx.wrap_socket(raw)
        hdr = f"GET {path} HTTP/1.1\r\nHost: x\r\n"
        if token:
            hdr += f"Authorization: Bearer {token}\r\n"
        if last_id is not None:
            hdr += f"Last-Event-ID: {last_id}\r\n"
        self.s.sendall((hdr + "\r\n").encode())
        self.f = self.s.makefile("rb")
        status = self.f.readline().decode()
        self.status = int(status.split()[1])
        self.headers = {}
        while True:
            line = self.f.readline().decode().strip()
            if not line:
                break
            k, v = line.split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
        self.pending = b""

    def _chunk(self):
        size = int(self.f.readline().strip(), 16)
        data = self.f.read(size)
        self.f.readline()
        return data, size

    def body(self):
        """A non-stream reply's JSON body."""
        n = int(self.headers["content-length"])
        return json.loads(self.f.read(n))

    def next(self):
        """The next block: a dict of its fields (comments under ':'), or
        None when the stream ended."""
        while b"\n\n" not in self.pending:
            data, size = self._chunk()
            if size == 0:
                return None
            self.pending += data
        block, self.pending = self.pending.split(b"\n\n", 1)
        out = {}
        for line in block.decode().split("\n"):
            k, _, v = line.partition(":")
            out[k] = v[1:] if v.startswith(" ") else v
        return out

    def next_event(self):
        while True:
            b = self.next()
            if b is None or "data" in b:
                return b

    def close(self):
        self.f.close()     # the file holds the socket open too
        self.s.close()


def test_event_stream(tmp_path, guest):
    port = free_port()
    d = Daemon(tmp_path, extra=["--listen", f"127.0.0.1:{port}"]).start()
    try:
        api = d.api()
        live = Stream(sock=d.sock)
        assert live.status == 200
        assert live.headers["content-type"] == "text/event-stream"
        assert live.next().get("retry") == "2000"

        api.ok("POST", "/v1/vms", guest_definition(guest, "web1"))
        api.ok("POST", "/v1/vms", guest_definition(guest, "db1"))
        api.ok("POST", "/v1/vms/web1/start")
        got = [json.loads(live.next_event()["data"]) for _ in range(3)]
        assert [(e["vm"], e["action"], e["result"]) for e in got] == [
            ("web1", "create", "ok"), ("db1", "create", "ok"),
            ("web1", "start", "ok")]
        first_id = got[0]["id"]
        live.close()       # missed from here on ...
        api.ok("POST", "/v1/vms/web1/pause")
        api.ok("POST", "/v1/vms/web1/stop")

        # ... and replayed on reconnect after the last id seen
        again = Stream(sock=d.sock, last_id=got[-1]["id"])
        acts = []
        while ("web1", "stop") not in acts:   # the machine's "stopped" too
            b = again.next_event()
            assert b["event"] == "event"
            e = json.loads(b["data"])
            assert int(b["id"]) == e["id"]
            acts.append((e["vm"], e["action"]))
        assert acts[0] == ("web1", "pause")
        n_web1 = 2 + len(acts)    # create, start, then these
        again.close()

        # ?after= does the same; ?vm= keeps one VM's events
        s = Stream(sock=d.sock,
                   path=f"/v1/events/stream?vm=db1&after={first_id - 1}"
                   "&heartbeat=1")
        assert json.loads(s.next_event()["data"])["action"] == "create"
        api.ok("DELETE", "/v1/vms/db1")
        e = json.loads(s.next_event()["data"])
        assert (e["vm"], e["action"]) == ("db1", "delete")
        s.close()

        # an idle stream gets heartbeats (comments), not events
        hb = Stream(sock=d.sock, path="/v1/events/stream?heartbeat=1")
        hb.next()  # retry
        assert hb.next() == {"": "heartbeat"}  # a comment line
        hb.close()

        # bad parameters are JSON errors, not streams
        for q in ("?after=-1", "?after=x", "?heartbeat=0", "?heartbeat=301"):
            bad = Stream(sock=d.sock, path="/v1/events/stream" + q)
            assert bad.status == 400, q
            assert bad.body()["error"]["code"] == "bad_request"
            bad.close()

        # TLS: a token is needed; a scoped token sees only its VMs
        assert Stream(port=port).status == 401
        secret = d.cli("token", "create", "w", "--role", "read-only",
                       "--vm", "web1").stdout.strip().split()[-1]
        scoped = Stream(port=port, token=secret, last_id=0)
        assert scoped.status == 200
        seen = set()
        for _ in range(n_web1):
            seen.add(json.loads(scoped.next_event()["data"])["vm"])
        assert seen == {"web1"}
        refused = Stream(port=port, token=secret,
                         path="/v1/events/stream?vm=db1")
        assert refused.status == 403
        scoped.close()

        # at most 16 streams at once; the 17th is told to come back. The
        # streams closed above free their places at their next heartbeat.
        end = time.monotonic() + 30
        while True:
            many = [Stream(sock=d.sock) for _ in range(16)]
            if all(m.status == 200 for m in many):
                break
            for m in many:
                m.close()
            assert time.monotonic() < end, "closed streams were not freed"
            time.sleep(0.5)
        extra = Stream(sock=d.sock)
        assert extra.status == 503
        assert "too many event streams" in extra.body()["error"]["message"]

        # softvisor events --follow: the backlog, then live events; while
        # every place is taken it says so and waits for one
        env = dict(os.environ, SOFTVISOR_SOCKET=d.sock)
        p = subprocess.Popen([softvisor_exe(), "events", "--follow",
                              "--output", "json", "--vm", "web1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
        lines = [json.loads(p.stdout.readline()) for _ in range(n_web1)]
        assert [e["action"] for e in lines][:3] == [
            "create", "start", "pause"]
        assert {e["vm"] for e in lines} == {"web1"}
        assert "too many event streams" in p.stderr.readline()
        api.ok("POST", "/v1/vms/web1/start")   # while it waits: replayed
        for m in many:
            m.close()
        e = json.loads(p.stdout.readline())
        assert (e["vm"], e["action"], e["result"]) == ("web1", "start", "ok")
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=30) == 0
        api.ok("POST", "/v1/vms/web1/stop")
    finally:
        rc = d.stop()
    assert rc == 0, d.tail()
