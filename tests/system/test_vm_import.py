"""VMs created from an image (issue 19, Proxmox's import-from): a disk
entry with import_from instead of path, through the API and the CLI.

A raw image with a known marker becomes the disks of two VMs: a linked
one (a qcow2 overlay whose backing file is the image) and a full copy
(a task with progress). Both guests read the marker from their disk and
write their own; the image is never written. The stored definitions name
the new images, not the image they came from. Bad input (a missing file,
a directory, a format we do not read, path and import_from together, a
relative path, a name in use) is refused naming disks[N], leaving no VM
and no file behind; a copy that fails in its task removes every image
made and leaves no VM. `softvisor run` refuses import-from.
"""

import hashlib
import json
import os
import subprocess

import pexpect

from conftest import TIME_SCALE
from daemon_util import guest_definition, softvisor_exe, vm_console
from test_daemon import daemon  # noqa: F401 (the fixture)
from test_snapshot import host_read, image

WRITE = ("printf 'MARK%s' {tag}-$((6*7)) | dd of=/dev/vda bs=8 count=1 "
         "conv=notrunc,fsync 2>/dev/null; sync; echo w$((1+1)){tag}\r")
READ = ("sync; echo 3 >/proc/sys/vm/drop_caches; "
        "dd if=/dev/vda bs=8 count=1 2>/dev/null; echo ' r'$((1+1))\r")


def info(path):
    return json.loads(image("info", "--json", path).stdout)


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def seed(tmp_path):
    raw = tmp_path / "cloud.raw"
    with open(raw, "wb") as f:
        f.write(b"MARKI-42")
        f.truncate(16 << 20)
    return raw


def boot_read_write(daemon, name, tag):
    """Start NAME, check its guest reads the image's marker from its
    disk, write its own and read it back; stop it."""
    daemon.cli("vm", "start", name)
    c = vm_console(daemon, name, marker=True)
    c.send(READ)
    c.expect(r"(\S{8}) r2")
    assert c.match.group(1) == "MARKI-42"
    c.send(WRITE.format(tag=tag))
    c.expect(f"w2{tag}")
    c.send(READ)
    c.expect(r"(\S{8}) r2")
    assert c.match.group(1) == f"MARK{tag}-42"
    c.sendcontrol("]")
    c.expect(pexpect.EOF, timeout=10 * TIME_SCALE)
    c.close()
    daemon.cli("vm", "stop", name)


def test_import_linked_and_full(daemon, guest, tmp_path):
    raw = seed(tmp_path)
    before = sha256(raw)
    api = daemon.api()
    disks_dir = daemon.state / "disks"

    # linked: made before the answer, a task that has ended already
    defn = guest_definition(guest, "lnk", after="shell",
                            disks=[{"import_from": str(raw),
                                    "linked": True}])
    st, t = api.call("POST", "/v1/vms", defn)
    assert st == 202, (st, t)
    assert t["kind"] == "create" and t["vm"] == "lnk"
    assert t["state"] == "success", t
    lnk = api.ok("GET", "/v1/vms/lnk")["definition"]["disks"][0]
    assert lnk["path"] == str(disks_dir / "lnk-disk0.qcow2"), lnk
    assert lnk["format"] == "qcow2"
    assert "import_from" not in lnk and "linked" not in lnk, lnk
    i = info(lnk["path"])
    assert i["backing-filename"] == str(raw), i
    assert i["backing-filename-format"] == "raw", i

    # full (the default): a copy, made by the task; the VM appears when
    # the task has succeeded
    defn = guest_definition(guest, "full", after="shell",
                            disks=[{"import_from": str(raw)}])
    st, t = api.call("POST", "/v1/vms", defn)
    assert st == 202, (st, t)
    t = api.wait_task(t["id"])
    assert t["state"] == "success" and t["progress"] == 100, t
    assert "1 copied" in t["message"], t
    full = api.ok("GET", "/v1/vms/full")["definition"]["disks"][0]
    assert full["path"] == str(disks_dir / "full-disk0.qcow2"), full
    assert full["format"] == "qcow2"
    i = info(full["path"])
    assert "backing-filename" not in i, i
    assert i["virtual-size"] == 16 << 20, i

    # both guests read the image's content and write their own disk
    boot_read_write(daemon, "lnk", "L")
    boot_read_write(daemon, "full", "F")
    assert sha256(raw) == before
    assert host_read(lnk["path"], tmp_path) == "MARKL-42"
    assert host_read(full["path"], tmp_path) == "MARKF-42"

    # the definition names the image made, also after a daemon restart
    assert daemon.stop() == 0
    daemon.start()
    d = daemon.api().ok("GET", "/v1/vms/lnk")["definition"]["disks"][0]
    assert d["path"] == lnk["path"] and "import_from" not in d

    # an imported disk cannot be asked for by an edit
    st, j = daemon.api().call(
        "PATCH", "/v1/vms/full",
        {"disks": [{"import_from": str(raw)}]})
    assert st == 400 and "disks[0].import_from: only for the disks of a " \
        "new VM" in j["error"]["message"], (st, j)
    assert sha256(raw) == before


def cli_in(daemon, cwd, *args, input=None):
    """The CLI run in directory cwd."""
    env = dict(os.environ, SOFTVISOR_SOCKET=daemon.sock)
    return subprocess.run([softvisor_exe(), *args], cwd=cwd, env=env,
                          input=input, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True,
                          timeout=120 * TIME_SCALE)


