"""Live migration between two daemons on one machine (issue 18,
docs/vm-state.md "Live migration").

Two daemons with their own state directories and sockets, each serving
its API over TLS on loopback; the destination's token authenticates the
source. A guest runs the self-checking counter of test_suspend.py; it is
migrated back and forth ten times with `softvisor vm migrate NAME --to URL` (pre-copy:
its RAM moves while it runs; once stop-and-copy; twice in the default
tier, ten times in the full tier), and
across all moves its console shows every count once, in order, and takes
input at the end; after each move the VM's NIC announced itself at the
destination (its RARP frames are counted there). A migration whose destination is killed while the
state streams leaves the VM running on the source, and one to a
destination that refuses (a wrong token) too.
"""

import os
import re
import signal
import subprocess
import time

import pexpect
import pytest

from conftest import MARKER, TIME_SCALE
from daemon_util import Daemon, free_port, guest_definition, softvisor_exe
from test_daemon import console
from test_suspend import CTR, WORKLOAD, lines


def tls_daemon(tmp_path, name):
    port = free_port()
    d = Daemon(tmp_path / name, extra=["--listen", f"127.0.0.1:{port}"],
               name=name)
    (tmp_path / name).mkdir()
    d.start()
    d.url = f"https://127.0.0.1:{port}"
    d.token = d.cli("token", "create", "migrate").stdout.strip().split()[-1]
    return d


# What `softvisor vm console` says of itself when a session starts and
# when the VM leaves its host (the pty turns each \n into \r\n).
BANNERS = re.compile(r"\r*\n\[console of [^\]\r\n]* closed\]\r*\n|"
                     r"\[attached to [^\r\n]*; Ctrl-\] detaches\]\r*\n")


class Record:
    """Everything the console sessions printed, in the order they came."""

    def __init__(self):
        self.chunks = []

    def write(self, s):
        self.chunks.append(s)

    def flush(self):
        pass

    def text(self):
        """The guest's output alone: a line the guest was printing as the
        VM moved is cut in two by the banners (CTR 6 as "C", then "TR 6
        ..." from the new host) and whole again without them."""
        return BANNERS.sub("", "".join(self.chunks))


def session(d, name, rec):
    c = console(d, name)
    c.logfile_read = rec
    return c


def missing_line(nums, text):
    """The counters read, and the console around the first one missing: a
    line the guest never printed, or one something else cut in two."""
    gap = next((i for i, n in enumerate(nums) if n != i + 1), len(nums))
    at = text.find(f"CTR {gap} ") if gap else 0
    return (f"CTR lines {nums}: {gap + 1} is missing; the console from "
            f"CTR {gap}: {text[max(at, 0):max(at, 0) + 600]!r}")


def migrate(src, dst, name, check=True, extra=()):
    return src.cli("vm", "migrate", name, "--to", dst.url, "--to-token",
                   dst.token, "--to-insecure", *extra, check=check)


def test_migrate_back_and_forth(tmp_path, guest):
    """Two moves (there and back): the default tier."""
    back_and_forth(tmp_path, guest, 2)


@pytest.mark.full
def test_migrate_back_and_forth_ten_times(tmp_path, guest):
    """The issue's ten moves (the full tier), with a TCP connection from
    the guest to a host on the LAN staying up across all of them."""
    with Lan() as lan:
        a = lan_daemon(tmp_path, "a", lan.ns_a, LAN_A)
        b = lan_daemon(tmp_path, "b", lan.ns_b, LAN_B)
        try:
            for d in (a, b):
                d.cli("switch", "create", "lan", "--uplink", "bridge=br0")
            echo = EchoServer(lan.ns_lan)
            try:
                run(tmp_path, a, b, guest, 10, echo=echo)
                # the connection goes on after the last move: 100 lines
                # echoed in all (ten quick moves may take less time)
                echo.wait_more(100, 60 * TIME_SCALE)
            finally:
                summary = echo.stop()
            print(summary)
            m = re.search(r"SENT (\d+) ECHOED (\d+) BAD (\d+) CLOSED (\d+)",
                          summary)
            assert m, summary
            sent, echoed, bad, closed = map(int, m.groups())
            assert bad == 0 and closed == 0, summary
            assert echoed > 100 and sent - echoed <= 20, summary
        finally:
            for d in (a, b):
                if d.proc:
                    assert d.stop() == 0, d.tail()


# ---- a LAN for the TCP connection (full tier) --------------------------------
#
# Three network namespaces: the LAN's (a bridge brl at LAN_HOST, the
# "host" the guest talks to) and one per daemon (a bridge br0 with the
# daemon's address, its switch's bridged uplink sv-lan on it, and a veth
# into brl). The daemons migrate over the LAN too (TLS on their br0).

