"""External (disk-only) snapshots through the daemon (issue 16), with a
real Debian guest: `virsh snapshot-create --disk-only`, revert and
blockcommit as Softvisor does them.

The VM boots on a chain already (a qcow2 overlay on a raw image holding a
marker the guest reads), writes, and is snapshotted live: its worker
(sandboxed, so the daemon opens the new overlay for it) puts a new overlay
on top and the guest writes on, also after a reboot (which rebuilds the
disks from the worker's updated definition). With the VM stopped, `qemu-img info
--backing-chain` shows the three images, `qemu-io` reads each layer's
data, revert gives an empty overlay on the snapshot's image, and delete
commits the overlay into the image below (the VM's disk is that image
again). Every image passes `softvisor image check` and `qemu-img check`.
"""

import json
import shutil
import subprocess

import pexpect
import pytest

from conftest import MARKER, TIME_SCALE
from daemon_util import Daemon, guest_definition, vm_console
from test_daemon import daemon  # noqa: F401 (the fixture)
from test_snapshot import image

WRITE = ("printf 'MARK%s' {tag}-$((6*7)) | dd of=/dev/vda bs=8 count=1 "
         "conv=notrunc,fsync 2>/dev/null; sync; echo w$((1+1)){tag}\r")
READ = "dd if=/dev/vda bs=8 count=1 2>/dev/null; echo ' r'$((1+1))\r"
# a second area, 1 MiB in, written only before the snapshot
WRITE2 = ("printf 'DEEP%s' {tag}-$((6*7)) | dd of=/dev/vda bs=8 count=1 "
          "seek=131072 conv=notrunc,fsync 2>/dev/null; sync; "
          "echo d$((1+1)){tag}\r")

needs_qemu = pytest.mark.skipif(not shutil.which("qemu-img")
                                or not shutil.which("qemu-io"),
                                reason="qemu-utils not installed")


def console(d, name):
    return vm_console(d, name, marker=True)


def worker_maps(d, name):
    """/proc/PID/maps of the VM's worker process."""
    pid = d.api().ok("GET", f"/v1/vms/{name}")["worker_pid"]
    if not pid:
        return ""  # in the daemon's process
    with open(f"/proc/{pid}/maps") as f:
        return f.read()


def detach(c):
    c.sendcontrol("]")
    c.expect(pexpect.EOF, timeout=10 * TIME_SCALE)
    c.close()


def write(c, tag, cmd=WRITE, ack="w2"):
    c.send(cmd.format(tag=tag))
    c.expect(f"{ack}{tag}")


def read(c):
    c.send(READ)
    c.expect(r"(\S{8}) r2")
    return c.match.group(1)


