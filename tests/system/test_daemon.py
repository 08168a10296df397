"""The host daemon end to end (issue 6), driven only through the CLI and the
REST API: VM lifecycle with real Debian guests, the console, pause with zero
host CPU, shutdown through the power button, the inventory across restarts,
bad input, tokens over TLS and concurrent clients."""

import json
import os
import signal
import threading
import time

import pexpect
import pytest

from conftest import MARKER, TIME_SCALE
from daemon_util import (Api, Daemon, free_port, guest_definition,
                         softvisor_exe, thread_cpu_ticks, vm_console,
                         vm_pid)


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path).start()
    yield d
    if d.proc:
        rc = d.stop()
        assert rc == 0, f"daemon exit status {rc}:\n{d.tail()}"


def console(d, name, timeout=120):
    """`softvisor vm console NAME` on a pty."""
    return vm_console(d, name, timeout)


def test_three_vms_lifecycle(daemon, guest):
    api = daemon.api()
    names = ["alpha", "beta", "gamma"]
    for n in names:
        defn = json.dumps(guest_definition(guest, n))
        daemon.cli("vm", "create", n, "--from-json", "-", input=defn)
    out = daemon.cli("vm", "list").stdout
    for n in names:
        assert n in out and "defined" in out

    for n in names:
        daemon.cli("vm", "start", n)
    # starting a running VM is refused with 409 and a message
    st, j = api.call("POST", "/v1/vms/alpha/start")
    assert st == 409 and "already running" in j["error"]["message"]
    p = daemon.cli("vm", "start", "alpha", check=False)
    assert p.returncode == 1 and "already running" in p.stderr

    # every guest's marker through `vm console` (the scrollback replays it)
    for n in names:
        c = console(daemon, n)
        c.expect(MARKER, timeout=180 * TIME_SCALE)
        c.sendcontrol("]")
        c.expect(pexpect.EOF, timeout=10 * TIME_SCALE)
        c.close()
        assert c.exitstatus == 0

    # pause: the vCPU threads use no host CPU for 3 s
    daemon.cli("vm", "pause", "alpha")
    assert api.state("alpha") == "paused"
    stats = api.ok("GET", "/v1/vms/alpha/stats")
    tids = [v["tid"] for v in stats["vcpus"]]
    assert tids and all(tids)
    pid = vm_pid(api, "alpha", daemon)
    before = [thread_cpu_ticks(pid, t) for t in tids]
    time.sleep(3)
    after = [thread_cpu_ticks(pid, t) for t in tids]
    assert after == before, f"paused vCPU threads ran: {before} -> {after}"
    st, j = api.call("POST", "/v1/vms/alpha/pause")
    assert st == 409
    daemon.cli("vm", "resume", "alpha")
    assert api.state("alpha") == "running"

    # the resumed guest still answers on its console
    c = console(daemon, "alpha")
    c.expect(MARKER)  # the scrollback: the client is attached, in raw mode
    c.send("echo sum=$((40+2))\r")
    c.expect("sum=42", timeout=60 * TIME_SCALE)
    c.sendcontrol("]")
    c.expect(pexpect.EOF, timeout=10 * TIME_SCALE)

    # shutdown: the guest honours the power button and powers off; a
    # viewer sees it happen and its stream ends with the VM
    c = console(daemon, "beta")
    c.expect(MARKER)
    daemon.cli("vm", "shutdown", "beta", "--timeout", "120")
    c.expect("SOFTVISOR-POWER-BUTTON", timeout=30 * TIME_SCALE)
    c.expect(pexpect.EOF, timeout=30 * TIME_SCALE)
    # the stream ends with the worker; the daemon's reaper then releases
    # the VM's resources (pool references, reservation) and records it
    api.wait_state("beta", "stopped", 30)
    # stop: hard power-off
    daemon.cli("vm", "stop", "gamma")
    assert api.state("gamma") == "stopped"

    # delete is refused while running, works once stopped
    p = daemon.cli("vm", "delete", "alpha", check=False)
    assert p.returncode == 1 and "stop it" in p.stderr
    daemon.cli("vm", "stop", "alpha")
    for n in names:
        daemon.cli("vm", "delete", n)
    assert api.ok("GET", "/v1/vms")["vms"] == []

    ev = json.loads(daemon.cli("events", "--output", "json").stdout)
    actions = [(e["vm"], e["action"], e["result"]) for e in ev["events"]]
    for want in [("alpha", "create", "ok"), ("alpha", "pause", "ok"),
                 ("alpha", "start", "failed"), ("beta", "shutdown", "ok"),
                 ("beta", "poweroff", "ok"), ("gamma", "stop", "ok"),
                 ("gamma", "delete", "ok")]:
        assert want in actions, f"{want} not in {actions}"


