"""The distributed switch (vSphere's vDS) between two daemons on one
machine: each daemon has its own state directory and socket and a VXLAN
endpoint on its own loopback address (127.0.0.2 and 127.0.0.3, a port
chosen per test run); a switch `dvs` of type distributed with port groups
red (VLAN 10) and blue (VLAN 20) on both. A VM on daemon A and a VM on
daemon B, both on red, ping each other (every frame crosses VXLAN); a VM
on blue on daemon B, same subnet, hears nothing from red.

All traffic stays on loopback; guests only address each other.
"""

import os
import time

import pexpect
import pytest

from conftest import TIME_SCALE
from daemon_util import Daemon, guest_definition, softvisor_exe


def guest_script(addr, peer, wait=90, linger=600):
    return ("ip link set eth0 up\n"
            f"ip addr add {addr}/24 dev eth0\n"
            f"ping -c 3 -w {wait} {peer} >/tmp/p 2>&1\n"
            "echo PING-RECEIVED $(grep -c 'bytes from' /tmp/p)\n"
            f"sleep {linger}\n")


def received(d, name, timeout=300):
    """The guest's PING-RECEIVED count, read on `vm console` (the
    scrollback replays what it printed before)."""
    env = dict(os.environ, SOFTVISOR_SOCKET=d.sock)
    c = pexpect.spawn(softvisor_exe(), ["vm", "console", name], env=env,
                      encoding="utf-8", codec_errors="replace",
                      timeout=timeout * TIME_SCALE)
    c.logfile_read = open(d.tmp / f"console-{name}.log", "a")
    try:
        c.expect(r"PING-RECEIVED (\d+)")
        return int(c.match.group(1))
    finally:
        c.sendcontrol("]")
        c.close(force=True)


def vm(d, guest, name, script, mac, pg):
    api = d.api()
    api.ok("POST", "/v1/vms", guest_definition(
        guest, name, script=script, after="poweroff",
        nics=[{"type": "switch", "switch": "dvs", "portgroup": pg,
               "mac": mac}]))
    api.ok("POST", f"/v1/vms/{name}/start")


def test_distributed_switch_two_daemons(tmp_path, guest):
    port = 20000 + os.getpid() % 20000
    vtep = {"a": f"127.0.0.2:{port}", "b": f"127.0.0.3:{port}"}
    ds = {}
    try:
        for h in ("a", "b"):
            (tmp_path / h).mkdir()
            d = ds[h] = Daemon(tmp_path / h, name=f"daemon-{h}").start()
            # one peer list naming every host: each leaves itself out
            d.cli("switch", "create", "dvs",
                  "--portgroup", "red,vlan=10", "--portgroup", "blue,vlan=20",
                  "--distributed",
                  f"local={vtep[h]},peer={vtep['a']},peer={vtep['b']}")
        st, sw = ds["a"].api().call("GET", "/v1/switches/dvs")
        assert st == 200 and sw["type"] == "distributed", sw
        assert sw["vxlan"]["local"] == vtep["a"], sw
        assert "distributed" in ds["b"].cli("switch", "show", "dvs").stdout

        vm(ds["a"], guest, "red1", guest_script("10.77.0.1", "10.77.0.2"),
           "52:54:00:77:10:01", "red")
        vm(ds["b"], guest, "red2", guest_script("10.77.0.2", "10.77.0.1"),
           "52:54:00:77:10:02", "red")
        assert received(ds["a"], "red1") == 3
        assert received(ds["b"], "red2") == 3
        # the frames crossed VXLAN, and each side learned the other's MAC
        for h in ("a", "b"):
            _, sw = ds[h].api().call("GET", "/v1/switches/dvs")
            vs = sw["vxlan_stats"]
            assert vs["rx_packets"] >= 3 and vs["tx_packets"] >= 3, vs
            assert vs["fdb_learned"] >= 1, vs
            assert vs["rx_not_peer"] == 0 and vs["rx_bad_vni"] == 0, vs

        # blue on daemon B, same subnet: red is out of its reach
        vm(ds["b"], guest, "blue3",
           guest_script("10.77.0.3", "10.77.0.1", wait=15, linger=0),
           "52:54:00:77:10:03", "blue")
        assert received(ds["b"], "blue3") == 0
        # red is still up and reachable: it was VLAN isolation
        st, sw = ds["a"].api().call("GET", "/v1/switches/dvs")
        assert len(sw["ports"]) == 1, sw
    finally:
        for d in ds.values():
            rc = d.stop()
            assert rc == 0, d.tail()
