/*
 * A stop from the host (virt_stop: C-a x, --timeout, a signal, QMP quit)
 * while the guest reboots must stop the machine, not be lost with the old
 * boot's events (virt.c, virt_post_event). A bare-metal program (--bios
 * none, M-mode) prints B, asks the syscon for a reboot and prints Q in the
 * same block: the control thread cannot have built the next boot before
 * the Q, since it first joins this hart's thread. The stop comes from the
 * Q, inside the reboot's window; so does a pause (virt_pause), which must
 * hold for the next boot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "machine/fdt_board.h"
#include "machine/virt.h"

/* The program, loaded at the start of RAM (raw binary). */
static const uint32_t program[] = {
	0x100002b7, /* lui   t0, 0x10000      UART0 */
	0x04200313, /* li    t1, 'B' */
	0x00628023, /* sb    t1, 0(t0) */
	0x001003b7, /* lui   t2, 0x100        syscon */
	0x00007e37, /* lui   t3, 0x7 */
	0x777e0e13, /* addi  t3, t3, 0x777    VIRT_SYSCON_REBOOT */
	0x01c3a023, /* sw    t3, 0(t2) */
	0x05100313, /* li    t1, 'Q' */
	0x00628023, /* sb    t1, 0(t0) */
	0x0000006f, /* j     . */
};
_Static_assert(VIRT_UART0_BASE == 0x10000000 && VIRT_SYSCON_BASE == 0x100000 &&
		       VIRT_SYSCON_REBOOT == 0x7777,
	       "the program's addresses and value");

#define STOP_CODE 42

struct ctx {
	struct virt *vm;
	atomic_int boots;
	bool pause;	    /* the pause test: 'Q' pauses instead of stopping */
	atomic_bool paused; /* virt_pause returned, inside the window */
};

/* UART output, on the hart's thread. */
static void output(void *opaque, const uint8_t *buf, size_t len)
{
	struct ctx *c = opaque;

	for (size_t i = 0; i < len; i++) {
		if (buf[i] == 'B' && atomic_fetch_add(&c->boots, 1) >= 1) {
			/* a second boot: after the resume in the pause
			 * test, else the stop was lost; end it */
			virt_stop(c->vm, c->pause ? STOP_CODE : 1);
		} else if (buf[i] == 'Q' && atomic_load(&c->boots) == 1) {
			if (!c->pause) {
				virt_stop(c->vm, STOP_CODE);
				continue;
			}
			virt_pause(c->vm);
			atomic_store(&c->paused, true);
		}
	}
}

static char *write_program(void)
{
	static char path[] = "/tmp/sv-test-virt-stop-XXXXXX";
	strcpy(path, "/tmp/sv-test-virt-stop-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, program, sizeof(program)),
			 (ssize_t)sizeof(program));
	close(fd);
	return path;
}

static struct virt *start(struct ctx *c, const char *path,
			  struct virt_config *cfg, struct virt_host_ops *ops)
{
	struct error err = { 0 };

	*cfg = (struct virt_config){
		.ram_size = 16ULL << 20,
		.n_harts = 1,
		.kernel = path,
		.bios = VIRT_BIOS_NONE,
		.accel = VIRT_ACCEL_INTERP,
		.console = { .kind = CONSOLE_NONE },
	};
	*ops = (struct virt_host_ops){ .console_output = output, .opaque = c };
	c->vm = virt_create(cfg, ops, &err);
	assert_non_null(c->vm);
	assert_int_equal(virt_start(c->vm, &err), 0);
	return c->vm;
}

static void stop_during_reboot(void **state)
{
	(void)state;
	const char *path = write_program();
	struct virt_config cfg;
	struct virt_host_ops ops;
	struct ctx c = { 0 };
	struct virt *vm = start(&c, path, &cfg, &ops);

	int code = -1;
	enum virt_end why = virt_wait(vm, &code);
	virt_destroy(vm);
	unlink(path);

	assert_int_equal(atomic_load(&c.boots), 1);
	assert_int_equal(why, VIRT_END_STOPPED);
	assert_int_equal(code, STOP_CODE);
}

/* A pause in the same window holds for the next boot, as QEMU keeps a
 * stopped VM stopped across a reset: its first instruction waits for
 * virt_resume. (Before, build() cleared it and the new boot ran.) */
static void pause_during_reboot(void **state)
{
	(void)state;
	const char *path = write_program();
	struct virt_config cfg;
	struct virt_host_ops ops;
	struct ctx c = { .pause = true };
	struct virt *vm = start(&c, path, &cfg, &ops);

	for (int i = 0; i < 20000 && !atomic_load(&c.paused); i++)
		usleep(1000);
	assert_true(atomic_load(&c.paused));
	/* the rebuild takes milliseconds; a lost pause prints 'B' again */
	for (int i = 0; i < 1000 && atomic_load(&c.boots) == 1; i++)
		usleep(1000);
	int boots_paused = atomic_load(&c.boots);
	assert_int_equal(virt_resume(vm), 0);
	int code = -1;
	enum virt_end why = virt_wait(vm, &code);
	virt_destroy(vm);
	unlink(path);

	assert_int_equal(boots_paused, 1);
	assert_int_equal(atomic_load(&c.boots), 2);
	assert_int_equal(why, VIRT_END_STOPPED);
	assert_int_equal(code, STOP_CODE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stop_during_reboot),
		cmocka_unit_test(pause_during_reboot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
