"""virtio-balloon and the QMP control channel with Debian's driver (issue 5).

The guest (512 MiB) first touches most of its RAM, then the host asks it
over QMP (docs/qmp.md) to keep only half: query-balloon must report the new
size and the host RSS of the softvisor process must fall by at least 40 % of
the guest RAM. Deflating gives the memory back and the guest can use it
again. Also: query-stats, malformed JSON and quit.

The guest runs its interactive shell (sv.after=shell) so that the test can
act between the guest's steps; the host RSS is VmRSS of
/proc/<softvisor pid>/status.
"""

import re
import subprocess
import time

import pytest

from qmp_client import Qmp, wait_qmp_socket
from conftest import SOFTVISOR_BOOT_TIMEOUT, append_line, softvisor_argv

MiB = 1 << 20
RAM = 512 * MiB
FILL_MIB = 300  # what the guest writes to tmpfs to touch its RAM
# A file bigger than the guest's free RAM: the page cache then holds every
# free page, so the balloon must reclaim touched pages only.
CACHE_MIB = 480
PROMPT = "softvisor:.*# "


def vm_rss(vm):
    """Host resident set size of the VM process in bytes."""
    with open(f"/proc/{vm.vm_pid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def ram_rss(vm, size):
    """Host RSS in bytes of the VM process's guest RAM: the mapping of its
    memfd (softvisor-ram), exactly `size` bytes (src/mem/gmem.c maps RAM
    in one piece and never splits it). Unlike VmRSS it leaves out what the process
    holds besides guest RAM (and a sanitizer's shadow and quarantine)."""
    found = None
    with open(f"/proc/{vm.vm_pid()}/smaps") as f:
        cur = None
        for line in f:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(\S*)",
                         line)
            if m:
                start, end = int(m.group(1), 16), int(m.group(2), 16)
                cur = end - start == size and \
                    m.group(3).startswith("/memfd:softvisor-ram")
            elif cur and line.startswith("Rss:"):
                assert found is None, "two mappings of the guest RAM's size"
                found = int(line.split()[1]) * 1024
    assert found is not None, f"no {size}-byte mapping in smaps"
    return found


def boot(guest, vm_factory, tmp_path, extra=(), merge="off"):
    """Page sharing is off unless asked for: the balloon tests fill RAM
    with zeros, which the scanner would share away."""
    qmp_path = tmp_path / "vm.qmp"
    argv = softvisor_argv(guest, append_line(None, after="shell"),
                          memory="512M",
                          extra=["--balloon", "--qmp", f"unix:{qmp_path}",
                                 "--mem-merge", merge, *extra])
    vm = vm_factory(argv, boot_timeout=SOFTVISOR_BOOT_TIMEOUT,
                    name="balloon-")
    vm.expect_marker()
    vm.expect(PROMPT, timeout=60, what="shell prompt")
    wait_qmp_socket(qmp_path, vm)
    q = Qmp(qmp_path)
    assert "QMP" in q.greeting, q.greeting
    assert q.ok("qmp_capabilities") == {}
    return vm, q


def shell(vm, command, timeout=120):
    """Run one command in the guest shell; return its output and status."""
    vm.send(command + "; echo SV-DONE=$?\r")
    vm.expect(r"SV-DONE=(\d+)", timeout=timeout, what=f"end of {command!r}")
    status = int(vm.child.match.group(1))
    out = vm.child.before
    vm.expect(PROMPT, timeout=30, what="shell prompt")
    return out, status


def wait_until(what, pred, timeout, vm, poll=0.25):
    t_end = time.monotonic() + timeout
    last = None
    while time.monotonic() < t_end:
        ok, last = pred()
        if ok:
            return last
        time.sleep(poll)
    pytest.fail(f"timeout waiting for {what} (last: {last}); console:\n"
                f"{vm.tail()}")


