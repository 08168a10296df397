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
from daemon_util import Daemon, guest_definition, softvisor_exe
from test_daemon import console, free_port
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


class Record:
    """Everything the console sessions printed, in the order they came."""

    def __init__(self):
        self.chunks = []

    def write(self, s):
        self.chunks.append(s)

    def flush(self):
        pass

    def text(self):
        return "".join(self.chunks)


def session(d, name, rec):
    c = console(d, name)
    c.logfile_read = rec
    return c


def migrate(src, dst, name, check=True, extra=()):
    return src.cli("vm", "migrate", name, "--to", dst.url, "--to-token",
                   dst.token, "--to-insecure", *extra, check=check)


def test_migrate_back_and_forth(tmp_path, guest):
    """Two moves (there and back): the default tier."""
    back_and_forth(tmp_path, guest, 2)


@pytest.mark.full
def test_migrate_back_and_forth_ten_times(tmp_path, guest):
    """The issue's ten moves: the full tier."""
    back_and_forth(tmp_path, guest, 10)


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


def run(tmp_path, a, b, guest, moves):
    # a NIC (user-mode NAT, left down by the guest): it announces itself
    # after each move
    defn = guest_definition(guest, "mig", script=WORKLOAD, after="shell",
                            nics=[{"type": "user"}])
    a.api().ok("POST", "/v1/vms", defn)
    a.cli("vm", "start", "mig")
    # the sessions alternate between the daemons; each new one starts
    # with the scrollback of its machine, which began at the restore
    rec = Record()
    c = session(a, "mig", rec)
    c.expect(MARKER, timeout=180 * TIME_SCALE)
    c.expect(r"CTR 3 ", timeout=60 * TIME_SCALE)
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
        announced(dst, "mig")

    # the whole output of all sessions
    c.expect(r"CTR \d+ .* END", timeout=60 * TIME_SCALE)
    c.expect(r"CTR \d+ .* END", timeout=60 * TIME_SCALE)
    text = rec.text()
    assert "CTR-BAD" not in text
    got = lines(text)
    nums = [n for n, _, _ in got]
    assert nums == list(range(1, len(nums) + 1)), nums
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
