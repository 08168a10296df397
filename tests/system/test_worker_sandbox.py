"""The daemon's VM workers in the sandbox (issue 14, docs/security.md,
"Daemon workers"): every worker runs as nobody under the seccomp filter
before its guest's first instruction; a device model that crashes or a
worker that makes a forbidden system call takes down only its own VM, and
the event log names the cause. As root each worker is the init of a PID
namespace of its own. `softvisor daemon --sandbox off` leaves the workers
as they were.

The faults come from the test-only SOFTVISOR_TEST_WORKER_FAULT=KIND:VM
(the worker of VM faults when its guest first writes to the console)."""

import csv
import io
import os
import signal
import time

from conftest import MARKER, TIME_SCALE
from daemon_util import Daemon, guest_definition, softvisor_exe, vm_pid
from test_isolation import alive
from test_metrics import parse, scrape, value
from test_sandbox import sanitized
from test_sched import vcpu_tids, wait_console


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


def crash_event(api, name, timeout=60):
    end = time.monotonic() + timeout * TIME_SCALE
    while time.monotonic() < end:
        ev = api.ok("GET", f"/v1/events?vm={name}")["events"]
        crash = [e for e in ev if e["action"] == "crash"]
        if crash:
            return crash[-1]
        time.sleep(0.2)
    raise AssertionError(f"{name}: no crash event: {ev}")


def assert_own_pid_namespace(d, api, name, pid, st):
    """The worker pid is the init of a PID namespace other than the
    daemon's (NSpid: the daemon's number first, 1 last); the vCPU thread
    ids the daemon reports are its own numbers of the worker's threads."""
    assert os.readlink(f"/proc/{pid}/ns/pid") != \
        os.readlink(f"/proc/{d.proc.pid}/ns/pid")
    assert st["NSpid"][0] == str(pid) and st["NSpid"][-1] == "1", st
    tids = vcpu_tids(api, name)
    assert tids and all(tids), tids
    for t in tids:
        assert os.path.exists(f"/proc/{pid}/task/{t}"), (t, tids)


DAEMON_ONLY_LIBS = ("libcurl", "libsqlite3", "libcivetweb", "libncurses",
                    "libnftables", "libssl.")


def assert_lean_worker(pid):
    """The worker runs softvisor-vmx, the executable next to softvisor
    (docs/architecture.md, "Process per VM"), and maps none of the
    daemon's and the API clients' libraries."""
    vmx = os.path.join(os.path.dirname(os.path.realpath(softvisor_exe())),
                       "softvisor-vmx")
    if not os.path.exists(vmx):
        return  # a build without it: the daemon falls back to itself
    exe = os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
    assert exe == vmx, exe
    with open(f"/proc/{pid}/maps") as f:
        maps = f.read()
    mapped = [lib for lib in DAEMON_ONLY_LIBS if lib in maps]
    assert not mapped, mapped


def test_faults_take_down_only_their_vm(tmp_path, guest, monkeypatch):
    monkeypatch.setenv("SOFTVISOR_TEST_WORKER_FAULT",
                       "crash:bad-dev,syscall:bad-sys,abort:bad-abrt")
    d = Daemon(tmp_path).start()
    api = d.api()
    try:
        for n in ["calm", "bad-dev", "bad-sys", "bad-abrt"]:
            api.ok("POST", "/v1/vms", guest_definition(guest, n))
        api.ok("POST", "/v1/vms/calm/start")
        calm = vm_pid(api, "calm", d)
        assert_lean_worker(calm)
        # the sandbox is in place before the guest runs: nobody, no
        # capabilities, no_new_privs, the seccomp filter (mode 2)
        st = proc_status(calm)
        assert st["Uid"] == ["65534"] * 4, st["Uid"]
        assert st["Seccomp"] == ["2"] and st["NoNewPrivs"] == ["1"], st
        assert st["CapEff"] == ["0000000000000000"], st["CapEff"]
        wait_console(d, "calm", MARKER)
        if os.geteuid() == 0:
            assert_own_pid_namespace(d, api, "calm", calm, st)

        for n in ["bad-dev", "bad-sys", "bad-abrt"]:
            api.ok("POST", f"/v1/vms/{n}/start")
        for n in ["bad-dev", "bad-sys", "bad-abrt"]:
            api.wait_state(n, "crashed", timeout=60)
        dev = crash_event(api, "bad-dev")
        assert dev["result"] == "crashed"
        if sanitized():
            # ASan's SEGV handler, not the kernel, ends the crash: in the
            # sandbox it dies by SIGSYS (its symbolizer) or SIGABRT
            assert ("seccomp violation" in dev["message"] or
                    "killed by signal 6" in dev["message"]), dev
        else:
            assert "killed by signal 11 (Segmentation fault)" in \
                dev["message"], dev
        sys_ = crash_event(api, "bad-sys")
        assert sys_["result"] == "crashed"
        assert "seccomp violation" in sys_["message"], sys_
        # the kernel's audit record names the call when the daemon can
        # read /dev/kmsg (root, no audit daemon taking the records)
        print("bad-sys:", sys_["message"])
        if "syscall " in sys_["message"]:
            assert "syscall ptrace" in sys_["message"], sys_

        # abort() (a failed assertion) is reported as SIGABRT, although
        # the init of a PID namespace cannot be ended by its own raise()
        abrt = crash_event(api, "bad-abrt")
        assert "worker killed by signal 6 (Aborted)" in abrt["message"], abrt

        # the neighbour never stopped: same worker, still running
        assert api.state("calm") == "running"
        assert alive(calm) and vm_pid(api, "calm", d) == calm

        # SIGTERM does not end a worker (blocked, as the daemon spawned
        # it, and ignored by its namespace's init): the daemon stops VMs
        assert os.kill(calm, signal.SIGTERM) is None
        time.sleep(1)
        assert api.state("calm") == "running" and alive(calm)
        api.ok("POST", "/v1/vms/calm/stop")
        assert api.state("calm") == "stopped"
    finally:
        rc = d.stop()
    assert rc == 0, f"daemon exit status {rc}:\n{d.tail()}"


