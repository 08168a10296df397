/*
 * Power/reset register (see syscon.h; Linux
 * Documentation/devicetree/bindings/power/reset/syscon-poweroff.yaml and
 * syscon-reboot.yaml).
 */
#include <errno.h>
#include <stdlib.h>

#include "dev/syscon.h"
#include "util/error.h"
#include "util/log.h"

struct syscon {
	struct syscon_ops ops;
	void *opaque;
};

static uint64_t syscon_read(void *opaque, uint64_t off, unsigned size)
{
	return 0;
}

static void syscon_write(void *opaque, uint64_t off, uint64_t val,
			 unsigned size)
{
	struct syscon *s = opaque;
	uint32_t v;

	if (off != 0 || size < 2)
		return;
	v = size == 2 ? (uint16_t)val : (uint32_t)val;
	switch (v & 0xffff) {
	case SYSCON_POWEROFF:
		log_debug("syscon", "guest powered off");
		if (s->ops.on_poweroff)
			s->ops.on_poweroff(s->opaque, 0);
		break;
	case SYSCON_FAIL: {
		int code = (int)(v >> 16);
		log_debug("syscon", "guest powered off, failure code %d", code);
		if (s->ops.on_poweroff)
			s->ops.on_poweroff(s->opaque, code ? code : 1);
		break;
	}
	case SYSCON_REBOOT:
		log_debug("syscon", "guest reboot");
		if (s->ops.on_reboot)
			s->ops.on_reboot(s->opaque);
		break;
	default: break;
	}
}

static const struct mmio_ops syscon_ops = {
	.read = syscon_read,
	.write = syscon_write,
};

const struct mmio_ops *syscon_mmio_ops(void)
{
	return &syscon_ops;
}

struct syscon *syscon_create(const struct syscon_ops *ops, void *opaque,
			     struct error *err)
{
	struct syscon *s = calloc(1, sizeof(*s));

	if (!s) {
		error_set(err, ENOMEM, "syscon: out of memory");
		return NULL;
	}
	if (ops)
		s->ops = *ops;
	s->opaque = opaque;
	return s;
}

void syscon_destroy(struct syscon *s)
{
	free(s);
}
