"""Live migration with a block mirror (--copy-storage; issue 18, docs/vm-state.md
"Disks copied with the VM").

Two daemons on one machine; the VM's qcow2 disk lives in daemon A's own
directory and is copied into a new image in B's state directory while the
guest runs and writes it: the guest writes 1 MiB chunks of random data
(and keeps their md5 sums) before and all through the move; after it,
every chunk reads back intact in the guest on B (page cache dropped),
64 MiB the host put in the image before boot arrive unchanged, `qemu-img
check` passes on B's image, and A's image still holds what it held, clean.
A second disk, raw, arrives as a raw image of its size with the host's
data at its place and zeros elsewhere.

Refused, the VM going on at A: a move without --copy-storage while the
image is not reachable at its path (the message names it), a move whose
destination is killed during the disk copy, and one whose VM name is
taken at the destination (which then removes the images it created).
"""

import hashlib
import os
import signal
import subprocess
import time

import pexpect
import pytest

from conftest import MARKER, TIME_SCALE
from daemon_util import guest_definition, softvisor_exe
from test_daemon import console
from test_migrate import migrate, tls_daemon
from test_migrate_disks import WRITER, verify
from test_snapshot import check_clean, image

CHUNKS = 24  # 1 MiB chunks the guest writes, 20 of them during the move
HOST_AT = 256  # MiB: where the host's data starts (the guest writes below)
HOST_MIB = 64  # (kept small: the CI tier's time)


def md5_region(img, tmp_path, at_mib, mib):
    raw = tmp_path / "region.raw"
    image("convert", img, raw)
    with open(raw, "rb") as f:
        f.seek(at_mib << 20)
        h = hashlib.md5(f.read(mib << 20)).hexdigest()
    raw.unlink()
    return h


def chunk_sums(img, tmp_path, ks):
    raw = tmp_path / "chunks.raw"
    image("convert", img, raw)
    out = {}
    with open(raw, "rb") as f:
        for k in ks:
            f.seek(k << 20)
            out[k] = hashlib.md5(f.read(1 << 20)).hexdigest()
    raw.unlink()
    return out


def refused(p, a, name):
    assert p.returncode == 1 and "goes on here" in p.stderr, (p.stdout,
                                                              p.stderr)
    assert a.api().state(name) == "running"


def test_migrate_copy_storage(tmp_path, guest):
    """Pre-copy (the default tier)."""
    copy_storage(tmp_path, guest, [])


@pytest.mark.full
def test_migrate_copy_storage_stop_and_copy(tmp_path, guest):
    """--downtime 0: RAM paused, the disks still copied while it runs."""
    copy_storage(tmp_path, guest, ["--downtime", "0"])


