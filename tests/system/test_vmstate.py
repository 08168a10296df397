"""VM save/restore to a file (issue 18, docs/vm-state.md).

`softvisor run --save FILE` saves the whole machine (harts, interrupt
controllers, timer, UART, RTC, RAM) when it gets SIGUSR1 and exits 0;
`softvisor run --restore FILE` with the same options continues that guest
where it was: a shell variable and a tmpfs file written before the save are
still there, the console still works and the guest's clock went on without
a jump. A restore with other options, or from a damaged file, is refused
with a message naming what differs.
"""

import os
import re
import signal
import time

from conftest import SOFTVISOR_BOOT_TIMEOUT, append_line, softvisor_argv

PROMPT = "softvisor:.*# "


def uptime(vm):
    vm.send("echo UP $(cut -d' ' -f1 /proc/uptime) UP\n")
    vm.expect(r"UP (\d+\.\d+) UP", timeout=30, what="uptime")
    return float(vm.child.match.group(1))


def boot_and_save(guest, vm_factory, tmp_path, state, memory="256M"):
    argv = softvisor_argv(guest, append_line(after="shell"), memory=memory,
                          extra=["--save", str(state)])
    vm = vm_factory(argv, boot_timeout=SOFTVISOR_BOOT_TIMEOUT, name="save-")
    vm.expect_marker()
    vm.expect(PROMPT, timeout=30, what="shell prompt")
    # a marker in a shell variable (guest RAM) and in a tmpfs file
    vm.send("M=sv-marker-$((6*7)); mkdir -p /tmp/t && "
            "mount -t tmpfs none /tmp/t && echo tmpfs-ok > /tmp/t/m; "
            "echo SET-$M\n")
    vm.expect("SET-sv-marker-42", timeout=30, what="marker set")
    before = uptime(vm)
    os.kill(vm.child.pid, signal.SIGUSR1)
    vm.expect(r"VM state saved to .* \((\d+) bytes", timeout=60,
              what="saved")
    size = int(vm.child.match.group(1))
    assert vm.wait_exit(timeout=30) == 0
    assert state.stat().st_size == size
    assert not os.path.exists(str(state) + ".tmp")
    return argv, before


def test_save_restore_continues_the_guest(guest, vm_factory, tmp_path):
    state = tmp_path / "vm.state"
    argv, before = boot_and_save(guest, vm_factory, tmp_path, state)
    # 256 MiB of RAM, most of it never written: zero pages are skipped
    assert state.stat().st_size < 200 << 20

    t0 = time.monotonic()
    vm = vm_factory(argv + ["--restore", str(state)],
                    boot_timeout=SOFTVISOR_BOOT_TIMEOUT, name="restore-")
    vm.send("echo GOT-$M-$(cat /tmp/t/m)\n")
    vm.expect("GOT-sv-marker-42-tmpfs-ok", timeout=30,
              what="marker after restore")
    after = uptime(vm)
    took = time.monotonic() - t0
    # the guest's clock continues: no step back, no jump over the time
    # the VM was saved
    assert before <= after <= before + took + 5, (before, after, took)
    # the shell still works: a pipeline, a fork, the timer (sleep)
    vm.send("sleep 1; seq 1 100 | awk '{s+=$1} END {print \"SUM\" s}'\n")
    vm.expect("SUM5050", timeout=30, what="pipeline after restore")
    vm.send("exit\n")
    assert vm.wait_exit(timeout=60) == 0


def test_restore_refuses_mismatch_and_damage(guest, vm_factory, tmp_path):
    state = tmp_path / "vm.state"
    argv, _ = boot_and_save(guest, vm_factory, tmp_path, state)
    argv512 = [a if a != "256M" else "512M" for a in argv]

    vm = vm_factory(argv512 + ["--restore", str(state)], name="bad-mem-")
    vm.expect("saved with 256 MiB of RAM, this VM has 512 MiB", timeout=30)
    assert vm.wait_exit(timeout=30) == 2

    data = bytearray(state.read_bytes())
    # a flipped byte in the middle (inside a RAM section)
    bad = tmp_path / "bad.state"
    mid = len(data) // 2
    data[mid] ^= 0x40
    bad.write_bytes(bytes(data))
    vm = vm_factory(argv + ["--restore", str(bad)], name="bad-crc-")
    vm.expect(r"section ram/\d+: CRC mismatch", timeout=30)
    assert vm.wait_exit(timeout=30) == 2

    # cut short
    data[mid] ^= 0x40
    bad.write_bytes(bytes(data[:mid]))
    vm = vm_factory(argv + ["--restore", str(bad)], name="bad-cut-")
    vm.expect(r"section ram/\d+: truncated", timeout=30)
    assert vm.wait_exit(timeout=30) == 2