LAN_HOST, LAN_A, LAN_B, LAN_GUEST = ("10.98.0.1", "10.98.0.11", "10.98.0.12",
                                     "10.98.0.50")
ECHO_PORT = 5000


def ip(*args):
    subprocess.run(["ip", *args], check=True)


class Lan:
    def __enter__(self):
        tag = str(os.getpid())
        self.ns_lan, self.ns_a, self.ns_b = (f"svmig-{x}-{tag}"
                                             for x in ("lan", "a", "b"))
        self.made = []
        for ns in (self.ns_lan, self.ns_a, self.ns_b):
            ip("netns", "add", ns)
            self.made.append(ns)
            ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", self.ns_lan, "link", "add", "brl", "type", "bridge")
        ip("-n", self.ns_lan, "addr", "add", f"{LAN_HOST}/24", "dev", "brl")
        ip("-n", self.ns_lan, "link", "set", "brl", "up")
        for ns, addr, v in ((self.ns_a, LAN_A, "va"),
                            (self.ns_b, LAN_B, "vb")):
            ip("-n", ns, "link", "add", "br0", "type", "bridge")
            ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "br0")
            ip("-n", ns, "link", "set", "br0", "up")
            ip("-n", ns, "link", "add", v, "type", "veth", "peer", "name",
               "l" + v, "netns", self.ns_lan)
            ip("-n", ns, "link", "set", v, "master", "br0", "up")
            ip("-n", self.ns_lan, "link", "set", "l" + v, "master", "brl",
               "up")
        return self

    def __exit__(self, *exc):
        for ns in self.made:
            subprocess.run(["ip", "netns", "del", ns])


def lan_daemon(tmp_path, name, ns, addr):
    port = free_port()
    d = Daemon(tmp_path / name, extra=["--listen", f"{addr}:{port}"],
               name=name, netns=ns)
    (tmp_path / name).mkdir()
    d.start()
    d.url = f"https://{addr}:{port}"
    d.token = d.cli("token", "create", "migrate").stdout.strip().split()[-1]
    return d


# The LAN's host: it accepts one connection, sends a numbered line every
# 0.2 s and checks that each comes back, in order; "STOP" on its stdin (or
# 30 minutes) ends it with one summary line.
ECHO_SERVER = r"""
import select, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
s.settimeout(600)
c, _ = s.accept()
print("ACCEPTED", flush=True)
sent = echoed = bad = closed = 0
buf = b""
nxt = time.monotonic()
end = time.monotonic() + 1800
while time.monotonic() < end:
    r, _, _ = select.select([c, sys.stdin], [], [], 0.05)
    if sys.stdin in r:
        break
    if c in r:
        try:
            d = c.recv(65536)
        except OSError:
            d = b""
        if not d:
            closed = 1
            break
        buf += d
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line != str(echoed).encode():
                bad += 1
            echoed += 1
            print("ECHOED", echoed, flush=True)
    if time.monotonic() >= nxt:
        c.sendall(b"%d\n" % sent)
        sent += 1
        nxt += 0.2
print("SENT %d ECHOED %d BAD %d CLOSED %d" % (sent, echoed, bad, closed),
      flush=True)
"""


