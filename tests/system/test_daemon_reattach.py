"""VMs outlive their daemon (issue 14, item 4; docs/architecture.md,
"Re-attaching workers after a daemon restart"): with --keep-vms a daemon
that is killed (kill -9) or leaves on purpose (SIGUSR2) leaves its VMs
running in their workers; a new daemon on the same state directory finds
them, re-attaches them and manages them again: same worker process, the
guest's counter never reset, the console (with what the guest wrote while
no daemon ran), stats, pause, stop and events all work. A worker killed
while no daemon ran is reported crashed with the reason; a worker left
alone past its grace period stops its VM and exits. Two of the VMs share
a port group of one of the daemon's switches (10.77.14.0/24, no uplink:
no frame leaves the switch); they ping each other before and after each
restart, the new daemon handing their workers new switch ports."""

import array
import itertools
import os
import re
import signal
import socket
import struct
import time

import pexpect
import pytest

from conftest import SRC, TIME_SCALE
from daemon_util import Daemon, guest_definition, softvisor_exe, vm_pid

# a workload that checks itself: a counter printed on the console every
# second, in the background of the console's shell
COUNTER = "(i=0; while :; do i=$((i+1)); echo TICK-$i; sleep 1; done) &"


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid, timeout=30):
    end = time.monotonic() + timeout * TIME_SCALE
    while time.monotonic() < end and alive(pid):
        time.sleep(0.1)
    return not alive(pid)


def console(d, name, read_only=True):
    env = dict(os.environ, SOFTVISOR_SOCKET=d.sock)
    args = ["vm", "console", name] + (["--read-only"] if read_only else [])
    c = pexpect.spawn(softvisor_exe(), args, env=env, encoding="utf-8",
                      codec_errors="replace", timeout=240 * TIME_SCALE)
    c.logfile_read = open(d.tmp / f"console-{name}.log", "a")
    return c


def ticks_upto(d, name, upto):
    """Every TICK the console shows (the scrollback, then live output)
    until TICK-upto."""
    c = console(d, name)
    try:
        c.expect(f"TICK-{upto}\r")
        text = c.before + c.after
    except (pexpect.TIMEOUT, pexpect.EOF):
        pytest.fail(f"{name}: no TICK-{upto}; console:\n"
                    + (d.tmp / f"console-{name}.log").read_text()[-2000:])
    finally:
        c.terminate(force=True)
    return [int(x) for x in re.findall(r"TICK-(\d+)\r", text)]


def latest_tick(d, name):
    """The counter's value now: the scrollback's last TICK, read after
    one more has been printed."""
    c = console(d, name)
    try:
        c.expect(r"TICK-(\d+)\r")
        first = int(c.match.group(1))
        # read up to one more live tick than the scrollback showed
        text = c.before + c.after
        c.expect(pexpect.TIMEOUT, timeout=2 * TIME_SCALE)
        text += c.before
    finally:
        c.terminate(force=True)
    return max([first] + [int(x) for x in re.findall(r"TICK-(\d+)\r",
                                                       text)])


# c1 and c2 on the daemon's switch "lan", port group web (VLAN 7)
LAN = {"c1": ("10.77.14.1", "52:54:00:77:0e:01"),
       "c2": ("10.77.14.2", "52:54:00:77:0e:02")}


def start_counter(api, guest, name):
    more, script = {}, COUNTER
    if name in LAN:
        addr, mac = LAN[name]
        more["nics"] = [{"type": "switch", "switch": "lan",
                         "portgroup": "web", "mac": mac}]
        script = (f"ip link set eth0 up; ip addr add {addr}/24 dev eth0; "
                  + COUNTER)
    api.ok("POST", "/v1/vms", guest_definition(guest, name, memory="128M",
                                              script=script, **more))
    api.ok("POST", f"/v1/vms/{name}/start")


