"""Memory compression and hypervisor swap (issue 15, docs/memory.md,
"Compression and swap").

A 512 MiB guest runs with --mem-limit 96M and a swap file, and writes
about 230 MiB to tmpfs: 100 copies of `seq 1 200000` (text: its pages
compress) and 100 copies of 1 MiB from /dev/urandom (its pages do not:
they go to the swap file). Both files must read back intact (the text
against a checksum computed here on the host, the random one against the
same 100 copies streamed again), the scanner must have compressed, swapped
and brought pages back, and the host RSS of the guest RAM must stay near
the limit instead of growing by what the guest touched (the whole
process's RSS is printed, not bounded: under ASan its quarantine and
shadow grow with every allocation). A daemon VM with
qos.memory.limit gets compression (no swap file), and /metrics and its
stats show it.
"""

import hashlib
import re
import time

from test_balloon import (MiB, boot, mem_stats, ram_rss, shell, vm_rss,
                          wait_until)

RAM = 512 * MiB
LIMIT = 96 * MiB
COPIES = 100
# The throttle lets the guest run an eighth of the limit ahead of the
# scanner while it writes.
AHEAD = LIMIT // 8
# Pages in flight between the scanner and the guest.
RAM_SLACK = 4 * MiB


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
    ram_boot = ram_rss(vm, RAM)

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
    ram_written = ram_rss(vm, RAM)

    def reclaimed():
        s = mem_stats(q)
        return (s["frames_compressed"] * 4096 >= 32 * MiB and
                s["frames_swapped"] * 4096 >= 32 * MiB and
                s["frames_private"] * 4096 <= LIMIT + 4 * MiB), s

    s = wait_until("the VM back at its limit", reclaimed, 60, vm)
    rss_limit = vm_rss(vm)
    ram_limit = ram_rss(vm, RAM)
    print(f"RSS (guest RAM) after boot {rss_boot / MiB:.0f} "
          f"({ram_boot / MiB:.0f}) MiB, after writing {2 * COPIES} MiB+ "
          f"{rss_written / MiB:.0f} ({ram_written / MiB:.0f}) MiB, settled "
          f"{rss_limit / MiB:.0f} ({ram_limit / MiB:.0f}) MiB; compressed "
          f"{s['frames_compressed'] * 4096 / MiB:.0f} MiB into "
          f"{s['bytes_compressed'] / MiB:.1f} MiB, swapped "
          f"{s['frames_swapped'] * 4096 / MiB:.0f} MiB (file "
          f"{swap.stat().st_size / MiB:.0f} MiB)")
    # guest RAM stays near the limit instead of growing by what the guest
    # touched
    assert ram_written <= LIMIT + AHEAD + RAM_SLACK, ram_written
    assert ram_limit <= LIMIT + RAM_SLACK, ram_limit
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
    ram_read = ram_rss(vm, RAM)
    print(f"read back: RSS {rss_read / MiB:.0f} ({ram_read / MiB:.0f}) MiB;"
          f" stats {after}")
    assert ram_read <= LIMIT + AHEAD + RAM_SLACK, ram_read

    out, st = shell(vm, "rm /tmp/fill/* && umount /tmp/fill")
    assert st == 0, out
    q.ok("quit")
    assert vm.wait_exit(timeout=30) == 0


# A daemon VM with qos.memory.limit: its guest writes 100 MiB of text to
# tmpfs; the worker compresses what goes past the limit and /metrics shows
# it (docs/metrics.md).
DAEMON_SCRIPT = ("mkdir -p /tmp/fill && mount -t tmpfs -o size=200m tmpfs "
                 "/tmp/fill && seq 1 200000 > /tmp/c && "
                 f"for i in $(seq {COPIES}); do cat /tmp/c; done "
                 "> /tmp/fill/text && echo RECLAIM-WROTE\n")


def test_daemon_vm_limit_in_metrics(tmp_path, guest):
    from conftest import TIME_SCALE
    from daemon_util import Daemon, guest_definition
    from test_metrics import parse, scrape, value

    d = Daemon(tmp_path).start()
    try:
        api = d.api()
        defn = guest_definition(guest, "lim", script=DAEMON_SCRIPT,
                                qos={"memory": {"limit": "96M"}})
        api.ok("POST", "/v1/vms", defn)
        api.ok("POST", "/v1/vms/lim/start")

        def compressed():
            st, _, text = scrape(api)
            assert st == 200, text
            m = parse(text)
            c = value(m, "softvisor_vm_memory_compressed_bytes", vm="lim")
            used = (value(m, "softvisor_vm_memory_private_bytes", vm="lim")
                    + value(m, "softvisor_vm_memory_compression_cache_bytes",
                            vm="lim"))
            # without a swap file nothing slows the guest down: it may
            # run past the limit while it writes, then comes back to it
            return c >= 32 * MiB and used <= LIMIT + 8 * MiB, (c, used)

        wait_until_daemon("32 MiB compressed, back at the limit",
                          compressed, 240 * TIME_SCALE)
        _, _, text = scrape(api)
        m = parse(text)
        assert value(m, "softvisor_vm_memory_limit_bytes",
                     vm="lim") == LIMIT
        cache = value(m, "softvisor_vm_memory_compression_cache_bytes",
                      vm="lim")
        assert 0 < cache * 2 <= value(
            m, "softvisor_vm_memory_compressed_bytes", vm="lim")
        assert value(m, "softvisor_vm_memory_private_bytes",
                     vm="lim") + cache <= LIMIT + 8 * MiB
        # the same figures in the VM's stats (docs/api.yaml VmMemoryStats)
        mem = api.ok("GET", "/v1/vms/lim/stats")["memory"]
        assert mem["limit_bytes"] == LIMIT, mem
        assert mem["compressed_bytes"] >= 32 * MiB, mem
        assert 0 < mem["compression_cache_bytes"] * 2 <= \
            mem["compressed_bytes"], mem
        api.ok("POST", "/v1/vms/lim/stop")
    finally:
        d.stop()


