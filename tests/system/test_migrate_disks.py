"""Live migration of a VM with a disk on shared storage (issue 18,
docs/vm-state.md "Disks on shared storage").

Two daemons on one machine share the file system, so the VM's qcow2
image is at the same path on both. The guest writes 1 MiB chunks of
random data to fresh places on its disk (every chunk allocates clusters:
L2 and refcount updates) and keeps their md5 sums in RAM, during the
first move (pre-copy: the writer runs on across the switch-over) and
between and after two moves (there and back). The source hands the
image over at the final pause (written back, unlocked), the destination
opens it only at its resume (its metadata read then): every chunk reads
back intact in the guest (page cache dropped), on the host, and
`qemu-img check` finds the image clean.

A destination that cannot reach the image, and one that finds another
file at the path (a copy: not shared storage), are refused; the VM goes
on at the source with its disk.
"""

import hashlib
import os
import re
import shutil

import pexpect

from conftest import MARKER, TIME_SCALE
from daemon_util import guest_definition
from test_daemon import console
from test_migrate import migrate, tls_daemon
from test_snapshot import check_clean, image

CHUNKS = 48
WRITER = ("(k={k}; while [ $k -lt {n} ]; do "
          "head -c 1048576 /dev/urandom > /tmp/c; "
          "dd if=/tmp/c of=/dev/vda bs=1M seek=$k conv=notrunc,fsync "
          "2>/dev/null; "
          "echo \"$k $(md5sum < /tmp/c | cut -c1-32)\" >> /tmp/sums; "
          "k=$((k+1)); done; echo WRITER-$((6*7))) & echo STARTED\r")
VERIFY = ("sync; echo 3 > /proc/sys/vm/drop_caches; bad=0; "
          "while read k s; do "
          "t=$(dd if=/dev/vda bs=1M skip=$k count=1 2>/dev/null | md5sum "
          "| cut -c1-32); [ \"$t\" = \"$s\" ] || bad=$((bad+1)); "
          "done < /tmp/sums; echo CHUNKS $(wc -l < /tmp/sums) BAD $bad END\r")


def verify(c):
    c.send(VERIFY)
    c.expect(r"CHUNKS (\d+) BAD (\d+) END", timeout=300 * TIME_SCALE)
    return int(c.match.group(1)), int(c.match.group(2))


def refused(src, dst, name, why):
    p = migrate(src, dst, name, check=False)
    assert p.returncode == 1 and "goes on here" in p.stderr, (p.stdout,
                                                              p.stderr)
    assert src.api().state(name) == "running"
    assert dst.api().call("GET", f"/v1/vms/{name}")[0] == 404
    assert why in p.stderr + dst.tail(200), (p.stderr, dst.tail(200))


def test_migrate_with_shared_disk(tmp_path, guest):
    a = tls_daemon(tmp_path, "a")
    b = tls_daemon(tmp_path, "b")
    img = tmp_path / "shared" / "disk.qcow2"
    img.parent.mkdir()
    image("create", img, "512M")
    try:
        a.api().ok("POST", "/v1/vms", guest_definition(
            guest, "md", after="shell",
            disks=[{"path": str(img), "format": "qcow2"}]))
        a.cli("vm", "start", "md")
        c = console(a, "md")
        c.expect(MARKER, timeout=180 * TIME_SCALE)
        third = CHUNKS // 3
        for i, (src, dst, extra) in enumerate(
                ((a, b, []), (b, a, ["--downtime", "0"]))):
            c.send(WRITER.format(k=i * third, n=(i + 1) * third))
            during = i == 0
            if during:
                # the first move while the guest writes: its requests
                # in flight at the pause complete at the source, the
                # rest go to the destination's image
                c.expect("STARTED", timeout=60 * TIME_SCALE)
                c.send("sleep 1; echo go$((1+1))\r")
                c.expect("go2", timeout=60 * TIME_SCALE)
            else:
                c.expect(r"WRITER-42", timeout=600 * TIME_SCALE)
            p = migrate(src, dst, "md", extra=extra)
            assert "migrated to" in p.stdout, p.stdout
            c.expect(pexpect.EOF, timeout=30 * TIME_SCALE)
            assert dst.api().state("md") == "running"
            c = console(dst, "md")
            if during:
                c.send("wait; echo up$((1+1))\r")
            else:
                c.send("echo up$((1+1))\r")
            c.expect("up2", timeout=600 * TIME_SCALE)
            n, bad = verify(c)
            assert n == (i + 1) * third and bad == 0, (n, bad)
        c.send(WRITER.format(k=2 * third, n=CHUNKS))
        c.expect(r"WRITER-42", timeout=600 * TIME_SCALE)
        n, bad = verify(c)
        assert n == CHUNKS and bad == 0, (n, bad)
        c.send("cat /tmp/sums; echo SUMS-$((2*3))\r")
        c.expect(r"SUMS-6\r", timeout=60 * TIME_SCALE)
        sums = dict((int(k), s) for k, s in
                    re.findall(r"^(\d+) ([0-9a-f]{32})\r?$", c.before,
                               re.M))
        assert len(sums) == CHUNKS

        # not reachable at the destination: refused at its start
        moved = img.with_name("moved.qcow2")
        os.rename(img, moved)
        refused(a, b, "md", "No such file")
        os.rename(moved, img)
        # another file at the same path (a copy, not shared storage):
        # the destination refuses it at the switch-over
        os.rename(img, moved)
        shutil.copy(moved, img)
        refused(a, b, "md", "not the image the source left")
        os.unlink(img)
        os.rename(moved, img)
        # the VM goes on at the source, with its own disk
        c.send("dd if=/dev/urandom of=/dev/vda bs=4k count=1 seek=65000 "
               "conv=fsync 2>/dev/null; echo after$((6*7))\r")
        c.expect("after42", timeout=60 * TIME_SCALE)
        n, bad = verify(c)
        assert n == CHUNKS and bad == 0, (n, bad)
        c.sendcontrol("]")
        c.expect(pexpect.EOF, timeout=10 * TIME_SCALE)
        a.cli("vm", "stop", "md")

        check_clean(img)
        raw = tmp_path / "disk.raw"
        image("convert", img, raw)
        with open(raw, "rb") as f:
            for k in range(CHUNKS):
                f.seek(k << 20)
                assert hashlib.md5(f.read(1 << 20)).hexdigest() == sums[k], k
    except BaseException:
        for d in (a, b):
            print(f"---- daemon {d.name if hasattr(d, 'name') else d}:\n"
                  f"{d.tail(80)}")
            for f in sorted(d.tmp.glob("console-*.log")):
                print(f"---- {f}:\n{f.read_text(errors='replace')[-2500:]}")
        raise
    finally:
        for d in (a, b):
            if d.proc:
                assert d.stop() == 0, d.tail()