def ping(d, name, peer, seq=itertools.count()):
    """Replies name's guest gets to 2 pings of peer (by its console,
    while its counter runs on). The answer is tagged: the console's
    scrollback holds the earlier ones."""
    addr, tag = LAN[peer][0], next(seq)
    c = console(d, name, read_only=False)
    try:
        c.expect(r"TICK-\d+\r")
        c.send(f"ping -c 2 -w 30 {addr} >/tmp/p 2>&1; "
               f"echo PONG-{tag}-$(grep -c 'bytes from' /tmp/p)-END\r")
        c.expect(rf"PONG-{tag}-(\d+)-END", timeout=90 * TIME_SCALE)
        n = int(c.match.group(1))
        c.sendcontrol("]")
        c.expect(pexpect.EOF, timeout=10 * TIME_SCALE)
    finally:
        c.terminate(force=True)
    return n


def vmproto():
    """(VMPROTO_VERSION, {name: value} of enum vmproto_type) from the
    source, so that the test speaks the protocol of this build."""
    text = (SRC / "src" / "vmm" / "vmproto.h").read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    version = int(re.search(r"#define VMPROTO_VERSION\s+(\d+)", text)[1])
    body = re.search(r"enum vmproto_type \{(.*?)\};", text, re.S)[1]
    types, n = {}, 0
    for name, value in re.findall(r"(VMPROTO_\w+)\s*(?:=\s*(\d+))?", body):
        n = int(value) if value else n + 1
        types[name] = n
    return version, types


