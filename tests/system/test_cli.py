"""The softvisor command line: usage, version and bad input (issues 2, 4).

Bad input must give one clear line naming the problem and exit 2, never a
crash. --dump-dtb must produce a tree dtc reads without warnings.
"""

import os
import subprocess
from pathlib import Path

import pytest

SOFTVISOR = os.environ.get("SOFTVISOR", "build/softvisor")


def sv(*args, timeout=60):
    return subprocess.run([SOFTVISOR, *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_no_arguments_prints_usage_and_exits_2():
    p = sv()
    assert p.returncode == 2
    assert "usage: softvisor" in p.stderr


def test_unknown_command_and_option():
    p = sv("frobnicate")
    assert p.returncode == 2
    assert "unknown command 'frobnicate'" in p.stderr
    p = sv("run", "--frobnicate")
    assert p.returncode == 2
    assert "unknown option '--frobnicate'" in p.stderr


def test_help_and_version():
    p = sv("--help")
    assert p.returncode == 0 and "commands:" in p.stdout
    p = sv("--version")
    assert p.returncode == 0 and p.stdout.startswith("softvisor ")
    p = sv("run", "--help")
    assert p.returncode == 0 and "--kernel FILE" in p.stdout


@pytest.mark.parametrize("args, message", [
    ([], "--kernel FILE is required"),
    (["--kernel", "/nonexistent/Image"], "/nonexistent/Image"),
    (["--kernel", "K", "--memory", "5X"],
     "--memory 5X: expected a size like 512M or 2G"),
    (["--kernel", "K", "--memory", "4T"], "--memory 4T"),
    (["--kernel", "K", "--memory", "1M"], "between 16M and 1T"),
    (["--kernel", "K", "--cpus", "0"], "--cpus 0: out of range"),
    (["--kernel", "K", "--cpus", "65"], "--cpus 65: out of range"),
    (["--kernel", "K", "--console", "tcp:1"], "tcp:1"),
    (["--kernel", "K", "--timeout", "-1"], "--timeout -1"),
    (["--kernel", "K", "--log", "loud"], "'loud'"),
    (["--kernel", "K", "extra"], "unexpected argument 'extra'"),
])
def test_bad_input_exits_2_with_one_clear_line(args, message):
    p = sv("run", *args)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr  # one clear line
    assert message in lines[0], p.stderr


def test_wrong_file_formats(tmp_path, guest):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    p = sv("run", "--kernel", str(empty))
    assert p.returncode == 2 and "empty" in p.stderr, p.stderr
    # an initrd that cannot fit in RAM
    big = tmp_path / "big.img"
    with open(big, "wb") as f:
        f.truncate(64 << 20)
    p = sv("run", "--kernel", str(guest.image), "--initrd", str(big),
           "--memory", "32M")
    assert p.returncode == 2 and "does not fit" in p.stderr, p.stderr
    p = sv("run", "--kernel", str(guest.image), "--bios",
           str(tmp_path / "missing.bin"))
    assert p.returncode == 2 and "missing.bin" in p.stderr, p.stderr


@pytest.mark.parametrize("cpus", [1, 4])
def test_dump_dtb_is_valid(tmp_path, guest, cpus):
    dtb = tmp_path / "virt.dtb"
    p = sv("run", "--kernel", str(guest.image), "--initrd", str(guest.initrd),
           "--append", "console=ttyS0", "--cpus", str(cpus),
           "--dump-dtb", str(dtb))
    assert p.returncode == 0, p.stderr
    d = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", str(dtb)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    assert d.returncode == 0
    assert d.stderr == "", d.stderr  # no warnings
    dts = d.stdout
    assert dts.count('device_type = "cpu"') == cpus
    assert 'riscv,isa = "rv64imafdc' in dts
    assert "timebase-frequency = <0x989680>" in dts
    assert "linux,initrd-start" in dts
    assert 'bootargs = "console=ttyS0"' in dts