class EchoServer:
    def __init__(self, ns):
        import threading
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", ns, "python3", "-c", ECHO_SERVER,
             LAN_HOST, str(ECHO_PORT)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lines = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line.strip())

    def echoed(self):
        n = [int(x.split()[1]) for x in self.lines[-5:]
             if x.startswith("ECHOED")]
        return n[-1] if n else 0

    def wait_more(self, than, timeout):
        """Wait until more than `than` lines came back; return the count."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.echoed() <= than:
            time.sleep(0.1)
        assert self.echoed() > than, ("the TCP echo stopped",
                                      self.lines[-3:])
        return self.echoed()

    def stop(self):
        try:
            self.p.stdin.write("STOP\n")
            self.p.stdin.flush()
        except OSError:
            pass
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.t.join(timeout=10)
        return next((x for x in reversed(self.lines)
                     if x.startswith("SENT")), "no summary: "
                    + " | ".join(self.lines[-3:]))


# the guest's side: eth0 on the LAN, and busybox nc as an echo client
# (what it receives goes into a FIFO that is its own input)
NET_SETUP = f"""ip link set eth0 up
ip addr add {LAN_GUEST}/24 dev eth0
mkfifo /tmp/echo
(nc {LAN_HOST} {ECHO_PORT} 0<>/tmp/echo 1>/tmp/echo; echo "NC-EXIT $?") &
"""


def back_and_forth(tmp_path, guest, moves):
    a = tls_daemon(tmp_path, "a")
    b = tls_daemon(tmp_path, "b")
    try:
        run(tmp_path, a, b, guest, moves)
    finally:
        for d in (a, b):
            if d.proc:
                assert d.stop() == 0, d.tail()


def nic_tx(d, vm):
    """Frames VM's NIC sent, from d's /metrics (None: not there yet)."""
    api = d.api()
    c = api.conn()
    c.request("GET", "/metrics", headers={"Authorization": "Bearer " +
                                          api.token} if api.token else {})
    body = c.getresponse().read().decode()
    c.close()
    m = re.search(r'^softvisor_vm_nic_tx_packets_total\{[^}]*vm="' + vm +
                  r'"[^}]*\} (\d+)', body, re.M)
    return int(m.group(1)) if m else None


def announced(d, vm):
    """The moved VM's NIC announced itself at the destination: its 5 RARP
    frames are counted there (the guest leaves its eth0 down and sends
    nothing itself; the destination's back end is new, from 0)."""
    deadline = time.monotonic() + 30 * TIME_SCALE
    while time.monotonic() < deadline and (nic_tx(d, vm) or 0) < 5:
        time.sleep(0.2)
    assert (nic_tx(d, vm) or 0) >= 5, nic_tx(d, vm)


def run(tmp_path, a, b, guest, moves, echo=None):
    # a NIC (user-mode NAT, left down by the guest): it announces itself
    # after each move; with echo, a NIC on the LAN's switch and a TCP
    # connection to echo's host, which must go on after every move
    if echo:
        defn = guest_definition(
            guest, "mig", script=NET_SETUP + WORKLOAD, after="shell",
            nics=[{"type": "switch", "switch": "lan",
                   "mac": "52:54:00:98:00:50"}])
    else:
        defn = guest_definition(guest, "mig", script=WORKLOAD,
                                after="shell", nics=[{"type": "user"}])
    a.api().ok("POST", "/v1/vms", defn)
    a.cli("vm", "start", "mig")
    # the sessions alternate between the daemons; each new one starts
    # with the scrollback of its machine, which began at the restore
    rec = Record()
    c = session(a, "mig", rec)
    c.expect(MARKER, timeout=180 * TIME_SCALE)
    c.expect(r"CTR 3 ", timeout=60 * TIME_SCALE)
    if echo:
        n_echo = echo.wait_more(3, 120 * TIME_SCALE)
    hosts = [a, b]
    for i in range(moves):
        src, dst = hosts[i % 2], hosts[(i + 1) % 2]
        c.expect(CTR, timeout=60 * TIME_SCALE)
        # pre-copy (RAM moves while the guest runs), and once
        # stop-and-copy (all of it paused)
        stop_and_copy = i == 1
        p = migrate(src, dst, "mig",
                    extra=["--downtime", "0"] if stop_and_copy else [])
        assert "migrated to" in p.stdout and "downtime" in p.stdout, p.stdout
        passes = int(re.search(r"(\d+) passes", p.stdout).group(1))
        assert (passes == 0) == stop_and_copy, p.stdout
        # the source's copy is gone, its console stream ended
        c.expect(pexpect.EOF, timeout=30 * TIME_SCALE)
        st, _ = src.api().call("GET", "/v1/vms/mig")
        assert st == 404
        assert dst.api().state("mig") == "running"
        c = session(dst, "mig", rec)
        c.expect(CTR, timeout=60 * TIME_SCALE)
        if echo:  # the connection carries on from the new host
            n_echo = echo.wait_more(n_echo + 3, 60 * TIME_SCALE)
        else:
            announced(dst, "mig")

    # the whole output of all sessions
    c.expect(r"CTR \d+ .* END", timeout=60 * TIME_SCALE)
    c.expect(r"CTR \d+ .* END", timeout=60 * TIME_SCALE)
    text = rec.text()
    assert "CTR-BAD" not in text
    assert "NC-EXIT" not in text
    got = lines(text)
    nums = [n for n, _, _ in got]
    assert nums == list(range(1, len(nums) + 1)), missing_line(nums, text)
    assert all(s == n * 7919 % 65521 for n, s, _ in got)
    ups = [u for _, _, u in got]
    assert ups == sorted(ups), "the guest's clock went back"
    c.send("echo sum=$((40+2))\r")
    c.expect("sum=42", timeout=60 * TIME_SCALE)
    c.sendcontrol("]")
    c.expect(pexpect.EOF, timeout=10 * TIME_SCALE)

    # the VM is on a again (an even number of moves); a wrong token: refused, it runs on
    ev_before = len(a.api().ok("GET", "/v1/events?vm=mig&limit=500")
                    ["events"])
    p = a.cli("vm", "migrate", "mig", "--to", b.url, "--to-token",
              "svt_1_" + "0" * 64, "--to-insecure", check=False)
    assert p.returncode == 1 and "401" in p.stderr, p.stderr
    assert a.api().state("mig") == "running"
    assert b.api().call("GET", "/v1/vms/mig")[0] == 404

    # the destination dies while the state streams: the VM runs on here
    # (the state of a 1 GiB guest with a filled tmpfs takes a while)
    c = console(a, "mig")
    c.expect(CTR, timeout=60 * TIME_SCALE)
    c.send("mkdir -p /tmp/big && mount -t tmpfs none /tmp/big && "
           "dd if=/dev/urandom of=/tmp/big/f bs=1M count=160 "
           "2>/dev/null; echo FILLED\r")
    c.expect("FILLED", timeout=180 * TIME_SCALE)
    env = dict(os.environ, SOFTVISOR_SOCKET=a.sock)
    m = subprocess.Popen([softvisor_exe(), "vm", "migrate", "mig", "--to",
                          b.url, "--to-token", b.token, "--to-insecure"],
                         env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    killed = False
    end = time.monotonic() + 60 * TIME_SCALE
    while time.monotonic() < end and m.poll() is None:
        t = [x for x in a.api().ok("GET", "/v1/tasks")["tasks"]
             if x["kind"] == "migrate" and x["state"] == "running"]
        if t and t[0].get("transfer", {}).get("bytes_sent", 0) > 8 << 20:
            b.proc.send_signal(signal.SIGKILL)
            b.proc.wait()
            b.proc = None
            killed = True
            break
        time.sleep(0.02)
    out, err = m.communicate(timeout=120 * TIME_SCALE)
    assert killed, f"the migration ended before the kill: {out} {err}"
    assert m.returncode == 1 and "goes on here" in err, (out, err)
    assert a.api().state("mig") == "running"
    c.send("echo after=$((6*7))\r")
    c.expect("after=42", timeout=60 * TIME_SCALE)
    c.expect(CTR, timeout=60 * TIME_SCALE)
    c.sendcontrol("]")
    c.expect(pexpect.EOF, timeout=10 * TIME_SCALE)
    ev = a.api().ok("GET", "/v1/events?vm=mig&limit=500")["events"]
    fails = [e for e in ev[ev_before:] if e["action"] == "migrate"]
    assert fails and all(e["result"] == "failed" for e in fails), fails


def test_precopy_keeps_data_written_while_copying(tmp_path, guest):
    """A guest writing files of random data (and their md5 sums) all
    through a pre-copy migration: every file, including those written
    while its RAM was being copied, is intact on the destination (a frame
    the dirty log missed would fail its sum)."""
    a = tls_daemon(tmp_path, "a")
    b = tls_daemon(tmp_path, "b")
    try:
        defn = guest_definition(guest, "w", after="shell", memory="512M")
        a.api().ok("POST", "/v1/vms", defn)
        a.cli("vm", "start", "w")
        c = console(a, "w")
        c.expect(MARKER, timeout=180 * TIME_SCALE)
        c.send("mkdir -p /tmp/w && mount -t tmpfs none /tmp/w && cd /tmp/w "
               "&& (i=0; while [ $i -lt 150 ]; do i=$((i+1)); "
               "head -c 1048576 /dev/urandom > f$i; md5sum f$i >> sums; "
               "done) & echo STARTED\r")
        c.expect("STARTED", timeout=60 * TIME_SCALE)
        c.send("sleep 2; wc -l < /tmp/w/sums\r")
        c.expect(r"\n(\d+)\r", timeout=60 * TIME_SCALE)
        p = migrate(a, b, "w")
        passes = int(re.search(r"(\d+) passes", p.stdout).group(1))
        assert passes >= 1, p.stdout
        c.expect(pexpect.EOF, timeout=30 * TIME_SCALE)
        c = console(b, "w")
        c.send("sleep 2; kill %1; wait; cd /tmp/w; echo FILES "
               "$(wc -l < sums) BAD "
               "$(md5sum -c sums | grep -vc ': OK$') END\r")
        c.expect(r"FILES (\d+) BAD (\d+) END", timeout=120 * TIME_SCALE)
        files, bad = int(c.match.group(1)), int(c.match.group(2))
        assert files > 0 and bad == 0, (files, bad)
        c.sendcontrol("]")
        c.expect(pexpect.EOF, timeout=10 * TIME_SCALE)
    finally:
        for d in (a, b):
            if d.proc:
                assert d.stop() == 0, d.tail()