def test_sandbox_off(tmp_path, guest):
    d = Daemon(tmp_path, extra=["--sandbox", "off"]).start()
    api = d.api()
    try:
        api.ok("POST", "/v1/vms", guest_definition(guest, "open"))
        api.ok("POST", "/v1/vms/open/start")
        st = proc_status(vm_pid(api, "open", d))
        assert_lean_worker(vm_pid(api, "open", d))
        assert st["Uid"][0] == "0" and st["Seccomp"] == ["0"], st
        # the daemon's kernel copy, mapped without the sandbox too
        assert kernel_copy(vm_pid(api, "open", d)), "the kernel was copied"
        api.ok("POST", "/v1/vms/open/stop")
    finally:
        rc = d.stop()
    assert rc == 0, f"daemon exit status {rc}:\n{d.tail()}"


def kernel_copy(pid):
    """The inode of the daemon's sealed kernel copy the worker maps
    (docs/memory.md, "Kernel images"), or None."""
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            if "/memfd:softvisor-kernel" in line:
                return line.split()[4]
    return None


def test_workers_map_the_daemons_kernel_copy(tmp_path, guest):
    """Workers map one sealed copy of the kernel instead of copying it
    into their RAM; a kernel file changed on disk gets a new copy, and
    the guest boots from the copy."""
    kernel = tmp_path / "Image"
    kernel.write_bytes(guest.image.read_bytes())
    d = Daemon(tmp_path).start()
    api = d.api()
    try:
        seen = {}
        for n in ["k1", "k2", "k3"]:
            vm = guest_definition(guest, n, memory="128M")
            vm["boot"]["kernel"] = str(kernel)
            api.ok("POST", "/v1/vms", vm)
        for n in ["k1", "k2", "k3"]:
            if n == "k2":  # the file changed: not the old copy
                os.utime(kernel, (1, 1))
            api.ok("POST", f"/v1/vms/{n}/start")
            seen[n] = kernel_copy(vm_pid(api, n, d))
            assert seen[n], f"{n}: its worker maps no kernel copy"
        assert seen["k1"] != seen["k2"] == seen["k3"], seen
        wait_console(d, "k3", MARKER)
        # the frames still reading the copy are in the VM's figures, and
        # not among its private ones
        image_bytes = guest.image.stat().st_size
        mem = api.ok("GET", "/v1/vms/k3/stats")["memory"]
        print(f"kernel_shared {mem['kernel_shared'] / 2**20:.1f} MiB of "
              f"the {image_bytes / 2**20:.1f} MiB Image")
        assert 0 < mem["kernel_shared"] < image_bytes, mem
        assert mem["consumed"] + mem["kernel_shared"] <= mem["size"], mem
        st, _, text = scrape(api)
        assert st == 200, text
        assert value(parse(text), "softvisor_vm_memory_kernel_shared_bytes",
                     vm="k3") > 0, text
        rows = {r["vm"]: r for r in csv.DictReader(io.StringIO(
            d.cli("top", "-b", "-m", "-n", "1").stdout))}
        assert int(rows["k3"]["kernel_shared"]) > 0, rows
        for n in ["k1", "k2", "k3"]:
            api.ok("POST", f"/v1/vms/{n}/stop")
    finally:
        rc = d.stop()
    assert rc == 0, f"daemon exit status {rc}:\n{d.tail()}"
