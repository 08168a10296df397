"""The distributed switch (vSphere's vDS) between two daemons on one
machine: each daemon has its own state directory and socket and a VXLAN
endpoint on its own loopback address (127.0.0.2 and 127.0.0.3, a port
chosen per test run); a switch `dvs` of type distributed with port groups
red (VLAN 10) and blue (VLAN 20) on both. A VM on daemon A and a VM on
daemon B, both on red, ping each other (every frame crosses VXLAN); a VM
on blue on daemon B, same subnet, hears nothing from red.

All traffic stays on loopback; guests only address each other.
"""

import base64
import json
import os
import subprocess
import signal
import time
import urllib.request

import pexpect
import pytest

from conftest import TIME_SCALE
from daemon_util import Daemon, guest_definition, softvisor_exe


def guest_script(addr, peer, wait=90, linger=600):
    return ("ip link set eth0 up\n"
            f"ip addr add {addr}/24 dev eth0\n"
            f"ping -c 3 -w {wait} {peer} >/tmp/p 2>&1\n"
            "cat /tmp/p\n"
            "echo PING-RECEIVED $(grep -c 'bytes from' /tmp/p)\n"
            f"sleep {linger}\n")


def received(d, name, timeout=300, expect=3):
    """The guest's PING-RECEIVED count, read on `vm console` (the
    scrollback replays what it printed before)."""
    env = dict(os.environ, SOFTVISOR_SOCKET=d.sock)
    c = pexpect.spawn(softvisor_exe(), ["vm", "console", name], env=env,
                      encoding="utf-8", codec_errors="replace",
                      timeout=timeout * TIME_SCALE)
    c.logfile_read = open(d.tmp / f"console-{name}.log", "a")
    try:
        c.expect(r"PING-RECEIVED (\d+)")
        n = int(c.match.group(1))
        if n != expect:
            print(f"console of {name}:\n{c.before[-3000:]}\n"
                  f"daemon:\n{d.tail()}")
        return n
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


# full tier: static peers; CI runs the etcd test, whose VMs cross the same
# VXLAN path (the encapsulation is fuzzed: fuzz_vxlan)
@pytest.mark.full
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
        assert received(ds["b"], "blue3", expect=0) == 0
        # red is still up and reachable: it was VLAN isolation
        st, sw = ds["a"].api().call("GET", "/v1/switches/dvs")
        assert len(sw["ports"]) == 1, sw
    finally:
        for d in ds.values():
            rc = d.stop()
            assert rc == 0, d.tail()


# ---- the definition and the VTEPs in etcd ------------------------------------

ETCD = "/usr/bin/etcd"


