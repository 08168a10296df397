"""virtio devices of `softvisor run` with Debian's own drivers (issue 5).

Every test boots the Debian guest of tools/guest-image (docs/guest-image.md)
with one sv.run script and checks the result from both sides: virtio-blk
(ext4 read/write checked with debugfs and e2fsck, two disks, serial,
read-only, the image lock between two VMs), virtio-net on user-mode NAT
(DHCP, a host HTTP server through NAT, hostfwd into the guest), virtio-rng
and virtio-console on a unix socket; bad device specs exit 2 without a boot.
Tests that write copy data.ext4 to their temporary directory first; every
network address is on loopback.
"""

import fcntl
import hashlib
import os
import shutil
import socket
import struct
import subprocess
import sys
import time

import pytest

from conftest import (RUN_BEGIN, RUN_EXIT_RE, SOFTVISOR_BOOT_TIMEOUT,
                      append_line, run_script, softvisor_argv)
from daemon_util import free_port

HELLO = "Hello from the Softvisor data disk."
SBIN = "/usr/sbin:/sbin:/usr/bin:/bin"


def boot(guest, vm_factory, script=None, after="poweroff", extra=(),
         name="softvisor-"):
    argv = softvisor_argv(guest, append_line(script, after),
                          extra=[str(a) for a in extra])
    return vm_factory(argv, boot_timeout=SOFTVISOR_BOOT_TIMEOUT, name=name)


def sbin_tool(name):
    path = shutil.which(name, path=SBIN)
    if not path:
        pytest.skip(f"{name} not installed (e2fsprogs)")
    return path


def data_copy(guest, tmp_path, name="data.ext4"):
    """A private copy of the guest's ext4 data disk."""
    dst = tmp_path / name
    shutil.copyfile(guest.data, dst)
    return dst


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sv_fails(guest, tmp_path, extra, timeout=20):
    """Run softvisor with bad options: (exit status, stderr)."""
    argv = softvisor_argv(guest, append_line("true"),
                          extra=["--console", "none", "--timeout", "10"] +
                          [str(a) for a in extra])
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout,
                       cwd=tmp_path)
    return p.returncode, p.stderr


