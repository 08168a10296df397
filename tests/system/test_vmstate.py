"""VM save/restore to a file (issue 18, docs/vm-state.md).

`softvisor run --save FILE` saves the whole machine (harts, interrupt
controllers, timer, UART, RTC, RAM, virtio-blk, virtio-net and virtio-rng
with their queues) when it gets SIGUSR1 and exits 0; `softvisor run --restore FILE`
with the same options continues that guest where it was: a shell variable,
a tmpfs file and a file on the ext4 disk written before the save are still
there, a disk read loop that ran across the save goes on, the console and
the disk still work and the guest's clock went on without a jump. A
restore with other options, or from a damaged file, is refused with a
message naming what differs.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import SOFTVISOR_BOOT_TIMEOUT, TIME_SCALE, append_line
from conftest import softvisor_argv
from test_virtio import http_server  # noqa: F401 (a fixture)

PROMPT = "softvisor:.*# "
SBIN = "/usr/sbin:/sbin:/usr/bin:/bin"


def uptime(vm):
    vm.send("echo UP $(cut -d' ' -f1 /proc/uptime) UP\n")
    vm.expect(r"UP (\d+\.\d+) UP", timeout=30, what="uptime")
    return float(vm.child.match.group(1))


def boot_and_save(guest, vm_factory, tmp_path, state, memory="256M"):
    disk = tmp_path / "data.ext4"
    shutil.copyfile(guest.data, disk)
    argv = softvisor_argv(guest, append_line(after="shell"), memory=memory,
                          extra=["--save", str(state), "--disk", str(disk),
                                 "--rng"])
    vm = vm_factory(argv, boot_timeout=SOFTVISOR_BOOT_TIMEOUT, name="save-")
    vm.expect_marker()
    vm.expect(PROMPT, timeout=30, what="shell prompt")
    # a marker in a shell variable (guest RAM), in a tmpfs file, on disk
    vm.send("M=sv-marker-$((6*7)); mkdir -p /tmp/t && "
            "mount -t tmpfs none /tmp/t && echo tmpfs-ok > /tmp/t/m && "
            "mount -t ext4 /dev/vda /mnt && echo disk-before > /mnt/b.txt "
            "&& sync && echo SET-$M\n")
    vm.expect("SET-sv-marker-42", timeout=30, what="marker set")
    # disk reads in flight while the VM is saved
    vm.send("(while :; do cat /dev/vda >/dev/null; "
            "echo 3 >/proc/sys/vm/drop_caches; done) & B=$!\n")
    time.sleep(1)
    before = uptime(vm)
    os.kill(vm.child.pid, signal.SIGUSR1)
    vm.expect(r"VM state saved to .* \((\d+) bytes", timeout=60,
              what="saved")
    size = int(vm.child.match.group(1))
    assert vm.wait_exit(timeout=30) == 0
    assert state.stat().st_size == size
    assert not os.path.exists(str(state) + ".tmp")
    return argv, before, disk


def sbin_tool(name):
    path = shutil.which(name, path=SBIN)
    if not path:
        pytest.skip(f"{name} not installed (e2fsprogs)")
    return path


def test_save_restore_continues_the_guest(guest, vm_factory, tmp_path):
    e2fsck = sbin_tool("e2fsck")
    debugfs = sbin_tool("debugfs")
    state = tmp_path / "vm.state"
    argv, before, disk = boot_and_save(guest, vm_factory, tmp_path, state)
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
    # the disk: the read loop still runs, the file written before the
    # save is there, a new one goes to the image; virtio-rng still serves
    vm.send("kill -0 $B && kill $B; wait $B; cat /mnt/b.txt && "
            "echo disk-after > /mnt/a.txt && sync && "
            "echo 3 >/proc/sys/vm/drop_caches && cat /mnt/a.txt && "
            "echo RNG $(head -c 16 /dev/hwrng | wc -c) && umount /mnt && "
            "echo DISK-DONE\n")
    vm.expect("disk-before", timeout=60, what="disk file from before")
    vm.expect("disk-after", timeout=60, what="disk file from after")
    vm.expect("RNG 16", timeout=30, what="virtio-rng after restore")
    vm.expect("DISK-DONE", timeout=30, what="umount")
    vm.send("exit\n")
    assert vm.wait_exit(timeout=60) == 0
    fsck = subprocess.run([e2fsck, "-fn", str(disk)], capture_output=True,
                          text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    cat = subprocess.run([debugfs, "-R", "cat /a.txt", str(disk)],
                         capture_output=True, text=True)
    assert cat.stdout == "disk-after\n", cat.stdout + cat.stderr


def test_restore_refuses_mismatch_and_damage(guest, vm_factory, tmp_path):
    state = tmp_path / "vm.state"
    argv, _, disk = boot_and_save(guest, vm_factory, tmp_path, state)
    argv512 = [a if a != "256M" else "512M" for a in argv]

    # without the disk
    i = argv.index("--disk")
    nodisk = argv[:i] + argv[i + 2:]
    vm = vm_factory(nodisk + ["--restore", str(state)], name="no-disk-")
    vm.expect("saved with 2 virtio devices, this VM has 1", timeout=30)
    assert vm.wait_exit(timeout=30) == 2

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


def test_qmp_migrate_to_file(guest, vm_factory, tmp_path):
    """QMP stop + migrate "file:PATH" + cont: the guest goes on, and the
    file restores the state it had at the migrate."""
    from qmp_client import Qmp, wait_qmp_socket

    state = tmp_path / "qmp.state"
    qmp_path = tmp_path / "vm.qmp"
    # QMP names a path: the sandboxed VM process cannot create it
    argv = softvisor_argv(guest, append_line(after="shell"), memory="256M",
                          extra=["--sandbox", "off",
                                 "--qmp", f"unix:{qmp_path}"])
    vm = vm_factory(argv, boot_timeout=SOFTVISOR_BOOT_TIMEOUT, name="qmp-")
    vm.expect_marker()
    vm.expect(PROMPT, timeout=30, what="shell prompt")
    vm.send("N=qmp-$((5*5)); echo SET-$N\n")
    vm.expect("SET-qmp-25", timeout=30)
    wait_qmp_socket(qmp_path, vm, 30)
    q = Qmp(qmp_path)
    q.ok("qmp_capabilities")
    q.ok("stop")
    assert q.ok("query-status")["status"] == "paused"
    r = q.cmd("migrate", uri="exec:cat > /dev/null")
    assert "only file:PATH" in r["error"]["desc"], r
    q.ok("migrate", uri=f"file:{state}")
    assert state.stat().st_size > 0
    assert q.ok("query-status")["status"] == "paused"
    q.ok("cont")
    vm.send("N=changed; echo NOW-$N\n")
    vm.expect("NOW-changed", timeout=30, what="guest after cont")
    q.ok("quit")
    q.close()
    assert vm.wait_exit(timeout=30) == 0

    vm = vm_factory(argv + ["--restore", str(state)], name="qmp-restore-")
    vm.send("echo GOT-$N\n")
    vm.expect("GOT-qmp-25", timeout=30, what="state at the migrate")
    vm.send("exit\n")
    assert vm.wait_exit(timeout=60) == 0


def test_save_refused_keeps_the_vm(guest, vm_factory, tmp_path):
    """A device that cannot save its state yet (virtio-balloon): SIGUSR1
    says so and the VM goes on; no file is left behind."""
    state = tmp_path / "vm.state"
    argv = softvisor_argv(guest, append_line(after="shell"), memory="256M",
                          extra=["--save", str(state), "--balloon"])
    vm = vm_factory(argv, boot_timeout=SOFTVISOR_BOOT_TIMEOUT, name="nosave-")
    vm.expect_marker()
    vm.expect(PROMPT, timeout=30, what="shell prompt")
    os.kill(vm.child.pid, signal.SIGUSR1)
    vm.expect(r"save: virtio-balloon \(virtio slot 0\) cannot save its "
              r"state yet", timeout=30)
    vm.send("echo STILL-$((2*21))\n")
    vm.expect("STILL-42", timeout=30, what="guest after the refused save")
    assert not state.exists()
    assert not os.path.exists(str(state) + ".tmp")
    vm.send("exit\n")
    assert vm.wait_exit(timeout=60) == 0


def test_save_restore_with_network(guest, vm_factory, tmp_path,
                                   http_server):
    """virtio-net over user-mode NAT: the receive buffers the device holds
    go back to the queue at the save and are used after the restore; the
    guest's network configuration survives and it fetches a file from a
    host HTTP server on loopback through the NAT (a fresh NAT: connections
    open at the save do not survive)."""
    port, root = http_server
    content = b"".join(hashlib.sha256(i.to_bytes(4, "little")).digest()
                       for i in range(4096))
    (root / "file.txt").write_bytes(content)
    state = tmp_path / "net.state"
    argv = softvisor_argv(guest, append_line(after="shell"), memory="256M",
                          extra=["--save", str(state), "--net", "user"])
    vm = vm_factory(argv, boot_timeout=SOFTVISOR_BOOT_TIMEOUT, name="net-")
    vm.expect_marker()
    vm.expect(PROMPT, timeout=30, what="shell prompt")
    vm.send("ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && "
            "ip route add default via 10.0.2.2 && "
            f"wget -q -O /tmp/a http://10.0.2.2:{port}/file.txt && "
            "echo NET-$(wc -c </tmp/a)\n")
    vm.expect(f"NET-{len(content)}", timeout=60, what="fetch before")
    os.kill(vm.child.pid, signal.SIGUSR1)
    vm.expect("VM state saved to", timeout=60, what="saved")
    assert vm.wait_exit(timeout=30) == 0

    vm = vm_factory(argv + ["--restore", str(state)], name="net-restore-")
    vm.send(f"wget -q -O /tmp/b http://10.0.2.2:{port}/file.txt && "
            "md5sum /tmp/b\n")
    vm.expect(f"{hashlib.md5(content).hexdigest()}  /tmp/b", timeout=60,
              what="fetch after restore")
    vm.send("exit\n")
    assert vm.wait_exit(timeout=60) == 0


# ---- the NIC announces itself after a restore ------------------------------------

# Runs in the test's network namespace: prints "READY", then one line per
# ARP (0x0806) or RARP (0x8035) frame seen on br0 ("TYPE SRC HEX"), until
# 5 RARP frames and one gratuitous ARP (sender IP == target IP) from MAC
# were seen or the deadline (argv: MAC, seconds) passed.
CAPTURE = r"""
import socket, sys, time
mac = bytes.fromhex(sys.argv[1].replace(':', ''))
end = time.monotonic() + float(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(("br0", 0))
s.settimeout(0.2)
print("READY", flush=True)
rarp = garp = 0
while time.monotonic() < end and (rarp < 5 or not garp):
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    t = f[12:14]
    if t not in (b"\x80\x35", b"\x08\x06") or f[6:12] != mac:
        continue
    print(t.hex(), f[6:12].hex(), f[:60].hex(), flush=True)
    if t == b"\x80\x35":
        rarp += 1
    elif f[28:32] == f[38:42]:
        garp += 1
"""


@pytest.fixture
def bridge_ns():
    """A network namespace with a Linux bridge br0 at 10.77.0.254/24."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a network namespace")
    ns = f"svstate{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        for cmd in (["link", "set", "lo", "up"],
                    ["link", "add", "br0", "type", "bridge"],
                    ["addr", "add", "10.77.0.254/24", "dev", "br0"],
                    ["link", "set", "br0", "up"]):
            subprocess.run(["ip", "-n", ns] + cmd, check=True)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns])