@pytest.fixture
def etcd(tmp_path):
    """A single-member etcd on loopback (ports from the pid, data in the
    test's directory); yields its client URL. Skips without etcd."""
    if not os.access(ETCD, os.X_OK):
        pytest.skip(f"{ETCD} not installed (Debian's etcd-server)")
    c = 30000 + os.getpid() % 10000
    url, peer = f"http://127.0.0.1:{c}", f"http://127.0.0.1:{c + 10000}"
    log = open(tmp_path / "etcd.log", "w")
    p = subprocess.Popen([ETCD, "--name", "t", "--data-dir",
                          str(tmp_path / "etcd"),
                          "--listen-client-urls", url,
                          "--advertise-client-urls", url,
                          "--listen-peer-urls", peer,
                          "--initial-advertise-peer-urls", peer,
                          "--initial-cluster", f"t={peer}"],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + 30
        while True:
            try:
                etcd_range(url, "/ready")
                break
            except OSError:
                if time.monotonic() > end or p.poll() is not None:
                    pytest.fail("etcd did not start: " +
                                (tmp_path / "etcd.log").read_text())
                time.sleep(0.2)
        yield url
    finally:
        p.terminate()
        p.wait(timeout=30)
        log.close()


def etcd_range(url, key, prefix=False):
    """{key: value} under key (etcd's v3 JSON gateway)."""
    b = base64.b64encode(key.encode()).decode()
    body = {"key": b}
    if prefix:
        end = key[:-1] + chr(ord(key[-1]) + 1)
        body["range_end"] = base64.b64encode(end.encode()).decode()
    req = urllib.request.Request(url + "/v3/kv/range",
                                 json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        kvs = json.load(r).get("kvs", [])
    return {base64.b64decode(kv["key"]).decode():
            base64.b64decode(kv.get("value", "")).decode() for kv in kvs}


def etcd_lease_of(url, key):
    """The lease ID key is attached to (0: none)."""
    body = {"key": base64.b64encode(key.encode()).decode()}
    req = urllib.request.Request(url + "/v3/kv/range",
                                 json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        kvs = json.load(r).get("kvs", [])
    return int(kvs[0].get("lease", 0)) if kvs else 0


def wait_peers(d, want, timeout=30):
    end = time.monotonic() + timeout
    while True:
        _, sw = d.api().call("GET", "/v1/switches/dvs")
        if sorted(sw["vxlan_peers"]) == sorted(want):
            return sw
        if time.monotonic() > end:
            pytest.fail(f"peers {sw['vxlan_peers']}, want {want}\n"
                        + d.tail())
        time.sleep(0.3)


def test_distributed_switch_etcd(tmp_path, guest, etcd):
    """Daemon A defines the switch with etcd and no static peers; daemon B
    names only its own endpoint and etcd: it takes the port groups from
    etcd, and each finds the other's VTEP there. Their VMs on red ping;
    each VTEP record says which ports the host serves; a daemon that stops
    takes its VTEP away and the other drops it as a peer."""
    port = 20000 + os.getpid() % 20000
    vtep = {"a": f"127.0.0.2:{port}", "b": f"127.0.0.3:{port}"}
    ds = {}
    try:
        for h in ("a", "b"):
            (tmp_path / h).mkdir()
            ds[h] = Daemon(tmp_path / h, name=f"daemon-{h}").start()
        ds["a"].cli("switch", "create", "dvs", "--portgroup", "red,vlan=10",
                    "--portgroup", "blue,vlan=20", "--distributed",
                    f"local={vtep['a']},etcd={etcd}")
        ds["b"].cli("switch", "create", "dvs", "--distributed",
                    f"local={vtep['b']},etcd={etcd}")
        _, sw = ds["b"].api().call("GET", "/v1/switches/dvs")
        assert [(p["name"], p["vlan"]) for p in sw["portgroups"]] == \
            [("red", 10), ("blue", 20)], sw
        kv = etcd_range(etcd, "/softvisor/switches/dvs/", prefix=True)
        assert "/softvisor/switches/dvs/definition" in kv, kv
        assert json.loads(kv["/softvisor/switches/dvs/definition"])[
            "type"] == "distributed"
        wait_peers(ds["a"], [vtep["b"]])
        wait_peers(ds["b"], [vtep["a"]])

        vm(ds["a"], guest, "red1", guest_script("10.77.0.1", "10.77.0.2"),
           "52:54:00:77:11:01", "red")
        vm(ds["b"], guest, "red2", guest_script("10.77.0.2", "10.77.0.1"),
           "52:54:00:77:11:02", "red")
        assert received(ds["a"], "red1") == 3
        assert received(ds["b"], "red2") == 3
        # which host serves which port
        end = time.monotonic() + 10
        while True:
            rec = json.loads(etcd_range(
                etcd, f"/softvisor/switches/dvs/vteps/{vtep['a']}")[
                    f"/softvisor/switches/dvs/vteps/{vtep['a']}"])
            if rec["ports"] or time.monotonic() > end:
                break
            time.sleep(0.3)
        assert rec["ports"] == [{"mac": "52:54:00:77:11:01",
                                 "portgroup": "red"}], rec
        # B stops: its VTEP leaves etcd, A forgets it
        assert ds["b"].stop() == 0, ds["b"].tail()
        kv = etcd_range(etcd, "/softvisor/switches/dvs/vteps/", prefix=True)
        assert list(kv) == [f"/softvisor/switches/dvs/vteps/{vtep['a']}"], kv
        wait_peers(ds["a"], [])
        # B again, then killed: its record is under a lease nobody keeps
        # alive any more, so it expires (TTL 10 s) and A drops B
        ds["b"].start()
        wait_peers(ds["a"], [vtep["b"]])
        bkey = f"/softvisor/switches/dvs/vteps/{vtep['b']}"
        lease = etcd_lease_of(etcd, bkey)
        assert lease, "B's VTEP record has no lease"
        assert etcd_lease_of(etcd, f"/softvisor/switches/dvs/vteps/"
                             f"{vtep['a']}")
        assert ds["b"].stop(sig=signal.SIGKILL) != 0
        end = time.monotonic() + 60
        while bkey in etcd_range(etcd, bkey) and time.monotonic() < end:
            time.sleep(0.5)
        assert bkey not in etcd_range(etcd, bkey), "the lease did not expire"
        wait_peers(ds["a"], [], timeout=30)
        # A's own record is kept alive past the TTL
        assert etcd_range(etcd, f"/softvisor/switches/dvs/vteps/"
                          f"{vtep['a']}")
    finally:
        for d in ds.values():
            rc = d.stop()
            assert rc == 0, d.tail()
