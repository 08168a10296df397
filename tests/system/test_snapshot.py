"""Disk snapshots, templates and clones through the daemon (issue 16),
driven by the CLI with real Debian guests.

A running VM's guest writes a marker to its qcow2 disk; the daemon
snapshots it live (its worker pauses the vCPUs, drains the disk and takes
the internal snapshot), the guest writes another marker, the VM stops and
is reverted, and a new boot reads the first marker. A template's linked
clone boots, reads the template's data and writes its own, which never
reaches the template's image; a full clone stands alone. Every image
passes `softvisor image check` and `qemu-img check` (when installed).
"""

import hashlib
import json
import os
import shutil
import subprocess

import pexpect
import pytest

from conftest import TIME_SCALE
from daemon_util import Daemon, guest_definition, softvisor_exe, vm_console

WRITE = ("printf 'MARK%s' {tag}-$((6*7)) | dd of=/dev/vda bs=8 count=1 "
         "conv=notrunc,fsync 2>/dev/null; sync; echo w$((1+1)){tag}\r")
READ = "dd if=/dev/vda bs=8 count=1 2>/dev/null; echo ' r'$((1+1))\r"


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path).start()
    yield d
    if d.proc:
        rc = d.stop()
        assert rc == 0, f"daemon exit status {rc}:\n{d.tail()}"


def console(d, name):
    return vm_console(d, name, marker=True)


def detach(c):
    c.sendcontrol("]")
    c.expect(pexpect.EOF, timeout=10 * TIME_SCALE)
    c.close()


def write(c, tag):
    c.send(WRITE.format(tag=tag))
    c.expect(f"w2{tag}")


def read(c):
    """The 8 bytes at the start of the guest's disk."""
    c.send(READ)
    c.expect(r"(\S{8}) r2")
    return c.match.group(1)