def test_restore_announces_the_nic(guest, vm_factory, tmp_path, bridge_ns):
    """After `run --restore` the NIC announces itself on the wire: a VM on
    a switch whose uplink is a bridge in a namespace is saved and
    restored; on that bridge the host's RARP frames (ethertype 0x8035,
    source and both hardware addresses the NIC's MAC, opcode 3) arrive,
    and the guest's own gratuitous ARP for its address, because its
    virtio_net negotiated VIRTIO_NET_F_GUEST_ANNOUNCE and answered the
    config interrupt (the control queue's ANNOUNCE_ACK). The guest's
    network works before and after (its receive filter, set up through the
    control queue, lets the replies in)."""
    exe = os.environ.get("SOFTVISOR")
    mac = "52:54:00:77:03:01"
    sock = tmp_path / "ann.sock"
    state = tmp_path / "ann.state"
    sw = subprocess.Popen(["ip", "netns", "exec", bridge_ns, exe, "switch",
                           "serve", "ann0", "--socket", str(sock),
                           "--uplink", "bridge=br0"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    cap = None
    try:
        line = sw.stdout.readline()
        assert "listening on" in line, sw.stderr.read()
        argv = softvisor_argv(guest, append_line(after="shell"),
                              memory="256M",
                              extra=["--save", str(state), "--net",
                                     f"switch={sock},mac={mac}"])
        vm = vm_factory(argv, boot_timeout=SOFTVISOR_BOOT_TIMEOUT,
                        name="announce-")
        vm.expect_marker()
        vm.expect(PROMPT, timeout=30, what="shell prompt")
        vm.send("ip link set eth0 up && ip addr add 10.77.0.31/24 dev eth0"
                " && ping -c 1 -w 30 10.77.0.254 >/dev/null && echo NET-OK\n")
        vm.expect("NET-OK", timeout=60, what="ping before the save")
        os.kill(vm.child.pid, signal.SIGUSR1)
        vm.expect("VM state saved to", timeout=60, what="saved")
        assert vm.wait_exit(timeout=30) == 0

        cap = subprocess.Popen(["ip", "netns", "exec", bridge_ns,
                                "/usr/bin/python3", "-c", CAPTURE, mac,
                                str(60 * TIME_SCALE)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        assert cap.stdout.readline().strip() == "READY", cap.stderr.read()
        vm = vm_factory(argv + ["--restore", str(state)], name="announce-r-")
        out, err = cap.communicate(timeout=90 * TIME_SCALE)
        frames = [ln.split() for ln in out.splitlines() if ln.strip()]
        want = mac.replace(":", "")
        rarps = [bytes.fromhex(f[2]) for f in frames if f[0] == "8035"]
        garps = [bytes.fromhex(f[2]) for f in frames if f[0] == "0806"]
        assert rarps, f"no RARP from {mac} after the restore: {out} {err}"
        assert len(rarps) <= 5, out
        for f in rarps:
            assert f[0:6] == b"\xff" * 6                 # broadcast
            assert f[6:12].hex() == want                # source
            assert f[14:22] == bytes([0, 1, 8, 0, 6, 4, 0, 3])
            assert f[22:28].hex() == want and f[32:38].hex() == want
        ip = bytes([10, 77, 0, 31])
        assert any(f[28:32] == ip and f[38:42] == ip and
                   f[22:28].hex() == want for f in garps), \
            f"no gratuitous ARP from the guest: {out}"
        vm.send("ping -c 1 -w 30 10.77.0.254 >/dev/null && echo NET-AGAIN\n")
        vm.expect("NET-AGAIN", timeout=60, what="ping after the restore")
        vm.send("exit\n")
        assert vm.wait_exit(timeout=60) == 0
    finally:
        if cap and cap.poll() is None:
            cap.kill()
            cap.wait()
        sw.terminate()
        sw.wait(timeout=10)