def wait_until_daemon(what, pred, timeout):
    t_end = time.monotonic() + timeout
    last = None
    while time.monotonic() < t_end:
        ok, last = pred()
        if ok:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timeout waiting for {what} (last: {last})")


# A daemon VM without a balloon under the memory policy (docs/memory.md
# "The policy loop"): when the host budget shrinks below what it holds,
# its target is all the balloon-less VM may keep, and the worker's
# compressor takes it there; when the budget grows again the limit is
# lifted and what the guest reads comes back.
def test_policy_target_compresses_vm_without_balloon(tmp_path, guest):
    from conftest import TIME_SCALE
    from daemon_util import Daemon, guest_definition
    from test_mem_qos import console

    target = 160 * MiB
    d = Daemon(tmp_path, extra=["--mem-budget", "1G"]).start()
    try:
        api = d.api()
        defn = guest_definition(guest, "nb", memory="512M",
                                script=DAEMON_SCRIPT, mem_merge=False)
        api.ok("POST", "/v1/vms", defn)
        api.ok("POST", "/v1/vms/nb/start")
        c = console(d, "nb")
        c.expect("RECLAIM-WROTE")
        # and pages that do not compress: they go to the VM's swap file,
        # which the daemon makes for every VM
        c.send("dd if=/dev/urandom of=/dev/shm/rnd bs=1M count=32 "
               "2>/dev/null && "
               "md5sum /dev/shm/rnd\r")
        c.expect(r"([0-9a-f]{32})\s+/dev/shm/rnd", timeout=120 * TIME_SCALE)
        rnd_md5 = c.match.group(1)

        def mem():
            return api.ok("GET", "/v1/vms/nb/stats")["memory"]

        m = mem()
        assert not m["balloon"] and m["reclaim_limit"] == 0, m
        assert m["limit_bytes"] == 0 and m["compressed_bytes"] == 0, m
        assert m["private_bytes"] > target + 32 * MiB, m

        api.ok("PATCH", "/v1/host", {"memory_budget": target})

        def compressed():
            m = mem()
            used = m["private_bytes"] + m["compression_cache_bytes"]
            return (m["reclaim_limit"] == target and
                    m["limit_bytes"] == target and
                    m["compressed_bytes"] >= 64 * MiB and
                    m["swapped_bytes"] >= 8 * MiB and
                    used <= target + 8 * MiB), m

        m = wait_until_daemon("compressed toward the 160 MiB target",
                              compressed, 120 * TIME_SCALE)
        assert m["target"] == target and m["beyond_balloon"] > 0, m
        c.send("md5sum /tmp/fill/text\r")
        c.expect(r"([0-9a-f]{32})\s+/tmp/fill/text", timeout=120 * TIME_SCALE)
        assert c.match.group(1) == text_md5()
        c.send("md5sum /dev/shm/rnd\r")
        c.expect(r"([0-9a-f]{32})\s+/dev/shm/rnd", timeout=120 * TIME_SCALE)
        assert c.match.group(1) == rnd_md5
        low = mem()
        assert low["swap_ins"] > 0, low

        # the budget allows it again: the limit goes, pages come back
        api.ok("PATCH", "/v1/host", {"memory_budget": 1024 * MiB})
        # (until the limit goes the reclaimer may still compress what the
        # md5sum's swap-ins brought back over the target: the reference
        # is the figure once it went)
        lifted = wait_until_daemon(
            "the reclaim limit lifted",
            lambda: (lambda m: (m["reclaim_limit"] == 0 and
                                m["limit_bytes"] == 0, m))(mem()),
            30 * TIME_SCALE)
        # the guest may hold more than the old target again: 48 MiB more
        # (the tmpfs holds 200 MiB) stay resident, nothing more is
        # compressed. (dd, not busybox's head -c: run inside the shell's
        # process, head copies byte by byte, a minute for 48 MiB.)
        c.send("dd if=/tmp/fill/text of=/tmp/fill/more bs=1M count=48 "
               "2>/dev/null && md5sum /tmp/fill/text\r")
        c.expect(r"([0-9a-f]{32})\s+/tmp/fill/text", timeout=120 * TIME_SCALE)
        assert c.match.group(1) == text_md5()
        back = mem()
        print(f"low budget: {low}\nlifted: {lifted}\nback: {back}")
        assert back["decompressions"] > 0, back
        assert back["compressed_bytes"] <= lifted["compressed_bytes"], back
        assert (back["private_bytes"] + back["compression_cache_bytes"]
                >= target + 40 * MiB), back
        c.send("echo sum=$((40+2))\r")
        c.expect("sum=42", timeout=60 * TIME_SCALE)
        api.ok("POST", "/v1/vms/nb/stop")
    finally:
        d.stop()
