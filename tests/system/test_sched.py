"""The vCPU scheduler with real Debian guests (issue 7): shares split a pCPU,
a limit caps an otherwise idle host, a reservation holds against busy
neighbours, idle VMs cost almost nothing; `vm set` changes QoS live and
`softvisor top -b` shows the figures. Host CPU is measured from the vCPU
threads' own CPU time in /proc, not from the scheduler's accounting.

The machine is shared and may be several times slower at times: the
assertions are ratios between VMs and upper bounds (a limit), never a
fraction of the wall clock that a busy host could not give."""

import csv
import io
import os
import time

import pexpect
import pytest

from conftest import MARKER, TIME_SCALE
from daemon_util import (Daemon, guest_definition, softvisor_exe,
                         thread_cpu_ticks, vm_pid, process_cpu_ticks)

BUSY = "while :; do :; done"
MHZ = 2000  # nominal MHz per pCPU given to the daemon
TICK = os.sysconf("SC_CLK_TCK")


def wait_console(d, name, pattern, timeout=240):
    env = dict(os.environ, SOFTVISOR_SOCKET=d.sock)
    c = pexpect.spawn(softvisor_exe(), ["vm", "console", name, "--read-only"],
                      env=env, encoding="utf-8", codec_errors="replace",
                      timeout=timeout * TIME_SCALE)
    c.logfile_read = open(d.tmp / f"console-{name}.log", "a")
    try:
        c.expect(pattern)
    except (pexpect.TIMEOUT, pexpect.EOF):
        pytest.fail(f"{name}: no {pattern!r}; console:\n"
                    + (d.tmp / f"console-{name}.log").read_text()[-2000:])
    finally:
        c.terminate(force=True)


def vcpu_tids(api, name):
    return [v["tid"] for v in api.ok("GET", f"/v1/vms/{name}/stats")["vcpus"]]


def cpu_shares_of(d, names, seconds):
    """Host CPU (fraction of one core) each VM's vCPU threads used."""
    api = d.api()
    tids = {n: vcpu_tids(api, n) for n in names}
    pids = {n: vm_pid(api, n, d) for n in names}

    def sample():
        return {n: sum(thread_cpu_ticks(pids[n], t) for t in tids[n])
                for n in names}
    t0, a = time.monotonic(), sample()
    time.sleep(seconds)
    t1, b = time.monotonic(), sample()
    return {n: (b[n] - a[n]) / TICK / (t1 - t0) for n in names}


@pytest.fixture
def one_pcpu(tmp_path):
    d = Daemon(tmp_path, extra=["--pcpus", "1", "--mhz", str(MHZ)]).start()
    yield d
    rc = d.stop()
    assert rc == 0, f"daemon exit status {rc}:\n{d.tail()}"


def busy_vm(d, guest, name, **qos):
    defn = guest_definition(guest, name, script=BUSY, after="poweroff",
                            qos={"cpu": qos} if qos else {})
    d.api().ok("POST", "/v1/vms", defn)
    d.api().ok("POST", f"/v1/vms/{name}/start")


def test_shares_split_one_pcpu(one_pcpu, guest):
    d = one_pcpu
    names = ["s1", "s2", "s3"]
    for n, shares in zip(names, [1000, 2000, 3000]):
        busy_vm(d, guest, n, shares=shares)
    for n in names:
        wait_console(d, n, "SOFTVISOR-RUN-BEGIN")
    # The split is only the shares' when the three get the whole pCPU: on
    # a host busy with other work their threads wait for a core, and the
    # scheduler (work-conserving) hands a waiting VM's turn to the others.
    # Measure again (a few windows) until the VMs had most of the pCPU.
    best = None
    for _ in range(4):
        got = cpu_shares_of(d, names, 10)
        if best is None or sum(got.values()) > sum(best.values()):
            best = got
        if sum(got.values()) >= 0.75:
            break
        print("host busy: the VMs got", round(sum(got.values()), 2),
              "of the pCPU; measuring again")
    got = best
    total = sum(got.values())
    print("shares 1000:2000:3000 ->",
          " ".join(f"{n}={got[n] / total:.3f}" for n in names))
    assert total > 0.2, f"the pCPU should be in use: {got}"
    for n, want in zip(names, [1 / 6, 2 / 6, 3 / 6]):
        frac = got[n] / total
        assert abs(frac - want) <= 0.05, \
            f"{n}: {frac:.3f} of the CPU, want {want:.3f} +- 0.05 ({got})"

    # top -b: live figures of the running VMs as CSV
    p = d.cli("top", "-b", "-n", "2", "-d", "2.5")
    rows = [r for r in csv.DictReader(io.StringIO(p.stdout))]
    last = {r["vm"]: r for r in rows if r["vcpu"] == ""}
    assert set(last) == set(names), p.stdout
    used = {n: float(last[n]["used_pct"]) for n in names}
    assert used["s3"] > used["s1"] > 0, used
    host = d.api().ok("GET", "/v1/host/stats")
    assert len(host["vms"]) == 3


