#!/usr/bin/python3
"""Write seed inputs for fuzz_vmstate into tests/fuzz/corpus/vmstate/.

Each seed is a valid VM state file (docs/vm-state.md, format version 1)
for the objects fuzz_vmstate.c builds (1 hart, PLIC with 8 sources and 2
contexts, 1 MiB of RAM at 0x8000_0000, a virtio-mmio device with 2
queues), written from the documentation, not from the C code: a second
reading of the format.
"""

import os
import struct
import sys
import zlib


def section(name, payload, instance=0, version=1):
    n = name.encode()
    hdr = bytes([len(n)]) + n + struct.pack("<IIQ", instance, version,
                                             len(payload))
    return (b"SECT" + hdr + payload +
            struct.pack("<I", zlib.crc32(hdr + payload) & 0xffffffff))


def header():
    return b"SVSTATE\0" + struct.pack("<II", 1, 0)


def end():
    return section("end", b"")


def u8(v): return struct.pack("<B", v)
def u16(v): return struct.pack("<H", v)
def u32(v): return struct.pack("<I", v)
def u64(v): return struct.pack("<Q", v)


def hart():
    p = u64(0x80200000) + u8(1) + u8(0)
    p += b"".join(u64(i * 0x1111) for i in range(1, 32))
    p += b"".join(u64(0xffffffff00000000 | i) for i in range(32))
    p += u32(0) + u32(0)
    # mstatus medeleg mideleg mie mip mtvec stvec mepc sepc mcause scause
    # mtval stval mscratch sscratch
    p += u64(0x2000) + u64(0xb1ff) + u64(0x222) + u64(0x222) + u64(0)
    p += u64(0) + u64(0x80200100) + u64(0) * 8
    p += u32(0xffffffff) + u32(7) + u32(0)
    # menvcfg senvcfg satp stimecmp mcycle_offset instret
    p += u64(1 << 63) + u64(0) + u64(8 << 60 | 0x80400) + u64(2**64 - 1)
    p += u64(0) + u64(123456)
    p += u8(16) + u8(0x1f) + u64((2**64 - 1) >> 10)
    p += (u8(0) + u64(0)) * 15
    p += u8(4) + u64(0) + (u64(0) + u64(0)) * 4
    p += u64(2**64 - 1) + u64(1000000)
    return section("hart", p)


def devices():
    aclint = section("aclint", u32(1) + u32(1) + u64(5000))
    plic = u32(8) + u32(2) + b"".join(u32(i % 8) for i in range(1, 9))
    plic += u32(0b110) + u32(0b100) + u32(0)
    plic += u32(0) + u32(0b110) + u32(1) + u32(0b10)
    uart = u8(16) + b"hello, restore!\n" + u8(2) + u8(3)
    uart += bytes([0x01, 0xc1, 0x03, 0x0b, 0xb0, 0x5a, 0x01, 0x00, 0, 0])
    rtc = u64(1234567890) + u64(0) + u32(0) * 2 + u32(0) + u32(0) + u32(1)
    return (aclint + section("plic", plic) + section("uart16550", uart) +
            section("goldfish-rtc", rtc))


def ram():
    p = u64(0x80000000) + u64(1 << 20) + u64(0) + u32(256)
    p += u32(3) + u32(1) + bytes(range(256)) * 16
    p += u32(10) + u32(2) + b"\x5a" * 8192
    return section("ram", p)


def virtio():
    p = u32(4) + u32(2) + u32(0xf) + u8(0) + u8(1) + u64(1 << 32)
    p += u32(0) * 5
    p += u32(16) + u32(1) + u64(0x80001000) + u64(0x80002000)
    p += u64(0x80003000) + u16(0) + u16(0) + u16(0) + u8(1)
    p += u32(0) + u32(0) + u64(0) * 3 + u16(0) * 3 + u8(1)
    return section("virtio-mmio", p)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "vmstate")
    os.makedirs(out, exist_ok=True)
    seeds = {
        "all": header() + hart() + devices() + ram() + virtio() + end(),
        "hart": header() + hart() + end(),
        "devices": header() + devices() + end(),
        "ram": header() + ram() + end(),
        "virtio": header() + ram() + virtio() + end(),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
