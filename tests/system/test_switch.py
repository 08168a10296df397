"""The virtual switch with real guests: VMs of `softvisor run` on a switch
of `softvisor switch serve` reach each other (guest to guest, inside the
switch only), and port groups of different VLANs cannot.

Addresses are in 10.77.0.0/24 between the guests; no frame leaves the
switch (it has no uplink).
"""

import os
import shutil
import subprocess
import time

import pytest

from conftest import (RUN_EXIT_RE, SOFTVISOR_BOOT_TIMEOUT,
                      append_line, softvisor_argv)
from daemon_util import Daemon, guest_definition


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


@pytest.mark.full
def test_two_vms_ping_through_switch(guest, vm_factory, switch):
    """Two guests on one port group ping each other: every frame goes guest
    -> switch -> guest (`switch serve` and `softvisor run`; the daemon's
    switch and VMs do the same in the CI tier, test_daemon_vms_on_switch)."""
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


# ---- the daemon's switches ---------------------------------------------------

def test_daemon_switch_api_and_cli(tmp_path):
    """switch create/list/show/portgroup-add/delete through the CLI and
    REST; refusals with clear messages; the definition survives a daemon
    restart and the switch serves again."""
    d = Daemon(tmp_path).start()
    try:
        d.cli("switch", "create", "sw0", "--mtu", "9000",
              "--portgroup", "red,vlan=10",
              "--portgroup", "blue,vlan=20,shape-tx=1000:2000:1024")
        out = d.cli("switch", "list").stdout
        assert "sw0" in out and "9000" in out, out
        api = d.api()
        st, sw = api.call("GET", "/v1/switches/sw0")
        assert st == 200, sw
        assert [p["name"] for p in sw["portgroups"]] == ["red", "blue"]
        assert sw["portgroups"][1]["shaping_tx"] == {
            "average_kbps": 1000, "peak_kbps": 2000, "burst_kb": 1024}
        assert sw["ports"] == []
        assert os.path.exists(sw["socket"])
        # a change in place, and a new port group
        d.cli("switch", "portgroup-add", "sw0", "red,vlan=11,promiscuous=on")
        d.cli("switch", "portgroup-add", "sw0", "trunk,vlan=4095")
        out = d.cli("switch", "show", "sw0").stdout
        assert "red" in out and "   11" in out and "trunk" in out, out
        # refusals
        st, j = api.call("POST", "/v1/switches", {"name": "sw0"})
        assert st == 409 and "exists" in j["error"]["message"]
        st, j = api.call("POST", "/v1/switches",
                         {"name": "x", "portgroups": [{"name": "a",
                                                       "vlan": 5000}]})
        assert st == 400 and "vlan" in j["error"]["message"], j
        st, j = api.call("POST", "/v1/switches", {"name": "bad name"})
        assert st == 400, j
        p = d.cli("switch", "portgroup-add", "sw0", "g,vlan=x", check=False)
        assert p.returncode == 2 and "vlan=x" in p.stderr, p.stderr
        st, j = api.call("GET", "/v1/switches/nope")
        assert st == 404
        d.cli("switch", "portgroup-delete", "sw0", "trunk")
        # a token limited to VMs reads switches but cannot change them
        st, tok = api.call("POST", "/v1/tokens", {
            "name": "web", "role": "admin", "vms": ["web1"]})
        assert st == 201, tok
        scoped = d.api(token=tok["secret"])
        st, _ = scoped.call("GET", "/v1/switches/sw0")
        assert st == 200
        st, j = scoped.call("POST", "/v1/switches", {"name": "mine"})
        assert st == 403 and "host-wide" in j["error"]["message"], j
        st, j = scoped.call("DELETE", "/v1/switches/sw0")
        assert st == 403, j
        # a NAT uplink; a bridge that is not there is refused
        d.cli("switch", "create", "natsw", "--uplink", "nat")
        assert "uplink nat" in d.cli("switch", "show", "natsw").stdout
        d.cli("switch", "delete", "natsw")
        if os.geteuid() == 0:
            st, j = api.call("POST", "/v1/switches", {
                "name": "b", "uplink": {"type": "bridge",
                                        "bridge": "svnosuchbr0"}})
            assert st == 400 and "svnosuchbr0" in j["error"]["message"], j
    finally:
        assert d.stop() == 0, d.tail()
    d.start()
    try:
        st, sw = d.api().call("GET", "/v1/switches/sw0")
        assert st == 200 and sw["mtu"] == 9000, sw
        assert [(p["name"], p["vlan"]) for p in sw["portgroups"]] == \
            [("red", 11), ("blue", 20)]
        assert sw["portgroups"][0]["promiscuous"] is True
        assert os.path.exists(sw["socket"])
        d.cli("switch", "delete", "sw0")
        assert not os.path.exists(sw["socket"])
        assert "sw0" not in d.cli("switch", "list").stdout
    finally:
        assert d.stop() == 0, d.tail()


