"""Page sharing across VMs (issue 15, docs/memory.md "Sharing identical
pages across VMs"): two small VMs of one image under the daemon, each in
its own worker, write the same non-zero file to tmpfs; the daemon's pool
ends up holding frames both map (shared and saved bytes above zero, the
same figures in the API, /metrics and top -m), and writes after sharing
break it correctly: the guests' checksums of what they wrote stay right,
before and after, while the writes make private copies (COW breaks). The
guests have two vCPUs each: reads of pool frames are cached in the soft
TLBs, and a COW break flushes the other vCPU's first."""

import csv
import io
import re
import time

import pytest

from conftest import MARKER, TIME_SCALE
from daemon_util import Daemon, guest_definition, vm_console

MiB = 1 << 20
VMS = ("sa", "sb")
# 8 MB the same in both guests (the guest's busybox binary four times:
# the kernel copies it fast), and its md5
FILL = ("for i in 1 2 3 4; do cat /bin/busybox; done > /dev/shm/f; "
        "md5sum /dev/shm/f")
# other bytes over the second MiB (the first one copied there)
SCRIBBLE = "dd if={0} of={0} bs=1M count=1 seek=1 conv=notrunc 2>/dev/null"
# what both VMs map from the pool at least (their kernels' alike pages
# and the file)
SHARED = 16 * MiB


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path).start()  # sharing across VMs is the default
    yield d
    if d.proc:
        rc = d.stop()
        assert rc == 0, f"daemon exit status {rc}:\n{d.tail()}"


def console(d, name):
    return vm_console(d, name, 180)


def run(c, cmd, pattern, timeout=120):
    """Run cmd on the guest's shell; the first group of pattern."""
    c.send(cmd + "; echo done-$?\r")
    c.expect(pattern, timeout=timeout * TIME_SCALE)
    found = c.match.group(1)
    c.expect(r"done-(\d+)", timeout=timeout * TIME_SCALE)
    assert c.match.group(1) == "0", cmd
    return found


def md5(c, path):
    return run(c, f"md5sum {path}", r"\b([0-9a-f]{32})\s+" + re.escape(path))


def mem(api, name):
    return api.ok("GET", f"/v1/vms/{name}/stats")["memory"]


def test_identical_pages_shared_across_vms(daemon, guest):
    api = daemon.api()
    for name in VMS:
        # two vCPUs: a COW break on one must reach the other's TLB,
        # which may cache reads of the pool frame
        api.ok("POST", "/v1/vms", guest_definition(guest, name,
                                                   memory="256M", cpus=2))
        api.ok("POST", f"/v1/vms/{name}/start")
    cons = {}
    sums = {}
    for name in VMS:
        cons[name] = console(daemon, name)
        cons[name].expect(MARKER)
    for name in VMS:
        sums[name] = run(cons[name], FILL, r"\b([0-9a-f]{32})\s+/dev/shm/f")
    assert sums["sa"] == sums["sb"]

    # the file's pages (and the kernel's alike) end up in the pool,
    # mapped by both VMs: well past what zero pages alone would give
    end = time.monotonic() + 120 * TIME_SCALE
    while True:
        m = {n: mem(api, n) for n in VMS}
        host = api.ok("GET", "/v1/host/stats")["page_sharing"]
        if all(m[n]["pool_shared"] >= SHARED for n in VMS) and \
                host["saved_bytes"] >= SHARED:
            break
        if time.monotonic() > end:
            pytest.fail(f"not shared: {m} {host}\n{daemon.tail()}")
        time.sleep(2)
    assert host["pool_bytes"] > 0 and \
        host["shared_bytes"] >= host["pool_bytes"] + host["saved_bytes"] - 1

    st, text = api.call("GET", "/metrics")
    assert st == 200
    mm = re.search(r'^softvisor_vm_memory_pool_shared_bytes\{vm="sa"\} '
                   r'(\d+)$', text, re.M)
    assert mm and int(mm.group(1)) >= SHARED, text[-3000:]
    mm = re.search(r"^softvisor_host_memory_pool_saved_bytes (\d+)$",
                   text, re.M)
    assert mm and int(mm.group(1)) > 0
    rows = {r["vm"]: r for r in csv.DictReader(io.StringIO(
        daemon.cli("top", "-b", "-m", "-n", "1").stdout))}
    assert int(rows["sb"]["pool_shared"]) >= SHARED, rows

    # reading everything back: the checksums hold on shared frames
    for name in VMS:
        assert md5(cons[name], "/dev/shm/f") == sums[name]
    # writes after sharing: sa rewrites the first 4 MiB of its file with
    # the same bytes; sb overwrites its second MiB with other bytes.
    # Each write lands in a private copy of a shared frame.
    run(cons["sa"], "dd if=/dev/shm/f of=/dev/shm/g bs=1M count=4 "
        "2>/dev/null; dd if=/dev/shm/g of=/dev/shm/f bs=1M conv=notrunc "
        "2>/dev/null; echo x >> /dev/shm/g; md5sum /dev/shm/g",
        r"\b([0-9a-f]{32})\s+/dev/shm/g")
    run(cons["sb"], SCRIBBLE.format("/dev/shm/f") + "; echo ok-$((1+1))",
        r"(ok-2)")
    assert md5(cons["sa"], "/dev/shm/f") == sums["sa"]
    sb_new = md5(cons["sb"], "/dev/shm/f")
    assert sb_new != sums["sb"]
    # sb's own view, recomputed from scratch in the guest, agrees
    ref = run(cons["sb"], "for i in 1 2 3 4; do cat /bin/busybox; done "
              "> /dev/shm/r; " + SCRIBBLE.format("/dev/shm/r") +
              "; md5sum /dev/shm/r", r"\b([0-9a-f]{32})\s+/dev/shm/r")
    assert ref == sb_new
    # and sa's file is still sa's: sb's writes never reached the pool
    assert md5(cons["sa"], "/dev/shm/f") == sums["sa"]

    m2 = {n: mem(api, n) for n in VMS}
    assert m2["sb"]["pool_cow_breaks"] > 0, m2
    assert m2["sa"]["pool_cow_breaks"] > 0, m2
    for c in cons.values():
        c.terminate(force=True)
