/*
 * libFuzzer target: the vSwitch core (src/net/vswitch.c) fed hostile
 * frames from its ports, as guests send them, with live port group
 * changes in between. Pure: no sockets or threads.
 *
 * A switch with port groups "a" (VLAN 0), "b" (VLAN 10, forged transmits
 * and MAC changes rejected, shaped), "t" (trunk) and 6 ports across them.
 * Input: operations until it ends, each one byte op % 4:
 *   0 frame: u8 port (% 8: 6 and 7 are not connected), u16 len (% 2100),
 *     len bytes (short input: what is left)
 *   1 time passes: u32 nanoseconds * 1000
 *   2 port group b gets VLAN u16 % 4097 and u8 policy bits (a VLAN 4096
 *     must be refused)
 *   3 port u8 % 6 leaves and joins again in port group u8 % 3
 *
 * Invariants (abort): a delivered frame is 14..VSWITCH_MAX_FRAME bytes; no
 * frame is delivered back to its sender; a non-trunk port never gets a
 * tagged frame.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/vswitch.h"

#define NPORTS 6

static int current_in = -1;

struct fport {
	int id;
	bool trunk;
};

static struct fport fports[NPORTS];

static void out(void *opaque, const uint8_t *f, size_t len)
{
	struct fport *p = opaque;

	if (len < 14 || len > VSWITCH_MAX_FRAME)
		abort();
	if (p->id == current_in)
		abort();
	if (!p->trunk && f[12] == 0x81 && f[13] == 0x00)
		abort();
}

static const char *const pg_names[3] = { "a", "b", "t" };

static void join(struct vswitch *sw, int i, int g)
{
	uint8_t mac[6] = { 0x52, 0x54, 0, 0, 0, (uint8_t)i };

	fports[i].trunk = g == 2;
	fports[i].id = vswitch_port_add(sw, pg_names[g], mac, out, &fports[i],
					NULL);
	if (fports[i].id < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vswitch *sw = vswitch_new("fz", 1500);
	struct vswitch_portgroup_config pg;
	uint64_t now = 1;
	size_t i = 0;

	if (!sw)
		return 0;
	vswitch_portgroup_init(&pg, "a");
	vswitch_portgroup_set(sw, &pg, NULL);
	vswitch_portgroup_init(&pg, "b");
	pg.vlan = 10;
	pg.policy.forged_transmits = false;
	pg.policy.mac_changes = false;
	pg.shape_tx = (struct shaper_config){ true, 1000000, 2000000,
					      VSWITCH_MAX_FRAME };
	vswitch_portgroup_set(sw, &pg, NULL);
	vswitch_portgroup_init(&pg, "t");
	pg.vlan = VSWITCH_VLAN_TRUNK;
	vswitch_portgroup_set(sw, &pg, NULL);
	for (int p = 0; p < NPORTS; p++)
		join(sw, p, p % 3);

	while (i < size) {
		uint8_t op = data[i++] % 4;
		if (op == 0 && i + 3 <= size) {
			int port = data[i] % 8;
			size_t len = (size_t)(data[i + 1] | data[i + 2] << 8) %
				     2100;
			i += 3;
			if (len > size - i)
				len = size - i;
			int id = port < NPORTS ? fports[port].id : 100 + port;
			current_in = id;
			vswitch_input(sw, id, data + i, len, now);
			current_in = -1;
			i += len;
		} else if (op == 1 && i + 4 <= size) {
			uint32_t d;
			memcpy(&d, data + i, 4);
			now += (uint64_t)d * 1000;
			i += 4;
		} else if (op == 2 && i + 3 <= size) {
			vswitch_portgroup_init(&pg, "b");
			pg.vlan = (uint16_t)((data[i] | data[i + 1] << 8) %
					     4097);
			pg.policy.promiscuous = data[i + 2] & 1;
			pg.policy.mac_changes = data[i + 2] & 2;
			pg.policy.forged_transmits = data[i + 2] & 4;
			int r = vswitch_portgroup_set(sw, &pg, NULL);
			if ((pg.vlan > VSWITCH_VLAN_TRUNK) != (r != 0))
				abort();
			/* a port group turned trunk delivers tags */
			for (int p = 0; p < NPORTS; p++)
				if (!strcmp(vswitch_port_portgroup(
						    sw, fports[p].id),
					    "b"))
					fports[p].trunk =
						r == 0 ? pg.vlan ==
								 VSWITCH_VLAN_TRUNK
						       : fports[p].trunk;
			i += 3;
		} else if (op == 3 && i + 2 <= size) {
			int p = data[i] % NPORTS;
			vswitch_port_del(sw, fports[p].id);
			join(sw, p, data[i + 1] % 3);
			i += 2;
		} else {
			break;
		}
	}
	vswitch_free(sw);
	return 0;
}
