/* TAP devices for switch uplinks (tap.h). */
#include "net/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int ifreq_call(int s, unsigned long req, struct ifreq *ifr,
		      const char *what, const char *name, struct error *err)
{
	if (ioctl(s, req, ifr) < 0)
		return error_set(err, errno, "tap %s: %s: %s", name, what,
				 strerror(errno));
	return 0;
}

int tap_open(const char *ifname, const char *bridge, uint32_t mtu, char *out,
	     struct error *err)
{
	struct ifreq ifr;
	int fd, s = -1, r;

	if (strlen(ifname) >= IFNAMSIZ)
		return error_set(err, EINVAL, "tap name '%s': longer than %d",
				 ifname, IFNAMSIZ - 1);
	if (bridge && strlen(bridge) >= IFNAMSIZ)
		return error_set(err, EINVAL, "bridge '%s': longer than %d",
				 bridge, IFNAMSIZ - 1);
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errno, "/dev/net/tun: %s",
				 strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		r = error_set(err, errno, "tap %s: TUNSETIFF: %s%s", ifname,
			      strerror(errno),
			      errno == EPERM ? " (needs CAP_NET_ADMIN)" : "");
		goto fail;
	}
	snprintf(out, TAP_IFNAME_MAX, "%s", ifr.ifr_name);

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		r = error_set(err, errno, "tap %s: socket: %s", out,
			      strerror(errno));
		goto fail;
	}
	if (mtu) {
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", out);
		ifr.ifr_mtu = (int)mtu;
		if ((r = ifreq_call(s, SIOCSIFMTU, &ifr, "set MTU", out, err)))
			goto fail;
	}
	if (bridge && (r = tap_bridge_attach(out, bridge, err)))
		goto fail;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", out);
	if ((r = ifreq_call(s, SIOCGIFFLAGS, &ifr, "get flags", out, err)))
		goto fail;
	ifr.ifr_flags |= IFF_UP;
	if ((r = ifreq_call(s, SIOCSIFFLAGS, &ifr, "bring up", out, err)))
		goto fail;
	close(s);
	return fd;
fail:
	if (s >= 0)
		close(s);
	close(fd); /* a non-persistent TAP goes with its fd */
	return r;
}

int tap_bridge_attach(const char *ifname, const char *bridge, struct error *err)
{
	struct ifreq ifr, q;
	int s, r;

	if (strlen(bridge) >= IFNAMSIZ)
		return error_set(err, EINVAL, "bridge '%s': longer than %d",
				 bridge, IFNAMSIZ - 1);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return error_set(err, errno, "tap %s: socket: %s", ifname,
				 strerror(errno));
	memset(&q, 0, sizeof(q));
	snprintf(q.ifr_name, IFNAMSIZ, "%s", ifname);
	r = ifreq_call(s, SIOCGIFINDEX, &q, "interface index", ifname, err);
	if (!r) {
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", bridge);
		ifr.ifr_ifindex = q.ifr_ifindex;
		if (ioctl(s, SIOCBRADDIF, &ifr) < 0) {
			r = -errno;
			/* the kernel says EOPNOTSUPP for a device that is
			 * not a Linux bridge (an OVS bridge's is not) */
			error_set(err, errno,
				  "tap %s: cannot attach to bridge %s: %s%s",
				  ifname, bridge, strerror(errno),
				  errno == EOPNOTSUPP ? " (not a Linux bridge)"
						      : "");
		}
	}
	close(s);
	return r;
}

int tap_set_ipv4(const char *ifname, uint32_t addr, unsigned prefix,
		 struct error *err)
{
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	int s, r;

	if (prefix < 1 || prefix > 30)
		return error_set(err, EINVAL, "prefix /%u: expected 1..30",
				 prefix);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return error_set(err, errno, "socket: %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = addr;
	r = ifreq_call(s, SIOCSIFADDR, &ifr, "set address", ifname, err);
	if (!r) {
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(~0u << (32 - prefix));
		r = ifreq_call(s, SIOCSIFNETMASK, &ifr, "set netmask", ifname,
			       err);
	}
	close(s);
	return r;
}

int net_parse_cidr(const char *s, uint32_t *addr, unsigned *prefix)
{
	char buf[INET_ADDRSTRLEN + 4], *slash, *end;
	struct in_addr a;
	unsigned long p;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash++ = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1 || !*slash)
		return -EINVAL;
	errno = 0;
	p = strtoul(slash, &end, 10);
	if (errno || *end || p < 1 || p > 30)
		return -EINVAL;
	*addr = a.s_addr;
	*prefix = (unsigned)p;
	return 0;
}