def hostile_attach(d, vm_id, nics, port_type=socket.SOCK_SEQPACKET):
    """While no daemon runs, ATTACH to the worker of VM vm_id as root
    (the worker takes root as a daemon) with one gate socket and a port
    for each of nics (NIC indices) of port_type: the worker's answer
    (a0, message)."""
    version, types = vmproto()
    run = d.state / "run"
    gen = int(re.search(r"^gen (\d+)$",
                        (run / f"vm-{vm_id}.worker").read_text(), re.M)[1])
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)]
    pairs += [socket.socketpair(socket.AF_UNIX, port_type) for _ in nics]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        s.settimeout(30 * TIME_SCALE)
        s.connect(str(run / f"vm-{vm_id}.sock"))
        msg = struct.pack("=HHIiII", 0x5356, types["VMPROTO_ATTACH"], 0,
                          version, gen, len(nics)) + bytes(nics)
        fds = array.array("i", [p[1].fileno() for p in pairs])
        s.sendmsg([msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        reply = s.recv(4096)
    finally:
        s.close()
        for a, b in pairs:
            a.close()
            b.close()
    _, typ, _, a0, _, n = struct.unpack_from("=HHIiII", reply)
    assert typ == types["VMPROTO_ATTACHED"], reply
    return a0, reply[20:20 + n].decode(errors="replace")


def ping_in_background(d, name, peer):
    """name's guest pings peer 5 times a second for 30 s, in the
    background."""
    c = console(d, name, read_only=False)
    try:
        c.expect(r"TICK-\d+\r")
        c.send(f"ping -q -c 150 -i 0.2 {LAN[peer][0]} >/dev/null 2>&1 &\r")
        c.sendcontrol("]")
        c.expect(pexpect.EOF, timeout=10 * TIME_SCALE)
    finally:
        c.terminate(force=True)


def nic_tx_dropped(api, name):
    st, text = api.call("GET", "/metrics")
    assert st == 200
    m = re.search(r'softvisor_vm_nic_tx_dropped_total\{vm="%s"[^}]*\} (\S+)'
                  % name, text)
    assert m, text[-2000:]
    return float(m[1])


def check_lan(d):
    """c1 and c2 reach each other through the switch, which shows their
    ports (REST, /metrics, top -N) in their port group."""
    assert ping(d, "c1", "c2") == 2, d.tail()
    assert ping(d, "c2", "c1") == 2, d.tail()
    api = d.api()
    sw = api.ok("GET", "/v1/switches/lan")
    assert [(p["name"], p["vlan"]) for p in sw["portgroups"]] == [
        ("web", 7)], sw
    ports = {p["mac"]: p for p in sw["ports"]}
    assert sorted(ports) == sorted(m for _, m in LAN.values()), sw
    assert all(p["portgroup"] == "web" and p["tx_frames"] >= 2 and
               p["rx_frames"] >= 2 for p in ports.values()), sw
    st, text = api.call("GET", "/metrics")
    assert st == 200
    for _, mac in LAN.values():
        assert re.search(
            r'softvisor_switch_port_transmit_frames_total\{switch="lan",'
            rf'port="\d+",portgroup="web",mac="{mac}"\}} [1-9]', text), mac
    # top -N (batch: CSV rows time,switch,port,portgroup,mac,...)
    top = d.cli("top", "-N", "-b", "-n", "1", "-d", "0.5").stdout
    rows = {(r[1], r[3], r[4]) for r in
            (x.split(",") for x in top.splitlines()[1:]) if len(r) > 4}
    assert rows >= {("lan", "web", m) for _, m in LAN.values()}, top


def events(api, name, action):
    ev = api.ok("GET", f"/v1/events?vm={name}")["events"]
    return [e for e in ev if e["action"] == action]


def check_managed(d, name, pid, before):
    """After a re-attach: the same worker, the counter went on from where
    it was without a reset and without losing lines, console input, stats,
    run tokens from the new scheduler."""
    api = d.api()
    assert api.state(name) == "running"
    assert vm_pid(api, name, d) == pid
    ticks = ticks_upto(d, name, before + 3)
    # one boot, every line kept (also those written while no daemon ran)
    assert ticks == list(range(1, before + 4)), ticks
    ev = events(api, name, "reattach")
    assert ev and ev[-1]["result"] == "ok", ev
    assert str(pid) in ev[-1]["message"], ev
    # the new daemon's scheduler hands the vCPUs their run tokens
    used = api.ok("GET", f"/v1/vms/{name}/stats")["used_us"]
    c = console(d, name, read_only=False)
    c.expect(r"TICK-\d+\r")
    c.send("echo sum=$((40+2))\r")
    c.expect("sum=42", timeout=60 * TIME_SCALE)
    c.sendcontrol("]")
    c.expect(pexpect.EOF, timeout=10 * TIME_SCALE)
    # the figure is the scheduler's account, brought up to date as the
    # vCPUs hand their tokens back: give it a few seconds
    deadline = time.monotonic() + 10 * TIME_SCALE
    now = api.ok("GET", f"/v1/vms/{name}/stats")["used_us"]
    while now <= used and time.monotonic() < deadline:
        time.sleep(0.2)
        now = api.ok("GET", f"/v1/vms/{name}/stats")["used_us"]
    assert now > used, (used, now)


def test_daemon_restart_keeps_vms(tmp_path, guest):
    d = Daemon(tmp_path, extra=["--keep-vms=120"]).start()
    api = d.api()
    pids = {}
    try:
        d.cli("switch", "create", "lan", "--portgroup", "web,vlan=7")
        for n in ["c1", "c2", "gone"]:
            start_counter(api, guest, n)
            pids[n] = vm_pid(api, n, d)
        for n in pids:
            ticks_upto(d, n, 3)
        # the guests reach each other through the daemon's switch
        assert ping(d, "c1", "c2") == 2, d.tail()
        before = {n: latest_tick(d, n) for n in ["c1", "c2"]}
        ids = {n: api.ok("GET", f"/v1/vms/{n}")["id"] for n in pids}
        # c1 sends while no daemon runs: its frames are dropped, counted
        ping_in_background(d, "c1", "c2")
        run = tmp_path / "state" / "run"
        assert sorted(p.name for p in run.iterdir()) == sorted(
            f"vm-{api.ok('GET', f'/v1/vms/{n}')['id']}.{x}"
            for n in pids for x in ("sock", "worker"))

        # 1. the daemon dies: the guests run on in their workers
        assert d.stop(sig=signal.SIGKILL) == -signal.SIGKILL
        for n, pid in pids.items():
            assert alive(pid), f"{n}'s worker died with the daemon"
        # the worker checks the switch ports it is handed: only one per
        # switch NIC of its machine, only seqpacket sockets (refused, it
        # waits on for a daemon)
        for nics, kind, why in (
                ([3], socket.SOCK_SEQPACKET, "NIC 3: not a switch NIC"),
                ([0, 0], socket.SOCK_SEQPACKET, "two switch ports for NIC 0"),
                ([0], socket.SOCK_STREAM, "NIC 0: not a seqpacket")):
            a0, text = hostile_attach(d, ids["c1"], nics, kind)
            assert a0 < 0 and why in text, (a0, text)
        a0, text = hostile_attach(d, ids["gone"], [0])
        assert a0 < 0 and "NIC 0: not a switch NIC" in text, (a0, text)
        # a worker killed while no daemon runs: a stale record
        os.kill(pids["gone"], signal.SIGKILL)
        time.sleep(2)  # c1's pings meanwhile go nowhere
        assert wait_gone(pids["gone"])
        d.start()
        for n in ["c1", "c2"]:
            check_managed(d, n, pids[n], before[n])
            ev = events(api, n, "reattach")[-1]
            assert "1 switch port(s) connected again" in ev["message"], ev
        assert nic_tx_dropped(api, "c1") > 0
        # the switch is back as recorded, the workers' ports on it: the
        # guests reach each other again without doing anything
        check_lan(d)
        assert api.state("gone") == "crashed"
        vm = api.ok("GET", "/v1/vms/gone")
        assert vm["worker_pid"] == 0
        ev = events(api, "gone", "reattach")
        assert ev and ev[-1]["result"] == "crashed", ev
        assert "worker is gone" in ev[-1]["message"], ev
        # the crashed VM starts again (a new worker) and is re-attachable
        api.ok("POST", "/v1/vms/gone/start")
        pids["gone"] = vm_pid(api, "gone", d)

        # 2. a graceful leave (an upgrade): SIGUSR2, exit status 0
        before = {n: latest_tick(d, n) for n in ["c1", "c2"]}
        api.ok("POST", "/v1/vms/c2/pause")
        assert d.stop(sig=signal.SIGUSR2) == 0
        for n, pid in pids.items():
            assert alive(pid), f"{n}'s worker died with the daemon"
        d.start()
        check_managed(d, "c1", pids["c1"], before["c1"])
        assert api.state("c2") == "paused"
        assert vm_pid(api, "c2", d) == pids["c2"]
        api.ok("POST", "/v1/vms/c2/resume")
        check_managed(d, "c2", pids["c2"], latest_tick(d, "c2"))
        check_lan(d)
        assert api.state("gone") == "running"

        # 3. stop works on an adopted VM and ends its worker
        d.cli("vm", "stop", "c1")
        assert api.state("c1") == "stopped"
        assert wait_gone(pids["c1"])
        assert not (run / f"vm-{api.ok('GET', '/v1/vms/c1')['id']}.worker"
                    ).exists()
    finally:
        rc = d.stop()
        for pid in pids.values():  # nothing may outlive the test
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert rc == 0, f"daemon exit status {rc}:\n{d.tail()}"
    for n, pid in pids.items():
        assert wait_gone(pid), f"{n}: worker {pid} outlived a clean stop"


def test_worker_alone_past_grace_stops(tmp_path, guest):
    d = Daemon(tmp_path, extra=["--keep-vms=2"]).start()
    api = d.api()
    start_counter(api, guest, "alone")
    pid = vm_pid(api, "alone", d)
    ticks_upto(d, "alone", 1)
    assert d.stop(sig=signal.SIGKILL) == -signal.SIGKILL
    try:
        assert wait_gone(pid, timeout=60), "the worker outlived its grace"
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    # the next daemon finds the record stale and says so
    d.start()
    try:
        assert api.state("alone") == "crashed"
        ev = events(api, "alone", "reattach")
        assert ev and "worker is gone" in ev[-1]["message"], ev
    finally:
        assert d.stop() == 0
