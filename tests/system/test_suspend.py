"""Suspend and resume of daemon VMs (issue 18, docs/vm-state.md).

A guest runs a workload that checks itself: a loop that keeps a counter
both in a shell variable and in a file, checks that they agree before each
step, and prints `CTR n checksum uptime END` on the serial console. The VM
is suspended (its worker writes the state to the file the daemon passed it
and exits) and resumed (a new worker continues from that file) several
times, by `vm resume` and by `vm start`. Across all of it the console shows
every n exactly once, in order, with its checksum; the guest's clock does
not jump over the time the VM spent suspended; the console takes input
after the last resume. Stop of a suspended VM discards its state; edits of
its machine are refused while it is suspended.
"""

import re
import time

import pexpect

from conftest import MARKER, TIME_SCALE
from daemon_util import Daemon, guest_definition
from test_daemon import console

WORKLOAD = """(
i=0
echo 0 > /tmp/ctr
while :; do
  p=$(cat /tmp/ctr)
  [ "$p" = "$i" ] || echo "CTR-BAD file=$p mem=$i"
  i=$((i+1))
  echo $i > /tmp/ctr
  echo "CTR $i $((i*7919%65521)) $(cut -d' ' -f1 /proc/uptime) END"
  sleep 0.2
done
) &
"""

CTR = re.compile(r"CTR (\d+) (\d+) (\d+\.\d+) END")


def lines(text):
    return [(int(a), int(b), float(c)) for a, b, c in CTR.findall(text)]


def test_suspend_resume_keeps_the_workload(tmp_path, guest):
    d = Daemon(tmp_path).start()
    try:
        run(d, guest)
    finally:
        if d.proc:
            rc = d.stop()
            assert rc == 0, f"daemon exit status {rc}:\n{d.tail()}"


def run(d, guest):
    api = d.api()
    defn = guest_definition(guest, "ctr", script=WORKLOAD, after="shell")
    vm = api.ok("POST", "/v1/vms", defn)
    state_file = d.state / "vmstate" / f"{vm['id']}.state"
    d.cli("vm", "start", "ctr")
    # every console session is appended to this log: the first one from
    # the boot, each later one from its restore (its scrollback)
    log = d.tmp / "console-ctr.log"

    def seen():
        c.logfile_read.flush()
        return log.read_text(errors="replace")

    c = console(d, "ctr")
    c.expect(MARKER, timeout=180 * TIME_SCALE)
    c.expect(r"CTR 5 ", timeout=60 * TIME_SCALE)
    for cycle in range(3):
        # a fresh line, then at once the suspend
        c.expect(CTR, timeout=60 * TIME_SCALE)
        t_pre = time.monotonic()
        p = d.cli("vm", "suspend", "ctr")
        t_suspended = time.monotonic()
        assert "suspended" in p.stdout
        assert api.state("ctr") == "suspended"
        assert api.ok("GET", "/v1/vms/ctr")["worker_pid"] == 0
        assert state_file.stat().st_size > 0
        # the console stream ends with the machine
        c.expect(pexpect.EOF, timeout=30 * TIME_SCALE)
        last = lines(seen())[-1]
        time.sleep(3)
        t_resume = time.monotonic()
        d.cli("vm", "resume" if cycle % 2 == 0 else "start", "ctr")
        assert api.state("ctr") == "running"
        assert not state_file.exists()
        assert api.ok("GET", "/v1/vms/ctr")["worker_pid"] > 0
        # the new machine's scrollback holds everything since the restore
        c = console(d, "ctr")
        c.expect(CTR, timeout=60 * TIME_SCALE)
        t_obs = time.monotonic()
        first = (int(c.match.group(1)), int(c.match.group(2)),
                 float(c.match.group(3)))
        assert first[0] == last[0] + 1, (last, first)
        # the guest's clock stood still while the VM was suspended: its
        # uptime moved by at most the host time it could have run
        gone = t_resume - t_suspended
        ran = (t_obs - t_pre) - gone
        assert last[2] <= first[2] <= last[2] + ran + 1.5, \
            (last, first, ran, gone)

    # let it run a little, then check the console's whole output so far
    n = first[0] + 5
    c.expect(r"CTR %d .* END" % n, timeout=60 * TIME_SCALE)
    text = seen()
    assert "CTR-BAD" not in text
    got = lines(text)
    nums = [k for k, _, _ in got]
    assert nums[-1] >= n
    assert nums == list(range(1, len(nums) + 1)), nums
    assert all(s == k * 7919 % 65521 for k, s, _ in got)
    ups = [u for _, _, u in got]
    assert ups == sorted(ups), "the guest's clock went back"

    # the console takes input after the resumes
    c.send("echo sum=$((40+2))\r")
    c.expect("sum=42", timeout=60 * TIME_SCALE)
    c.sendcontrol("]")
    c.expect(pexpect.EOF, timeout=10 * TIME_SCALE)

    # suspended: the machine cannot be edited; stop discards the state
    d.cli("vm", "suspend", "ctr")
    st, j = api.call("PATCH", "/v1/vms/ctr", {"memory": "512M"})
    assert st == 409 and "suspended" in j["error"]["message"], (st, j)
    assert state_file.exists()
    d.cli("vm", "stop", "ctr")
    assert api.state("ctr") == "stopped"
    assert not state_file.exists()
    st, j = api.call("POST", "/v1/vms/ctr/suspend")
    assert st == 409 and "not running" in j["error"]["message"], (st, j)

    ev = api.ok("GET", "/v1/events?vm=ctr&limit=200")["events"]
    acts = [(e["action"], e["result"]) for e in ev]
    assert acts.count(("suspend", "ok")) == 4, acts
    assert ("resume", "ok") in acts and ("start", "ok") in acts, acts
    audit = api.ok("GET", "/v1/audit")
    assert "vm.suspend" in str(audit)
