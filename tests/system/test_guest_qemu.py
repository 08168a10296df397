"""The reference machine: the prepared Debian guest under Debian's QEMU.

These tests prove tools/guest-image and the guest's /init conventions on a
machine known to work (qemu-system-riscv64 -M virt with Debian's OpenSBI), so
that a failure of the same test under softvisor points at softvisor.
"""

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import (CLOCK_SCRIPT, GUEST_TOOL, MARKER, append_line,
                      expect_clock_in_sync, prepare_guest,
                      qemu_argv, run_script)

pytestmark = pytest.mark.skipif(not os.access("/usr/bin/qemu-system-riscv64",
                                              os.X_OK),
                                reason="qemu-system-riscv64 not installed "
                                "(package qemu-system-misc)")


def test_boot_run_poweroff(guest, vm_factory):
    """Marker, a script's output and exit status, poweroff ends QEMU with 0."""
    script = "echo hello-from-guest\nuname -r\nnproc\nexit 7\n"
    vm = vm_factory(qemu_argv(guest, append_line(script, "poweroff")))
    t_marker = vm.expect_marker()
    out, status = vm.run_result()
    assert status == 7
    assert out == ["hello-from-guest", guest.kernel_version, "1"]
    assert vm.wait_exit() == 0
    print(f"marker after {t_marker:.2f} s")


def test_smp4_nproc(guest, vm_factory):
    vm = vm_factory(qemu_argv(guest, append_line("nproc", "poweroff"),
                              cpus=4))
    out, status = run_script(vm)
    assert (out, status) == (["4"], 0)
    assert vm.wait_exit() == 0


def test_clock_and_cpuinfo(guest, vm_factory):
    """The checks test_boot_softvisor makes, validated on the reference."""
    script = CLOCK_SCRIPT + "grep -m1 '^isa' /proc/cpuinfo\n"
    vm = vm_factory(qemu_argv(guest, append_line(script, "poweroff")))
    vm.expect_marker()
    expect_clock_in_sync(vm)
    out, status = vm.run_result(begun=True)
    assert status == 0
    assert out[-1].startswith("isa") and "rv64ima" in out[-1], out
    assert vm.wait_exit() == 0


