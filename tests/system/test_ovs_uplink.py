"""A switch's bridged uplink into an Open vSwitch bridge (issue 17).

The test runs its own Open vSwitch: an ovsdb-server and an ovs-vswitchd
with their database, sockets and logs in a directory of the test
(OVS_RUNDIR/OVS_DBDIR, no systemd), inside a network namespace of the
test. The bridge uses the kernel datapath when the openvswitch module can
be loaded, else the userspace one (datapath_type=netdev). The daemon runs
in that namespace too; a guest on the switch's port group red (VLAN 10)
gets its DHCP lease from a dnsmasq on an OVS internal port of VLAN 10 and
pings its address. Only addresses inside the namespace are used.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import (SOFTVISOR_BOOT_TIMEOUT, TIME_SCALE, append_line,
                      softvisor_argv)
from daemon_util import Daemon, softvisor_exe

OVS_TOOLS = ("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl")
SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


def which(name):
    return shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")


class NsDaemon(Daemon):
    """The daemon inside network namespace ns (its API socket is a file,
    reachable from anywhere)."""

    def __init__(self, tmp, ns, env, **kw):
        super().__init__(tmp, **kw)
        self.ns = ns
        self.env = env

    def start(self):
        self.log = open(self.logpath, "a")
        argv = ["ip", "netns", "exec", self.ns, softvisor_exe(), "daemon",
                "--state-dir", str(self.state), "--socket", self.sock]
        self.log.write("$ " + " ".join(argv) + "\n")
        self.log.flush()
        self.proc = subprocess.Popen(argv, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=self.env)
        end = time.monotonic() + 30 * TIME_SCALE
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                pytest.fail(f"daemon exited {self.proc.returncode}:\n"
                            + self.logpath.read_text())
            try:
                st, _ = self.api().call("GET", "/v1/host")
                if st == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        pytest.fail("daemon did not answer:\n" + self.logpath.read_text())


class Ovs:
    def __init__(self, ns, run, env):
        self.ns, self.run, self.env = ns, run, env

    def vsctl(self, *args, check=True):
        p = subprocess.run(["ovs-vsctl", "--timeout=30"] + list(args),
                           capture_output=True, text=True, env=self.env)
        if check and p.returncode:
            pytest.fail(f"ovs-vsctl {' '.join(args)}: {p.stderr}\n"
                        + self.logs())
        return p.stdout.strip()

    def ports(self):
        return self.vsctl("list-ports", "obr0").split()

    def logs(self):
        out = ""
        for f in ("ovs-vswitchd.log", "ovsdb-server.log"):
            p = Path(self.run) / f
            if p.exists():
                out += f"--- {f}\n" + "\n".join(
                    p.read_text(errors="replace").splitlines()[-30:]) + "\n"
        return out


@pytest.fixture
def ovs():
    """Open vSwitch of the test in namespace svtesto<pid>: bridge obr0 with
    an internal port vl10 (VLAN 10, 10.80.0.254/24) and a port keepme of
    nobody's; everything (processes, namespace, files) goes at teardown."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a network namespace")
    missing = [t for t in OVS_TOOLS if not which(t)]
    if missing or not os.path.exists(SCHEMA):
        pytest.skip(f"Open vSwitch not installed ({', '.join(missing) or SCHEMA}"
                    ": Debian's openvswitch-switch)")
    ns = f"svtesto{os.getpid()}"
    run = tempfile.mkdtemp(prefix="svovs")  # short: unix socket paths
    env = dict(os.environ, OVS_RUNDIR=run, OVS_DBDIR=run, OVS_LOGDIR=run,
               OVS_SYSCONFDIR=run)
    procs = []
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"],
                       check=True)
        subprocess.run([which("ovsdb-tool"), "create", f"{run}/conf.db",
                        SCHEMA], check=True, env=env)
        procs.append(subprocess.Popen(
            ["ip", "netns", "exec", ns, which("ovsdb-server"),
             f"{run}/conf.db", f"--remote=punix:{run}/db.sock",
             f"--unixctl={run}/ovsdb-server.ctl",
             f"--log-file={run}/ovsdb-server.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        end = time.monotonic() + 30 * TIME_SCALE
        while not os.path.exists(f"{run}/db.sock"):
            assert procs[0].poll() is None, "ovsdb-server exited"
            assert time.monotonic() < end, "ovsdb-server: no db.sock"
            time.sleep(0.1)
        o = Ovs(ns, run, env)
        o.vsctl("--no-wait", "init")
        procs.append(subprocess.Popen(
            ["ip", "netns", "exec", ns, which("ovs-vswitchd"),
             f"unix:{run}/db.sock", f"--unixctl={run}/ovs-vswitchd.ctl",
             f"--log-file={run}/ovs-vswitchd.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        kernel = subprocess.run(["modprobe", "-q", "openvswitch"],
                                capture_output=True).returncode == 0 \
            and os.path.exists("/sys/module/openvswitch")
        dp = "system" if kernel else "netdev"
        r = subprocess.run(
            ["ovs-vsctl", "--timeout=30", "add-br", "obr0", "--", "set",
             "bridge", "obr0", f"datapath_type={dp}"],
            capture_output=True, text=True, env=env)
        if r.returncode:
            pytest.skip("no Open vSwitch datapath: the openvswitch kernel "
                        "module cannot be loaded and the userspace one "
                        f"failed: {r.stderr.strip()}\n{o.logs()}")
        o.vsctl("add-port", "obr0", "vl10", "tag=10", "--", "set",
                "Interface", "vl10", "type=internal")
        o.vsctl("add-port", "obr0", "keepme", "--", "set", "Interface",
                "keepme", "type=internal")
        for cmd in (["link", "set", "obr0", "up"],
                    ["link", "set", "vl10", "up"],
                    ["addr", "add", "10.80.0.254/24", "dev", "vl10"]):
            subprocess.run(["ip", "-n", ns] + cmd, check=True)
        o.datapath = dp
        yield o
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        subprocess.run(["ip", "netns", "del", ns])
        shutil.rmtree(run, ignore_errors=True)


def test_ovs_bridged_uplink(ovs, guest, vm_factory, tmp_path):
    """`switch create --uplink bridge=obr0` finds the OVS bridge: its TAP
    becomes an OVS port tagged with the port group's VLAN and marked as
    softvisor's; a guest leases from dnsmasq on VLAN 10 and pings it; a
    live VLAN change retags the port; delete removes only our port; a port
    of the TAP's name that is not ours is refused and left alone."""
    dnsmasq = which("dnsmasq")
    if not dnsmasq:
        pytest.skip("dnsmasq not installed (dnsmasq-base)")
    dhcp = subprocess.Popen(
        ["ip", "netns", "exec", ovs.ns, dnsmasq, "--keep-in-foreground",
         "--no-resolv", "--no-hosts", "--port=0", "--interface=vl10",
         "--bind-interfaces", "--user=root",
         "--dhcp-range=10.80.0.100,10.80.0.150,255.255.255.0,1h",
         f"--dhcp-leasefile={tmp_path / 'leases'}",
         f"--pid-file={tmp_path / 'dnsmasq.pid'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    d = NsDaemon(tmp_path, ovs.ns, ovs.env)
    d.start()
    try:
        api = d.api()
        d.cli("switch", "create", "osw", "--portgroup", "red,vlan=10",
              "--uplink", "bridge=obr0,portgroup=red")
        sw = api.ok("GET", "/v1/switches/osw")
        assert sw["uplink_bridge"] == "ovs", sw
        assert sw["uplink_device"] == "sv-osw", sw
        assert "sv-osw" in ovs.ports(), ovs.ports()
        assert ovs.vsctl("get", "Port", "sv-osw", "tag") == "10"
        assert "softvisor-switch=osw" in ovs.vsctl(
            "--bare", "--columns=external_ids", "find", "Port",
            "name=sv-osw")
        show = d.cli("switch", "show", "osw").stdout
        assert "uplink device sv-osw (bridge: ovs)" in show, show

        script = ("ip link set eth0 up\n"
                  "a=$(udhcpc -i eth0 -n -q -t 10 -s /bin/true 2>&1 | "
                  "sed -n 's/.*lease of \\([0-9.]*\\).*/\\1/p')\n"
                  "echo LEASE $a\n"
                  "ip addr add $a/24 dev eth0\n"
                  "ping -c 3 -w 60 10.80.0.254 >/tmp/p 2>&1\n"
                  "echo PING-RECEIVED $(grep -c 'bytes from' /tmp/p)\n"
                  "sleep 600\n")
        argv = softvisor_argv(
            guest, append_line(script), memory="256M",
            extra=["--net", f"switch={sw['socket']},portgroup=red,"
                   "mac=52:54:00:80:00:01"])
        vm = vm_factory(argv, boot_timeout=SOFTVISOR_BOOT_TIMEOUT,
                        name="ovs")
        vm.expect(r"LEASE (10\.80\.0\.1[0-5][0-9])\s",
                  timeout=SOFTVISOR_BOOT_TIMEOUT,
                  what="DHCP lease (dnsmasq on VLAN 10)")
        vm.expect(r"PING-RECEIVED (\d+)", timeout=240, what="PING-RECEIVED")
        assert int(vm.child.match.group(1)) == 3, vm.tail() + ovs.logs()

        # the switching cost of the VM's port: API, /metrics, top -N
        sw = api.ok("GET", "/v1/switches/osw")
        port = sw["ports"][0]
        assert port["tx_frames"] >= 4 and port["cpu_us"] > 0, sw
        st, text = api.call("GET", "/metrics")  # text: not JSON
        assert st == 200, text
        line = [x for x in text.splitlines() if x.startswith(
            "softvisor_switch_port_cpu_seconds_total{switch=\"osw\","
            f"port=\"{port['id']}\"")]
        assert line and float(line[0].rsplit(" ", 1)[1]) > 0, text[-2000:]
        assert "softvisor_switch_cpu_seconds_total{switch=\"osw\"}" in text
        top = d.cli("top", "-N", "-b", "-n", "1", "-d", "0.5").stdout
        rows = [r.split(",") for r in top.splitlines()[1:]]
        assert {(r[1], r[2]) for r in rows} >= {
            ("osw", "*"), ("osw", str(port["id"])), ("osw", "uplink")}, top
        assert sw["uplink_counters"]["tx_frames"] >= 3, sw  # the replies

        # a live VLAN change of the uplink's port group retags the port
        api.ok("POST", "/v1/switches/osw/portgroups",
               {"name": "red", "vlan": 11})
        assert ovs.vsctl("get", "Port", "sv-osw", "tag") == "11"
        vm.kill()

        # a port of the TAP's name that is not ours (a record without a
        # device, as an administrator's stale port): refused, untouched
        ovs.vsctl("add-port", "obr0", "sv-taken", check=False)
        assert "sv-taken" in ovs.ports()
        st, j = api.call("POST", "/v1/switches", {
            "name": "taken", "uplink": {"type": "bridge", "bridge": "obr0",
                                        "bridge_type": "ovs"}})
        assert st == 400 and "not softvisor" in j["error"]["message"], j
        assert "sv-taken" in ovs.ports()

        # delete: our port goes, the others and the bridge stay
        deadline = time.monotonic() + 30 * TIME_SCALE
        while api.ok("GET", "/v1/switches/osw")["ports"] and \
                time.monotonic() < deadline:
            time.sleep(0.2)
        d.cli("switch", "delete", "osw")
        ports = ovs.ports()
        assert "sv-osw" not in ports, ports
        assert {"vl10", "keepme", "sv-taken"} <= set(ports), ports
        assert ovs.vsctl("br-exists", "obr0", check=False) == ""
    finally:
        rc = d.stop()
        dhcp.terminate()
        dhcp.wait(timeout=10)
    assert rc == 0, d.tail()
    # a daemon that stops takes its port with it
    assert "sv-osw" not in ovs.ports()


def test_ovs_port_removed_when_daemon_stops(ovs, tmp_path):
    """A daemon that stops removes its OVS port; restarted, it adds it
    again (a stale port of its own, as after a crash, is replaced)."""
    d = NsDaemon(tmp_path, ovs.ns, ovs.env)
    d.start()
    try:
        d.cli("switch", "create", "st", "--uplink", "ovs-bridge=obr0")
        assert ovs.vsctl("get", "Port", "sv-st", "tag") == "[]"
        assert ovs.vsctl("get", "Port", "sv-st", "vlan_mode") == "access"
    finally:
        assert d.stop(sig=signal.SIGKILL) != 0
    # killed: the TAP is gone, the OVS record stays until the switch
    # starts again and replaces it
    assert "sv-st" in ovs.ports()
    d.start()
    try:
        assert "sv-st" in ovs.ports()
        sw = d.api().ok("GET", "/v1/switches/st")
        assert sw["uplink_bridge"] == "ovs", sw
    finally:
        assert d.stop() == 0, d.tail()
    assert "sv-st" not in ovs.ports()
    assert "keepme" in ovs.ports()
