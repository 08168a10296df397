#!/usr/bin/python3
"""Write the seed inputs of fuzz_virtq (tests/fuzz/corpus/virtq/).

Well-formed rings the fuzzer starts from: a simple chain, EVENT_IDX with a
second round, an indirect table, buffers on released (zero) pages. The
input layout is described at the top of fuzz_virtq.c."""
import os
import struct

RAM = 0x10000
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "virtq")


def seed(name, flags, descs, heads, table=None, more=0, release=0, qlog=4):
    ram = bytearray(0x4000)
    for i, (a, l, f, n) in descs.items():
        struct.pack_into("<QIHH", ram, 16 * i, RAM + a, l, f, n)
    if table:
        base, ents = table
        for i, (a, l, f, n) in enumerate(ents):
            struct.pack_into("<QIHH", ram, base + 16 * i, RAM + a, l, f, n)
    for k, h in enumerate(heads):
        struct.pack_into("<H", ram, 0x1000 + 4 + 2 * k, h)
    struct.pack_into("<H", ram, 0x1002, len(heads))
    ram[0x3000:0x3010] = b"fuzz seed data!!"
    hdr = struct.pack("<BBHHHHH", qlog, flags, 0, 0x1000, 0x2000, release, more)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(hdr + bytes(ram))


os.makedirs(OUT, exist_ok=True)
# desc: index -> (RAM offset, len, flags NEXT=1 WRITE=2 INDIRECT=4, next)
seed("simple", 0, {0: (0x3000, 16, 1, 1), 1: (0x3400, 64, 2, 0)}, [0])
seed("event_idx", 1,
     {0: (0x3000, 16, 1, 1), 1: (0x3400, 64, 2, 0), 2: (0x3800, 8, 0, 0)},
     [0, 2, 0], more=2)
seed("indirect", 3, {0: (0x2800, 48, 4, 0)}, [0, 0],
     table=(0x2800, [(0x3000, 4, 1, 1), (0x3010, 4, 1, 2),
                     (0x3400, 32, 2, 0)]))
seed("zero_pages", 0x11, {0: (0x8000, 0x2000, 1, 1), 1: (0x3400, 64, 2, 0)},
     [0], release=0x198)