def test_virtio_blk_ext4(guest, vm_factory, tmp_path):
    """data.ext4 on virtio-blk-device (virtio-mmio): proves the module set.
    The guest reads hello.txt and writes a file the host then reads back."""
    disk = tmp_path / "data.ext4"
    shutil.copyfile(guest.data, disk)
    script = ("mount -t ext4 /dev/vda /mnt || exit 10\n"
              "cat /mnt/hello.txt\n"
              "echo written-by-guest > /mnt/guest.txt\n"
              "umount /mnt || exit 11\n")
    extra = ["-drive", f"if=none,id=d0,file={disk},format=raw",
             "-device", "virtio-blk-device,drive=d0"]
    vm = vm_factory(qemu_argv(guest, append_line(script, "poweroff"),
                              extra=extra))
    out, status = run_script(vm)
    assert status == 0, out
    assert "Hello from the Softvisor data disk." in out
    assert vm.wait_exit() == 0
    debugfs = shutil.which("debugfs", path="/usr/sbin:/sbin:/usr/bin")
    if debugfs:
        got = subprocess.run([debugfs, "-R", "cat /guest.txt", str(disk)],
                             stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout
        assert got == "written-by-guest\n"


def test_shell_and_escape(guest, vm_factory):
    """sv.after=shell gives an interactive shell; Ctrl-A x quits QEMU."""
    vm = vm_factory(qemu_argv(guest, append_line(None, "shell")))
    vm.expect_marker()
    vm.expect("softvisor:.*# ", timeout=30, what="shell prompt")
    vm.send("echo $((6 * 7))-answer\r")
    vm.expect("42-answer", timeout=30)
    vm.send("\x01x")
    assert vm.wait_exit(timeout=20) == 0


def test_reboot_cycle(guest, vm_factory):
    """sv.after=reboot: the marker appears twice (the machine reset)."""
    vm = vm_factory(qemu_argv(guest, append_line(None, "reboot")))
    vm.expect_marker()
    vm.expect(MARKER, timeout=120, what="second marker")
    vm.send("\x01x")
    vm.wait_exit(timeout=20)


# ---------------------------------------------------------------------------
# The tool itself.

def test_tool_second_run_is_noop(guest):
    mtimes = {p.name: p.stat().st_mtime_ns for p in guest.dir.iterdir()}
    again, _ = prepare_guest()
    assert again.dir == guest.dir
    # nothing fetched or rebuilt: every file as it was
    assert {p.name: p.stat().st_mtime_ns
            for p in guest.dir.iterdir()} == mtimes


def _seed_cache(guest, tmp_path, copy=()):
    """A private copy of the real cache under tmp_path/cache. The big files of
    the guest directory are hard links (the tool only ever replaces files,
    never writes into them); the apt state and the names in `copy` are real
    copies, safe to change."""
    real = guest.dir.parent
    dst = tmp_path / "cache" / "softvisor" / "guest"

    def link_or_copy(src, d):
        rel = Path(src).relative_to(real)
        if rel.name in copy or rel.parts[0] == "apt":
            return shutil.copy2(src, d)
        try:
            os.link(src, d)
        except OSError:
            shutil.copy2(src, d)
        return d

    shutil.copytree(real, dst, symlinks=True, copy_function=link_or_copy,
                    ignore=shutil.ignore_patterns(".lock", ".build-*",
                                                  ".dl-*", "lock"))
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    return dst / guest.dir.name, env


def test_tool_redownloads_corrupt_deb(guest, tmp_path):
    """A partial and a corrupt cached .deb are detected (SHA-256 from the
    package index) and downloaded again; needs the mirror."""
    m = guest.manifest
    bb = m["packages"][m["roles"]["busybox"]]
    sbi = m["packages"][m["roles"]["opensbi"]]
    vdir, env = _seed_cache(guest, tmp_path, copy=(bb["file"], sbi["file"]))
    debs = vdir / "debs"
    with open(debs / bb["file"], "r+b") as f:
        f.truncate(bb["size"] // 2)
    with open(debs / sbi["file"], "r+b") as f:
        f.seek(sbi["size"] // 2)
        b = f.read(1)
        f.seek(sbi["size"] // 2)
        f.write(bytes([b[0] ^ 0xFF]))
    p = subprocess.run([str(GUEST_TOOL), "--print-dir"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert Path(p.stdout.strip()) == vdir
    assert p.stderr.count("partial or corrupt") == 2, p.stderr
    for info in (bb, sbi):
        data = (debs / info["file"]).read_bytes()
        assert len(data) == info["size"]
        assert hashlib.sha256(data).hexdigest() == info["sha256"]


def test_tool_offline(guest, tmp_path):
    """With the cache present no network is needed: neither for a no-op nor
    for rebuilding an output from the cached packages. An apt-get that
    always fails stands in for a host without network."""
    vdir, env = _seed_cache(guest, tmp_path)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "apt-get").write_text("#!/bin/sh\necho offline >&2\nexit 100\n")
    (fake / "apt-get").chmod(0o755)
    env["PATH"] = f"{fake}:{env.get('PATH', '/usr/bin:/bin')}"
    env["http_proxy"] = env["https_proxy"] = "http://127.0.0.1:9"
    g, _ = prepare_guest(env=env)
    assert g.dir == vdir
    (vdir / "initrd.img").unlink()
    g, _ = prepare_guest(env=env)
    assert g.dir == vdir
    want = json.loads((vdir / "manifest.json").read_text())
    assert (vdir / "initrd.img").stat().st_size == \
        want["outputs"]["initrd.img"]["size"]
