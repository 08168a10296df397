"""Guest panic detection (docs/shutdown.md, "Guest panics"): a guest whose
kernel panics is noticed and its VM's on-panic action taken, instead of a
VM that spins a host core forever and still looks running.

Debian's riscv64 kernel has no pvpanic driver, so these are the heuristic
paths: the panic loop that makes no progress, and the reboot after a panic
with panic=N. Each VM runs with --timeout as a backstop; nothing here
measures time.
"""

import os
import subprocess

import pytest

SOFTVISOR = os.environ.get("SOFTVISOR", "build/softvisor")
SCALE = float(os.environ.get("SOFTVISOR_TIME_SCALE", "1"))
# generous: a panic is noticed after 10 s without progress, more under
# a sanitizer or a loaded host
BACKSTOP = int(300 * SCALE)
PANICKED = "the guest panicked"


def run(guest, *args, append="console=ttyS0", stdin=""):
    argv = [SOFTVISOR, "run", "--kernel", str(guest.image),
            "--initrd", str(guest.initrd), "--append", append,
            "--timeout", str(BACKSTOP), *args]
    return subprocess.run(argv, input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True,
                          timeout=BACKSTOP + 60)


def test_early_panic_in_64m_is_stopped(guest):
    # the kernel panics before its console exists: nothing on ttyS0, a
    # hart spinning with interrupts off
    p = run(guest, "--memory", "64M")
    assert p.returncode == 1, p.stderr[-2000:]
    assert PANICKED in p.stderr
    assert "stopped making progress" in p.stderr
    assert "stopping it" in p.stderr


def test_panic_loop_with_interrupts_on_is_stopped(guest):
    # sysrq-c from the shell, 2 harts: Linux 6.12's panic loop takes timer
    # interrupts; the banner on the console plus no progress tell
    p = run(guest, "--cpus", "2", "--memory", "256M",
            append="console=ttyS0 sv.after=script",
            stdin="echo c > /proc/sysrq-trigger\n")
    assert p.returncode == 1, p.stderr[-2000:]
    assert "Kernel panic - not syncing: sysrq triggered crash" in p.stdout
    assert "stopped making progress" in p.stderr


def test_panic_reboot_restarts_or_stops(guest, tmp_path):
    # panic=1: the guest reboots itself after its panic
    crash = "echo c > /proc/sysrq-trigger\n"
    append = "console=ttyS0 panic=1 sv.after=script"
    p = run(guest, "--memory", "256M", append=append, stdin=crash)
    assert p.returncode == 1, p.stderr[-2000:]
    assert "rebooted after a panic" in p.stderr
    assert p.stdout.count("Linux version") == 1

    # --on-panic restart: the reboot happens and the second boot runs (the
    # VM is stopped once its kernel started again; --timeout the backstop)
    script = tmp_path / "crash"
    script.write_text(crash)
    with open(script) as stdin:
        p = subprocess.Popen(
            [SOFTVISOR, "run", "--kernel", str(guest.image), "--initrd",
             str(guest.initrd), "--append", append, "--timeout",
             str(BACKSTOP), "--on-panic", "restart", "--memory", "256M"],
            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
    try:
        boots = 0
        for line in p.stdout:
            boots += "Linux version" in line
            if boots == 2:
                break
        p.terminate()
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert boots == 2, err[-2000:]
    assert "restarting it" in err, err[-2000:]


# the in-process daemon's variant is in the full tier: the worker's path is
# the default and the one CI's time goes to
@pytest.mark.parametrize("mode", ["worker", pytest.param(
    "in-process", marks=pytest.mark.full)])
def test_daemon_vm_panic_is_reported(tmp_path, guest, mode):
    """A daemon VM's guest panics inside its worker: the worker tells the
    daemon, which records a 'panic' event and sets the state (issue 19:
    libvirt's crashed/panicked); on_panic pause leaves it paused for
    inspection. Both guests panic at once in 64 MiB. The same for VMs in
    the daemon's own process (--in-process)."""
    from daemon_util import Daemon, guest_definition

    extra = ["--in-process"] if mode == "in-process" else []
    d = Daemon(tmp_path, extra=extra).start()
    api = d.api()
    try:
        api.ok("POST", "/v1/vms", guest_definition(guest, "p-stop",
                                                   memory="64M"))
        api.ok("POST", "/v1/vms", guest_definition(
            guest, "p-pause", memory="64M", on_panic="pause"))
        for n in ["p-stop", "p-pause"]:
            api.ok("POST", f"/v1/vms/{n}/start")
        api.wait_state("p-stop", "crashed", timeout=180)
        vm = api.ok("GET", "/v1/vms/p-stop")
        assert vm["state_reason"] == "panicked", vm
        ev = api.ok("GET", "/v1/events?vm=p-stop")["events"]
        panic = [e for e in ev if e["action"] == "panic"]
        assert panic and panic[0]["result"] == "panicked", ev
        assert "stopped making progress" in panic[0]["message"], panic
        assert "on_panic stop" in panic[0]["message"], panic
        crash = [e for e in ev if e["action"] == "crash"]
        assert crash and "panicked" in crash[-1]["message"], ev

        api.wait_state("p-pause", "paused", timeout=180)
        vm = api.ok("GET", "/v1/vms/p-pause")
        assert vm["state_reason"] == "panicked", vm
        if mode == "worker":  # kept, with its memory, to inspect
            assert vm["worker_pid"] > 0
        ev = api.ok("GET", "/v1/events?vm=p-pause")["events"]
        assert any(e["action"] == "panic" and
                   "on_panic pause" in e["message"] for e in ev), ev
        api.ok("POST", "/v1/vms/p-pause/stop")
        assert api.state("p-pause") == "stopped"
    finally:
        rc = d.stop()
    assert rc == 0, f"daemon exit status {rc}:\n{d.tail()}"
