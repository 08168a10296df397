"""GET /metrics of a real daemon with a running Debian guest (issue 19):
the Prometheus text passes `promtool check metrics`, over the unix socket
and over TLS with a bearer token, and the VM's counters (vCPU time,
instructions, disk reads, NIC frames) are there and move between two
scrapes. docs/metrics.md."""

import os
import re
import subprocess
import time

import pytest

from conftest import TIME_SCALE
from daemon_util import Api, Daemon, guest_definition, free_port

PROMTOOL = "/usr/bin/promtool"

# In the guest: read the disk, bring the NIC up and ask for a lease (frames
# both ways through the user back end).
SCRIPT = ("dd if=/dev/vda of=/dev/null bs=4096 count=64 2>/dev/null\n"
          "ip link set eth0 up\n"
          "udhcpc -i eth0 -n -q -t 5 -s /bin/true >/dev/null 2>&1\n"
          "echo METRICS-IO-DONE\n")

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels)): value} of a text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"malformed sample line: {line!r}"
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def value(samples, name, **labels):
    key = (name, frozenset(labels.items()))
    assert key in samples, f"no sample {name}{labels}"
    return samples[key]


def promtool_check(text, tmp_path):
    """`promtool check metrics` reads the exposition on stdin; it prints
    lint problems and exits non-zero on any."""
    if not os.access(PROMTOOL, os.X_OK):
        pytest.skip("promtool not installed (Debian package prometheus; "
                    "tools/install-deps)")
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=60)
    (tmp_path / "metrics.txt").write_text(text)
    assert p.returncode == 0, f"promtool: {p.stdout}{p.stderr}"
    assert p.stdout.strip() == "" and p.stderr.strip() == "", \
        f"promtool lint: {p.stdout}{p.stderr}"


def scrape(api):
    c = api.conn()
    headers = {"Authorization": "Bearer " + api.token} if api.token else {}
    c.request("GET", "/metrics", headers=headers)
    r = c.getresponse()
    body = r.read().decode()
    ctype = r.getheader("Content-Type")
    c.close()
    return r.status, ctype, body


def cpu_total(samples, vm):
    return sum(value(samples, f"softvisor_vm_cpu_{k}_seconds_total", vm=vm,
                     vcpu="0") for k in ("used", "ready", "wait", "costop"))


def test_metrics_scrape(tmp_path, guest):
    port = free_port()
    d = Daemon(tmp_path, extra=["--listen", f"127.0.0.1:{port}"]).start()
    try:
        api = d.api()
        disk = tmp_path / "disk.img"
        with open(disk, "wb") as f:
            f.truncate(4 << 20)
        defn = guest_definition(guest, "web1", script=SCRIPT,
                                disks=[{"path": str(disk)}],
                                nics=[{"type": "user"}])
        api.ok("POST", "/v1/vms", defn)
        api.ok("POST", "/v1/vms", guest_definition(guest, "idle"))
        api.ok("POST", "/v1/vms/web1/start")

        st, ctype, text = scrape(api)
        assert st == 200, text
        assert ctype.startswith("text/plain; version=0.0.4"), ctype
        promtool_check(text, tmp_path)
        first = parse(text)
        assert value(first, "softvisor_vm_state", vm="web1",
                     state="running") == 1
        assert value(first, "softvisor_vm_state", vm="idle",
                     state="defined") == 1
        assert value(first, "softvisor_vm_state", vm="idle",
                     state="running") == 0
        assert value(first, "softvisor_vm_memory_bytes", vm="web1") \
            == 256 << 20
        assert value(first, "softvisor_vm_vcpus", vm="web1") == 1
        assert value(first, "softvisor_host_cpu_capacity_hertz") > 0
        # a VM that does not run has no vCPU figures
        assert ("softvisor_vm_cpu_used_seconds_total",
                frozenset({("vm", "idle"), ("vcpu", "0")})) not in first

        # the guest reads its disk and talks DHCP: the counters move
        end = time.monotonic() + 240 * TIME_SCALE
        while True:
            st, _, text = scrape(api)
            assert st == 200
            now = parse(text)
            moved = (
                cpu_total(now, "web1") > cpu_total(first, "web1")
                and value(now, "softvisor_vm_cpu_instructions_total",
                          vm="web1", vcpu="0")
                > value(first, "softvisor_vm_cpu_instructions_total",
                        vm="web1", vcpu="0")
                and value(now, "softvisor_vm_disk_read_bytes_total",
                          vm="web1", disk="0") >= 64 * 4096
                and value(now, "softvisor_vm_disk_read_requests_total",
                          vm="web1", disk="0") > 0
                and value(now, "softvisor_vm_nic_tx_packets_total",
                          vm="web1", nic="0") > 0
                and value(now, "softvisor_vm_nic_rx_packets_total",
                          vm="web1", nic="0") > 0)
            if moved:
                break
            assert time.monotonic() < end, \
                f"counters did not move:\n{text}\n{d.tail()}"
            time.sleep(1)
        promtool_check(text, tmp_path)
        assert value(now, "softvisor_vm_nic_tx_bytes_total", vm="web1",
                     nic="0") > 0
        # the same counters as JSON, per device (GET /v1/vms/{vm}/stats:
        # the web console's Disks and Network tables); they only grow
        st = api.ok("GET", "/v1/vms/web1/stats")
        assert [x["disk"] for x in st["disks"]] == [0]
        dk = st["disks"][0]
        assert dk["path"] == str(disk) and dk["errors"] == 0
        assert dk["read_bytes"] >= value(now, "softvisor_vm_disk_"
                                         "read_bytes_total", vm="web1",
                                         disk="0")
        assert dk["read_ops"] > 0 and dk["read_bytes"] >= 64 * 4096
        [nic] = st["nics"]
        assert nic["nic"] == 0 and nic["mac"] == "52:54:00:12:34:56"
        assert nic["tx_packets"] >= value(now, "softvisor_vm_nic_tx_"
                                          "packets_total", vm="web1",
                                          nic="0") > 0
        assert nic["rx_packets"] > 0 and nic["tx_bytes"] > 0
        assert nic["rx_bytes"] > 0
        idle = api.ok("GET", "/v1/vms/idle/stats")
        assert idle["disks"] == [] and idle["nics"] == []
        assert value(now, "softvisor_api_requests_total", code="200") \
            > value(first, "softvisor_api_requests_total", code="200")

        # TLS: a token is required, then the same text
        tls = Api(port=port)
        st, _, _ = scrape(tls)
        assert st == 401
        secret = d.cli("token", "create", "prom").stdout.strip().split()[-1]
        st, ctype, text = scrape(Api(port=port, token=secret))
        assert st == 200 and ctype.startswith("text/plain"), text
        promtool_check(text, tmp_path)
        assert value(parse(text), "softvisor_vm_state", vm="web1",
                     state="running") == 1
        # the refused scrape was counted
        assert value(parse(text), "softvisor_api_requests_total",
                     code="401") >= 1

        api.ok("POST", "/v1/vms/web1/stop")
        st, _, text = scrape(api)
        promtool_check(text, tmp_path)
        assert value(parse(text), "softvisor_vm_state", vm="web1",
                     state="stopped") == 1
    finally:
        assert d.stop() == 0, d.tail()
