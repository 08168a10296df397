/* nftables masquerade for routed switches (nft_masq.h). */
#include "net/nft_masq.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <nftables/libnftables.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net/vswitch.h"

/* libnftables contexts are not thread-safe; one at a time is plenty. */
static pthread_mutex_t nft_lock = PTHREAD_MUTEX_INITIALIZER;

/* Run cmd in a fresh context; output (may be NULL) gets nft's output. */
static int nft_run(const char *cmd, char *output, size_t size,
		   struct error *err)
{
	struct nft_ctx *ctx;
	int r;

	pthread_mutex_lock(&nft_lock);
	ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx) {
		pthread_mutex_unlock(&nft_lock);
		return error_set(err, ENOMEM, "nftables: no context");
	}
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	r = nft_run_cmd_from_buffer(ctx, cmd);
	if (r) {
		const char *e = nft_ctx_get_error_buffer(ctx);
		char msg[200];
		size_t n;

		snprintf(msg, sizeof(msg), "%s", e && *e ? e : "failed");
		n = strcspn(msg, "\n");
		msg[n] = '\0';
		r = strstr(e ? e : "", "No such file")		    ? -ENOENT
		    : strstr(e ? e : "", "Operation not permitted") ? -EPERM
								    : -EIO;
		error_set(err, -r, "nftables: %s", msg);
	} else if (output && size) {
		const char *o = nft_ctx_get_output_buffer(ctx);
		snprintf(output, size, "%s", o ? o : "");
	}
	nft_ctx_free(ctx);
	pthread_mutex_unlock(&nft_lock);
	return r;
}

/* Switch names are [A-Za-z0-9_.-]: "masq-NAME" is an nft identifier as
 * it is (letters first, then letters, digits, "_", "-", "."). */
static int check(const char *name, struct error *err)
{
	return vswitch_check_name(name, "switch", err);
}

int nft_masq_add(const char *name, uint32_t net, unsigned prefix,
		 struct error *err)
{
	char cmd[512], a[INET_ADDRSTRLEN];
	uint32_t mask;

	if (check(name, err))
		return -EINVAL;
	if (prefix < 1 || prefix > 32)
		return error_set(err, EINVAL, "masquerade: prefix /%u", prefix);
	mask = htonl(~0u << (32 - prefix));
	net &= mask;
	inet_ntop(AF_INET, &net, a, sizeof(a));
	/* one transaction: the table and chain appear with their rule or
	 * not at all; a chain left by a dead process is emptied first */
	snprintf(cmd, sizeof(cmd),
		 "add table ip " NFT_MASQ_TABLE "\n"
		 "add chain ip " NFT_MASQ_TABLE " masq-%s "
		 "{ type nat hook postrouting priority srcnat; }\n"
		 "flush chain ip " NFT_MASQ_TABLE " masq-%s\n"
		 "add rule ip " NFT_MASQ_TABLE " masq-%s "
		 "ip saddr %s/%u ip daddr != %s/%u masquerade\n",
		 name, name, name, a, prefix, a, prefix);
	int r = nft_run(cmd, NULL, 0, err);
	if (r)
		error_prefix(err, "switch %s: masquerade", name);
	return r;
}

int nft_masq_del(const char *name, struct error *err)
{
	char cmd[256], out[4096];
	int r;

	if (check(name, err))
		return -EINVAL;
	snprintf(cmd, sizeof(cmd), "delete chain ip " NFT_MASQ_TABLE " masq-%s",
		 name);
	r = nft_run(cmd, NULL, 0, err);
	if (r)
		return r;
	/* the table is ours: gone once no switch has a chain in it (another
	 * daemon's switch may still have one) */
	if (!nft_run("list table ip " NFT_MASQ_TABLE, out, sizeof(out), NULL) &&
	    !strstr(out, "chain "))
		nft_run("delete table ip " NFT_MASQ_TABLE, NULL, 0, NULL);
	return 0;
}

int nft_masq_list(char *buf, size_t size, struct error *err)
{
	int r = nft_run("list table ip " NFT_MASQ_TABLE, buf, size, err);

	if (r == -ENOENT) {
		if (size)
			buf[0] = '\0';
		if (err)
			memset(err, 0, sizeof(*err));
		return 0;
	}
	return r;
}

bool nft_masq_forwarding(void)
{
	char c = '0';
	int fd = open("/proc/sys/net/ipv4/ip_forward", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (read(fd, &c, 1) != 1)
			c = '0';
		close(fd);
	}
	return c == '1';
}