def test_daemon_vms_on_switch(tmp_path, guest):
    """Two daemon VMs with NICs on the daemon's switch ping each other; the
    switch counts their frames; it cannot be deleted while they run."""
    d = Daemon(tmp_path).start()
    try:
        d.cli("switch", "create", "lan", "--portgroup", "web,vlan=7")
        api = d.api()
        for i, (me, peer) in enumerate((("1", "2"), ("2", "1"))):
            script = guest_script(f"10.77.0.{me}", f"10.77.0.{peer}",
                                  linger=600)
            defn = guest_definition(
                guest, f"vm{me}", script=script, after="poweroff",
                nics=[{"type": "switch", "switch": "lan",
                       "portgroup": "web",
                       "mac": f"52:54:00:77:01:0{me}"}])
            api.ok("POST", "/v1/vms", defn)
            api.ok("POST", f"/v1/vms/vm{me}/start")
        # both ports connected; wait until each side had its 3 replies
        deadline = time.monotonic() + 300
        ok = False
        while time.monotonic() < deadline and not ok:
            _, sw = api.call("GET", "/v1/switches/lan")
            ports = sw["ports"]
            ok = len(ports) == 2 and all(p["rx_frames"] >= 4 and
                                         p["tx_frames"] >= 4
                                         for p in ports)
            time.sleep(1)
        assert ok, (sw, d.tail())
        assert {p["portgroup"] for p in ports} == {"web"}
        # `vm announce` (REST POST .../announce): vm1's NIC sends its 5
        # RARP frames, and its guest (GUEST_ANNOUNCE) a gratuitous ARP
        # per round, into the switch, which counts them on vm1's port;
        # first wait until the guest's own traffic (its pings) is over
        def port_tx(mac="52:54:00:77:01:01"):
            _, sw = api.call("GET", "/v1/switches/lan")
            return [p["tx_frames"] for p in sw["ports"]
                    if p["mac"] == mac][0]
        before, deadline = -1, time.monotonic() + 10
        while time.monotonic() < deadline and before != port_tx():
            before = port_tx()
            time.sleep(1)
        out = d.cli("vm", "announce", "vm1").stdout
        assert "vm1: running" in out, out
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and port_tx() < before + 10:
            time.sleep(0.2)
        assert port_tx() >= before + 10, (before, port_tx())
        assert sw["cpu_ms"] >= 0
        st, j = api.call("DELETE", "/v1/switches/lan")
        assert st == 409 and "connected" in j["error"]["message"], j
        st, j = api.call("DELETE", "/v1/switches/lan/portgroups/web")
        assert st == 409, j
        for n in ("vm1", "vm2"):
            api.ok("POST", f"/v1/vms/{n}/stop")
        st, j = api.call("POST", "/v1/vms/vm1/announce")
        assert st == 409 and "announce needs it running" in \
            j["error"]["message"], j
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            _, sw = api.call("GET", "/v1/switches/lan")
            if not sw["ports"]:
                break
            time.sleep(0.2)
        assert sw["ports"] == []
        api.ok("DELETE", "/v1/switches/lan")
    finally:
        assert d.stop() == 0, d.tail()


# ---- bridged uplink ------------------------------------------------------------