def test_import_cli(daemon, guest, tmp_path):
    raw = seed(tmp_path)
    before = sha256(raw)
    defn = json.dumps(guest_definition(guest, "x", after="shell"))
    # a relative IMAGE is the working directory's, as any --disk path
    p = cli_in(daemon, tmp_path, "vm", "create", "c1", "--from-json", "-",
               "--disk", "import-from=cloud.raw,linked=on", input=defn)
    assert p.returncode == 0, p.stderr
    assert "created c1 from images (1 linked, 0 copied)" in p.stdout, \
        p.stdout
    p = daemon.cli("vm", "create", "c2", "--from-json", "-", "--disk",
                   f"import-from={raw}", input=defn)
    assert "created c2 from images (0 linked, 1 copied)" in p.stdout, \
        p.stdout
    api = daemon.api()
    c1 = api.ok("GET", "/v1/vms/c1")["definition"]["disks"][0]
    c2 = api.ok("GET", "/v1/vms/c2")["definition"]["disks"][0]
    assert info(c1["path"])["backing-filename"] == str(raw)
    assert host_read(c2["path"], tmp_path) == "MARKI-42"
    # the CLI shows the daemon's refusal, naming the disk
    p = daemon.cli("vm", "create", "c3", "--from-json", "-", "--disk",
                   f"import-from={tmp_path}/none.raw", input=defn,
                   check=False)
    assert p.returncode == 1, p
    assert "disks[0].import_from: " in p.stderr and \
        "none.raw: no such file" in p.stderr, p.stderr
    p = daemon.cli("vm", "create", "c3", "--from-json", "-", "--disk",
                   f"import-from={raw},format=raw", input=defn, check=False)
    assert p.returncode == 2 and "format= cannot be given" in p.stderr, \
        p.stderr
    # softvisor run uses images as they are: refused before it boots
    p = subprocess.run([softvisor_exe(), "run", "--kernel",
                        str(guest.image), "--disk", f"import-from={raw}"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60 * TIME_SCALE)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "disks[0].import_from: only a VM of the daemon" in p.stderr, \
        p.stderr
    assert sha256(raw) == before


def test_import_refused(daemon, guest, tmp_path):
    raw = seed(tmp_path)
    api = daemon.api()
    vmdk = tmp_path / "disk.vmdk"
    with open(vmdk, "wb") as f:
        f.write(b"KDMV" + bytes(508))
    api.ok("POST", "/v1/vms", guest_definition(guest, "taken"))
    cases = [
        ([{"import_from": str(tmp_path / "none.raw")}], 400,
         f"disks[0].import_from: {tmp_path}/none.raw: no such file"),
        ([{"path": str(raw)}, {"import_from": str(tmp_path)}], 400,
         f"disks[1].import_from: {tmp_path} is not a regular file "
         "(a directory)"),
        ([{"import_from": str(vmdk)}], 400,
         f"disks[0].import_from: {vmdk} is a VMDK image: only raw and "
         "qcow2 images can be imported"),
        ([{"import_from": str(raw), "path": str(raw)}], 400,
         "disks[0]: path and import_from exclude each other"),
        ([{"import_from": "cloud.raw"}], 400,
         "disks[0].import_from: expected an absolute path, got "
         "\"cloud.raw\""),
        ([{"import_from": str(raw), "format": "raw"}], 400,
         "disks[0].format: not with import_from"),
        ([{"path": str(raw), "linked": True}], 400,
         "disks[0].linked: only with import_from"),
    ]
    for disks, status, msg in cases:
        st, j = api.call("POST", "/v1/vms",
                         guest_definition(guest, "bad", disks=disks))
        assert st == status, (disks, st, j)
        assert msg in j["error"]["message"], (disks, j)
    st, j = api.call("POST", "/v1/vms", guest_definition(
        guest, "taken", disks=[{"import_from": str(raw)}]))
    assert st == 409 and "a VM named taken exists" in \
        j["error"]["message"], (st, j)
    # nothing was made: no VM, no image
    names = [v["name"] for v in api.ok("GET", "/v1/vms")["vms"]]
    assert names == ["taken"], names
    disks_dir = daemon.state / "disks"
    assert not disks_dir.exists() or not os.listdir(disks_dir), \
        os.listdir(disks_dir)


def test_import_failure_leaves_nothing(daemon, guest, tmp_path):
    """A copy that fails in the task (a qcow2 image whose L1 table points
    past its end: its header passes the checks, its data cannot be read)
    removes every image the request made, the linked one too, and leaves
    no VM."""
    raw = seed(tmp_path)
    before = sha256(raw)
    good = tmp_path / "good.qcow2"
    image("convert", "-O", "qcow2", raw, good)
    data = bytearray(good.read_bytes())
    l1 = int.from_bytes(data[40:48], "big")  # header: l1_table_offset
    data[l1:l1 + 8] = ((1 << 63) | (1 << 40)).to_bytes(8, "big")
    bad = tmp_path / "bad.qcow2"
    bad.write_bytes(bytes(data))
    api = daemon.api()
    st, t = api.call("POST", "/v1/vms", guest_definition(
        guest, "broken", disks=[{"import_from": str(raw), "linked": True},
                                {"import_from": str(bad)}]))
    assert st == 202, (st, t)
    t = api.wait_task(t["id"])
    assert t["state"] == "error", t
    assert t["message"].startswith("disks[1]: "), t
    st, _ = api.call("GET", "/v1/vms/broken")
    assert st == 404
    assert os.listdir(daemon.state / "disks") == []
    assert sha256(raw) == before
    # the event log says what happened
    ev = api.ok("GET", "/v1/events?vm=broken")["events"]
    assert any(e["action"] == "create" and e["result"] == "failed"
               for e in ev), ev