def ofd_lock_type(path):
    """The OFD lock another process holds on the whole file: F_WRLCK,
    F_RDLCK or F_UNLCK (fcntl F_OFD_GETLK; struct flock of 64-bit Linux)."""
    fl = struct.pack("@hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        fl = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, fl)
    finally:
        os.close(fd)
    return struct.unpack("@hhqqi4x", fl)[0]


def assert_one_line_error(status, stderr, *words):
    assert status == 2, f"exit {status}, stderr: {stderr!r}"
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr: {stderr!r}"
    for w in words:
        assert w in lines[0], f"{w!r} not in {lines[0]!r}"


# ---- virtio-blk ------------------------------------------------------------

def test_blk_ext4_read_write(guest, vm_factory, tmp_path):
    """The guest mounts the ext4 disk, reads the host's file, writes one; the
    host reads it back with debugfs and e2fsck finds the image clean."""
    debugfs, e2fsck = sbin_tool("debugfs"), sbin_tool("e2fsck")
    img = data_copy(guest, tmp_path)
    token = f"written by the guest {os.getpid()}"
    script = ("set -e\nmount -t ext4 /dev/vda /mnt\ncat /mnt/hello.txt\n"
              f"echo '{token}' >/mnt/guest.txt\nsync\numount /mnt\n"
              "echo unmounted\n")
    vm = boot(guest, vm_factory, script, extra=["--disk", img])
    out, status = run_script(vm)
    assert status == 0, out
    assert HELLO in out and "unmounted" in out, out
    assert vm.wait_exit() == 0

    p = subprocess.run([debugfs, "-R", "cat /guest.txt", str(img)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=30)
    assert p.stdout == token + "\n", p.stderr
    p = subprocess.run([e2fsck, "-fn", str(img)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=60)
    assert p.returncode == 0, p.stdout


def test_blk_two_disks_and_serial(guest, vm_factory, tmp_path):
    """vda and vdb with their sizes and serials; vdb's first bytes are what
    the host wrote there."""
    img = data_copy(guest, tmp_path)
    second = tmp_path / "second.img"
    with open(second, "wb") as f:
        f.write(b"second-disk-ok\n")
        f.truncate(8 << 20)
    script = ("for d in vda vdb; do echo $d $(cat /sys/block/$d/size) "
              "$(cat /sys/block/$d/serial) $(cat /sys/block/$d/ro); done\n"
              "head -n1 /dev/vdb\n")
    vm = boot(guest, vm_factory, script,
              extra=["--disk", f"{img},format=raw,serial=sv-data-01",
                     "--disk", f"{second},serial=sv-second"])
    out, status = run_script(vm)
    assert status == 0, out
    assert out == [f"vda {16 << 11} sv-data-01 0",
                   f"vdb {8 << 11} sv-second 0", "second-disk-ok"], out
    assert vm.wait_exit() == 0


def test_blk_readonly(guest, vm_factory, tmp_path):
    """readonly=on: the guest sees a read-only disk, writes to the device
    fail, an ext4 mount is read-only, and the image stays unchanged."""
    img = data_copy(guest, tmp_path)
    before = sha256(img)
    script = ("cat /sys/block/vda/ro\n"
              "if dd if=/dev/zero of=/dev/vda bs=4096 count=1 conv=fsync "
              "2>/dev/null; then echo dd-ok; else echo dd-failed; fi\n"
              "mount -t ext4 -o rw /dev/vda /mnt 2>/dev/null\n"
              "cat /mnt/hello.txt\n"
              "if touch /mnt/new 2>/dev/null; then echo touch-ok; "
              "else echo touch-failed; fi\n"
              "umount /mnt\n")
    vm = boot(guest, vm_factory, script,
              extra=["--disk", f"{img},readonly=on"])
    out, status = run_script(vm)
    assert status == 0, out
    assert out == ["1", "dd-failed", HELLO, "touch-failed"], out
    assert vm.wait_exit() == 0
    assert sha256(img) == before


def test_blk_lock_two_vms(guest, vm_factory, tmp_path):
    """A disk open for writing in one VM cannot be opened by a second one
    (writable or read-only): exit 2 naming the disk and the holder. The
    lock is an OFD write lock, and it is gone when the first VM is."""
    img = data_copy(guest, tmp_path)
    first = boot(guest, vm_factory, None, after="shell",
                 extra=["--disk", img], name="first-")
    first.expect_marker()
    holder = first.vm_pid()  # the sandboxed child (docs/security.md)

    for spec, how in [(str(img), "for writing"),
                      (f"{img},readonly=on", "read-only")]:
        # refused before it boots (sv_fails bounds the wait)
        status, err = sv_fails(guest, tmp_path, ["--disk", spec])
        assert_one_line_error(status, err, str(img), "in use", how,
                              f"process {holder}")

    assert ofd_lock_type(img) == fcntl.F_WRLCK

    first.expect("softvisor:.*# ", timeout=60, what="shell prompt")
    first.send("\x01x")
    assert first.wait_exit(timeout=20) == 0
    assert ofd_lock_type(img) == fcntl.F_UNLCK, "lock left behind"


# ---- virtio-net ------------------------------------------------------------

NET_UP = ("ip link set eth0 up\n"
          "udhcpc -i eth0 -n -q -t 5 -s /bin/true 2>&1 | grep -o 'lease of "
          "[0-9.]*'\n"
          "ip addr add 10.0.2.15/24 dev eth0\n"
          "ip route add default via 10.0.2.2\n")


@pytest.fixture
def http_server(tmp_path):
    """A Python HTTP server on 127.0.0.1 serving a directory: (port, dir)."""
    root = tmp_path / "www"
    root.mkdir()
    port = free_port()
    proc = subprocess.Popen(
        ["/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1",
         str(port)], cwd=root, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"http.server on port {port} did not start")
            time.sleep(0.1)
    yield port, root
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_net_dhcp_and_http_through_nat(guest, vm_factory, http_server):
    """eth0 up, a DHCP lease from slirp, then a file from a host HTTP server
    on loopback, fetched through the NAT (10.0.2.2 is the host)."""
    port, root = http_server
    # 256 KiB of incompressible bytes: many segments, windows and ACKs.
    content = b"".join(hashlib.sha256(i.to_bytes(4, "little")).digest()
                       for i in range(8192))
    (root / "file.txt").write_bytes(content)
    script = NET_UP + (f"wget -q -O /tmp/f http://10.0.2.2:{port}/file.txt\n"
                       "wc -c </tmp/f\nmd5sum /tmp/f\n")
    vm = boot(guest, vm_factory, script, extra=["--net", "user"])
    out, status = run_script(vm, timeout=90)
    assert status == 0, out
    md5 = hashlib.md5(content).hexdigest()
    assert out == ["lease of 10.0.2.15", str(len(content)),
                   f"{md5}  /tmp/f"], out
    assert vm.wait_exit() == 0


def test_net_hostfwd_into_guest(guest, vm_factory):
    """hostfwd=tcp:127.0.0.1:HOSTPORT-:8080: a host connection reaches a
    busybox nc listening in the guest and reads its reply."""
    hostport = free_port()
    reply = f"hi-from-guest-{os.getpid()}"
    script = ("ip link set eth0 up\nip addr add 10.0.2.15/24 dev eth0\n"
              "ip route add default via 10.0.2.2\n"
              "echo nc-listening\n"
              f"timeout 60 nc -l -p 8080 -e echo {reply}\n")
    vm = boot(guest, vm_factory, script,
              extra=["--net",
                     f"user,hostfwd=tcp:127.0.0.1:{hostport}-:8080"])
    vm.expect_marker()
    vm.expect(RUN_BEGIN, timeout=60, what=RUN_BEGIN)
    vm.expect("nc-listening", timeout=60, what="nc-listening")

    # nc may not listen yet: slirp then accepts and closes at once. Retry.
    got = b""
    deadline = time.monotonic() + 30
    while reply.encode() not in got and time.monotonic() < deadline:
        got = b""
        try:
            with socket.create_connection(("127.0.0.1", hostport),
                                          timeout=10) as s:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += chunk
        except OSError:
            pass
        if reply.encode() not in got:
            time.sleep(0.5)
    assert got.strip() == reply.encode(), got

    vm.expect(RUN_EXIT_RE, timeout=60, what="SOFTVISOR-RUN-EXIT")
    assert vm.child.match.group(1) == "0", vm.tail()
    assert vm.wait_exit() == 0


# ---- virtio-rng ------------------------------------------------------------

def test_rng(guest, vm_factory):
    """/dev/hwrng is the virtio rng and yields 64 bytes, not all equal."""
    script = ("cat /sys/class/misc/hw_random/rng_current\n"
              "head -c 64 /dev/hwrng | od -An -tx1 -v\n")
    vm = boot(guest, vm_factory, script, extra=["--rng"])
    out, status = run_script(vm)
    assert status == 0, out
    assert "virtio" in out[0], out
    data = bytes.fromhex("".join(out[1:]))
    assert len(data) == 64, out
    assert len(set(data)) > 1, out
    assert vm.wait_exit() == 0


# ---- virtio-console --------------------------------------------------------

def test_virtio_console_unix(guest, vm_factory, tmp_path):
    """--virtio-console unix:PATH: guest writes on /dev/hvc0 arrive on the
    socket, host writes on the socket arrive on /dev/hvc0."""
    path = tmp_path / "hvc.sock"
    script = ("exec 3<>/dev/hvc0\nstty -echo raw <&3\n"
              "echo guest-to-host-ok >&3\n"
              "read -r line <&3\necho \"guest got: $line\"\n")
    vm = boot(guest, vm_factory, script,
              extra=["--virtio-console", f"unix:{path}"])

    # The socket exists once softvisor runs; connect before the guest writes.
    deadline = time.monotonic() + 20
    while not path.exists():
        if time.monotonic() > deadline or not vm.child.isalive():
            pytest.fail(f"{path} did not appear; console:\n{vm.tail()}")
        time.sleep(0.05)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(SOFTVISOR_BOOT_TIMEOUT)
    s.connect(str(path))
    with s:
        got = b""
        while b"guest-to-host-ok" not in got:
            chunk = s.recv(4096)
            assert chunk, f"socket closed; got {got!r}"
            got += chunk
        s.sendall(b"host-to-guest-ok\n")
        out, status = vm.run_result(timeout=60)
    assert status == 0, out
    assert out == ["guest got: host-to-guest-ok"], out
    assert vm.wait_exit() == 0


# ---- bad device specs ------------------------------------------------------

def test_bad_specs(guest, tmp_path):
    """Bad --disk/--net specs: exit 2 and one line that names the problem."""
    img = tmp_path / "x.img"
    img.write_bytes(b"\0" * 65536)
    cases = [
        (["--disk", "/nonexistent"], ["/nonexistent"]),
        (["--disk", f"{img},format=qcow9"], ["qcow9"]),
        (["--disk", f"{img},readonly=maybe"], ["readonly"]),
        (["--disk", f"{img},serial={'x' * 21}"], ["serial"]),
        (["--net", "user,hostfwd=bogus"], ["hostfwd", "bogus"]),
        (["--net", "user,mac=zz:zz"], ["mac"]),
        (["--net", "tap"], ["tap"]),
    ]
    for extra, words in cases:
        status, err = sv_fails(guest, tmp_path, extra)
        assert_one_line_error(status, err, *words)


def test_bad_virtio_console_spec_names_option(guest, tmp_path):
    for spec in ("bogus", "none"):
        status, err = sv_fails(guest, tmp_path, ["--virtio-console", spec])
        assert_one_line_error(status, err, "--virtio-console", spec)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
