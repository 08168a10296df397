"""Helpers for the daemon system tests: start `softvisor daemon` in a
private state directory, talk to its REST API over the unix socket (or TLS),
and run the `softvisor` CLI against it."""

import http.client
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pexpect
import pytest

from conftest import MARKER, TIME_SCALE, append_line


def softvisor_exe():
    exe = os.environ.get("SOFTVISOR")
    if not exe or not os.access(exe, os.X_OK):
        pytest.skip("SOFTVISOR does not name a softvisor binary")
    return exe


def free_port(host="127.0.0.1"):
    """A TCP port on host, free now, for a server a test starts. Below
    the kernel's ephemeral range (ip_local_port_range), so that no
    outgoing connection of a test running beside it takes the port
    between this check and the server's bind (a port from bind(0) is one
    of those); random, so that two tests rarely pick the same one."""
    lo = 32768
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    for _ in range(100):
        port = random.randrange(10000, max(lo, 11000))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def vm_console(d, name, timeout=120, marker=False):
    """`softvisor vm console NAME` against daemon d on a pty, logged to
    console-NAME.log in its directory; with marker, once the guest's
    shell marker showed."""
    env = dict(os.environ, SOFTVISOR_SOCKET=d.sock)
    child = pexpect.spawn(softvisor_exe(), ["vm", "console", name], env=env,
                          encoding="utf-8", codec_errors="replace",
                          timeout=timeout * TIME_SCALE)
    child.logfile_read = open(d.tmp / f"console-{name}.log", "a")
    if marker:
        child.expect(MARKER, timeout=180 * TIME_SCALE)
    return child


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


class Api:
    """A small REST client: call() returns (status, parsed JSON or None)."""

    def __init__(self, sock=None, port=None, token=None, timeout=60):
        self.sock, self.port, self.token = sock, port, token
        self.timeout = timeout

    def conn(self):
        if self.sock:
            return UnixHTTPConnection(self.sock, timeout=self.timeout)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection("127.0.0.1", self.port,
                                           context=ctx, timeout=self.timeout)

    def call(self, method, path, body=None, raw=None):
        c = self.conn()
        headers = {}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        data = raw
        if body is not None:
            data = json.dumps(body)
        if data is not None:
            headers["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        text = r.read().decode()
        c.close()
        try:
            j = json.loads(text) if text else None
        except ValueError:
            j = text
        return r.status, j

    def ok(self, method, path, body=None, want=(200, 201, 202, 204)):
        st, j = self.call(method, path, body)
        assert st in want, f"{method} {path}: {st} {j}"
        return j

    def state(self, vm):
        return self.ok("GET", f"/v1/vms/{vm}")["state"]

    def wait_state(self, vm, state, timeout=60):
        end = time.monotonic() + timeout * TIME_SCALE
        while time.monotonic() < end:
            s = self.state(vm)
            if s == state:
                return
            time.sleep(0.2)
        pytest.fail(f"{vm} did not reach {state} (is {s})")

    def wait_task(self, task_id, timeout=120):
        end = time.monotonic() + timeout * TIME_SCALE
        while time.monotonic() < end:
            t = self.ok("GET", f"/v1/tasks/{task_id}")
            if t["state"] != "running":
                return t
            time.sleep(0.3)
        pytest.fail(f"task {task_id} still running")


class Daemon:
    """softvisor daemon with its own state dir and socket."""

    def __init__(self, tmp, extra=(), name="daemon", netns=None):
        self.tmp = Path(tmp)
        self.netns = netns  # run in this network namespace
        self.state = self.tmp / "state"
        self.sock = str(self.tmp / "api.sock")
        self.extra = list(extra)
        self.logpath = self.tmp / f"{name}.log"
        self.proc = None

    def start(self):
        self.log = open(self.logpath, "a")
        argv = [softvisor_exe(), "daemon", "--state-dir", str(self.state),
                "--socket", self.sock] + self.extra
        if self.netns:  # `ip netns exec` execs: the pid is the daemon's
            argv = ["ip", "netns", "exec", self.netns] + argv
        self.log.write("$ " + " ".join(argv) + "\n")
        self.log.flush()
        self.proc = subprocess.Popen(argv, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        end = time.monotonic() + 30 * TIME_SCALE
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                pytest.fail(f"daemon exited {self.proc.returncode}:\n"
                            + self.logpath.read_text())
            try:
                st, _ = self.api().call("GET", "/v1/host")
                if st == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        pytest.fail("daemon did not answer:\n" + self.logpath.read_text())

    def api(self, **kw):
        return Api(sock=self.sock, **kw)

    def stop(self, sig=signal.SIGTERM, timeout=120):
        """Stop the daemon; return its exit status."""
        if not self.proc:
            return 0
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout * TIME_SCALE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            pytest.fail("daemon did not stop:\n" + self.tail())
        self.proc = None
        self.log.close()
        return rc

    def tail(self, n=60):
        return "\n".join(self.logpath.read_text(
            errors="replace").splitlines()[-n:])

    def cli(self, *args, check=True, timeout=120, input=None):
        """Run `softvisor ARGS --socket S`; return CompletedProcess."""
        argv = [softvisor_exe()] + list(args)
        env = dict(os.environ, SOFTVISOR_SOCKET=self.sock)
        p = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env,
                           timeout=timeout * TIME_SCALE, input=input)
        if check and p.returncode != 0:
            pytest.fail(f"{' '.join(argv)} -> {p.returncode}\n"
                        f"stdout: {p.stdout}\nstderr: {p.stderr}\n"
                        f"daemon:\n{self.tail()}")
        return p


def guest_definition(guest, name, after="shell", memory="256M", cpus=1,
                     script=None, **more):
    d = {
        "name": name,
        "cpus": cpus,
        "memory": memory,
        "boot": {"kernel": str(guest.image), "initrd": str(guest.initrd),
                 "append": append_line(script=script, after=after)},
    }
    d.update(more)
    return d


def thread_cpu_ticks(pid, tid):
    """utime + stime of one thread, in clock ticks."""
    with open(f"/proc/{pid}/task/{tid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def vm_pid(api, name, daemon):
    """The process a VM's vCPU threads live in: its worker (issue 14) or,
    with --in-process, the daemon."""
    return api.ok("GET", f"/v1/vms/{name}")["worker_pid"] or daemon.proc.pid


def process_cpu_ticks(pid):
    """utime + stime of a whole process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])
