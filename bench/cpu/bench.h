/*
 * bench.h - the workload of the CPU benchmark (bench/cpu).
 *
 * A CoreMark-like mix of integer kernels: linked-list pointer chasing and
 * merge sort, a small matrix multiply, a state machine over a string,
 * CRC16 and an array sort.  The same C code is built for the guest
 * (bare-metal RISC-V, see main.c) and for the host (host.c), so the host
 * build gives the checksum the guest must reproduce.
 *
 * Pure computation: no I/O, no allocation, no dependence on pointer values
 * or on the size of long, so the checksum is the same on every LP64 target.
 * Not thread-safe (the working set is static).
 */
#ifndef SOFTVISOR_BENCH_CPU_H
#define SOFTVISOR_BENCH_CPU_H

#include <stdint.h>

/* Run the workload `iterations` times; returns the 32-bit checksum. */
uint32_t bench_run(uint32_t iterations);

#endif
