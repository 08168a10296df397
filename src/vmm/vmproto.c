/*
 * The daemon <-> VM worker protocol: encoding, validation, and the socket
 * calls with SCM_RIGHTS. See vmproto.h.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm/vmdef.h"
#include "vmm/vmproto.h"

#define HDR_SIZE 20u

static const struct {
	const char *name;
	uint32_t min_len, max_len; /* data */
	unsigned max_fds;	   /* RAM_FD: exactly 1 */
} types[VMPROTO_TYPE_END] = {
	[VMPROTO_START] = { "start", 2, VMPROTO_MAX_DATA, VMPROTO_MAX_FDS },
	[VMPROTO_STOP] = { "stop", 0, 0, 0 },
	[VMPROTO_PAUSE] = { "pause", 0, 0, 0 },
	[VMPROTO_RESUME] = { "resume", 0, 0, 0 },
	[VMPROTO_RESET] = { "reset", 0, 0, 0 },
	[VMPROTO_POWER] = { "power", 0, 0, 0 },
	[VMPROTO_CONSOLE_IN] = { "console-in", 1, 4096, 0 },
	[VMPROTO_STATS] = { "stats", 0, 0, 0 },
	[VMPROTO_GATE_GRANT] = { "gate-grant", 0, 0, 0 },
	[VMPROTO_GATE_KICK] = { "gate-kick", 0, 0, 0 },
	[VMPROTO_HELLO] = { "hello", 0, 0, 0 },
	[VMPROTO_STARTED] = { "started", 0, 512, 0 },
	[VMPROTO_REPLY] = { "reply", 0, 0, 0 },
	[VMPROTO_STATS_REPLY] = { "stats-reply", sizeof(struct vmproto_stats),
				  sizeof(struct vmproto_stats), 0 },
	[VMPROTO_CONSOLE_OUT] = { "console-out", 1, 4096, 0 },
	[VMPROTO_ENDED] = { "ended", 0, 0, 0 },
	[VMPROTO_GATE_ENTER] = { "gate-enter", 0, 0, 0 },
	[VMPROTO_GATE_LEAVE] = { "gate-leave", 0, 0, 0 },
	[VMPROTO_GATE_CLOSING] = { "gate-closing", 0, 0, 0 },
	[VMPROTO_GATE_OPENING] = { "gate-opening", 0, 0, 0 },
	[VMPROTO_RAM_FD] = { "ram-fd", 0, 0, 1 },
	[VMPROTO_DISK_SNAPSHOT] = { "disk-snapshot", 1, 255, 0 },
	[VMPROTO_PANICKED] = { "panicked", 0, 0, 0 },
	[VMPROTO_SAVE] = { "save", 0, 64, 1 },
	[VMPROTO_SAVED] = { "saved", 0, 512, 0 },
	[VMPROTO_PROGRESS] = { "progress", sizeof(struct vmproto_progress),
			       sizeof(struct vmproto_progress), 0 },
	[VMPROTO_BALLOON] = { "balloon", 0, 0, 0 },
	[VMPROTO_DISK_CAP] = { "disk-cap", 0,
			       VIRT_MAX_VIRTIO * sizeof(struct virt_disk_cap),
			       0 },
	[VMPROTO_MEM_TARGET] = { "mem-target", 0, 0, 0 },
	[VMPROTO_DISK_SNAPSHOT_EXT] = { "disk-snapshot-ext", 2,
					VIRT_MAX_VIRTIO * 4096,
					VIRT_MAX_VIRTIO },
	[VMPROTO_RENDEZVOUS] = { "rendezvous", 0, 0, 1 },
	[VMPROTO_ATTACH] = { "attach", 0, VIRT_MAX_VIRTIO,
			     VIRT_MAX_HARTS + VIRT_MAX_VIRTIO },
	[VMPROTO_ATTACHED] = { "attached", 0,
			       sizeof(struct vmproto_attached) > 512
				       ? sizeof(struct vmproto_attached)
				       : 512,
			       0 },
	[VMPROTO_ANNOUNCE] = { "announce", 0, 0, 0 },
	[VMPROTO_POOL] = { "pool", 0, 0, 1 },
	[VMPROTO_SHARE_OFFER] = { "share-offer", sizeof(struct gmem_pool_offer),
				  GMEM_SHARE_BATCH *
					  sizeof(struct gmem_pool_offer),
				  0 },
	[VMPROTO_SHARE_ANSWER] = { "share-answer",
				   sizeof(struct gmem_pool_pair),
				   GMEM_SHARE_BATCH *
					   sizeof(struct gmem_pool_pair),
				   0 },
	[VMPROTO_SHARE_DROP] = { "share-drop", sizeof(struct gmem_pool_pair),
				 GMEM_SHARE_BATCH *
					 sizeof(struct gmem_pool_pair),
				 0 },
	[VMPROTO_KERNEL_FILE] = { "kernel-file", 2, VMDEF_PATH_MAX, 1 },
};
_Static_assert(GMEM_SHARE_BATCH * sizeof(struct gmem_pool_offer) <=
		       VMPROTO_MAX_DATA,
	       "an offer batch fits one message");