def image(*args, check=True):
    p = subprocess.run([softvisor_exe(), "image", *map(str, args)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=120 * TIME_SCALE)
    if check:
        assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p


def host_read(img, tmp_path):
    """The first 8 bytes of a qcow2 image, read on the host."""
    out = tmp_path / "peek.raw"
    if out.exists():
        out.unlink()
    image("convert", img, out)
    with open(out, "rb") as f:
        return f.read(8).decode(errors="replace")


def check_clean(*imgs):
    for img in imgs:
        p = image("check", img, check=False)
        assert p.returncode == 0, f"{img}: {p.stdout}{p.stderr}"
        if shutil.which("qemu-img"):
            p = subprocess.run(["qemu-img", "check", str(img)],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               timeout=120)
            assert p.returncode == 0, f"{img}: {p.stdout}"
        else:
            print(f"qemu-img absent: {img} checked by softvisor only")


def define(daemon, guest, name, disks, **more):
    defn = guest_definition(guest, name, after="shell", disks=disks, **more)
    daemon.cli("vm", "create", name, "--from-json", "-",
               input=json.dumps(defn))


# the in-process daemon's variant is in the full tier (CI's time goes to
# the default, the worker; test_isolation keeps --in-process in CI)
@pytest.fixture(params=["worker", pytest.param("in-process",
                                               marks=pytest.mark.full)])
def any_daemon(request, tmp_path):
    """The daemon with VMs in worker processes (the snapshot goes through
    VMPROTO_DISK_SNAPSHOT) and in its own process (virt_disk_snapshot
    directly)."""
    extra = ["--in-process"] if request.param == "in-process" else []
    d = Daemon(tmp_path, extra=extra).start()
    yield d
    if d.proc:
        rc = d.stop()
        assert rc == 0, f"daemon exit status {rc}:\n{d.tail()}"


# The guest's RAM marker: a shell variable and a file in tmpfs
SETMEM = "R=MEM{tag}$((6*7)); echo $R >/dev/shm/m; echo m$((1+1)){tag}\r"
# both RAM markers and the disk's first 8 bytes read past the page cache
PROBE = ("sync; echo 3 >/proc/sys/vm/drop_caches; echo \"P $R $(cat "
         "/dev/shm/m) $(dd if=/dev/vda bs=8 count=1 2>/dev/null) p\"$((1+1))"
         "\r")


def set_mem(c, tag):
    c.send(SETMEM.format(tag=tag))
    c.expect(f"m2{tag}")


def probe(c):
    """(shell variable, tmpfs file, disk) as the guest sees them."""
    c.send(PROBE)
    c.expect(r"P (\S*) (\S*) (\S*) p2")
    return c.match.group(1), c.match.group(2), c.match.group(3)


def attach(d, name):
    """The console of a VM that continues from a saved state (no boot
    marker: its scrollback starts at the restore)."""
    env = dict(os.environ, SOFTVISOR_SOCKET=d.sock)
    child = pexpect.spawn(softvisor_exe(), ["vm", "console", name], env=env,
                          encoding="utf-8", codec_errors="replace",
                          timeout=120 * TIME_SCALE)
    child.logfile_read = open(d.tmp / f"console-{name}.log", "a")
    return child


def test_snapshot_running_vm_and_revert(any_daemon, guest, tmp_path):
    daemon = any_daemon
    api = daemon.api()
    img = tmp_path / "disk.qcow2"
    image("create", img, "16M")
    define(daemon, guest, "snap1",
           [{"path": str(img), "format": "qcow2"}])
    vid = api.ok("GET", "/v1/vms/snap1")["id"]
    states = daemon.state / "snapshots" / str(vid)
    daemon.cli("vm", "start", "snap1")
    c = console(daemon, "snap1")
    write(c, "A")
    set_mem(c, "A")
    # a running VM's snapshot holds its memory too (virsh's default)
    out = daemon.cli("vm", "snapshot", "create", "snap1", "s1",
                     "--description", "marker A").stdout
    assert "snapshot s1 taken (1 disk and memory, VM running)" in out, out
    s1_state = states / "s1.state"
    assert s1_state.stat().st_size > 0
    assert s1_state.stat().st_mode & 0o777 == 0o600
    # the guest runs on after the snapshot, and writes over both markers
    write(c, "B")
    set_mem(c, "B")
    assert read(c) == "MARKB-42"
    # a paused VM stays paused through a snapshot, which records it so
    daemon.cli("vm", "pause", "snap1")
    daemon.cli("vm", "snapshot", "create", "snap1", "p1")
    assert api.state("snap1") == "paused"
    daemon.cli("vm", "resume", "snap1")
    # the disks only (today's internal snapshot); its revert refuses a
    # running VM, naming what to do
    out = daemon.cli("vm", "snapshot", "create", "snap1", "d1",
                     "--no-memory").stdout
    assert "snapshot d1 taken (1 disk, VM running)" in out, out
    assert not (states / "d1.state").exists()
    p = daemon.cli("vm", "snapshot", "revert", "snap1", "d1", check=False)
    assert p.returncode == 1 and "stop it" in p.stderr, p.stderr
    st, j = api.call("POST", "/v1/vms/snap1/snapshots",
                     {"name": "x", "memory": "yes"})
    assert st == 400 and "memory" in j["error"]["message"], (st, j)
    write(c, "C")
    set_mem(c, "C")

    lst = json.loads(daemon.cli("vm", "snapshot", "list", "snap1",
                                "--output", "json").stdout)["snapshots"]
    assert [(s["name"], s["vm_state"], s["memory"], s["description"])
            for s in lst] == [("s1", "running", True, "marker A"),
                              ("p1", "paused", True, ""),
                              ("d1", "running", False, "")]
    assert lst[0]["memory_bytes"] == s1_state.stat().st_size
    assert lst[0]["disks"] == [str(img)]
    rows = {ln.split()[0]: ln.split()
            for ln in daemon.cli("vm", "snapshot", "list",
                                 "snap1").stdout.splitlines()[1:]}
    assert "MEMORY" in daemon.cli("vm", "snapshot", "list", "snap1").stdout
    # NAME, CREATED (date time), VM STATE, DISKS, TYPE, MEMORY, ...
    assert rows["d1"][6] == "no" and rows["p1"][6].endswith("M"), rows

    # revert of a running VM to a snapshot with memory: the VM continues
    # from that instant, paused as it was at p1
    out = daemon.cli("vm", "snapshot", "revert", "snap1", "p1").stdout
    assert "reverted to snapshot p1 (VM paused)" in out, out
    c.expect(pexpect.EOF, timeout=30 * TIME_SCALE)  # the old machine ended
    assert api.state("snap1") == "paused"
    daemon.cli("vm", "resume", "snap1")
    c = attach(daemon, "snap1")
    assert probe(c) == ("MEMB42", "MEMB42", "MARKB-42")
    # and running as it was at s1
    out = daemon.cli("vm", "snapshot", "revert", "snap1", "s1").stdout
    assert "reverted to snapshot s1 (VM running)" in out, out
    c.expect(pexpect.EOF, timeout=30 * TIME_SCALE)
    c = attach(daemon, "snap1")
    assert probe(c) == ("MEMA42", "MEMA42", "MARKA-42")
    # it keeps running from there
    write(c, "D")
    set_mem(c, "D")
    assert probe(c) == ("MEMD42", "MEMD42", "MARKD-42")
    # delete takes the state file with it
    daemon.cli("vm", "snapshot", "delete", "snap1", "p1")
    assert not (states / "p1.state").exists() and s1_state.exists()
    detach(c)
    daemon.cli("vm", "stop", "snap1")
    assert host_read(img, tmp_path) == "MARKD-42"
    check_clean(img)

    # a snapshot without memory of a stopped VM: the disk returns, the
    # next boot reads it
    daemon.cli("vm", "snapshot", "revert", "snap1", "d1")
    assert api.state("snap1") == "stopped"
    assert host_read(img, tmp_path) == "MARKB-42"
    daemon.cli("vm", "start", "snap1")
    c = console(daemon, "snap1")
    assert read(c) == "MARKB-42"
    detach(c)
    daemon.cli("vm", "stop", "snap1")
    check_clean(img)

    # events and audit records of the snapshot calls
    ev = api.ok("GET", "/v1/events?vm=snap1")["events"]
    acts = [e["action"] for e in ev]
    for a in ("snapshot-create", "snapshot-delete", "snapshot-revert"):
        assert a in acts, acts
    audit = api.ok("GET", "/v1/audit?vm=snap1")["audit"]
    assert "vm.snapshot.revert" in [a["action"] for a in audit]
    # delete on a stopped VM, then the name is gone
    daemon.cli("vm", "snapshot", "delete", "snap1", "d1")
    p = daemon.cli("vm", "snapshot", "revert", "snap1", "d1", check=False)
    assert p.returncode == 1 and "no snapshot named d1" in p.stderr
    check_clean(img)
    # a VM that is off has no memory to snapshot
    st, j = api.call("POST", "/v1/vms/snap1/snapshots",
                     {"name": "off1", "memory": True})
    assert st == 400 and "memory" in j["error"]["message"], (st, j)
    # deleting the VM removes its snapshots' state files
    assert s1_state.exists()
    daemon.cli("vm", "delete", "snap1")
    assert not states.exists()


# A guest loop writing 64 KiB blocks of its counter (8-byte lines) over
# the first 8 MiB of its disk, one block after the other, fsync'd.
WRITER = ("(i=0; while :; do i=$((i+1)); yes $(printf %07d $i) | "
          "head -c 65536 >/tmp/b; dd if=/tmp/b of=/dev/vda bs=65536 "
          "seek=$((i%128)) count=1 conv=notrunc,fsync 2>/dev/null "
          "|| break; done) & echo bg$((1+1))\r")


def pages(raw):
    """The counters of the first 8 MiB's 4 KiB pages (0: never written).
    A page holds one counter: the guest's page cache writes whole pages,
    and a snapshot never holds half a request."""
    out = []
    with open(raw, "rb") as f:
        for n in range(8 << 8):
            p = f.read(4096)
            if p == bytes(4096):
                out.append(0)
                continue
            line = p[:8]
            assert line.endswith(b"\n") and p == line * 512, \
                f"page {n} mixes writes: {p[:16]!r} ... {p[-16:]!r}"
            out.append(int(line))
    return out


def test_live_snapshots_under_writes(daemon, guest, tmp_path):
    img = tmp_path / "busy.qcow2"
    image("create", img, "16M")
    define(daemon, guest, "busy", [{"path": str(img), "format": "qcow2"}])
    daemon.cli("vm", "start", "busy")
    c = console(daemon, "busy")
    c.send(WRITER)
    c.expect("bg2")
    names = [f"l{i}" for i in range(3)]
    for n in names:
        # a few blocks between snapshots: the guest writes all along
        c.send("sleep 0.5; echo s$((1+1))\r")
        c.expect("s2")
        daemon.cli("vm", "snapshot", "create", "busy", n, "--no-memory")
    # the guest's loop still runs after the snapshots: its counter grows
    c.send("sleep 0.5; kill $!; wait; echo k$((1+1))\r")
    c.expect("k2")
    detach(c)
    daemon.cli("vm", "stop", "busy")
    check_clean(img)
    last = max(pages_of(img, tmp_path))
    highest = 0
    for n in names:
        daemon.cli("vm", "snapshot", "revert", "busy", n)
        check_clean(img)
        top = max(pages_of(img, tmp_path))
        assert top > highest, f"snapshot {n}: counters {top} <= {highest}"
        highest = top
    assert last > highest


def pages_of(img, tmp_path):
    out = tmp_path / "pages.raw"
    if out.exists():
        out.unlink()
    image("convert", img, out)
    return pages(out)


def test_snapshot_refusals(daemon, guest, tmp_path):
    """No boot: a raw disk, bad names, duplicates."""
    raw = tmp_path / "d.raw"
    image("create", "--format", "raw", raw, "1M")
    q = tmp_path / "d.qcow2"
    image("create", q, "1M")
    define(daemon, guest, "rawvm", [{"path": str(raw), "format": "raw"}])
    p = daemon.cli("vm", "snapshot", "create", "rawvm", "x", check=False)
    assert p.returncode == 1 and "raw" in p.stderr and "qcow2" in p.stderr
    # a read-only raw disk next to a qcow2 one is fine (never written)
    define(daemon, guest, "mixed", [{"path": str(q), "format": "qcow2"},
                                    {"path": str(raw), "format": "raw",
                                     "readonly": True}])
    daemon.cli("vm", "snapshot", "create", "mixed", "ok1")
    p = daemon.cli("vm", "snapshot", "create", "mixed", "ok1", check=False)
    assert p.returncode == 1 and "already" in p.stderr
    for bad in ("123", "-x", "a/b", "x" * 65):
        st, j = daemon.api().call("POST", "/v1/vms/mixed/snapshots",
                                  {"name": bad})
        assert st == 400, (bad, st, j)
    st, _ = daemon.api().call("GET", "/v1/vms/mixed/snapshots/nope")
    assert st == 404
    check_clean(q)

    # a running VM whose state cannot be saved (virtio-balloon, for now):
    # the snapshot with memory is refused whole, saying how to take one
    # without; nothing is left on the disk or in the inventory and the VM
    # runs on (no need to wait for its boot)
    b = tmp_path / "b.qcow2"
    image("create", b, "1M")
    define(daemon, guest, "ballooned", [{"path": str(b), "format": "qcow2"}],
           balloon=True)
    daemon.cli("vm", "start", "ballooned")
    p = daemon.cli("vm", "snapshot", "create", "ballooned", "m1",
                   check=False)
    assert p.returncode == 1 and "virtio-balloon" in p.stderr and \
        "--no-memory" in p.stderr, p.stderr
    assert daemon.api().state("ballooned") == "running"
    assert daemon.api().ok("GET", "/v1/vms/ballooned/snapshots")[
        "snapshots"] == []
    daemon.cli("vm", "snapshot", "create", "ballooned", "d1", "--no-memory")
    daemon.cli("vm", "stop", "ballooned")
    assert "m1" not in image("snapshot", b, "list").stdout
    assert "d1" in image("snapshot", b, "list").stdout
    assert not (daemon.state / "snapshots").exists() or not any(
        (daemon.state / "snapshots").rglob("*.state*"))


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_template_and_clones(daemon, guest, tmp_path):
    tdir = tmp_path / "tmpl"
    tdir.mkdir()
    raw = tmp_path / "seed.raw"
    with open(raw, "wb") as f:
        f.write(b"MARKT-42")
        f.truncate(16 << 20)
    img = tdir / "base.qcow2"
    image("convert", "-O", "qcow2", raw, img)
    define(daemon, guest, "tmpl", [{"path": str(img), "format": "qcow2"}],
           nics=[{"type": "user", "mac": "52:54:00:00:00:01"}])
    p = daemon.cli("vm", "clone", "tmpl", "early", check=False)
    assert p.returncode == 1 and "not a template" in p.stderr
    daemon.cli("vm", "template", "tmpl")
    assert "template" in daemon.cli("vm", "list").stdout
    p = daemon.cli("vm", "start", "tmpl", check=False)
    assert p.returncode == 1 and "template" in p.stderr
    p = daemon.cli("vm", "snapshot", "create", "tmpl", "x", check=False)
    assert p.returncode == 1 and "template" in p.stderr
    before = sha256(img)
    # a bad name or one in use: refused before any image is made
    for bad in ("bad/name", "tmpl"):
        p = daemon.cli("vm", "clone", "tmpl", bad, check=False)
        assert p.returncode == 1, p.stderr
    assert sorted(os.listdir(tdir)) == ["base.qcow2"]

    out = daemon.cli("vm", "clone", "tmpl", "c1", "--linked").stdout
    assert "linked clone" in out, out
    c1 = daemon.api().ok("GET", "/v1/vms/c1")["definition"]
    disk = c1["disks"][0]
    assert disk["path"] == str(tdir / "c1-disk0.qcow2")
    assert disk["format"] == "qcow2"
    mac = c1["nics"][0]["mac"]
    assert mac and mac != "52:54:00:00:00:01"
    info = json.loads(image("info", "--json", disk["path"]).stdout)
    assert info["backing-filename"] == str(img), info

    daemon.cli("vm", "start", "c1")
    c = console(daemon, "c1")
    assert read(c) == "MARKT-42"
    write(c, "C")
    assert read(c) == "MARKC-42"
    detach(c)
    daemon.cli("vm", "stop", "c1")
    # the clone's write is in the clone, not in the template's image
    assert sha256(img) == before
    assert host_read(disk["path"], tmp_path) == "MARKC-42"
    assert host_read(img, tmp_path) == "MARKT-42"

    # the template is kept while its linked clone lives
    p = daemon.cli("vm", "delete", "tmpl", check=False)
    assert p.returncode == 1 and "c1" in p.stderr, p.stderr
    p = daemon.cli("vm", "template", "tmpl", "--off", check=False)
    assert p.returncode == 1 and "c1" in p.stderr

    # a full clone: a task, and an image without a backing file
    daemon.cli("vm", "clone", "tmpl", "f1", "--full")
    f1 = daemon.api().ok("GET", "/v1/vms/f1")["definition"]["disks"][0]
    info = json.loads(image("info", "--json", f1["path"]).stdout)
    assert "backing-filename" not in info, info
    assert host_read(f1["path"], tmp_path) == "MARKT-42"
    tasks = daemon.api().ok("GET", "/v1/tasks")["tasks"]
    full = [t for t in tasks if t["kind"] == "clone" and t["vm"] == "f1"]
    assert full and full[0]["state"] == "success" and \
        full[0]["progress"] == 100
    check_clean(img, disk["path"], f1["path"])

    # after a daemon restart the template is still one, still kept
    assert daemon.stop() == 0
    daemon.start()
    assert daemon.api().ok("GET", "/v1/vms/tmpl")["template"] is True
    p = daemon.cli("vm", "start", "tmpl", check=False)
    assert p.returncode == 1 and "template" in p.stderr
    p = daemon.cli("vm", "delete", "tmpl", check=False)
    assert p.returncode == 1 and "c1" in p.stderr

    daemon.cli("vm", "delete", "c1")
    daemon.cli("vm", "delete", "tmpl")
    daemon.cli("vm", "delete", "f1")
    assert sha256(img) == before
