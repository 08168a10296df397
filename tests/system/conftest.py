"""Shared fixtures for the system tests: the Debian guest and VM consoles.

Environment (set by tests/system/meson.build, all optional):
  SOFTVISOR        path of the softvisor binary
  SOFTVISOR_SRC    source tree (default: two levels above this file)
  SOFTVISOR_BUILD  build directory
  SOFTVISOR_BOOT_TIMEOUT  seconds a softvisor boot may take (default 120)
  SOFTVISOR_TIME_SCALE    factor for every console wait (default 1; the
                          sanitizer pass uses 3: ASan code runs slower)

The guest's /init conventions (marker line, sv.run, sv.after) are described
in docs/guest-image.md.
"""

import base64
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pytest

SRC = Path(os.environ.get("SOFTVISOR_SRC") or
           Path(__file__).resolve().parents[2])
GUEST_TOOL = SRC / "tools" / "guest-image"

MARKER = "SOFTVISOR-GUEST-READY"
RUN_BEGIN = "SOFTVISOR-RUN-BEGIN"
RUN_EXIT_RE = r"SOFTVISOR-RUN-EXIT=(\d+)"
NOT_AVAILABLE = "not available yet"

QEMU = "/usr/bin/qemu-system-riscv64"
QEMU_BOOT_TIMEOUT = 120
SOFTVISOR_BOOT_TIMEOUT = int(os.environ.get("SOFTVISOR_BOOT_TIMEOUT", "120"))
TIME_SCALE = float(os.environ.get("SOFTVISOR_TIME_SCALE", "1"))

# Kernel log lines that may slip in between a script's output lines.
_KLOG = re.compile(r"^\[\s*\d+\.\d+\] ")


@dataclass
class Guest:
    dir: Path
    image: Path
    initrd: Path
    firmware: Path
    data: Path
    manifest: dict

    @property
    def kernel_version(self):
        return self.manifest["kernel_version"]


