"""The virtual switch with real guests: VMs of `softvisor run` on a switch
of `softvisor switch serve` reach each other (guest to guest, inside the
switch only), and port groups of different VLANs cannot.

Addresses are in 10.77.0.0/24 between the guests; no frame leaves the
switch (it has no uplink).
"""

import os
import subprocess

import pytest

from conftest import (RUN_EXIT_RE, SOFTVISOR_BOOT_TIMEOUT,
                      append_line, softvisor_argv)


@pytest.fixture
def switch(tmp_path):
    """Start `softvisor switch serve`; yield (socket path, process)."""
    exe = os.environ.get("SOFTVISOR")
    if not exe:
        pytest.skip("SOFTVISOR does not name a softvisor binary")
    sock = tmp_path / "sw0.sock"
    procs = []

    def start(*portgroups, name="sw0"):
        argv = [exe, "switch", "serve", name, "--socket", str(sock)]
        for pg in portgroups:
            argv += ["--portgroup", pg]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        procs.append(p)
        line = p.stdout.readline()
        assert "listening on" in line, p.stderr.read()
        return sock, p

    yield start
    for p in procs:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    assert not sock.exists(), "switch socket left behind"


def guest_script(addr, peer, count_ok=True, linger=0):
    """eth0 up with addr; ping peer; print the replies received."""
    s = ("ip link set eth0 up\n"
         f"ip addr add {addr}/24 dev eth0\n"
         # -c 3 replies or a 90 s deadline, whichever first
         f"ping -c 3 -w 90 {peer} >/tmp/p 2>&1\n"
         "echo PING-RECEIVED $(grep -c 'bytes from' /tmp/p)\n")
    if linger:
        s += f"sleep {linger}\n"
    return s


def start_vm(guest, vm_factory, sock, script, mac, pg=None, name="vm"):
    net = f"switch={sock},mac={mac}"
    if pg:
        net += f",portgroup={pg}"
    argv = softvisor_argv(guest, append_line(script), memory="256M",
                          extra=["--net", net])
    return vm_factory(argv, boot_timeout=SOFTVISOR_BOOT_TIMEOUT, name=name)


def received(vm, timeout=240):
    vm.expect(r"PING-RECEIVED (\d+)", timeout=timeout, what="PING-RECEIVED")
    return int(vm.child.match.group(1))


def test_two_vms_ping_through_switch(guest, vm_factory, switch):
    """Two guests on one port group ping each other: every frame goes guest
    -> switch -> guest."""
    sock, _ = switch()
    a = start_vm(guest, vm_factory, sock,
                 guest_script("10.77.0.1", "10.77.0.2", linger=20),
                 "52:54:00:77:00:01", name="a")
    b = start_vm(guest, vm_factory, sock,
                 guest_script("10.77.0.2", "10.77.0.1", linger=20),
                 "52:54:00:77:00:02", name="b")
    assert received(a) == 3, a.tail()
    assert received(b) == 3, b.tail()
    for vm in (a, b):
        vm.expect(RUN_EXIT_RE, timeout=60, what="SOFTVISOR-RUN-EXIT")
        assert vm.child.match.group(1) == "0"
        assert vm.wait_exit() == 0


def test_vlan_isolation(guest, vm_factory, switch):
    """red (VLAN 10) and blue (VLAN 20) on one switch, one subnet: the two
    red guests reach each other; a blue guest, started once red is up,
    hears nothing from red."""
    sock, _ = switch("red,vlan=10", "blue,vlan=20")
    # red stays up (sleep) while blue boots and pings; killed at teardown
    red1 = start_vm(guest, vm_factory, sock,
                    guest_script("10.77.0.1", "10.77.0.2", linger=600),
                    "52:54:00:77:00:11", pg="red", name="red1")
    red2 = start_vm(guest, vm_factory, sock,
                    guest_script("10.77.0.2", "10.77.0.1", linger=600),
                    "52:54:00:77:00:12", pg="red", name="red2")
    assert received(red1) == 3, red1.tail()
    assert received(red2) == 3, red2.tail()
    blue_script = ("ip link set eth0 up\n"
                   "ip addr add 10.77.0.3/24 dev eth0\n"
                   "ping -c 3 -w 15 10.77.0.1 >/tmp/p 2>&1\n"
                   "echo PING-RECEIVED $(grep -c 'bytes from' /tmp/p)\n")
    blue = start_vm(guest, vm_factory, sock, blue_script,
                    "52:54:00:77:00:13", pg="blue", name="blue")
    assert received(blue) == 0, blue.tail()
    # and the same guest on red would have been answered: red1 is alive
    blue.expect(RUN_EXIT_RE, timeout=60, what="SOFTVISOR-RUN-EXIT")
    red1.send("")  # still attached
    assert red1.child.isalive() and red2.child.isalive()
