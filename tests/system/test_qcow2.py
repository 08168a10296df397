"""qcow2 disks under a real Debian guest (issue 16).

One boot: the guest's ext4 data disk (tools/guest-image's data.ext4) is
converted to qcow2 with `softvisor image convert`, attached with
format=qcow2, mounted, read and written by the guest, which powers off.
The host then proves the write is in the image: `softvisor image check`
and `qemu-img check` (if installed) find no error or leak, and the image
converted back to raw holds the guest's file (debugfs) and is a clean ext4
(e2fsck). The probing rules of --disk without format= are checked without
a boot. The full tier adds a round trip with QEMU: QEMU's guest writes to
a qcow2 image Softvisor made, then Softvisor's guest reads that and writes.
"""

import hashlib
import json
import os
import shutil
import subprocess

import pytest

from conftest import QEMU, append_line, qemu_argv
from test_virtio import (HELLO, assert_one_line_error, boot, data_copy,
                         run_script, sbin_tool, sv_fails)

SOFTVISOR = os.environ.get("SOFTVISOR", "softvisor")


def image(*args, check=True):
    p = subprocess.run([SOFTVISOR, "image", *map(str, args)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=120)
    if check:
        assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p


def test_qcow2_guest_write(guest, vm_factory, tmp_path):
    debugfs, e2fsck = sbin_tool("debugfs"), sbin_tool("e2fsck")
    raw = data_copy(guest, tmp_path)
    img = tmp_path / "data.qcow2"
    image("convert", "-O", "qcow2", raw, img)
    assert "file format:       qcow2" in image("info", img).stdout
    token = f"written by the guest to qcow2 {os.getpid()}"
    script = ("set -e\nmount -t ext4 /dev/vda /mnt\ncat /mnt/hello.txt\n"
              f"echo '{token}' >/mnt/guest.txt\n"
              "dd if=/dev/zero of=/mnt/big bs=64k count=32 2>/dev/null\n"
              "rm /mnt/big\nsync\n"
              "fstrim /mnt 2>/dev/null || true\n"
              "umount /mnt\necho unmounted\n")
    vm = boot(guest, vm_factory, script,
              extra=["--disk", f"{img},format=qcow2"])
    out, status = run_script(vm)
    assert status == 0, out
    assert HELLO in out and "unmounted" in out, out
    assert vm.wait_exit() == 0

    p = image("check", img, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    if shutil.which("qemu-img"):
        p = subprocess.run(["qemu-img", "check", str(img)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=120)
        assert p.returncode == 0, p.stdout
    back = tmp_path / "back.raw"
    image("convert", img, back)
    p = subprocess.run([debugfs, "-R", "cat /guest.txt", str(back)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=30)
    assert p.stdout == token + "\n", p.stderr
    p = subprocess.run([e2fsck, "-fn", str(back)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=60)
    assert p.returncode == 0, p.stdout


def test_probe_refuses_backing_file(guest, tmp_path):
    """--disk without format= on a qcow2 image that names a backing file
    (as a raw disk a guest wrote a qcow2 header into would): exit 2, no
    boot, the message says to give the format."""
    base = tmp_path / "base.raw"
    image("create", "--format", "raw", base, "1M")
    over = tmp_path / "over.qcow2"
    image("create", "--backing", "base.raw", over)
    status, err = sv_fails(guest, tmp_path, ["--disk", over])
    assert_one_line_error(status, err, str(over), "format=qcow2")


def test_image_commands(tmp_path):
    """softvisor image without a guest: create/info/resize/convert/check,
    their exit statuses and qemu-img's view of the results."""
    img = tmp_path / "a.qcow2"
    image("create", img, "64M")
    info = json.loads(image("info", "--json", img).stdout)
    assert info["format"] == "qcow2" and info["virtual-size"] == 64 << 20
    assert info["cluster-size"] == 65536 and info["refcount-bits"] == 16
    image("resize", img, "+1G")
    assert json.loads(image("info", "--json", img).stdout)[
        "virtual-size"] == (64 << 20) + (1 << 30)
    # a raw file with data in its first and last MiB: the qcow2 copy
    # allocates only those, and converts back to the same bytes
    raw = tmp_path / "r.raw"
    with open(raw, "wb") as f:
        f.write(os.urandom(1 << 20))
        f.seek(31 << 20)
        f.write(os.urandom(1 << 20))
    image("convert", "-O", "qcow2", raw, img)
    assert os.stat(img).st_blocks * 512 < 4 << 20
    back = tmp_path / "back.raw"
    image("convert", img, back)
    assert back.read_bytes() == raw.read_bytes()
    assert image("check", img).returncode == 0
    if shutil.which("qemu-img"):
        subprocess.run(["qemu-img", "compare", "-q", str(raw), str(img)],
                       check=True, timeout=60)
    # a leaked cluster (refcount block at cluster 2; cluster 40 inside the
    # file gets refcount 1): exit 3; then the header's refcount: exit 2
    with open(img, "r+b") as f:
        f.seek(2 * 65536 + 40 * 2)
        f.write(b"\0\1")
    p = image("check", img, check=False)
    assert p.returncode == 3, p.stdout
    assert "Leaked cluster 40" in p.stdout
    with open(img, "r+b") as f:
        f.seek(2 * 65536)
        f.write(b"\0\0")
    p = image("check", img, check=False)
    assert p.returncode == 2, p.stdout
    assert "ERROR cluster 0 refcount=0 reference=1" in p.stdout
    p = image("create", img, "10Q", check=False)
    assert p.returncode == 2 and "10Q" in p.stderr


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 22), b""):
            h.update(b)
    return h.hexdigest()


def test_linked_clone(tmp_path):
    """softvisor image clone of a 256 MiB template, no boot: the clone reads
    through to the template, qemu-io's writes to the clone land in the
    clone only (the template's checksum is unchanged), both check clean."""
    tpl = tmp_path / "tpl.raw"
    head, tail = os.urandom(1 << 20), os.urandom(1 << 20)
    with open(tpl, "wb") as f:
        f.write(head)
        f.seek((256 << 20) - (1 << 20))
        f.write(tail)
    digest = sha256(tpl)
    clone = tmp_path / "clone.qcow2"
    image("clone", tpl, clone)
    info = json.loads(image("info", "--json", clone).stdout)
    assert info["backing-filename"] == str(tpl)
    assert info["backing-filename-format"] == "raw"
    assert info["virtual-size"] == 256 << 20
    assert os.stat(clone).st_size < 1 << 20
    assert image("clone", tpl, clone, check=False).returncode == 1
    if shutil.which("qemu-io"):
        subprocess.run(["qemu-io", "-f", "qcow2", "-c",
                        "write -P 0x5a 4096 8192", str(clone)], check=True,
                       stdout=subprocess.DEVNULL, timeout=60)
        head = head[:4096] + b"\x5a" * 8192 + head[12288:]
    back = tmp_path / "back.raw"
    image("convert", clone, back)
    with open(back, "rb") as f:
        assert f.read(1 << 20) == head
        f.seek((256 << 20) - (1 << 20))
        assert f.read() == tail
    assert image("check", clone).returncode == 0
    assert sha256(tpl) == digest


def test_snapshot_commands(tmp_path):
    """softvisor image snapshot create|list|apply|delete, no boot: the
    snapshot is qemu-img's too, apply restores the data, check stays
    clean."""
    img = tmp_path / "s.qcow2"
    image("create", img, "16M")
    image("snapshot", img, "create", "before")
    p = image("snapshot", img, "list")
    assert "before" in p.stdout and p.stdout.count("\n") == 3, p.stdout
    assert image("snapshot", img, "create", "before",
                 check=False).returncode == 1
    p = image("snapshot", img, "apply", "nope", check=False)
    assert p.returncode == 1 and "nope" in p.stderr and str(img) in p.stderr
    if not shutil.which("qemu-io"):
        return
    q = ["qemu-io", "-f", "qcow2", "-c"]
    subprocess.run(q + ["write -P 0x66 0 1M", str(img)], check=True,
                   stdout=subprocess.DEVNULL, timeout=60)
    assert "before" in subprocess.run(
        ["qemu-img", "snapshot", "-l", str(img)], stdout=subprocess.PIPE,
        text=True, check=True, timeout=60).stdout
    image("snapshot", img, "apply", "before")
    out = subprocess.run(q + ["read -P 0 0 1M", str(img)],
                         stdout=subprocess.PIPE, text=True,
                         timeout=60).stdout
    assert "Pattern verification failed" not in out, out
    image("snapshot", img, "delete", "before")
    assert image("check", img).returncode == 0
    subprocess.run(["qemu-img", "check", "-q", str(img)], check=True,
                   timeout=60)


def test_probe_warns(guest, tmp_path):
    """--disk without format= on a qcow2 image: probed as qcow2, with a
    warning naming the option (checked without a boot: --dump-dtb); an
    explicit format=qcow2 gives no warning."""
    img = tmp_path / "p.qcow2"
    image("create", img, "16M")
    for spec, warned in ((str(img), True), (f"{img},format=qcow2", False)):
        p = subprocess.run([SOFTVISOR, "run", "--kernel", str(guest.image),
                            "--disk", spec, "--dump-dtb",
                            str(tmp_path / "d.dtb")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert ("probed as qcow2" in p.stderr and
                "format=qcow2" in p.stderr) == warned, p.stderr


@pytest.mark.full
@pytest.mark.skipif(not os.access(QEMU, os.X_OK),
                    reason="qemu-system-riscv64 not installed")
def test_qcow2_qemu_round_trip(guest, vm_factory, tmp_path):
    debugfs = sbin_tool("debugfs")
    img = tmp_path / "data.qcow2"
    image("convert", "-O", "qcow2", data_copy(guest, tmp_path), img)
    script = ("set -e\nmount -t ext4 /dev/vda /mnt\ncat /mnt/hello.txt\n"
              "echo from-qemu >/mnt/qemu.txt\numount /mnt\necho unmounted\n")
    extra = ["-drive", f"if=none,id=d0,file={img},format=qcow2",
             "-device", "virtio-blk-device,drive=d0"]
    vm = vm_factory(qemu_argv(guest, append_line(script, "poweroff"),
                              extra=extra))
    out, status = run_script(vm)
    assert status == 0 and HELLO in out and "unmounted" in out, out
    assert vm.wait_exit() == 0
    script = ("set -e\nmount -t ext4 /dev/vda /mnt\ncat /mnt/qemu.txt\n"
              "echo from-softvisor >/mnt/sv.txt\numount /mnt\n"
              "echo unmounted\n")
    vm = boot(guest, vm_factory, script,
              extra=["--disk", f"{img},format=qcow2"])
    out, status = run_script(vm)
    assert status == 0 and "from-qemu" in out and "unmounted" in out, out
    assert vm.wait_exit() == 0
    p = subprocess.run(["qemu-img", "check", str(img)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120)
    assert p.returncode == 0, p.stdout
    back = tmp_path / "back.raw"
    image("convert", img, back)
    got = subprocess.run([debugfs, "-R", "cat /sv.txt", str(back)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True, timeout=30).stdout
    assert got == "from-softvisor\n"


@pytest.mark.full
def test_linked_clone_boot(guest, vm_factory, tmp_path):
    """A guest boots with a linked clone of the data disk (raw template),
    reads the template's file through it and writes; the template is
    unchanged and the clone checks clean."""
    tpl = data_copy(guest, tmp_path)
    digest = sha256(tpl)
    clone = tmp_path / "clone.qcow2"
    image("clone", "-f", "raw", tpl, clone)
    script = ("set -e\nmount -t ext4 /dev/vda /mnt\ncat /mnt/hello.txt\n"
              "echo in-the-clone >/mnt/clone.txt\nsync\numount /mnt\n"
              "echo unmounted\n")
    vm = boot(guest, vm_factory, script,
              extra=["--disk", f"{clone},format=qcow2"])
    out, status = run_script(vm)
    assert status == 0 and HELLO in out and "unmounted" in out, out
    assert vm.wait_exit() == 0
    assert sha256(tpl) == digest
    assert image("check", clone).returncode == 0
