"""Full Debian trixie on Softvisor (issue 12, item 5; suite 'full').

Builds (once, then cached) the root disk of `tools/guest-image --disk`
(docs/guest-image.md, "The Debian root disk"), boots a copy of it with the
guest kernel and initramfs (root=LABEL=svroot: /init switch_roots to
systemd), logs in as root over the serial console, runs `apt-get --version`
and `systemctl is-system-running --wait`, logs in over ssh through a port
forwarded on 127.0.0.1 and powers the guest off. The guest gets no outside
traffic: nothing in it contacts the network beyond DHCP from Softvisor's own
user-mode NAT, and the only forwarded port is on loopback.
"""

import os
import shutil
import subprocess
import time

import pexpect
import pytest

from conftest import GUEST_TOOL, TIME_SCALE
from daemon_util import free_port

DISK_IMAGE = "debian-root.img"
ROOT_PASSWORD = "softvisor"
PROMPT = "root@softvisor:~# "
# Seconds, before SOFTVISOR_TIME_SCALE: building the disk (debootstrap's
# second stage under qemu-user), and a boot to the login prompt (1-3
# minutes with 2 vCPUs on a quiet machine).
BUILD_TIMEOUT = 1800
LOGIN_TIMEOUT = int(os.environ.get("SOFTVISOR_DEBIAN_BOOT_TIMEOUT", "600"))
STARTUP_TIMEOUT = 300


@pytest.fixture(scope="module")
def debian_guest():
    """The guest directory, with the root disk built (or cached)."""
    if os.geteuid() != 0:
        pytest.skip("building the Debian root disk needs root")
    p = subprocess.run([str(GUEST_TOOL), "--disk", "--print-dir", "--quiet"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=BUILD_TIMEOUT * TIME_SCALE)
    if p.returncode != 0:
        pytest.fail(f"tools/guest-image --disk failed:\n{p.stderr}")
    d = p.stdout.strip()
    return d


def disk_copy(src, tmp_path):
    """A private, sparse copy: the cached image stays pristine."""
    dst = tmp_path / DISK_IMAGE
    subprocess.run(["cp", "--reflink=auto", "--sparse=always", str(src),
                    str(dst)], check=True)
    return dst


def shell(vm, command, timeout=60):
    """Run a command at root's prompt on the console; return (output,
    exit status). The quotes keep the echoed command line from matching."""
    vm.send(f"echo SV''-BEGIN; {command}; echo SV''-END=$?\r")
    vm.expect(r"SV-BEGIN\r*\n(.*?)SV-END=(\d+)", timeout=timeout,
              what=command)
    out = vm.child.match.group(1).replace("\r", "")
    status = int(vm.child.match.group(2))
    vm.expect(PROMPT, timeout=timeout, what="the shell prompt")
    return out, status


def ssh_echo(port, timeout):
    """Log in over ssh with the password; return the command's output."""
    argv = ["ssh", "-F", "/dev/null", "-p", str(port),
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null",
            "-o", "PreferredAuthentications=password",
            "-o", "PubkeyAuthentication=no",
            "-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR",
            "root@127.0.0.1", "echo SSH-OK $(hostname) $(id -u)"]
    child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8",
                          codec_errors="replace", timeout=timeout)
    try:
        i = child.expect(["assword:", pexpect.EOF])
        if i == 0:
            child.sendline(ROOT_PASSWORD)
            child.expect(pexpect.EOF)
        out = child.before
    except pexpect.TIMEOUT:
        out = (child.before or "") + "\n(timeout)"
    child.close()
    return child.exitstatus, out


def test_debian_boots_to_login_apt_systemd_ssh(debian_guest, vm_factory,
                                               tmp_path, capsys):
    exe = os.environ.get("SOFTVISOR")
    if not exe or not os.access(exe, os.X_OK):
        pytest.skip("SOFTVISOR does not name a softvisor binary")
    gdir = debian_guest
    disk = disk_copy(os.path.join(gdir, DISK_IMAGE), tmp_path)
    port = free_port()
    argv = [exe, "run",
            "--kernel", os.path.join(gdir, "Image"),
            "--initrd", os.path.join(gdir, "initrd.img"),
            "--append", "console=ttyS0 root=LABEL=svroot ro panic=-1",
            "--disk", str(disk),
            "--net", f"user,hostfwd=tcp:127.0.0.1:{port}-:22",
            "--rng", "--cpus", "2", "--memory", "1G"]
    vm = vm_factory(argv, boot_timeout=LOGIN_TIMEOUT, name="debian-")

    vm.expect("sv-init: switching to root", timeout=120,
              what="/init switching to the root disk")
    vm.expect("softvisor login: ", timeout=LOGIN_TIMEOUT,
              what="the login prompt")
    t_login = time.monotonic() - vm.t0
    vm.send("root\r")
    vm.expect("Password: ", timeout=60, what="the password prompt")
    vm.send(ROOT_PASSWORD + "\r")
    vm.expect(PROMPT, timeout=120, what="root's shell prompt")

    out, status = shell(vm, "apt-get --version | head -n1")
    assert status == 0 and out.startswith("apt "), \
        f"apt-get --version: {out!r}"
    apt_version = out.strip()

    # --wait: until start-up is over, bounded by timeout(1) in the guest and
    # by the expect around it.
    limit = int(STARTUP_TIMEOUT * TIME_SCALE)
    out, _ = shell(vm, f"timeout {limit} systemctl is-system-running --wait",
                   timeout=STARTUP_TIMEOUT + 30)
    state = out.strip()
    t_up = time.monotonic() - vm.t0
    if state != "running":
        failed, _ = shell(vm, "systemctl --failed --no-legend --plain")
        pytest.fail(f"systemctl is-system-running: {state!r}; failed "
                    f"units:\n{failed}")

    # The initramfs mounted it read-only; systemd remounts it (fstab).
    out, _ = shell(vm, "findmnt -n -o OPTIONS /")
    assert out.startswith("rw,"), f"root file system options: {out!r}"

    out, _ = shell(vm, "ip -color=never -4 -o addr show scope global")
    assert "inet 10.0.2.15/24" in out, f"no DHCP address: {out!r}"

    ssh_result = "skipped (no ssh client)"
    if shutil.which("ssh"):
        deadline = time.monotonic() + 120 * TIME_SCALE
        while True:
            rc, out = ssh_echo(port, 60 * TIME_SCALE)
            if rc == 0 and "SSH-OK softvisor 0" in out:
                ssh_result = "ok"
                break
            if time.monotonic() > deadline:
                pytest.fail(f"ssh -p {port} root@127.0.0.1 failed "
                            f"(exit {rc}):\n{out}")
            time.sleep(2)

    vm.send("poweroff\r")
    assert vm.wait_exit(timeout=180) == 0
    with capsys.disabled():
        print(f"\n  debian: login prompt after {t_login:.0f} s, "
              f"'{state}' after {t_up:.0f} s; {apt_version}; "
              f"ssh {ssh_result}")
