/*
 * The machine that tests/unit/machine/test_sbi.c and tests/fuzz/fuzz_sbi.c
 * call the built-in SBI on: two real harts with the SBI built in, guest RAM
 * at RAM base, no devices and no hart threads. Header-only: both programs
 * compile it in.
 */
#ifndef SV_TESTS_SBI_MACHINE_H
#define SV_TESTS_SBI_MACHINE_H

#include <pthread.h>
#include <stdlib.h>

#include "cpu/hart.h"
#include "machine/virt_impl.h"
#include "mem/gmem.h"

/* NULL when memory or a hart cannot be made. */
static inline struct virt *sbi_machine_new(uint64_t ram_base, uint64_t ram_size)
{
	struct virt *vm = calloc(1, sizeof(*vm));

	if (!vm)
		return NULL;
	vclock_init(&vm->clock);
	vm->mem = gmem_create(ram_base, ram_size, NULL);
	if (!vm->mem) {
		free(vm);
		return NULL;
	}
	vm->n_harts = 2;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->ev_lock, NULL);
	pthread_cond_init(&vm->ev_cond, NULL);
	pthread_cond_init(&vm->cond, NULL);
	for (unsigned i = 0; i < 2; i++) {
		struct hart_config hc = {
			.hartid = i,
			.mem = vm->mem,
			.clock = &vm->clock,
			.sbi_builtin = true,
			.sbi_call = sbi_handle,
			.opaque = &vm->harts[i],
		};
		vm->harts[i].vm = vm;
		vm->harts[i].id = i;
		vm->harts[i].h = hart_create(&hc, NULL);
		if (!vm->harts[i].h)
			return NULL; /* a test program: it stops here */
	}
	return vm;
}

static inline void sbi_machine_free(struct virt *vm)
{
	for (unsigned i = 0; i < 2; i++)
		hart_destroy(vm->harts[i].h);
	gmem_destroy(vm->mem);
	free(vm);
}

#endif
