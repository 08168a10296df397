/*
 * pvpanic-mmio: see pvpanic.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "dev/pvpanic.h"
#include "util/log.h"

#define SUPPORTED (PVPANIC_PANICKED | PVPANIC_CRASH_LOADED)

struct pvpanic {
	struct pvpanic_ops ops;
	void *opaque;
};

static uint64_t pvpanic_read(void *opaque, uint64_t off, unsigned size)
{
	(void)opaque;
	return off == 0 && size == 1 ? SUPPORTED : 0;
}

static void pvpanic_write(void *opaque, uint64_t off, uint64_t val,
			  unsigned size)
{
	struct pvpanic *p = opaque;
	unsigned events = (unsigned)val & SUPPORTED;

	if (off != 0 || size != 1 || !events)
		return;
	log_debug("pvpanic", "guest reports%s%s",
		  events & PVPANIC_PANICKED ? " panicked" : "",
		  events & PVPANIC_CRASH_LOADED ? " crash-loaded" : "");
	if (p->ops.event)
		p->ops.event(p->opaque, events);
}

static const struct mmio_ops ops = {
	.read = pvpanic_read,
	.write = pvpanic_write,
};

const struct mmio_ops *pvpanic_mmio_ops(void)
{
	return &ops;
}

struct pvpanic *pvpanic_create(const struct pvpanic_ops *o, void *opaque,
			       struct error *err)
{
	struct pvpanic *p = calloc(1, sizeof(*p));

	if (!p) {
		error_set(err, ENOMEM, "pvpanic: out of memory");
		return NULL;
	}
	if (o)
		p->ops = *o;
	p->opaque = opaque;
	return p;
}

void pvpanic_destroy(struct pvpanic *p)
{
	free(p);
}
