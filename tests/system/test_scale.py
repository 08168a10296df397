"""Many VMs on one host (issue 14: "no fixed cap on VMs per host; admission
control and memory are the only limits" -- the daemon once refused a 65th
VM). The guests are the smallest there are: a 64-byte RISC-V Image whose
code is `wfi; j .-4` (idle_image() below), so 70 VMs of 64 MiB start in
seconds; each gets its own worker, the scheduler admits them all, /metrics
reports every one, and they stop cleanly. bench/scale/run measures the
same with 200 VMs (CPU and memory of the host while they idle)."""

import struct

from daemon_util import Daemon

N_VMS = 70  # more than the 64 of the old fixed table


def idle_image(path):
    """A RISC-V Linux Image (the kernel's boot-image header) that only
    waits for interrupts, with none enabled: an idle guest in 64 bytes."""
    wfi, back = 0x10500073, 0xFFDFF06F  # wfi; jal x0, -4
    hdr = struct.pack("<IIQQQIIQ8s4sI", wfi, back, 0x200000, 64, 0, 2, 0,
                      0, b"RISCV\0\0\0", b"RSC\x05", 0)
    path.write_bytes(hdr)
    return path


def test_more_vms_than_the_old_cap(tmp_path):
    image = idle_image(tmp_path / "idle.Image")
    d = Daemon(tmp_path).start()
    api = d.api(timeout=120)
    try:
        names = [f"idle{i:03d}" for i in range(N_VMS)]
        for n in names:
            api.ok("POST", "/v1/vms", {"name": n, "cpus": 1, "memory": "64M",
                                       "boot": {"kernel": str(image)}})
        for n in names:
            api.ok("POST", f"/v1/vms/{n}/start")
        pids = set()
        for n in names:
            vm = api.ok("GET", f"/v1/vms/{n}")
            assert vm["state"] == "running", vm
            assert vm["worker_pid"], vm
            pids.add(vm["worker_pid"])
        assert len(pids) == N_VMS  # one worker each
        st, text = api.call("GET", "/metrics")
        assert st == 200
        for n in names:
            assert f'vm="{n}"' in text, n
        for n in names:
            api.ok("POST", f"/v1/vms/{n}/stop")
        for n in names:
            api.wait_state(n, "stopped")
    finally:
        assert d.stop() == 0, d.tail()