@pytest.mark.full
def test_limit_and_live_qos(one_pcpu, guest):
    d = one_pcpu
    busy_vm(d, guest, "lim")
    wait_console(d, "lim", "SOFTVISOR-RUN-BEGIN")
    free = cpu_shares_of(d, ["lim"], 4)["lim"]
    # a limit of 25 % of a pCPU, set on the running VM
    d.cli("vm", "set", "lim", "--cpu-limit", str(MHZ // 4))
    time.sleep(0.5)
    got = cpu_shares_of(d, ["lim"], 10)["lim"]
    print(f"limit 25 % -> {got:.3f} of a pCPU (unlimited {free:.3f})")
    assert 0 < got <= 0.25 + 0.03, f"limited to 25 %, used {got:.3f}"
    info = d.api().ok("GET", "/v1/vms/lim")
    assert info["definition"]["qos"]["cpu"]["limit_mhz"] == MHZ // 4


@pytest.mark.full
def test_reservation_against_busy_neighbours(one_pcpu, guest):
    d = one_pcpu
    # by shares alone r1 would get 1000/5000 = 20 %; it reserves 60 %
    busy_vm(d, guest, "r1", reservation_mhz=MHZ * 6 // 10)
    busy_vm(d, guest, "r2", shares="high")
    busy_vm(d, guest, "r3", shares="high")
    for n in ["r1", "r2", "r3"]:
        wait_console(d, n, "SOFTVISOR-RUN-BEGIN")
    got = cpu_shares_of(d, ["r1", "r2", "r3"], 10)
    print("reservation 60 % vs two high-share neighbours ->",
          " ".join(f"{n}={v:.3f}" for n, v in got.items()))
    total = sum(got.values())
    assert total > 0, got
    frac = {n: v / total for n, v in got.items()}
    assert frac["r1"] >= 0.60 - 0.05, f"reservation not met: {frac}"
    assert abs(frac["r2"] - frac["r3"]) <= 0.05, frac
    # admission control: a reservation that does not fit is refused
    defn = guest_definition(guest, "big", qos={"cpu": {
        "reservation_mhz": MHZ // 2}})
    d.api().ok("POST", "/v1/vms", defn)
    st, j = d.api().call("POST", "/v1/vms/big/start")
    assert st == 409 and "does not fit" in j["error"]["message"], j


@pytest.mark.full
def test_idle_vms_cost_nothing(tmp_path, guest):
    d = Daemon(tmp_path).start()
    try:
        names = [f"idle{i:02d}" for i in range(16)]
        for n in names:
            d.api().ok("POST", "/v1/vms",
                       guest_definition(guest, n, memory="192M"))
            d.api().ok("POST", f"/v1/vms/{n}/start")
        for n in names:
            wait_console(d, n, MARKER, timeout=400)
        # let the guests finish what follows boot (deferred work, RCU)
        time.sleep(10)
        # the daemon and every VM's worker process (issue 14)
        pids = {d.proc.pid} | {vm_pid(d.api(), n, d) for n in names}
        a = sum(process_cpu_ticks(p) for p in pids)
        t0 = time.monotonic()
        time.sleep(10)
        b = sum(process_cpu_ticks(p) for p in pids)
        t1 = time.monotonic()
        used = (b - a) / TICK
        frac = used / (t1 - t0)
        limit = 0.05 * TIME_SCALE
        print(f"16 idle VMs -> {frac:.4f} of one core")
        assert frac < limit, \
            f"16 idle VMs used {frac:.3f} of a core (limit {limit})"
    finally:
        assert d.stop() == 0


def test_cpu_affinity(tmp_path, guest):
    """qos.cpu.affinity: two busy vCPUs restricted to pCPU 1 of 2 share
    that one pCPU; an affinity naming no pCPU of the host is refused, live
    too. (Two vCPUs on one pCPU also once deadlocked in the SBI remote
    fence.)"""
    d = Daemon(tmp_path, extra=["--pcpus", "2", "--mhz", str(MHZ)]).start()
    try:
        api = d.api()
        defn = guest_definition(guest, "aff", cpus=2,
                                script=f"({BUSY}) & {BUSY}", after="poweroff",
                                qos={"cpu": {"affinity": "1"}})
        api.ok("POST", "/v1/vms", defn)
        api.ok("POST", "/v1/vms/aff/start")
        wait_console(d, "aff", "SOFTVISOR-RUN-BEGIN")
        # the scheduler's own accounting of pCPU time held, which host
        # load does not change: without the affinity both vCPUs would hold
        # a pCPU each all the time
        def held():
            st = api.ok("GET", "/v1/vms/aff/stats")
            return time.monotonic(), sum(v["used_us"] for v in st["vcpus"])
        t0, u0 = held()
        time.sleep(4)
        t1, u1 = held()
        got = (u1 - u0) / 1e6 / (t1 - t0)
        print(f"2 busy vCPUs on pCPU 1 only: held {got:.3f} pCPUs")
        assert 0.5 < got <= 1.05, f"one pCPU at most, held {got:.3f}"
        # top shows the affinity and the pCPU each vCPU ran on
        p = d.cli("top", "-b", "-H", "-n", "1")
        rows = list(csv.DictReader(io.StringIO(p.stdout)))
        assert [r["cpus"] for r in rows if r["vm"] == "aff"] == \
            ["1", "1", "1"], p.stdout

        p = d.cli("vm", "set", "aff", "--cpu-affinity", "5", check=False)
        assert p.returncode != 0
        assert "qos.cpu.affinity 5" in p.stderr, p.stderr
        info = api.ok("GET", "/v1/vms/aff")
        assert info["definition"]["qos"]["cpu"]["affinity"] == "1"
        d.cli("vm", "set", "aff", "--cpu-affinity", "0-1")
        info = api.ok("GET", "/v1/vms/aff")
        assert info["definition"]["qos"]["cpu"]["affinity"] == "0-1"

        # refused at start, with the field named
        api.ok("POST", "/v1/vms", guest_definition(
            guest, "aff2", qos={"cpu": {"affinity": "7"}}))
        st, body = api.call("POST", "/v1/vms/aff2/start")
        assert st >= 400 and "qos.cpu.affinity 7" in str(body), (st, body)
    finally:
        rc = d.stop()
    assert rc == 0, f"daemon exit status {rc}:\n{d.tail()}"