def fill(vm, mib=FILL_MIB):
    """Touch mib MiB of guest RAM through tmpfs, then free it in the guest."""
    out, st = shell(vm, "mkdir -p /tmp/fill && "
                    "mount -t tmpfs -o size=450m tmpfs /tmp/fill && "
                    f"dd if=/dev/zero of=/tmp/fill/f bs=1M count={mib} "
                    "2>&1 | tail -1")
    assert st == 0, out
    return out


def unfill(vm):
    out, st = shell(vm, "rm /tmp/fill/f && umount /tmp/fill")
    assert st == 0, out


def test_balloon_inflate_releases_host_memory(guest, vm_factory, tmp_path):
    vm, q = boot(guest, vm_factory, tmp_path)
    assert q.ok("query-balloon") == {"actual": RAM}
    rss_boot = vm_rss(vm)

    fill(vm)
    rss_peak = vm_rss(vm)
    assert rss_peak - rss_boot >= (FILL_MIB - 20) * MiB, \
        "the guest did not touch its RAM"
    unfill(vm)
    print(f"RSS after boot {rss_boot / MiB:.0f} MiB, after writing "
          f"{FILL_MIB} MiB to tmpfs {rss_peak / MiB:.0f} MiB, after freeing "
          f"it in the guest {vm_rss(vm) / MiB:.0f} MiB")

    # Inflate: keep half of RAM.
    t0 = time.monotonic()
    assert q.ok("balloon", value=RAM // 2) == {}

    def deflated_to_half():
        a = q.ok("query-balloon")["actual"]
        return abs(a - RAM // 2) <= 4 * MiB, a

    actual = wait_until("query-balloon ~256 MiB", deflated_to_half, 120, vm)

    def rss_dropped():
        r = vm_rss(vm)
        return rss_peak - r >= 0.4 * RAM, r

    rss_low = wait_until("host RSS to drop by 40 % of RAM", rss_dropped, 60,
                         vm)
    print(f"inflated in {time.monotonic() - t0:.1f} s: actual "
          f"{actual / MiB:.0f} MiB, RSS {rss_low / MiB:.0f} MiB "
          f"(-{(rss_peak - rss_low) / MiB:.0f} MiB)")
    out, st = shell(vm, "grep MemTotal /proc/meminfo")
    assert st == 0

    stats = q.ok("query-stats", device="balloon")["balloon"]
    assert stats["inflated_pages"] >= (RAM // 2 - 4 * MiB) // 4096, stats

    # Deflate: the guest gets all of its RAM back and can use it.
    assert q.ok("balloon", value=RAM) == {}

    def back_to_full():
        a = q.ok("query-balloon")["actual"]
        return a == RAM, a

    wait_until("query-balloon 512 MiB", back_to_full, 120, vm)
    fill(vm)
    rss_again = vm_rss(vm)
    print(f"deflated; after writing {FILL_MIB} MiB again: RSS "
          f"{rss_again / MiB:.0f} MiB")
    # the guest really uses the returned memory again (it may reuse some
    # pages the balloon never took, so not all of FILL_MIB shows up)
    assert rss_again - rss_low >= (FILL_MIB // 2) * MiB
    unfill(vm)
    out, st = shell(vm, "free -m")
    assert st == 0, out
    q.ok("quit")
    assert vm.wait_exit(timeout=30) == 0


@pytest.mark.full
def test_balloon_reclaims_page_cache(guest, vm_factory, tmp_path):
    """Memory the guest still uses (the page cache of a file on an ext4
    disk) is reclaimed by the inflation itself: free page reporting cannot
    release it, only the balloon."""
    disk = tmp_path / "cache.ext4"
    with open(disk, "wb") as f:
        f.truncate(1024 * MiB)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(disk)], check=True)
    vm, q = boot(guest, vm_factory, tmp_path,
                 extra=["--disk", f"{disk},format=raw"])
    rss_boot = vm_rss(vm)
    out, st = shell(vm, "mkdir -p /tmp/d && mount -t ext4 /dev/vda /tmp/d "
                    f"&& dd if=/dev/zero of=/tmp/d/f bs=1M count={CACHE_MIB}"
                    " 2>&1 | tail -1 && sync && grep '^Cached' /proc/meminfo")
    assert st == 0, out
    time.sleep(3)  # whatever free page reporting does, it has done
    rss_peak = vm_rss(vm)
    print(f"RSS after boot {rss_boot / MiB:.0f} MiB, with "
          f"a {CACHE_MIB} MiB file in the page cache {rss_peak / MiB:.0f} MiB")
    assert rss_peak - rss_boot >= 300 * MiB, out

    assert q.ok("balloon", value=RAM // 2) == {}

    def half():
        a = q.ok("query-balloon")["actual"]
        return abs(a - RAM // 2) <= 4 * MiB, a

    wait_until("query-balloon ~256 MiB", half, 120, vm)

    def rss_dropped():
        r = vm_rss(vm)
        return rss_peak - r >= 0.4 * RAM, r

    rss_low = wait_until("host RSS to drop by 40 % of RAM", rss_dropped, 60,
                         vm)
    print(f"RSS after inflating {rss_low / MiB:.0f} MiB")
    # The file is still there and readable (from the disk now).
    out, st = shell(vm, "wc -c </tmp/d/f && umount /tmp/d")
    assert st == 0 and str(CACHE_MIB * MiB) in out, out

    assert q.ok("balloon", value=RAM) == {}

    def full():
        a = q.ok("query-balloon")["actual"]
        return a == RAM, a

    wait_until("query-balloon 512 MiB", full, 120, vm)
    q.ok("quit")
    assert vm.wait_exit(timeout=30) == 0


def test_qmp_stats_errors_and_quit(guest, vm_factory, tmp_path):
    disk = tmp_path / "d.img"
    with open(disk, "wb") as f:
        f.truncate(8 * MiB)
    vm, q = boot(guest, vm_factory, tmp_path,
                 extra=["--disk", f"{disk},format=raw", "--rng"])
    out, st = shell(vm, "dd if=/dev/vda of=/dev/null bs=4k count=100 "
                    "2>/dev/null && head -c 64 /dev/hwrng | wc -c")
    assert st == 0, out

    stats = q.ok("query-stats")
    for dev in ("blk0", "rng", "balloon", "memory"):
        assert dev in stats, stats
        assert all(isinstance(v, int) for v in stats[dev].values()), stats
    assert stats["blk0"]["rd_bytes"] >= 100 * 4096, stats
    assert stats["rng"]["bytes"] >= 64, stats
    assert stats["balloon"]["target_pages"] == 0, stats
    only = q.ok("query-stats", device="rng")
    assert set(only) == {"rng"} and only["rng"]["bytes"] >= 64, only
    r = q.cmd("query-stats", device="nosuch")
    assert r["error"]["class"] == "DeviceNotFound", r

    # Malformed input gets an error reply; the VM and the session go on.
    for bad in (b"{not json\n", b'{"execute": 5}\n', b"[1, 2]\n",
                b'{"execute": "balloon", "arguments": {"value": "x"}}\n',
                b'{"execute": "balloon", "arguments": {"value": -1}}\n',
                b'{"execute": "query-status", "bogus": 1}\n',
                b"\xff\xfe\x00garbage\n"):
        r = q.send_raw(bad)
        assert r["error"]["class"] == "GenericError", (bad, r)
    r = q.cmd("frobnicate")
    assert r["error"]["class"] == "CommandNotFound", r
    assert q.ok("query-balloon") == {"actual": RAM}
    out, st = shell(vm, "echo $((6 * 7))")
    assert st == 0 and "42" in out

    # A second client works alongside the first.
    q2 = Qmp(vm.argv[vm.argv.index("--qmp") + 1][len("unix:"):])
    r = q2.cmd("query-balloon")
    assert r["error"]["class"] == "CommandNotFound", r
    assert q2.ok("qmp_capabilities") == {}
    q2.close()

    assert q.ok("quit") == {}
    assert vm.wait_exit(timeout=30) == 0


def test_balloon_without_device(guest, vm_factory, tmp_path):
    """Without --balloon the balloon commands answer DeviceNotActive."""
    qmp_path = tmp_path / "nb.qmp"
    argv = softvisor_argv(guest, append_line(None, after="shell"),
                          extra=["--qmp", f"unix:{qmp_path}"])
    vm = vm_factory(argv, boot_timeout=SOFTVISOR_BOOT_TIMEOUT, name="nb-")
    vm.expect_marker()
    wait_qmp_socket(qmp_path, vm)
    q = Qmp(qmp_path)
    q.ok("qmp_capabilities")
    for name, args in (("balloon", {"value": RAM}), ("query-balloon", {})):
        r = q.cmd(name, **args)
        assert r["error"]["class"] == "DeviceNotActive", r
    q.ok("quit")
    assert vm.wait_exit(timeout=30) == 0
    assert not qmp_path.exists()


def mem_stats(q):
    return q.ok("query-stats", device="memory")["memory"]


def test_zero_pages_are_shared(guest, vm_factory, tmp_path):
    """Page sharing (docs/memory.md): RAM the guest filled with zeros and
    still holds (a tmpfs file) goes back to the shared zero frame, the host
    RSS falls, the file still reads as zeros, and writing it breaks the
    sharing (copy-on-write) without losing a byte."""
    vm, q = boot(guest, vm_factory, tmp_path, merge="on")
    fill(vm, 200)
    rss_filled = vm_rss(vm)

    def shared_enough():
        s = mem_stats(q)
        return s["frames_zero_shared"] * 4096 >= 150 * MiB, s

    s = wait_until("150 MiB of zero pages shared", shared_enough, 120, vm)
    rss_shared = vm_rss(vm)
    print(f"RSS with 200 MiB of zeros in tmpfs {rss_filled / MiB:.0f} MiB, "
          f"after sharing {rss_shared / MiB:.0f} MiB; stats {s}")
    assert rss_filled - rss_shared >= 100 * MiB

    # The guest still holds the file and it still reads as zeros.
    out, st = shell(vm, "cmp -n 209715200 /tmp/fill/f /dev/zero "
                    "&& echo SAME")
    assert st == 0 and "SAME" in out, out
    # Writing breaks the sharing of what it touches; the data is there.
    out, st = shell(vm, "dd if=/dev/urandom of=/tmp/fill/g bs=1M count=8 "
                    "2>/dev/null && dd if=/tmp/fill/g of=/tmp/fill/f bs=1M "
                    "conv=notrunc 2>/dev/null && cmp -n 8388608 /tmp/fill/f "
                    "/tmp/fill/g && echo SAME")
    assert st == 0 and "SAME" in out, out
    # The scanner may not have reached those 8 MiB yet (it shared 150 of
    # the 200): rewrite the rest of the file too, with zeros, so the
    # writes certainly land on shared frames.
    out, st = shell(vm, "dd if=/dev/zero of=/tmp/fill/f bs=1M seek=8 "
                    "count=192 conv=notrunc 2>/dev/null && echo DONE")
    assert st == 0 and "DONE" in out, out
    after = mem_stats(q)
    assert after["cow_breaks"] > s["cow_breaks"], after
    unfill(vm)
    q.ok("quit")
    assert vm.wait_exit(timeout=30) == 0


@pytest.mark.full
def test_mem_merge_off(guest, vm_factory, tmp_path):
    vm, q = boot(guest, vm_factory, tmp_path)
    fill(vm, 64)
    time.sleep(5)  # five scanner periods
    s = mem_stats(q)
    assert s["frames_zero_shared"] == 0 and s["share_scanned"] == 0, s
    q.ok("quit")
    assert vm.wait_exit(timeout=30) == 0