def test_inventory_survives_restart(tmp_path, guest):
    d = Daemon(tmp_path).start()
    api = d.api()
    api.ok("POST", "/v1/vms", guest_definition(guest, "keep", cpus=2))
    api.ok("POST", "/v1/vms", guest_definition(guest, "auto",
                                              autostart=True))
    api.ok("POST", "/v1/vms", guest_definition(guest, "victim"))
    api.ok("POST", "/v1/vms/victim/start")
    before = api.ok("GET", "/v1/vms")
    # a clean stop (SIGTERM) stops the VMs and exits 0
    assert d.stop() == 0
    d.start()
    after = api.ok("GET", "/v1/vms")
    assert [v["definition"] for v in after["vms"]] == \
        [v["definition"] for v in before["vms"]]
    # autostart VMs come up with the host
    assert api.state("auto") == "running"
    assert api.state("victim") == "stopped"
    api.ok("POST", "/v1/vms/victim/start")
    # the daemon dies: what was running is crashed, autostart comes back
    assert d.stop(sig=signal.SIGKILL) == -signal.SIGKILL
    d.start()
    assert api.state("victim") == "crashed"
    assert api.state("auto") == "running"
    assert api.state("keep") == "defined"
    ev = api.ok("GET", "/v1/events?vm=victim")["events"]
    assert any(e["action"] == "restart" for e in ev), ev
    api.ok("POST", "/v1/vms/victim/start")
    assert d.stop() == 0


def test_bad_input(daemon, guest):
    api = daemon.api()
    good = guest_definition(guest, "good")

    def err(method, path, body=None, raw=None):
        st, j = api.call(method, path, body=body, raw=raw)
        assert isinstance(j, dict) and "error" in j, (st, j)
        return st, j["error"]["code"], j["error"]["message"]

    st, code, msg = err("POST", "/v1/vms", raw='{"name": "x",')
    assert (st, code) == (400, "bad_request")
    st, code, msg = err("POST", "/v1/vms", dict(good, colour="blue"))
    assert st == 400 and "colour" in msg
    st, code, msg = err("POST", "/v1/vms", dict(good, memory=-5))
    assert st == 400 and "memory" in msg
    nokernel = dict(good)
    nokernel["boot"] = {"append": "x"}
    st, code, msg = err("POST", "/v1/vms", nokernel)
    assert st == 400 and "boot" in msg
    api.ok("POST", "/v1/vms", good)
    st, code, msg = err("POST", "/v1/vms", good)
    assert (st, code) == (409, "conflict") and "good" in msg
    st, code, msg = err("POST", "/v1/vms/good/resume")
    assert st == 409 and "not paused" in msg
    st, code, msg = err("POST", "/v1/vms/nosuch/start")
    assert st == 404
    st, code, msg = err("PATCH", "/v1/vms/good", {"cpus": 0})
    assert st == 400 and "cpus" in msg
    # a kernel that vanished: start fails, naming the file
    missing = guest_definition(guest, "missing")
    missing["boot"]["kernel"] = "/nonexistent/Image"
    api.ok("POST", "/v1/vms", missing)
    st, code, msg = err("POST", "/v1/vms/missing/start")
    assert st == 400 and "/nonexistent/Image" in msg
    assert api.state("missing") == "defined"
    # offline resize works while stopped
    api.ok("PATCH", "/v1/vms/good", {"cpus": 2, "memory": "384M"})
    v = api.ok("GET", "/v1/vms/good")
    assert v["cpus"] == 2 and v["memory"] == 384 << 20
    # a rename keeps the VM (its id) and the list in name order
    api.ok("PATCH", "/v1/vms/good", {"name": "able"})
    assert api.ok("GET", "/v1/vms/able")["id"] == v["id"]
    assert api.call("GET", "/v1/vms/good")[0] == 404
    names = [x["name"] for x in api.ok("GET", "/v1/vms")["vms"]]
    assert names == sorted(names), names
    # CLI usage errors exit 2, failed operations 1
    assert daemon.cli("vm", "frobnicate", check=False).returncode == 2
    assert daemon.cli("vm", "info", "nosuch", check=False).returncode == 1