def copy_storage(tmp_path, guest, extra):
    a = tls_daemon(tmp_path, "a")
    b = tls_daemon(tmp_path, "b")
    b2 = None
    private = tmp_path / "a-private"
    private.mkdir()
    img = private / "disk.qcow2"
    # the host's data: HOST_MIB of random bytes at 256 MiB, in a qcow2
    raw = tmp_path / "seed.raw"
    with open(raw, "wb") as f:
        f.truncate(1 << 30)
        f.seek(HOST_AT << 20)
        f.write(os.urandom(HOST_MIB << 20))
    image("convert", raw, img, "-O", "qcow2")
    raw.unlink()
    host_sum = md5_region(img, tmp_path, HOST_AT, HOST_MIB)
    # a second disk, raw: 16 MiB of host data at 8 MiB of 64 MiB
    img2 = private / "data.raw"
    seed2 = os.urandom(16 << 20)
    with open(img2, "wb") as f:
        f.truncate(64 << 20)
        f.seek(8 << 20)
        f.write(seed2)
    try:
        a.api().ok("POST", "/v1/vms", guest_definition(
            guest, "mm", after="shell",
            disks=[{"path": str(img), "format": "qcow2"},
                   {"path": str(img2), "format": "raw"}]))
        a.cli("vm", "start", "mm")
        c = console(a, "mm")
        c.expect(MARKER, timeout=180 * TIME_SCALE)
        c.send(WRITER.format(k=0, n=4))
        c.expect(r"WRITER-42", timeout=300 * TIME_SCALE)

        # without --copy-storage, an image B cannot reach: refused, named
        moved = img.with_name("moved.qcow2")
        os.rename(img, moved)
        p = migrate(a, b, "mm", check=False)
        os.rename(moved, img)
        refused(p, a, "mm")
        assert "not reachable" in p.stderr and str(img) in p.stderr, \
            p.stderr
        assert b.api().call("GET", "/v1/vms/mm")[0] == 404

        # the destination killed during the disk copy
        st, task = a.api().call("POST", "/v1/vms/mm/migrate", {
            "to": b.url, "token": b.token, "insecure": True,
            "copy_storage": True})
        assert st == 202, task
        killed = False
        end = time.monotonic() + 60 * TIME_SCALE
        while time.monotonic() < end:
            t = a.api().ok("GET", f"/v1/tasks/{task['id']}")
            x = t.get("transfer", {})
            if t["state"] != "running":
                break
            if 0 < x.get("disk_bytes_done", 0) < x["disk_bytes_total"]:
                b.proc.send_signal(signal.SIGKILL)
                b.proc.wait()
                b.proc = None
                killed = True
                break
            time.sleep(0.01)
        t = a.api().wait_task(task["id"])
        assert killed, f"the disk copy ended before the kill: {t}"
        assert t["state"] == "error" and "goes on here" in t["message"], t
        assert a.api().state("mm") == "running"
        c.send("echo alive$((6*7))\r")
        c.expect("alive42", timeout=60 * TIME_SCALE)

        # a name taken at the destination: refused; what B created goes
        b2 = tls_daemon(tmp_path, "b2")
        b2.api().ok("POST", "/v1/vms", guest_definition(guest, "mm"))
        p = migrate(a, b2, "mm", check=False, extra=["--copy-storage"])
        refused(p, a, "mm")
        disks = b2.state / "disks"
        assert not disks.exists() or not list(disks.iterdir()), \
            list(disks.iterdir())
        b2.api().ok("DELETE", "/v1/vms/mm")

        # the move, the guest writing all through it
        c.send(WRITER.format(k=4, n=CHUNKS))
        c.expect("STARTED", timeout=30 * TIME_SCALE)
        p = migrate(a, b2, "mm", extra=["--copy-storage", *extra])
        assert "migrated to" in p.stdout, (p.stdout, p.stderr)
        c.expect(pexpect.EOF, timeout=30 * TIME_SCALE)
        assert a.api().call("GET", "/v1/vms/mm")[0] == 404
        assert b2.api().state("mm") == "running"
        ev = a.api().ok("GET", "/v1/events?vm=mm&limit=50")["events"]
        print([e["message"] for e in ev if e["action"] == "migrate"][-1])
        disks = b2.api().ok("GET", "/v1/vms/mm")["definition"]["disks"]
        path, path2 = disks[0]["path"], disks[1]["path"]
        assert path.startswith(str(b2.state)), path
        assert path2.startswith(str(b2.state)) and path2.endswith(".raw")
        c = console(b2, "mm")
        c.expect(r"WRITER-42", timeout=300 * TIME_SCALE)
        n, bad = verify(c)
        assert n == CHUNKS and bad == 0, (n, bad)
        c.send("cat /tmp/sums; echo SUMS-$((2*3))\r")
        c.expect(r"SUMS-6\r", timeout=60 * TIME_SCALE)
        sums = dict(ln.split() for ln in c.before.splitlines()
                    if len(ln.split()) == 2 and len(ln.split()[1]) == 32)
        c.sendcontrol("]")
        c.expect(pexpect.EOF, timeout=10 * TIME_SCALE)
        b2.cli("vm", "stop", "mm")

        # B's image: clean, the guest's chunks and the host's data in it
        check_clean(path)
        assert md5_region(path, tmp_path, HOST_AT, HOST_MIB) == host_sum
        got = chunk_sums(path, tmp_path, range(CHUNKS))
        assert all(got[k] == sums[str(k)] for k in range(CHUNKS)), got
        # the raw disk: same size, the host's data at its place
        assert os.path.getsize(path2) == 64 << 20
        with open(path2, "rb") as f:
            data = f.read()
        assert data[8 << 20:24 << 20] == seed2
        assert data[:8 << 20].count(0) == 8 << 20
        assert data[24 << 20:].count(0) == 40 << 20
        # A's image: clean, and what it held (the chunks before the move)
        check_clean(img)
        assert md5_region(img, tmp_path, HOST_AT, HOST_MIB) == host_sum
        got = chunk_sums(img, tmp_path, range(4))
        assert all(got[k] == sums[str(k)] for k in range(4)), got
    except BaseException:
        for d in (a, b, b2):
            if d is None:
                continue
            print(f"---- daemon {d.tmp}:\n{d.tail(80)}")
        raise
    finally:
        for d in (a, b, b2):
            if d is not None and d.proc:
                assert d.stop() == 0, d.tail()
