/*
 * host.c - host build of the CPU benchmark workload: prints the checksum
 * the guest must reproduce.  Usage: bench-cpu-host ITERATIONS
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s ITERATIONS\n", argv[0]);
		return 2;
	}
	unsigned long n = strtoul(argv[1], NULL, 0);
	printf("0x%08x\n", bench_run((uint32_t)n));
	return 0;
}