def qemu_read(img, off=0):
    """8 bytes at off of the image as QEMU reads it (through its chain)."""
    p = subprocess.run(["qemu-io", "-r", "-f", "qcow2", "-c",
                        f"read -v {off} 8", str(img)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stdout
    # "00000000:  4d 41 52 4b ...  MARKA.42": the bytes in hex
    hexes = p.stdout.splitlines()[0].split(":", 1)[1].split()[:8]
    return bytes(int(h, 16) for h in hexes).decode(errors="replace")


def check_clean(*imgs):
    for img in imgs:
        p = image("check", img, check=False)
        assert p.returncode == 0, f"{img}: {p.stdout}{p.stderr}"
        p = subprocess.run(["qemu-img", "check", str(img)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=120)
        assert p.returncode == 0, f"{img}: {p.stdout}"


def chain(img):
    p = subprocess.run(["qemu-img", "info", "--backing-chain",
                        "--output=json", str(img)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return [i["filename"] for i in json.loads(p.stdout)]


def disk_of(daemon, name):
    return daemon.api().ok("GET", f"/v1/vms/{name}")["definition"]["disks"][0]


# the in-process daemon's variant is in the full tier (CI's time goes to
# the default, the worker; test_isolation keeps --in-process in CI)
@pytest.fixture(params=["worker", pytest.param("in-process",
                                               marks=pytest.mark.full)])
def any_daemon(request, tmp_path):
    """VMs in sandboxed worker processes (the daemon hands the overlays
    over through VMPROTO_DISK_SNAPSHOT_EXT) and in the daemon's own
    process (virt_disk_snapshot_external directly)."""
    extra = ["--in-process"] if request.param == "in-process" else []
    d = Daemon(tmp_path, extra=extra).start()
    yield d
    if d.proc:
        rc = d.stop()
        assert rc == 0, f"daemon exit status {rc}:\n{d.tail()}"


@needs_qemu
def test_external_snapshot_live_revert_commit(any_daemon, guest, tmp_path):
    daemon = any_daemon
    base = tmp_path / "base.raw"
    pre = tmp_path / "pre.qcow2"
    top = tmp_path / "pre.s1.qcow2"
    image("create", base, "16M", "--format", "raw")
    with open(base, "r+b") as f:
        f.write(b"MARKZ-42")
    image("snapshot", "--external", base, pre, "-f", "raw")
    defn = guest_definition(guest, "ext1", after="shell",
                            disks=[{"path": str(pre), "format": "qcow2"}])
    daemon.cli("vm", "create", "ext1", "--from-json", "-",
               input=json.dumps(defn))
    daemon.cli("vm", "start", "ext1")
    c = console(daemon, "ext1")
    assert read(c) == "MARKZ-42"  # through the chain, from the raw image
    # a worker without an encrypted disk never loads libcrypto
    assert "libcrypto" not in worker_maps(daemon, "ext1")
    write(c, "A")
    write(c, "A", WRITE2, "d2")
    out = daemon.cli("vm", "snapshot", "create", "ext1", "s1",
                     "--disk-only", "--description", "before B").stdout
    assert "external snapshot s1 taken (1 overlay, VM running)" in out, out
    assert disk_of(daemon, "ext1") == {**disk_of(daemon, "ext1"),
                                       "path": str(top), "format": "qcow2"}
    # the guest runs on, now writing the new overlay
    write(c, "B")
    assert read(c) == "MARKB-42"
    # a reboot rebuilds the machine in the (sandboxed) worker: it opens
    # the overlay the daemon handed over, not the image below it
    c.send("echo b > /proc/sysrq-trigger || reboot -f\r")
    c.expect(MARKER, timeout=180 * TIME_SCALE)
    assert read(c) == "MARKB-42"
    # blockcommit of a running VM: refused, saying why
    p = daemon.cli("vm", "snapshot", "delete", "ext1", "s1", check=False)
    assert p.returncode == 1 and "VM stopped" in p.stderr, p.stderr
    # a second name that exists is refused before anything is made
    p = daemon.cli("vm", "snapshot", "create", "ext1", "s1", "--disk-only",
                   check=False)
    assert p.returncode == 1 and "already has a snapshot" in p.stderr
    detach(c)
    daemon.cli("vm", "stop", "ext1")

    assert chain(top) == [str(top), str(pre), str(base)]
    check_clean(pre, top)
    assert qemu_read(pre) == "MARKA-42"  # frozen at the snapshot
    assert qemu_read(top) == "MARKB-42"
    assert qemu_read(top, 1 << 20) == "DEEPA-42"  # from below
    lst = json.loads(daemon.cli("vm", "snapshot", "list", "ext1",
                                "--output", "json").stdout)["snapshots"]
    assert [(s["name"], s["type"], s["vm_state"], s["disks"],
             s["overlays"]) for s in lst] == \
        [("s1", "external", "running", [str(pre)], [str(top)])]
    assert "external" in daemon.cli("vm", "snapshot", "list", "ext1").stdout

    # revert: the overlay starts again, empty, on the snapshot's image
    daemon.cli("vm", "snapshot", "revert", "ext1", "s1")
    assert qemu_read(top) == "MARKA-42"
    assert disk_of(daemon, "ext1")["path"] == str(top)
    check_clean(top)
    daemon.cli("vm", "start", "ext1")
    c = console(daemon, "ext1")
    assert read(c) == "MARKA-42"
    write(c, "C")
    detach(c)
    daemon.cli("vm", "stop", "ext1")

    # a second one, of the stopped VM: pre <- pre.s1 <- pre.s1.s2
    top2 = tmp_path / "pre.s1.s2.qcow2"
    daemon.cli("vm", "snapshot", "create", "ext1", "s2", "--disk-only")
    assert disk_of(daemon, "ext1")["path"] == str(top2)
    assert chain(top2) == [str(top2), str(top), str(pre), str(base)]
    # deleting the older one: pre.s1 is committed into pre.qcow2 and
    # pre.s1.s2 now reads through pre.qcow2 (the middle of the chain goes)
    daemon.cli("vm", "snapshot", "delete", "ext1", "s1")
    assert not top.exists()
    assert chain(top2) == [str(top2), str(pre), str(base)]
    assert qemu_read(top2) == "MARKC-42"
    check_clean(pre, top2)
    lst = json.loads(daemon.cli("vm", "snapshot", "list", "ext1",
                                "--output", "json").stdout)["snapshots"]
    assert [(s["name"], s["disks"], s["overlays"]) for s in lst] == \
        [("s2", [str(pre)], [str(top2)])]

    # delete = blockcommit: the overlay's data goes into pre.qcow2, which
    # is the VM's disk again; the overlay is gone
    daemon.cli("vm", "snapshot", "delete", "ext1", "s2")
    assert not top2.exists()
    assert disk_of(daemon, "ext1")["path"] == str(pre)
    assert qemu_read(pre) == "MARKC-42"
    assert qemu_read(pre, 1 << 20) == "DEEPA-42"
    assert chain(pre) == [str(pre), str(base)]
    check_clean(pre)
    with open(base, "rb") as f:  # never written since the chain began
        assert f.read(8) == b"MARKZ-42"
    p = daemon.cli("vm", "snapshot", "list", "ext1", "--output", "json")
    assert json.loads(p.stdout)["snapshots"] == []

    # and the guest boots on it and reads the committed data
    daemon.cli("vm", "start", "ext1")
    c = console(daemon, "ext1")
    assert read(c) == "MARKC-42"
    detach(c)
    daemon.cli("vm", "stop", "ext1")


def qemu_decrypt(img, keyfile, off, backing):
    """8 bytes at off of an encrypted image as qemu-img decrypts them."""
    opts = (f"driver=qcow2,file.filename={img},encrypt.key-secret=s0"
            + (",backing.encrypt.key-secret=s0" if backing else ""))
    p = subprocess.run(["qemu-io", "-r", "--object",
                        f"secret,id=s0,file={keyfile}", "--image-opts",
                        opts, "-c", f"read -v {off} 8"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stdout
    hexes = p.stdout.splitlines()[0].split(":", 1)[1].split()[:8]
    return bytes(int(h, 16) for h in hexes).decode(errors="replace")


@needs_qemu
def test_encrypted_template_clones(daemon, guest, tmp_path):
    """Linked and full clones of a template whose disk is LUKS-encrypted:
    the linked clone is an encrypted overlay under the template's secret,
    a full clone may get a new secret; qemu-img decrypts each."""
    key, key2 = tmp_path / "tmpl.key", tmp_path / "new.key"
    key.write_text("template secret")
    key2.write_text("a new secret")
    img = tmp_path / "tmpl.qcow2"
    image("create", img, "8M", "--key-secret", f"file:{key}",
          "--iter-time", "10")
    subprocess.run(["qemu-io", "--object", f"secret,id=s0,file={key}",
                    "--image-opts", f"driver=qcow2,file.filename={img},"
                    "encrypt.key-secret=s0", "-c", "write -P 0x41 0 64k"],
                   check=True, stdout=subprocess.DEVNULL, timeout=60)
    defn = guest_definition(guest, "etmpl", after="shell",
                            disks=[{"path": str(img), "format": "qcow2",
                                    "key_secret": f"file:{key}"}])
    daemon.cli("vm", "create", "etmpl", "--from-json", "-",
               input=json.dumps(defn))
    daemon.cli("vm", "template", "etmpl")
    # a new secret is for full clones only
    p = daemon.cli("vm", "clone", "etmpl", "bad", "--key-secret",
                   f"file:{key2}", check=False)
    assert p.returncode == 1 and "full clone" in p.stderr, p.stderr

    daemon.cli("vm", "clone", "etmpl", "lc", "--linked")
    lc = disk_of(daemon, "lc")
    assert lc["key_secret"] == f"file:{key}"
    info = json.loads(image("info", "--json", lc["path"]).stdout)
    assert info["encrypted"] and info["backing-filename"] == str(img)
    assert qemu_decrypt(lc["path"], key, 0, True) == "AAAAAAAA"
    # the clone runs in a sandboxed worker, which loads libcrypto for its
    # encrypted chain before it enters the sandbox: the guest reads the
    # template's data through both layers
    daemon.cli("vm", "start", "lc")
    c = console(daemon, "lc")
    assert read(c) == "AAAAAAAA"
    assert "libcrypto.so" in worker_maps(daemon, "lc")
    detach(c)
    daemon.cli("vm", "stop", "lc")

    daemon.cli("vm", "clone", "etmpl", "fc", "--full", "--key-secret",
               f"file:{key2}")
    fc = disk_of(daemon, "fc")
    assert fc["key_secret"] == f"file:{key2}"
    info = json.loads(image("info", "--json", fc["path"]).stdout)
    assert info["encrypted"] and "backing-filename" not in info
    assert qemu_decrypt(fc["path"], key2, 0, False) == "AAAAAAAA"
    # the old secret does not open the full clone
    p = subprocess.run(["qemu-io", "-r", "--object",
                        f"secret,id=s0,file={key}", "--image-opts",
                        f"driver=qcow2,file.filename={fc['path']},"
                        "encrypt.key-secret=s0", "-c", "read 0 512"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=60)
    assert p.returncode != 0 or "Invalid password" in p.stdout, p.stdout
    assert "read 512/512" not in p.stdout, p.stdout


@needs_qemu
def test_qmp_blockdev_snapshot_sync(guest, vm_factory, tmp_path):
    """softvisor run: QMP blockdev-snapshot-sync, as QEMU's, puts a new
    overlay on a running disk; the guest's later writes land there."""
    from conftest import SOFTVISOR_BOOT_TIMEOUT, append_line, softvisor_argv
    from qmp_client import Qmp, wait_qmp_socket

    disk = tmp_path / "d.qcow2"
    top = tmp_path / "d.top.qcow2"
    image("create", disk, "16M")
    qmp_path = tmp_path / "vm.qmp"
    # the sandboxed VM process could not create the overlay file
    argv = softvisor_argv(guest, append_line(after="shell"), memory="256M",
                          extra=["--sandbox", "off",
                                 "--disk", f"{disk},format=qcow2",
                                 "--qmp", f"unix:{qmp_path}"])
    vm = vm_factory(argv, boot_timeout=SOFTVISOR_BOOT_TIMEOUT, name="ext-")
    vm.expect_marker()
    vm.expect("softvisor:.*# ", timeout=30)
    vm.send(WRITE.format(tag="P"))
    vm.expect("w2P", timeout=60)
    wait_qmp_socket(qmp_path, vm, 30)
    q = Qmp(qmp_path)
    q.ok("qmp_capabilities")
    r = q.cmd("blockdev-snapshot-sync", device="blk7",
              **{"snapshot-file": str(top)})
    assert r["error"]["class"] == "DeviceNotFound", r
    q.ok("blockdev-snapshot-sync", device="blk0", format="qcow2",
         **{"snapshot-file": str(top)})
    r = q.cmd("blockdev-snapshot-sync", device="blk0",
              **{"snapshot-file": str(top)})
    assert "exists" in r["error"]["desc"], r  # never clobbered
    vm.send(WRITE.format(tag="Q"))
    vm.expect("w2Q", timeout=60)
    q.ok("quit")
    q.close()
    assert vm.wait_exit(timeout=60) == 0
    assert chain(top) == [str(top), str(disk)]
    check_clean(disk, top)
    assert qemu_read(disk) == "MARKP-42"
    assert qemu_read(top) == "MARKQ-42"
