"""Per-disk I/O limits under a real guest (issue 16, docs/block.md "I/O
limits").

The guest reads 8 MiB of its data disk with dd while the disk is limited
to throttling.bps-read=2 MiB/s. The period is measured by the guest's
uptime, which runs off the VMM's clock (the RISC-V time counter), so the
ratio of bytes over time is the rate the VMM let through: it must not
exceed the limit (plus the tenth of a second of slack the bucket holds and
rounding), and the read must not have been starved either. Writes to the
same disk are not limited by a read limit. Bad limits are refused before
the guest starts, in one line.
"""

import re

from test_virtio import (assert_one_line_error, boot, data_copy, run_script,
                         sv_fails)

LIMIT = 2 * 1024 * 1024  # bytes per second
BYTES = 8 * 1024 * 1024


def test_bps_read_limit(guest, vm_factory, tmp_path):
    img = data_copy(guest, tmp_path)
    script = ("set -e\n"
              "read t0 rest </proc/uptime\n"
              "dd if=/dev/vda of=/dev/null bs=65536 count=128 2>/dev/null\n"
              "read t1 rest </proc/uptime\n"
              "echo \"READ $t0 $t1\"\n"
              # a write limit is not a read limit: these 4 MiB are free
              "read t0 rest </proc/uptime\n"
              "dd if=/dev/zero of=/dev/vda bs=65536 count=64 seek=128 "
              "conv=fsync 2>/dev/null\n"
              "read t1 rest </proc/uptime\n"
              "echo \"WRITE $t0 $t1\"\n")
    vm = boot(guest, vm_factory, script,
              extra=["--disk",
                     f"{img},format=raw,throttling.bps-read={LIMIT}"])
    lines, status = run_script(vm, timeout=120)
    out = "\n".join(lines)
    assert status == 0, out
    assert vm.wait_exit() == 0
    m = re.search(r"READ ([0-9.]+) ([0-9.]+)", out)
    assert m, out
    secs = float(m.group(2)) - float(m.group(1))
    # At most the limit, over the whole read: the bucket lets 0.1 s of the
    # limit through at once and a 64 KiB request may overshoot; uptime has
    # 10 ms steps. Generous: 3.5 s for 4 s of data.
    assert secs >= (BYTES - LIMIT / 10 - 65536) / LIMIT - 0.3, out
    assert BYTES / secs <= LIMIT * 1.2, out
    # Not starved: the limit is reached within a wide margin (a slow host
    # only makes the guest slower, never the bucket faster).
    assert secs < 60, out
    m = re.search(r"WRITE ([0-9.]+) ([0-9.]+)", out)
    assert m, out


def test_bad_limits_refused(guest, tmp_path):
    img = data_copy(guest, tmp_path)
    status, err = sv_fails(guest, tmp_path, [
        "--disk", f"{img},format=raw,throttling.bps-total=1,"
        "throttling.bps-read=1"])
    assert_one_line_error(status, err, "throttling.bps-total",
                          "cannot be combined")
    status, err = sv_fails(guest, tmp_path, [
        "--disk", f"{img},format=raw,throttling.iops-max=10"])
    assert_one_line_error(status, err, "unknown option throttling.iops-max")