@pytest.fixture
def netns():
    """A network namespace with a Linux bridge br0 at 10.77.0.254/24;
    removed (with everything in it) at teardown."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a network namespace")
    ns = f"svtest{os.getpid()}"
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


def test_bridged_uplink(guest, vm_factory, netns, tmp_path):
    """A switch with a TAP uplink into an existing bridge: the guest gets a
    DHCP lease from a dnsmasq on that bridge in the namespace and pings the
    bridge's address (the namespace learns the guest's MAC); the TAP goes
    away with the switch and the bridge stays."""
    exe = os.environ.get("SOFTVISOR")
    dnsmasq = shutil.which("dnsmasq", path="/usr/sbin:/sbin:/usr/bin")
    if not dnsmasq:
        pytest.skip("dnsmasq not installed (dnsmasq-base)")
    sock = tmp_path / "up.sock"
    dhcp = subprocess.Popen(
        ["ip", "netns", "exec", netns, dnsmasq, "--keep-in-foreground",
         "--no-resolv", "--no-hosts", "--port=0", "--interface=br0",
         "--bind-interfaces", "--user=root",
         "--dhcp-range=10.77.0.100,10.77.0.150,255.255.255.0,1h",
         f"--dhcp-leasefile={tmp_path / 'leases'}",
         f"--pid-file={tmp_path / 'dnsmasq.pid'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sw = subprocess.Popen(["ip", "netns", "exec", netns, exe, "switch",
                           "serve", "up0", "--socket", str(sock),
                           "--uplink", "bridge=br0"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    try:
        line = sw.stdout.readline()
        assert "listening on" in line, sw.stderr.read()
        links = subprocess.run(["ip", "-n", netns, "link", "show",
                                "master", "br0"], capture_output=True,
                               text=True, check=True).stdout
        assert "sv-up0" in links, links
        script = ("ip link set eth0 up\n"
                  "a=$(udhcpc -i eth0 -n -q -t 10 -s /bin/true 2>&1 | "
                  "sed -n 's/.*lease of \\([0-9.]*\\).*/\\1/p')\n"
                  "echo LEASE $a\n"
                  "ip addr add $a/24 dev eth0\n"
                  "ping -c 3 -w 60 10.77.0.254 >/tmp/p 2>&1\n"
                  "echo PING-RECEIVED $(grep -c 'bytes from' /tmp/p)\n"
                  "sleep 600\n")
        vm = start_vm(guest, vm_factory, sock, script, "52:54:00:77:02:01",
                      name="bridged")
        vm.expect(r"LEASE (10\.77\.0\.1[0-5][0-9])\s",
                  timeout=SOFTVISOR_BOOT_TIMEOUT, what="DHCP lease")
        lease = vm.child.match.group(1)
        assert received(vm) == 3, vm.tail()
        # the namespace answered the guest: it knows the guest's MAC
        neigh = subprocess.run(["ip", "-n", netns, "neigh", "show", lease],
                               capture_output=True, text=True).stdout
        assert "52:54:00:77:02:01" in neigh, neigh
    finally:
        sw.terminate()
        sw.wait(timeout=10)
        dhcp.terminate()
        dhcp.wait(timeout=10)
    links = subprocess.run(["ip", "-n", netns, "link", "show"],
                           capture_output=True, text=True).stdout
    assert "sv-up0" not in links and "br0" in links, links


def test_nat_uplink(guest, vm_factory, tmp_path):
    """A switch whose uplink is user-mode NAT: a guest on it gets its DHCP
    lease from the NAT and pings the gateway (10.0.2.2, answered by
    libslirp; nothing leaves the host)."""
    exe = os.environ.get("SOFTVISOR")
    if not exe:
        pytest.skip("SOFTVISOR does not name a softvisor binary")
    sock = tmp_path / "nat.sock"
    sw = subprocess.Popen([exe, "switch", "serve", "nat0", "--socket",
                           str(sock), "--uplink", "nat"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    try:
        line = sw.stdout.readline()
        assert "listening on" in line, sw.stderr.read()
        script = ("ip link set eth0 up\n"
                  "udhcpc -i eth0 -n -q -t 5 -s /bin/true 2>&1 | "
                  "grep -o 'lease of [0-9.]*'\n"
                  "ip addr add 10.0.2.15/24 dev eth0\n"
                  "ping -c 3 -w 30 10.0.2.2 >/tmp/p 2>&1\n"
                  "echo PING-RECEIVED $(grep -c 'bytes from' /tmp/p)\n")
        vm = start_vm(guest, vm_factory, sock, script, "52:54:00:77:03:01",
                      name="nat")
        vm.expect(r"lease of ([0-9.]+)\s", timeout=SOFTVISOR_BOOT_TIMEOUT,
                  what="DHCP lease")
        assert vm.child.match.group(1) == "10.0.2.15"
        assert received(vm) == 3, vm.tail()
    finally:
        sw.terminate()
        sw.wait(timeout=10)


def ip_forward(ns):
    """net.ipv4.ip_forward of namespace ns, "0" or "1"."""
    return subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-n",
                           "net.ipv4.ip_forward"], capture_output=True,
                          text=True, check=True).stdout.strip()


def serve_routed(exe, ns, sock):
    """`switch serve rt0` in namespace ns with a routed uplink and DHCP."""
    sw = subprocess.Popen(["ip", "netns", "exec", ns, exe, "switch",
                           "serve", "rt0", "--socket", str(sock),
                           "--uplink", "routed=10.78.0.1/24,dhcp=on"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    line = sw.stdout.readline()
    assert "listening on" in line, sw.stderr.read()
    return sw


def dnsmasq_pids(ns):
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                          text=True).stdout.split()
    out = []
    for p in pids:
        try:
            with open(f"/proc/{p}/comm") as f:
                if f.read().strip() == "dnsmasq":
                    out.append(int(p))
        except FileNotFoundError:
            pass
    return sorted(out)


def test_routed_uplink(guest, vm_factory, tmp_path):
    """A routed uplink in a namespace of the test: the switch's TAP gets the
    host's address 10.78.0.1/24 and a dnsmasq, the guest leases an address
    from the upper half and pings the host's side; a switch killed (-9)
    and started again ends the dnsmasq the dead one left; the TAP and
    dnsmasq go away with the switch. IPv4 forwarding, on before, stays
    on."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a network namespace")
    if not os.access("/usr/sbin/dnsmasq", os.X_OK):
        pytest.skip("dnsmasq not installed (dnsmasq-base)")
    exe = os.environ.get("SOFTVISOR")
    ns = f"svtestr{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    sock = tmp_path / "rt.sock"
    sw = None
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"],
                       check=True)
        # forwarding that was on before the switch is never changed
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                        "net.ipv4.ip_forward=1"], check=True)
        sw = serve_routed(exe, ns, sock)
        addrs = subprocess.run(["ip", "-n", ns, "addr", "show", "sv-rt0"],
                               capture_output=True, text=True).stdout
        assert "10.78.0.1/24" in addrs, addrs
        script = ("ip link set eth0 up\n"
                  "a=$(udhcpc -i eth0 -n -q -t 10 -s /bin/true 2>&1 | "
                  "sed -n 's/.*lease of \\([0-9.]*\\).*/\\1/p')\n"
                  "echo LEASE $a\n"
                  "ip addr add $a/24 dev eth0\n"
                  "ping -c 3 -w 60 10.78.0.1 >/tmp/p 2>&1\n"
                  "echo PING-RECEIVED $(grep -c 'bytes from' /tmp/p)\n"
                  "sleep 600\n")
        vm = start_vm(guest, vm_factory, sock, script, "52:54:00:77:04:01",
                      name="routed")
        vm.expect(r"LEASE 10\.78\.0\.(\d+)\s",
                  timeout=SOFTVISOR_BOOT_TIMEOUT, what="DHCP lease")
        assert 128 <= int(vm.child.match.group(1)) <= 254
        assert received(vm) == 3, vm.tail()
        # a switch that dies (kill -9: a daemon's crash) cannot stop its
        # dnsmasq; the next start of the switch ends it (its record next
        # to the socket) and runs one of its own: never two
        old = dnsmasq_pids(ns)
        assert len(old) == 1, old
        sw.kill()
        sw.wait()
        sw = serve_routed(exe, ns, sock)
        new = dnsmasq_pids(ns)
        assert len(new) == 1 and new != old, (old, new)
        sw.terminate()
        sw.wait(timeout=10)
        links = subprocess.run(["ip", "-n", ns, "link", "show"],
                               capture_output=True, text=True).stdout
        assert "sv-rt0" not in links, links
        assert ip_forward(ns) == "1"
        left = subprocess.run(["ip", "netns", "pids", ns],
                              capture_output=True, text=True).stdout
        assert left.strip() == "", f"processes left in the namespace: {left}"
    finally:
        if sw and sw.poll() is None:
            sw.kill()
            sw.wait()
        subprocess.run(["ip", "netns", "del", ns])


