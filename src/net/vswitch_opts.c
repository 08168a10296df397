/* The textual port group spec of the CLI (vswitch.h). */
#include "net/vswitch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_num(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_onoff(const char *s, bool *out)
{
	if (!strcmp(s, "on") || !strcmp(s, "accept")) {
		*out = true;
		return 0;
	}
	if (!strcmp(s, "off") || !strcmp(s, "reject")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

/* "AVG:PEAK:BURST" in ESXi's units: Kbit/s, Kbit/s, KB. */
static int parse_shape(const char *s, struct shaper_config *c)
{
	char buf[64], *p1, *p2;
	uint64_t a, p, b;
	const uint64_t max = 100000000; /* 100 Gbit/s in Kbit/s, 100 GB */

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	if (!strcmp(buf, "off")) {
		memset(c, 0, sizeof(*c));
		return 0;
	}
	p1 = strchr(buf, ':');
	p2 = p1 ? strchr(p1 + 1, ':') : NULL;
	if (!p2)
		return -EINVAL;
	*p1++ = '\0';
	*p2++ = '\0';
	if (parse_num(buf, max, &a) || parse_num(p1, max, &p) ||
	    parse_num(p2, max, &b))
		return -EINVAL;
	c->enabled = true;
	c->avg_bps = a * 1000;
	c->peak_bps = p * 1000;
	c->burst_bytes = b * 1024;
	return 0;
}

int vswitch_portgroup_parse(const char *spec,
			    struct vswitch_portgroup_config *pg,
			    struct error *err)
{
	char buf[256], *save = NULL, *tok;
	uint64_t v;

	if (strlen(spec) >= sizeof(buf))
		return error_set(err, EINVAL, "port group '%.40s...': too long",
				 spec);
	strcpy(buf, spec);
	tok = strtok_r(buf, ",", &save);
	if (!tok)
		return error_set(err, EINVAL,
				 "port group '': expected NAME[,vlan=N]...");
	vswitch_portgroup_init(pg, tok);
	if (vswitch_check_name(tok, "port group", err))
		return -EINVAL;
	while ((tok = strtok_r(NULL, ",", &save))) {
		char *val = strchr(tok, '=');
		int r = -EINVAL;

		if (!val)
			return error_set(err, EINVAL,
					 "port group %s: '%s' needs a value "
					 "(KEY=VALUE)",
					 pg->name, tok);
		*val++ = '\0';
		if (!strcmp(tok, "vlan")) {
			r = parse_num(val, VSWITCH_VLAN_TRUNK, &v);
			pg->vlan = (uint16_t)v;
		} else if (!strcmp(tok, "promiscuous")) {
			r = parse_onoff(val, &pg->policy.promiscuous);
		} else if (!strcmp(tok, "mac-changes")) {
			r = parse_onoff(val, &pg->policy.mac_changes);
		} else if (!strcmp(tok, "forged-transmits")) {
			r = parse_onoff(val, &pg->policy.forged_transmits);
		} else if (!strcmp(tok, "shape-tx")) {
			r = parse_shape(val, &pg->shape_tx);
		} else if (!strcmp(tok, "shape-rx")) {
			r = parse_shape(val, &pg->shape_rx);
		} else {
			return error_set(err, EINVAL,
					 "port group %s: unknown option '%s' "
					 "(expected vlan=, promiscuous=, "
					 "mac-changes=, forged-transmits=, "
					 "shape-tx=, shape-rx=)",
					 pg->name, tok);
		}
		if (r)
			return error_set(
				err, EINVAL,
				"port group %s: %s=%s: expected %s", pg->name,
				tok, val,
				!strcmp(tok, "vlan") ? "0..4095 (4095: trunk)"
				: !strncmp(tok, "shape", 5)
					? "AVG:PEAK:BURST (Kbit/s, Kbit/s, "
					  "KB) or off"
					: "on|accept or off|reject");
	}
	if (shaper_check(&pg->shape_tx, VSWITCH_MAX_FRAME, err) ||
	    shaper_check(&pg->shape_rx, VSWITCH_MAX_FRAME, err)) {
		error_prefix(err, "port group %s", pg->name);
		return -EINVAL;
	}
	return 0;
}