def prepare_guest(env=None, timeout=1800):
    """Run tools/guest-image --print-dir; return (Guest, seconds taken)."""
    t0 = time.monotonic()
    p = subprocess.run([str(GUEST_TOOL), "--print-dir", "--quiet"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=env, timeout=timeout)
    took = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError(f"tools/guest-image failed:\n{p.stderr}")
    d = Path(p.stdout.strip())
    g = Guest(dir=d, image=d / "Image", initrd=d / "initrd.img",
              firmware=d / "fw_dynamic.bin", data=d / "data.ext4",
              manifest=json.loads((d / "manifest.json").read_text()))
    return g, took


@pytest.fixture(scope="session")
def guest():
    """The prepared Debian guest (fetched and built once, then cached)."""
    g, _ = prepare_guest()
    return g


def append_line(script=None, after="poweroff", extra=""):
    """A kernel command line for the guest's /init conventions."""
    parts = ["console=ttyS0", "panic=-1"]
    if script is not None:
        enc = base64.b64encode(script.encode()).decode()
        parts.append(f"sv.run={enc}")
    if after:
        parts.append(f"sv.after={after}")
    if extra:
        parts.append(extra)
    line = " ".join(parts)
    # RISC-V's COMMAND_LINE_SIZE is 1024.
    assert len(line) < 1000, "sv.run script too long for the command line"
    return line


def qemu_argv(guest, append, cpus=1, memory="512M", extra=()):
    """The reference machine: Debian's QEMU, virt board, Debian's OpenSBI."""
    return [QEMU, "-M", "virt", "-m", memory, "-smp", str(cpus),
            "-nographic",
            "-bios", str(guest.firmware), "-kernel", str(guest.image),
            "-initrd", str(guest.initrd), "-append", append] + list(extra)


def softvisor_argv(guest, append, cpus=1, memory="512M", bios="builtin",
                   extra=()):
    exe = os.environ.get("SOFTVISOR")
    if not exe or not os.access(exe, os.X_OK):
        pytest.skip("SOFTVISOR does not name a softvisor binary")
    if bios == "opensbi":
        bios = str(guest.firmware)
    # SOFTVISOR_ACCEL=jit|interp: the CPU engine, else the platform's
    # default (system-boot-softvisor-interp)
    accel = os.environ.get("SOFTVISOR_ACCEL")
    accel_args = ["--accel", accel] if accel else []
    return [exe, "run", "--kernel", str(guest.image),
            "--initrd", str(guest.initrd), "--append", append,
            "--memory", memory, "--cpus", str(cpus),
            "--bios", bios] + accel_args + list(extra)


class VM:
    """A VM process whose console is driven through a pty with pexpect."""

    def __init__(self, argv, logpath, boot_timeout):
        self.argv = argv
        self.logpath = Path(logpath)
        self.boot_timeout = boot_timeout
        self.log = open(self.logpath, "w", encoding="utf-8", errors="replace")
        self.log.write("$ " + " ".join(map(str, argv)) + "\n")
        self.log.flush()
        self.t0 = time.monotonic()
        self.child = pexpect.spawn(str(argv[0]), [str(a) for a in argv[1:]],
                                   encoding="utf-8", codec_errors="replace",
                                   timeout=boot_timeout, dimensions=(50, 200))
        self.child.logfile_read = self.log

    def tail(self, n=40):
        self.log.flush()
        lines = self.logpath.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def expect(self, patterns, timeout=None, what=None):
        """Like pexpect's expect(); on timeout or EOF fail with the console
        tail instead of a pexpect traceback."""
        if not isinstance(patterns, list):
            patterns = [patterns]
        if timeout is not None and timeout > 0:
            timeout *= TIME_SCALE
        try:
            return self.child.expect(patterns, timeout=timeout)
        except pexpect.TIMEOUT:
            pytest.fail(f"timeout waiting for {what or patterns}; console "
                        f"(full log {self.logpath}):\n{self.tail()}")
        except pexpect.EOF:
            self.child.close()
            pytest.fail(f"VM exited (status {self.child.exitstatus}, signal "
                        f"{self.child.signalstatus}) while waiting for "
                        f"{what or patterns}; console:\n{self.tail()}")

    def expect_marker(self, timeout=None):
        """Wait for the guest's ready marker; return seconds since start."""
        i = self.expect([MARKER, NOT_AVAILABLE],
                        timeout=timeout or self.boot_timeout, what=MARKER)
        if i == 1:
            self.kill()
            pytest.skip("softvisor run: machine not available yet")
        return time.monotonic() - self.t0

    def run_result(self, timeout=60, begun=False):
        """Collect the sv.run script's output lines and exit status (from
        where the console was read up to if begun)."""
        if not begun:
            self.expect(RUN_BEGIN, timeout=timeout, what=RUN_BEGIN)
        self.expect(RUN_EXIT_RE, timeout=timeout, what="SOFTVISOR-RUN-EXIT")
        status = int(self.child.match.group(1))
        lines = []
        for ln in self.child.before.replace("\r", "").split("\n"):
            if ln and not _KLOG.match(ln):
                lines.append(ln)
        return lines, status

    def wait_exit(self, timeout=60):
        """Wait for the VM process to end; return its exit status."""
        self.expect(pexpect.EOF, timeout=timeout, what="VM exit")
        self.child.close()
        self.log.close()
        if self.child.signalstatus is not None:
            return -self.child.signalstatus
        return self.child.exitstatus

    def send(self, text):
        self.child.send(text)

    def vm_pid(self):
        """The process that runs the guest: with the sandbox (the default
        of `softvisor run`) the only child of the spawned keeper, else the
        spawned process itself (docs/security.md)."""
        pid = self.child.pid
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                kids = f.read().split()
        except OSError:
            kids = []
        return int(kids[0]) if len(kids) == 1 else pid

    def kill(self):
        if self.child.isalive():
            self.child.terminate(force=True)
        self.child.close()
        if not self.log.closed:
            self.log.close()


@pytest.fixture
def vm_factory(tmp_path):
    """vm_factory(argv, boot_timeout) -> VM; every VM is killed at teardown."""
    vms = []

    def make(argv, boot_timeout=QEMU_BOOT_TIMEOUT, name="console"):
        vm = VM(argv, tmp_path / f"{name}{len(vms)}.log", boot_timeout)
        vms.append(vm)
        return vm

    yield make
    for vm in vms:
        vm.kill()


# Script lines and check for "the guest clock and RTC are within 2 s of the
# host": the guest prints both on one line; the host takes its own time the
# moment pexpect sees that line, so a slow test runner does not count.
CLOCK_SCRIPT = ("echo SVCLOCK $(date +%s) "
                "$(cat /sys/class/rtc/rtc0/since_epoch)\n")


def expect_clock_in_sync(vm, timeout=60):
    vm.expect(r"SVCLOCK (\d+) (\d+)\s", timeout=timeout, what="SVCLOCK")
    now = time.time()
    date, rtc = (int(x) for x in vm.child.match.groups())
    # date +%s and since_epoch truncate to whole seconds: allow 1 s more
    # below than above
    for what, t in (("date", date), ("RTC", rtc)):
        assert -3 <= t - now <= 2, f"guest {what} {t}, host {now:.2f}"


def run_script(vm, timeout=60):
    """Marker, then the sv.run result: (output lines, exit status)."""
    vm.expect_marker()
    return vm.run_result(timeout=timeout)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "full: a long system, stress or soak test: it runs in "
        "the 'full' suite (make test-full), not in make test")


# meson counts exit status 77 as SKIP: report a file whose tests all skipped
# (softvisor not available yet, QEMU missing) as skipped, not as passed.
_outcomes = {"passed": 0, "failed": 0, "skipped": 0}


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        _outcomes[report.outcome] = _outcomes.get(report.outcome, 0) + 1


def pytest_sessionfinish(session, exitstatus):
    if exitstatus == 0 and _outcomes["skipped"] and \
            not _outcomes["passed"] and not _outcomes["failed"]:
        session.exitstatus = 77
