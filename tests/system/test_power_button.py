"""The power button: QMP system_powerdown asks the guest to shut down (issue 6).

`softvisor run --power-button` gives the guest a virtio-input device,
"Softvisor Power Button" (docs/shutdown.md). QMP `system_powerdown` presses
it; Debian's virtio_input and evdev drivers deliver KEY_POWER and the test
guest's /init (docs/guest-image.md) prints SOFTVISOR-POWER-BUTTON, unmounts
what is mounted and powers off: softvisor exits 0. The guest sits in its
interactive shell with the ext4 data disk mounted read-write and a file
written, so the test also proves the shutdown is clean (the file system is
unmounted: e2fsck finds it clean, the file is there). Without the device
the command fails and the VM keeps running.
"""

import shutil
import subprocess
import time

import pytest

from qmp_client import Qmp, wait_qmp_socket
from conftest import SOFTVISOR_BOOT_TIMEOUT, TIME_SCALE, append_line, \
    softvisor_argv

PROMPT = "softvisor:.*# "
BUTTON = "SOFTVISOR-POWER-BUTTON"
SBIN = "/usr/sbin:/sbin:/usr/bin:/bin"
# From the press to the exit of the softvisor process.
SHUTDOWN_BOUND = 30


def wait_qmp(path, vm, timeout=30):
    wait_qmp_socket(path, vm, timeout)
    q = Qmp(path)
    assert "QMP" in q.greeting, q.greeting
    assert q.cmd("qmp_capabilities") == {"return": {}}
    return q


def sbin_tool(name):
    path = shutil.which(name, path=SBIN)
    if not path:
        pytest.skip(f"{name} not installed (e2fsprogs)")
    return path


def boot(guest, vm_factory, tmp_path, script=None, extra=()):
    qmp_path = tmp_path / "vm.qmp"
    argv = softvisor_argv(guest, append_line(script, after="shell"),
                          extra=["--qmp", f"unix:{qmp_path}", *extra])
    vm = vm_factory(argv, boot_timeout=SOFTVISOR_BOOT_TIMEOUT,
                    name="power-")
    vm.expect_marker()
    return vm, wait_qmp(qmp_path, vm)


def test_power_button_shuts_the_guest_down(guest, vm_factory, tmp_path):
    e2fsck = sbin_tool("e2fsck")
    debugfs = sbin_tool("debugfs")
    disk = tmp_path / "data.ext4"
    shutil.copyfile(guest.data, disk)
    script = ("mount -t ext4 /dev/vda /mnt && "
              "echo pressed > /mnt/pb.txt && grep -c '^/dev/vda' /proc/mounts")
    vm, q = boot(guest, vm_factory, tmp_path, script,
                 extra=["--power-button", "--disk", str(disk)])
    lines, status = vm.run_result()
    assert status == 0 and lines[-1:] == ["1"], (lines, status)
    vm.expect(PROMPT, timeout=60, what="shell prompt")

    names = [c["name"] for c in q.cmd("query-commands")["return"]]
    assert "system_powerdown" in names
    t0 = time.monotonic()
    assert q.cmd("system_powerdown") == {"return": {}}
    assert q.event("POWERDOWN")["event"] == "POWERDOWN"
    vm.expect(BUTTON, timeout=SHUTDOWN_BOUND, what=BUTTON)
    assert vm.wait_exit(timeout=SHUTDOWN_BOUND) == 0
    took = time.monotonic() - t0
    assert took < SHUTDOWN_BOUND * TIME_SCALE, took
    q.close()

    # /init unmounted the disk: clean, and the write reached it.
    fsck = subprocess.run([e2fsck, "-fn", str(disk)], capture_output=True,
                          text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    cat = subprocess.run([debugfs, "-R", "cat /pb.txt", str(disk)],
                         capture_output=True, text=True)
    assert cat.stdout == "pressed\n", cat.stdout + cat.stderr


def test_early_presses_do_not_break_boot(guest, vm_factory,
                                                   tmp_path):
    """A press during boot waits in the device (its bounded queue) and the
    driver delivers it; the guest may or may not be listening yet, so only
    the device side is checked: the VM boots and the counters add up."""
    qmp_path = tmp_path / "vm.qmp"
    argv = softvisor_argv(guest, append_line("true", after="shell"),
                          extra=["--qmp", f"unix:{qmp_path}",
                                 "--power-button"])
    vm = vm_factory(argv, boot_timeout=SOFTVISOR_BOOT_TIMEOUT,
                    name="early-")
    q = wait_qmp(qmp_path, vm)
    for _ in range(10):  # more than the queue holds (8 presses)
        assert q.cmd("system_powerdown") == {"return": {}}
    st = q.cmd("query-stats")["return"]["power-button"]
    assert st["presses"] == 10
    assert st["presses_dropped"] >= 2 or st["events"] > 0, st
    # The guest either shut down on a delivered press, or boots and then
    # honours a new one.
    i = vm.expect(["SOFTVISOR-GUEST-READY", BUTTON],
                  timeout=SOFTVISOR_BOOT_TIMEOUT, what="marker or button")
    if i == 0:
        vm.expect(PROMPT, timeout=60, what="shell prompt")
        assert q.cmd("system_powerdown") == {"return": {}}
        vm.expect(BUTTON, timeout=SHUTDOWN_BOUND, what=BUTTON)
    assert vm.wait_exit(timeout=SHUTDOWN_BOUND) == 0
    q.close()


def test_system_powerdown_without_a_button(guest, vm_factory, tmp_path):
    vm, q = boot(guest, vm_factory, tmp_path)
    vm.expect(PROMPT, timeout=60, what="shell prompt")
    names = [c["name"] for c in q.cmd("query-commands")["return"]]
    assert "system_powerdown" in names
    r = q.cmd("system_powerdown")
    assert r["error"]["class"] == "DeviceNotActive", r
    assert "power-button" in r["error"]["desc"], r
    # Still running: the shell answers.
    vm.send("echo SV-ALIVE=$((40+2))\r")
    vm.expect("SV-ALIVE=42", timeout=30, what="shell answer")
    assert q.cmd("quit") == {"return": {}}
    assert vm.wait_exit(timeout=30) == 0
    q.close()