const char *vmproto_type_name(unsigned type)
{
	if (type == 0 || type >= VMPROTO_TYPE_END)
		return "?";
	return types[type].name;
}

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

/* The header of m (HDR_SIZE bytes) after the checks of encode. */
static int header(const struct vmproto_msg *m, uint8_t *out, struct error *err)
{
	if (m->type == 0 || m->type >= VMPROTO_TYPE_END)
		return error_set(err, EINVAL, "vmproto: unknown type %u",
				 m->type);
	if (m->len < types[m->type].min_len || m->len > types[m->type].max_len)
		return error_set(
			err, EINVAL, "vmproto: %s: %u bytes of data (%u..%u)",
			types[m->type].name, m->len, types[m->type].min_len,
			types[m->type].max_len);
	put16(out, VMPROTO_MAGIC);
	put16(out + 2, m->type);
	put32(out + 4, m->seq);
	put32(out + 8, (uint32_t)m->a0);
	put32(out + 12, (uint32_t)m->a1);
	put32(out + 16, m->len);
	return 0;
}

int vmproto_encode(const struct vmproto_msg *m, uint8_t *out, size_t cap,
		   struct error *err)
{
	if (m->type == 0 || m->type >= VMPROTO_TYPE_END)
		return error_set(err, EINVAL, "vmproto: unknown type %u",
				 m->type);
	if (m->len < types[m->type].min_len || m->len > types[m->type].max_len)
		return error_set(
			err, EINVAL, "vmproto: %s: %u bytes of data (%u..%u)",
			types[m->type].name, m->len, types[m->type].min_len,
			types[m->type].max_len);
	if (cap < HDR_SIZE + m->len)
		return error_set(err, EINVAL, "vmproto: buffer too small");
	put16(out, VMPROTO_MAGIC);
	put16(out + 2, m->type);
	put32(out + 4, m->seq);
	put32(out + 8, (uint32_t)m->a0);
	put32(out + 12, (uint32_t)m->a1);
	put32(out + 16, m->len);
	if (m->len)
		memcpy(out + HDR_SIZE, m->data, m->len);
	return (int)(HDR_SIZE + m->len);
}

int vmproto_decode(const uint8_t *pkt, size_t n, struct vmproto_msg *m,
		   struct error *err)
{
	if (n < HDR_SIZE)
		return error_set(err, EPROTO,
				 "vmproto: short message (%zu bytes, header "
				 "is %u)",
				 n, HDR_SIZE);
	if (get16(pkt) != VMPROTO_MAGIC)
		return error_set(err, EPROTO, "vmproto: bad magic 0x%04x",
				 get16(pkt));
	unsigned type = get16(pkt + 2);
	if (type == 0 || type >= VMPROTO_TYPE_END)
		return error_set(err, EPROTO, "vmproto: unknown type %u", type);
	uint32_t len = get32(pkt + 16);
	if (len != n - HDR_SIZE)
		return error_set(err, EPROTO,
				 "vmproto: %s: length field %u but %zu bytes "
				 "of data",
				 types[type].name, len, n - HDR_SIZE);
	if (len < types[type].min_len || len > types[type].max_len)
		return error_set(err, EPROTO,
				 "vmproto: %s: %u bytes of data (allowed "
				 "%u..%u)",
				 types[type].name, len, types[type].min_len,
				 types[type].max_len);
	m->type = (uint16_t)type;
	m->seq = get32(pkt + 4);
	m->a0 = (int32_t)get32(pkt + 8);
	m->a1 = (int32_t)get32(pkt + 12);
	m->len = len;
	m->data = len ? pkt + HDR_SIZE : NULL;
	return 0;
}

