"""What the daemon does when a VM's worker dies (issue 14, docs/daemon.md,
"When a worker dies"): the VM's on_crash policy. restart starts it again
in a new worker, at most N times within S seconds (--restart-limit N/S),
then it stays crashed and its crash-restart event says so; destroy turns it off
(stopped, reason crashed); preserve (the default) keeps it crashed. The
workers are killed with SIGKILL; the other VMs never notice."""

import os
import signal
import time

from conftest import TIME_SCALE
from daemon_util import Daemon, guest_definition, vm_pid
from test_isolation import alive


def events(api, name, action):
    ev = api.ok("GET", f"/v1/events?vm={name}")["events"]
    return [e for e in ev if e["action"] == action]


def wait_new_worker(api, name, old, timeout=60):
    """Wait until VM name runs again in a worker other than old."""
    end = time.monotonic() + timeout * TIME_SCALE
    while time.monotonic() < end:
        vm = api.ok("GET", f"/v1/vms/{name}")
        if vm["state"] == "running" and vm["worker_pid"] not in (0, old):
            return vm["worker_pid"]
        time.sleep(0.1)
    raise AssertionError(f"{name} was not restarted: {vm} "
                         f"{events(api, name, 'crash-restart')}")


def test_on_crash_policies(tmp_path, guest):
    d = Daemon(tmp_path, extra=["--restart-limit", "2/600"]).start()
    api = d.api()
    try:
        api.ok("POST", "/v1/vms", guest_definition(guest, "phoenix"))
        # the CLI's --on-crash, and the default
        d.cli("vm", "set", "phoenix", "--on-crash", "restart")
        assert api.ok("GET", "/v1/vms/phoenix")["definition"][
            "on_crash"] == "restart"
        api.ok("POST", "/v1/vms", guest_definition(guest, "ash",
                                                   on_crash="destroy"))
        api.ok("POST", "/v1/vms", guest_definition(guest, "keep"))
        assert api.ok("GET", "/v1/vms/keep")["definition"][
            "on_crash"] == "preserve"
        st, j = api.call("POST", "/v1/vms", guest_definition(
            guest, "bad", on_crash="reboot"))
        assert st == 400 and "on_crash" in json_text(j), j
        for n in ["phoenix", "ash", "keep"]:
            api.ok("POST", f"/v1/vms/{n}/start")
        keep = vm_pid(api, "keep", d)

        # restart: twice, each time in a new worker
        pid = vm_pid(api, "phoenix", d)
        for i in range(2):
            os.kill(pid, signal.SIGKILL)
            pid = wait_new_worker(api, "phoenix", pid)
            r = events(api, "phoenix", "crash-restart")
            assert len(r) == i + 1 and r[-1]["result"] == "ok", r
            assert f"{i + 1} of 2 within 600 s" in r[-1]["message"], r
        crash = events(api, "phoenix", "crash")
        assert len(crash) == 2
        assert all("killed by signal 9" in e["message"] for e in crash)
        # the third within the window: it stays crashed
        os.kill(pid, signal.SIGKILL)
        api.wait_state("phoenix", "crashed", timeout=30)
        end = time.monotonic() + 10 * TIME_SCALE
        while len(events(api, "phoenix", "crash-restart")) < 3 and \
                time.monotonic() < end:
            time.sleep(0.1)
        r = events(api, "phoenix", "crash-restart")
        assert r[-1]["result"] == "refused", r
        assert "2 restarts within 600 s" in r[-1]["message"], r
        assert api.state("phoenix") == "crashed"

        # destroy: turned off, the reason says it crashed
        os.kill(vm_pid(api, "ash", d), signal.SIGKILL)
        api.wait_state("ash", "stopped", timeout=30)
        vm = api.ok("GET", "/v1/vms/ash")
        assert vm["state_reason"] == "crashed", vm
        assert not events(api, "ash", "crash-restart")

        # the bystander with the default policy was never touched; its
        # own crash leaves it crashed
        assert api.state("keep") == "running" and alive(keep)
        assert vm_pid(api, "keep", d) == keep
        os.kill(keep, signal.SIGKILL)
        api.wait_state("keep", "crashed", timeout=30)
        vm = api.ok("GET", "/v1/vms/keep")
        assert vm["state_reason"] == "worker-died", vm
        assert not events(api, "keep", "crash-restart")
        # a manual start clears the reason
        api.ok("POST", "/v1/vms/keep/start")
        assert "state_reason" not in api.ok("GET", "/v1/vms/keep")
    finally:
        rc = d.stop()
    assert rc == 0, f"daemon exit status {rc}:\n{d.tail()}"


def json_text(j):
    return j if isinstance(j, str) else str(j)
