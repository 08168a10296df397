/*
 * libFuzzer target: VXLAN decapsulation (src/net/vxlan.c) of hostile
 * datagrams, as a distributed switch receives them from the network, fed
 * into a vSwitch through its trunk uplink, with the switch's answers
 * encapsulated again. Pure: no sockets or threads.
 *
 * A VTEP with two peers, VNI base 10000; a switch with port groups "a"
 * (VLAN 0), "b" (VLAN 10), "t" (trunk), one VM port in each, and the
 * VXLAN uplink. Input: operations until it ends, each one byte op % 3:
 *   0 datagram: u8 sender (% 3: peer 0, peer 1, a stranger), u16 len
 *     (% 2200), len bytes (short input: what is left)
 *   1 frame from VM port u8 % 3: u16 len (% 2200), len bytes
 *   2 time passes: u32 seconds
 *
 * Invariants (abort): a decapsulated frame is 14..VXLAN_MAX_INNER + 4
 * bytes, tagged only for VLAN 1..4094; nothing from a stranger is
 * accepted; an encapsulated frame is untagged, at least 14 bytes, in a
 * VNI of base..base + 4094, for at most every peer; an access port never
 * gets a tagged frame.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/vswitch.h"
#include "net/vxlan.h"

struct fport {
	int id;
	bool trunk;
};

static struct fport fports[3];
static struct vxlan *vx;

static void vm_out(void *opaque, const uint8_t *f, size_t len)
{
	struct fport *p = opaque;

	if (len < 14 || len > VSWITCH_MAX_FRAME)
		abort();
	if (!p->trunk && f[12] == 0x81 && f[13] == 0x00)
		abort();
}

static void uplink_out(void *opaque, const uint8_t *f, size_t len)
{
	struct vxlan_tx tx;
	unsigned n = vxlan_encap(vx, f, len, 1, &tx);

	(void)opaque;
	if (!n)
		return;
	uint32_t vni = (uint32_t)tx.hdr[4] << 16 | tx.hdr[5] << 8 | tx.hdr[6];
	if (n > vxlan_config(vx)->n_peers || n != tx.n_dst ||
	    tx.inner_len < 14 || tx.inner_len > VXLAN_MAX_INNER ||
	    (tx.inner[12] == 0x81 && tx.inner[13] == 0) ||
	    tx.hdr[0] != VXLAN_FLAG_I || vni < VXLAN_VNI_BASE ||
	    vni > VXLAN_VNI_BASE + 4094)
		abort();
	for (unsigned i = 0; i < n; i++)
		if (tx.dst[i] >= vxlan_config(vx)->n_peers)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const pgs[3] = { "a", "b", "t" };
	static const uint16_t vlans[3] = { 0, 10, VSWITCH_VLAN_TRUNK };
	struct vxlan_config c = { .vni_base = VXLAN_VNI_BASE, .n_peers = 2 };
	struct sockaddr_in from[3];
	struct vswitch_portgroup_config pg;
	struct vswitch *sw = vswitch_new("fz", 1500);
	uint64_t now = 1;
	size_t i = 0;

	vxlan_parse_addr("127.0.0.1", VXLAN_PORT, &c.local, "l", NULL);
	vxlan_parse_addr("127.0.0.2", VXLAN_PORT, &c.peers[0], "p", NULL);
	vxlan_parse_addr("127.0.0.3:5000", VXLAN_PORT, &c.peers[1], "p", NULL);
	from[0] = c.peers[0];
	from[1] = c.peers[1];
	vxlan_parse_addr("127.0.0.3", VXLAN_PORT, &from[2], "p", NULL);
	vx = vxlan_new(&c, NULL);
	if (!sw || !vx)
		abort();
	for (int g = 0; g < 3; g++) {
		uint8_t mac[6] = { 0x52, 0x54, 0, 0, 0, (uint8_t)g };
		vswitch_portgroup_init(&pg, pgs[g]);
		pg.vlan = vlans[g];
		vswitch_portgroup_set(sw, &pg, NULL);
		fports[g].trunk = g == 2;
		fports[g].id = vswitch_port_add(sw, pgs[g], mac, vm_out,
						&fports[g], NULL);
	}
	int up = vswitch_trunk_uplink_add(sw, uplink_out, NULL, NULL);
	if (up < 0)
		abort();

	while (i < size) {
		uint8_t op = data[i++] % 3;
		if (op == 0 && i + 3 <= size) {
			int s = data[i] % 3;
			size_t len = (size_t)(data[i + 1] | data[i + 2] << 8) %
				     2200;
			const uint8_t *f;
			size_t flen;
			i += 3;
			if (len > size - i)
				len = size - i;
			int r = vxlan_decap(vx, data + i, len, &from[s], now,
					    &f, &flen);
			i += len;
			if (r)
				continue;
			if (s == 2 || flen < 14 || flen > VXLAN_MAX_INNER + 4)
				abort();
			if (f[12] == 0x81 && f[13] == 0) {
				uint16_t v = (uint16_t)((f[14] << 8 | f[15]) &
							0xfff);
				if (flen < 18 || v == 0 || v > 4094)
					abort();
			}
			vswitch_input(sw, up, f, flen, now);
		} else if (op == 1 && i + 3 <= size) {
			int p = data[i] % 3;
			size_t len = (size_t)(data[i + 1] | data[i + 2] << 8) %
				     2200;
			i += 3;
			if (len > size - i)
				len = size - i;
			vswitch_input(sw, fports[p].id, data + i, len, now);
			i += len;
		} else if (op == 2 && i + 4 <= size) {
			uint32_t d;
			memcpy(&d, data + i, 4);
			now += (uint64_t)d * 1000000000ull;
			i += 4;
		} else {
			break;
		}
	}
	vswitch_free(sw);
	vxlan_free(vx);
	vx = NULL;
	return 0;
}