int vmproto_send(int sock, const struct vmproto_msg *m, const int *fds,
		 unsigned nfds, int flags, struct error *err)
{
	uint8_t hdr[HDR_SIZE];
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * VMPROTO_MAX_FDS)];
	} ctl;

	if (nfds > VMPROTO_MAX_FDS)
		return error_set(err, EINVAL, "vmproto: too many fds");
	int r0 = header(m, hdr, err);
	if (r0)
		return r0;
	/* header and data in one packet, without copying the data */
	struct iovec iov[2] = { { hdr, HDR_SIZE },
				{ (void *)m->data, m->len } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = m->len ? 2 : 1 };
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ssize_t r;
	do
		r = sendmsg(sock, &mh, MSG_NOSIGNAL | flags);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return error_set(err, errno, "vmproto: send %s: %s",
				 types[m->type].name, strerror(errno));
	return 0;
}

int vmproto_send_simple(int sock, unsigned type, uint32_t seq, int32_t a0,
			int32_t a1, struct error *err)
{
	struct vmproto_msg m = {
		.type = (uint16_t)type, .seq = seq, .a0 = a0, .a1 = a1
	};
	return vmproto_send(sock, &m, NULL, 0, 0, err);
}

static void close_all(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

int vmproto_recv(int sock, uint8_t *buf, struct vmproto_msg *m, int *fds,
		 unsigned *nfds, struct error *err)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * VMPROTO_MAX_FDS)];
	} ctl;
	int got[VMPROTO_MAX_FDS];
	unsigned n_got = 0;

	if (nfds)
		*nfds = 0;
	struct iovec iov = { buf, VMPROTO_RXBUF };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	ssize_t r;
	do
		r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return error_set(err, errno, "vmproto: receive: %s",
				 strerror(errno));
	if (r == 0)
		return error_set(err, ECONNRESET, "vmproto: peer closed");
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
	     c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (n_got < VMPROTO_MAX_FDS)
				got[n_got++] = fd;
			else
				close(fd);
		}
	}
	int ret = 0;
	if (mh.msg_flags & MSG_TRUNC)
		ret = error_set(err, EPROTO,
				"vmproto: message longer than %u bytes",
				VMPROTO_RXBUF);
	else if (mh.msg_flags & MSG_CTRUNC)
		ret = error_set(err, EPROTO,
				"vmproto: too many descriptors attached");
	if (!ret)
		ret = vmproto_decode(buf, (size_t)r, m, err);
	if (!ret && n_got > types[m->type].max_fds)
		ret = error_set(err, EPROTO,
				"vmproto: %s: %u descriptors attached "
				"(allowed %u)",
				types[m->type].name, n_got,
				types[m->type].max_fds);
	if (!ret &&
	    (m->type == VMPROTO_RAM_FD || m->type == VMPROTO_POOL ||
	     m->type == VMPROTO_KERNEL_FILE) &&
	    n_got < 1)
		ret = error_set(err, EPROTO,
				"vmproto: %s: %u descriptors attached "
				"(expected %u)",
				types[m->type].name, n_got,
				types[m->type].max_fds);
	if (ret || !fds) {
		close_all(got, n_got);
		return ret;
	}
	memcpy(fds, got, n_got * sizeof(int));
	if (nfds)
		*nfds = n_got;
	return 0;
}