def test_tls_and_tokens(tmp_path):
    port = free_port()
    d = Daemon(tmp_path, extra=["--listen", f"127.0.0.1:{port}"]).start()
    try:
        tcp = Api(port=port)
        st, j = tcp.call("GET", "/v1/vms")
        assert st == 401 and j["error"]["code"] == "unauthorized"
        st, _ = Api(port=port, token="svt_1_" + "0" * 64).call(
            "GET", "/v1/vms")
        assert st == 401
        secret = d.cli("token", "create", "ci").stdout.strip().split()[-1]
        assert secret.startswith("svt_")
        ok = Api(port=port, token=secret)
        assert ok.call("GET", "/v1/vms")[0] == 200
        # tokens cannot manage tokens over TCP
        assert ok.call("POST", "/v1/tokens", {"name": "x"})[0] == 403
        # the CLI over TLS with the token
        p = d.cli("host", "info", "--url", f"https://127.0.0.1:{port}",
                  "--token", secret, "--insecure")
        assert "capacity" in p.stdout.lower()
        d.cli("token", "revoke", "ci")
        assert ok.call("GET", "/v1/vms")[0] == 401
        assert "ci" in d.cli("token", "list").stdout
    finally:
        assert d.stop() == 0


def test_concurrent_clients(daemon, guest):
    """20 clients for 10 s: no errors; the ASan pass checks for leaks when
    the daemon exits (the fixture asserts exit status 0)."""
    api = daemon.api()
    errors = []
    stop_at = time.monotonic() + 10

    def client(i):
        a = Api(sock=daemon.sock)
        name = f"c{i}"
        try:
            while time.monotonic() < stop_at:
                a.ok("POST", "/v1/vms", guest_definition(guest, name))
                a.ok("GET", "/v1/vms")
                a.ok("GET", f"/v1/vms/{name}")
                a.ok("PATCH", f"/v1/vms/{name}", {"autostart": True})
                a.ok("GET", "/v1/host")
                a.ok("GET", f"/v1/events?vm={name}&limit=5")
                st, _ = a.call("POST", f"/v1/vms/{name}/pause")
                assert st == 409
                a.ok("DELETE", f"/v1/vms/{name}")
        except Exception as e:  # collected and reported below
            errors.append(f"client {i}: {e!r}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, "\n".join(errors[:10])
    assert api.ok("GET", "/v1/vms")["vms"] == []


@pytest.fixture
def open_daemon(tmp_path):
    """Workers without the sandbox: a sandboxed worker keeps its files
    open across reboots (docs/security.md, "Files after the sandbox"), so
    a vanished initrd would not fail its reboot. (Every worker keeps the
    daemon's copy of its kernel: docs/memory.md, "Kernel images".)"""
    d = Daemon(tmp_path, extra=["--sandbox", "off"]).start()
    yield d
    if d.proc:
        rc = d.stop()
        assert rc == 0, f"daemon exit status {rc}:\n{d.tail()}"


def test_crash_is_isolated(open_daemon, guest, tmp_path):
    """A machine that cannot continue goes to crashed; the daemon and the
    other VMs go on. Here the guest reboots after its initrd vanished:
    the rebuild fails and the machine ends crashed."""
    import shutil
    api = open_daemon.api()
    initrd = tmp_path / "initrd.img"
    shutil.copy(guest.initrd, initrd)
    fragile = guest_definition(guest, "fragile", after="reboot",
                               script="sleep 2")
    fragile["boot"]["initrd"] = str(initrd)
    api.ok("POST", "/v1/vms", fragile)
    api.ok("POST", "/v1/vms", guest_definition(guest, "steady"))
    api.ok("POST", "/v1/vms/steady/start")
    api.ok("POST", "/v1/vms/fragile/start")
    initrd.unlink()
    api.wait_state("fragile", "crashed", timeout=180)
    assert api.state("steady") == "running"
    ev = api.ok("GET", "/v1/events?vm=fragile")["events"]
    assert any(e["action"] == "crash" and e["result"] == "crashed"
               for e in ev), ev
    # a crashed VM can be started again once its initrd is back
    shutil.copy(guest.initrd, initrd)
    api.ok("POST", "/v1/vms/fragile/start")
    assert api.state("fragile") == "running"


def test_top_screens(tmp_path):
    """Every view of `softvisor top` on a terminal (the batch modes are
    checked where their figures are): the title and the column heading
    drawn, q quits with status 0."""
    d = Daemon(tmp_path).start()
    try:
        d.cli("switch", "create", "lan")
        env = dict(os.environ, SOFTVISOR_SOCKET=d.sock, TERM="xterm")
        for flags, title, heading in (
                ([], "softvisor top ", "%USED"),
                (["-m"], "softvisor top ", "MCTLSZ"),
                (["-D"], "softvisor top - disks", "DATASTORE"),
                (["-N"], "softvisor top - network", "PORTGROUP")):
            c = pexpect.spawn(softvisor_exe(), ["top", *flags, "-d", "0.3"],
                              env=env, timeout=30 * TIME_SCALE,
                              dimensions=(30, 160))
            try:
                c.expect_exact(title)
                c.expect_exact(heading)
                c.send("q")
                c.expect(pexpect.EOF)
            finally:
                c.close(force=True)
            assert c.exitstatus == 0, (flags, c.before)
    finally:
        d.stop()
