"""A minimal QMP client for the system tests (docs/qmp.md): one JSON
object per line over a unix socket, events kept as they arrive."""

import json
import socket
import time

import pytest


class Qmp:
    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""
        self.events = []
        self.greeting = self.recv()

    def recv(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def reply(self):
        """The next reply, keeping the events that come before it."""
        while True:
            msg = self.recv()
            if "event" in msg:
                self.events.append(msg)
                continue
            return msg

    def send_raw(self, data):
        self.sock.sendall(data)
        return self.reply()

    def cmd(self, name, **arguments):
        req = {"execute": name}
        if arguments:
            req["arguments"] = arguments
        return self.send_raw(json.dumps(req).encode() + b"\n")

    def ok(self, name, **arguments):
        r = self.cmd(name, **arguments)
        assert "return" in r, f"{name}: {r}"
        return r["return"]

    def event(self, name, timeout=10):
        """Wait for event name (it may have come already)."""
        t_end = time.monotonic() + timeout
        while not any(e["event"] == name for e in self.events):
            self.sock.settimeout(max(0.1, t_end - time.monotonic()))
            msg = self.recv()
            if "event" in msg:
                self.events.append(msg)
        return next(e for e in self.events if e["event"] == name)

    def close(self):
        self.sock.close()


def wait_qmp_socket(path, vm, timeout=30):
    """Wait until the VM (conftest.VM) created its QMP socket at path."""
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if path.exists():
            return
        if not vm.child.isalive():
            break
        time.sleep(0.05)
    pytest.fail(f"QMP socket {path} did not appear; console:\n{vm.tail()}")
