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


def test_panic_reboot_restarts_or_stops(guest):
    # panic=1: the guest reboots itself after its panic
    crash = "echo c > /proc/sysrq-trigger\n"
    append = "console=ttyS0 panic=1 sv.after=script"
    p = run(guest, "--memory", "256M", append=append, stdin=crash)
    assert p.returncode == 1, p.stderr[-2000:]
    assert "rebooted after a panic" in p.stderr
    assert p.stdout.count("Linux version") == 1

    # --on-panic restart: the reboot happens and the second boot runs
    # until the (short) timeout stops it
    limit = int(25 * SCALE)
    p = subprocess.run(
        [SOFTVISOR, "run", "--kernel", str(guest.image), "--initrd",
         str(guest.initrd), "--append", append, "--timeout", str(limit),
         "--on-panic", "restart", "--memory", "256M"],
        input=crash, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, timeout=limit + 60)
    assert "restarting it" in p.stderr, p.stderr[-2000:]
    assert p.stdout.count("Linux version") >= 2