def test_routed_masquerade(guest, vm_factory, tmp_path):
    """A routed uplink with nat=on, in namespaces of the test: host H runs
    the switch (10.78.0.1/24) and reaches an outside namespace O over a
    veth (10.79.0.0/24); O has no route back to 10.78.0.0/24, so the guest
    reaches O only through the masquerade in H's table ip softvisor and
    H's forwarding, which the switch turns on (it was off) and off again
    when it stops. The switch's chain and table go away when it stops; a
    table it did not create stays."""
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    exe = os.environ.get("SOFTVISOR")
    h, o = f"svtestmh{os.getpid()}", f"svtestmo{os.getpid()}"
    sock = tmp_path / "mq.sock"
    sw = None

    def ip(ns, *args):
        subprocess.run(["ip", "-n", ns] + list(args), check=True)

    def nft(ns, *args, check=True):
        return subprocess.run(["ip", "netns", "exec", ns, "nft"] +
                              list(args), capture_output=True, text=True,
                              check=check)
    if not shutil.which("nft", path="/usr/sbin:/sbin:/usr/bin"):
        pytest.skip("nft not installed (nftables)")
    subprocess.run(["ip", "netns", "add", h], check=True)
    subprocess.run(["ip", "netns", "add", o], check=True)
    try:
        ip(h, "link", "set", "lo", "up")
        ip(o, "link", "set", "lo", "up")
        ip(h, "link", "add", "vh", "type", "veth", "peer", "name", "vo",
           "netns", o)
        ip(h, "addr", "add", "10.79.0.1/24", "dev", "vh")
        ip(h, "link", "set", "vh", "up")
        ip(o, "addr", "add", "10.79.0.2/24", "dev", "vo")
        ip(o, "link", "set", "vo", "up")
        # forwarding is off in H (a new namespace's default): the switch
        # turns it on for its routed uplink and off again when it goes
        assert ip_forward(h) == "0"
        # somebody else's table in H: never touched
        nft(h, "add", "table", "ip", "other")
        nft(h, "add", "chain", "ip", "other", "keep")
        sw = subprocess.Popen(["ip", "netns", "exec", h, exe, "switch",
                               "serve", "mq0", "--socket", str(sock),
                               "--uplink", "routed=10.78.0.1/24,nat=on"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
        line = sw.stdout.readline()
        assert "listening on" in line, sw.stderr.read()
        table = nft(h, "list", "table", "ip", "softvisor").stdout
        assert "masq-mq0" in table and "10.78.0.0/24" in table and \
            "masquerade" in table, table
        assert ip_forward(h) == "1"
        script = ("ip link set eth0 up\n"
                  "ip addr add 10.78.0.5/24 dev eth0\n"
                  "ip route add default via 10.78.0.1\n"
                  "ping -c 3 -w 60 10.79.0.2 >/tmp/p 2>&1\n"
                  "echo PING-RECEIVED $(grep -c 'bytes from' /tmp/p)\n"
                  "sleep 600\n")
        vm = start_vm(guest, vm_factory, sock, script, "52:54:00:77:05:01",
                      name="masq")
        assert received(vm) == 3, vm.tail()
        sw.terminate()
        sw.wait(timeout=10)
        assert ip_forward(h) == "0", "forwarding not restored"
        gone = nft(h, "list", "table", "ip", "softvisor", check=False)
        assert gone.returncode != 0, gone.stdout
        kept = nft(h, "list", "table", "ip", "other").stdout
        assert "keep" in kept, kept
    finally:
        if sw and sw.poll() is None:
            sw.kill()
            sw.wait()
        subprocess.run(["ip", "netns", "del", h])
        subprocess.run(["ip", "netns", "del", o])
