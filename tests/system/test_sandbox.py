"""The sandboxed VM process of `softvisor run` (issue 14, docs/security.md).

`softvisor run` (sandbox on by default) forks the VM into its own process,
which enters the sandbox before the first guest instruction: the test
reads that process's /proc status from the host (seccomp filter mode 2,
no_new_privs, the user nobody, no capabilities, its own namespaces), and
checks the guest still works inside it: a shell command round trip on the
console, a virtio-blk read, a reboot (which reopens the kernel, initrd and
disk inside the sandbox). The test-only fault trigger then shows that a
forbidden system call or a crash ends only the VM process, with the
documented exit status and message.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import (SOFTVISOR_BOOT_TIMEOUT, append_line, softvisor_argv)

NOBODY = 65534


def vm_process(vm):
    """The keeper's only child: the VM process."""
    pid = vm.vm_pid()
    assert pid != vm.child.pid, "no VM process under the keeper"
    return pid


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return fields


def first_block_sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read(4096)).hexdigest()


def test_guest_runs_in_the_sandbox(guest, vm_factory, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the full sandbox (namespaces, nobody) needs root")
    disk = tmp_path / "data.ext4"
    shutil.copyfile(guest.data, disk)
    want = first_block_sha(disk)
    script = "dd if=/dev/vda bs=4096 count=1 2>/dev/null | sha256sum"
    argv = softvisor_argv(guest, append_line(script, after="shell"),
                          extra=["--disk", str(disk)])
    vm = vm_factory(argv, boot_timeout=SOFTVISOR_BOOT_TIMEOUT)
    vm.expect_marker()

    pid = vm_process(vm)
    st = proc_status(pid)
    assert st["Seccomp"] == "2"
    assert st["NoNewPrivs"] == "1"
    assert st["Uid"].split() == [str(NOBODY)] * 4
    assert st["Gid"].split() == [str(NOBODY)] * 4
    assert st["Groups"] == ""
    for cap in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"):
        assert int(st[cap], 16) == 0, f"{cap} {st[cap]}"
    # every thread (vCPUs, console, block) is filtered too
    for tid in os.listdir(f"/proc/{pid}/task"):
        assert proc_status(f"{pid}/task/{tid}")["Seccomp"] == "2"
    # its own mount, IPC and PID namespaces (no NIC: network too)
    for ns in ("mnt", "ipc", "pid_for_children", "net"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") != \
            os.readlink(f"/proc/self/ns/{ns}"), ns
    assert os.readlink(f"/proc/{pid}/root") != "/"
    # no descriptor leaked from the keeper's parent (this test): the
    # console (0..2), the disk, its own pipes, eventfds, memfds
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        assert not target.startswith(str(tmp_path)) or \
            target == str(disk), target

    lines, status = vm.run_result()
    assert status == 0 and want in " ".join(lines), lines

    # the console round trip
    vm.expect("# ", timeout=30, what="shell prompt")
    vm.send("echo SVSUM$((6*7))\n")
    vm.expect("SVSUM42", timeout=30)

    # the process's main thread sleeps until a signal or the machine's
    # end (which it learns from a signal too): no polling while the guest
    # idles (it used to wake ten times a second)
    def main_thread_runs():
        with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
            return int(f.read().split()[2])
    before = main_thread_runs()
    time.sleep(2)
    assert main_thread_runs() - before <= 1

    # a reboot rebuilds the machine from inside the sandbox
    vm.send("reboot -f\n")
    vm.expect_marker()
    lines, status = vm.run_result()
    assert status == 0 and want in " ".join(lines), lines
    assert vm_process(vm) == pid
    vm.expect("# ", timeout=30, what="shell prompt")
    vm.send("poweroff -f\n")
    assert vm.wait_exit(timeout=60) == 0


def sandboxed_child(p):
    """The keeper `p`'s VM process, once its sandbox is in place."""
    deadline = time.monotonic() + SOFTVISOR_BOOT_TIMEOUT
    while time.monotonic() < deadline and p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                kids = f.read().split()
            if kids and proc_status(kids[0])["Seccomp"] == "2":
                return int(kids[0])
        except (OSError, KeyError):
            pass
        time.sleep(0.05)
    raise AssertionError("no sandboxed VM process")


def gone(pid):
    """The process has ended (reaped, or a zombie nobody reaped yet)."""
    try:
        return proc_status(pid)["State"].startswith("Z")
    except FileNotFoundError:
        return True


def test_keeper_killed_ends_the_vm(guest, tmp_path):
    """SIGKILL to the keeper (which cannot forward it) ends the VM
    process too: the parent-death signal survives the sandbox's change
    of user, which clears it."""
    argv = softvisor_argv(guest, append_line(None, after="shell"),
                          extra=["--console", "none"])
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    pid = None
    try:
        pid = sandboxed_child(p)
        p.kill()
        p.wait()
        deadline = time.monotonic() + 30
        while not gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gone(pid), f"VM process {pid} outlived its keeper"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if pid and not gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_leaked_fd_closed_and_signal_forwarded(guest, tmp_path):
    """A descriptor the caller leaks to `softvisor run` stays with the
    keeper and is closed in the VM process; SIGTERM to the keeper stops
    the VM cleanly (exit 128 + 15)."""
    leak = tmp_path / "leaked"
    leak.write_text("secret")
    fd = os.open(leak, os.O_RDONLY)
    argv = softvisor_argv(guest, append_line(None, after="shell"),
                          extra=["--console", "none"])
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True, pass_fds=(fd,))
    os.close(fd)
    try:
        pid = sandboxed_child(p)
        def fds(p_):
            return [os.readlink(f"/proc/{p_}/fd/{n}")
                    for n in os.listdir(f"/proc/{p_}/fd")]
        assert str(leak) in fds(p.pid)
        assert str(leak) not in fds(pid)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
        assert p.returncode == 128 + signal.SIGTERM, err
        assert "terminating on signal 15" in err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def run_fault(guest, tmp_path, fault):
    argv = softvisor_argv(guest, append_line("true"),
                          extra=["--console", "none", "--timeout", "60"])
    env = dict(os.environ, SOFTVISOR_TEST_FAULT=fault)
    return subprocess.run(argv, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=env, timeout=120, cwd=tmp_path)


def test_forbidden_syscall_kills_only_the_vm(guest, tmp_path):
    p = run_fault(guest, tmp_path, "syscall")
    assert p.returncode == 159, p.stderr
    assert "killed by the sandbox" in p.stderr
    assert "not on its seccomp allow-list (SIGSYS" in p.stderr


def sanitized():
    """softvisor built with ASan (its SEGV handler, not the kernel, ends a
    crash: inside the sandbox it dies by SIGSYS or SIGABRT)."""
    exe = os.environ.get("SOFTVISOR", "")
    p = subprocess.run(["ldd", exe], stdout=subprocess.PIPE, text=True)
    return "libasan" in p.stdout


def test_crash_kills_only_the_vm(guest, tmp_path):
    p = run_fault(guest, tmp_path, "crash")
    if sanitized():
        assert p.returncode in (128 + signal.SIGABRT, 159), p.stderr
        assert "the VM process (pid" in p.stderr
        return
    assert p.returncode == 128 + signal.SIGSEGV, p.stderr
    assert "killed by signal 11" in p.stderr


def test_sandbox_off_runs_in_one_process(guest, tmp_path):
    """--sandbox=off: no keeper, no filter; the fault trigger is inert."""
    argv = softvisor_argv(guest, append_line("true"),
                          extra=["--console", "none", "--sandbox", "off"])
    env = dict(os.environ, SOFTVISOR_TEST_FAULT="syscall")
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, env=env,
                       timeout=SOFTVISOR_BOOT_TIMEOUT, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    p = subprocess.run(argv[:2] + ["--sandbox", "maybe"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=20)
    assert p.returncode == 2
    assert "--sandbox maybe: expected on or off" in p.stderr
