"""Memory compression and hypervisor swap (issue 15, docs/memory.md,
"Compression and swap").

A 512 MiB guest runs with --mem-limit 96M and a swap file, and writes
about 230 MiB to tmpfs: 100 copies of `seq 1 200000` (text: its pages
compress) and 100 copies of 1 MiB from /dev/urandom (its pages do not:
they go to the swap file). Both files must read back intact (the text
against a checksum computed here on the host, the random one against the
same 100 copies streamed again), the scanner must have compressed, swapped
and brought pages back, and the host RSS of the VM process must stay near
the limit instead of growing by what the guest touched.
"""

import hashlib
import re

from test_balloon import MiB, boot, mem_stats, shell, vm_rss, wait_until

LIMIT = 96 * MiB
COPIES = 100
# What the VM process holds besides guest RAM (binary, JIT code cache,
# device buffers, the compressed store) and the throttle's slack (an
# eighth of the limit) while the guest writes.
RSS_SLACK = 64 * MiB


def text_md5():
    """md5 of COPIES copies of `seq 1 200000` (what the guest writes)."""
    chunk = "".join(f"{k}\n" for k in range(1, 200001)).encode()
    h = hashlib.md5()
    for _ in range(COPIES):
        h.update(chunk)
    return h.hexdigest()


def test_pages_compressed_and_swapped_come_back(guest, vm_factory, tmp_path):
    swap = tmp_path / "vm.swap"
    swap.write_bytes(b"stale content of a previous run")
    vm, q = boot(guest, vm_factory, tmp_path, merge="on",
                 extra=["--mem-limit", "96M", "--mem-swap", str(swap)])
    s = mem_stats(q)
    assert s["limit_frames"] * 4096 == LIMIT, s
    rss_boot = vm_rss(vm)

    out, st = shell(vm, "mkdir -p /tmp/fill && "
                    "mount -t tmpfs -o size=450m tmpfs /tmp/fill && "
                    "seq 1 200000 > /tmp/c && "
                    "dd if=/dev/urandom of=/tmp/r bs=1M count=1 2>/dev/null"
                    f" && for i in $(seq {COPIES}); do cat /tmp/c; done "
                    "> /tmp/fill/text && "
                    f"for i in $(seq {COPIES}); do cat /tmp/r; done "
                    "> /tmp/fill/rand", timeout=300)
    assert st == 0, out
    rss_written = vm_rss(vm)

    def reclaimed():
        s = mem_stats(q)
        return (s["frames_compressed"] * 4096 >= 32 * MiB and
                s["frames_swapped"] * 4096 >= 32 * MiB and
                s["frames_private"] * 4096 <= LIMIT + 4 * MiB), s

    s = wait_until("the VM back at its limit", reclaimed, 60, vm)
    rss_limit = vm_rss(vm)
    print(f"RSS after boot {rss_boot / MiB:.0f} MiB, after writing "
          f"{2 * COPIES} MiB+ {rss_written / MiB:.0f} MiB, settled "
          f"{rss_limit / MiB:.0f} MiB; compressed "
          f"{s['frames_compressed'] * 4096 / MiB:.0f} MiB into "
          f"{s['bytes_compressed'] / MiB:.1f} MiB, swapped "
          f"{s['frames_swapped'] * 4096 / MiB:.0f} MiB (file "
          f"{swap.stat().st_size / MiB:.0f} MiB)")
    assert rss_written <= LIMIT + LIMIT // 8 + RSS_SLACK, rss_written
    assert rss_limit <= LIMIT + RSS_SLACK, rss_limit
    assert s["bytes_compressed"] * 2 <= s["frames_compressed"] * 4096, s
    assert swap.stat().st_size <= s["frames_swapped"] * 4096 * 2, s

    # Both files read back intact: every page comes back on access.
    out, st = shell(vm, "md5sum /tmp/fill/text /tmp/fill/rand && "
                    f"for i in $(seq {COPIES}); do cat /tmp/r; done | "
                    "md5sum", timeout=300)
    assert st == 0, out
    sums = dict((name, h) for h, name in
                re.findall(r"([0-9a-f]{32})\s+(/tmp/fill/\w+|-)", out))
    assert sums.get("/tmp/fill/text") == text_md5(), out
    assert sums.get("/tmp/fill/rand") == sums.get("-"), out
    after = mem_stats(q)
    assert after["decompressions"] > s["decompressions"], after
    assert after["swap_ins"] > s["swap_ins"], after
    rss_read = vm_rss(vm)
    print(f"read back: RSS {rss_read / MiB:.0f} MiB; stats {after}")
    assert rss_read <= LIMIT + LIMIT // 8 + RSS_SLACK, rss_read

    out, st = shell(vm, "rm /tmp/fill/* && umount /tmp/fill")
    assert st == 0, out
    q.ok("quit")
    assert vm.wait_exit(timeout=30) == 0
