/*
 * Memory QoS policy: see mem_policy.h for the contract and docs/memory.md
 * for the model.
 */
#include <errno.h>

#include "vmm/mem_policy.h"
#include "vmm/qos.h"

#define MIB_PAGES (1024u * 1024u / MEM_POLICY_PAGE)

static unsigned long long mib(uint64_t pages)
{
	return (unsigned long long)(pages / MIB_PAGES);
}

int mem_check_config(const struct mem_vm_config *c, struct error *err)
{
	if (c->size_pages == 0)
		return error_set(err, EINVAL,
				 "memory size 0: expected >= 1 page");
	if (c->shares == 0)
		return error_set(err, EINVAL, "memory shares 0: expected >= 1");
	if (c->reservation_pages > c->size_pages)
		return error_set(err, EINVAL,
				 "memory reservation %lluM: more than the "
				 "VM's %lluM of memory",
				 mib(c->reservation_pages), mib(c->size_pages));
	if (c->limit_pages && c->limit_pages < c->reservation_pages)
		return error_set(err, EINVAL,
				 "memory limit %lluM: below the reservation "
				 "%lluM",
				 mib(c->limit_pages),
				 mib(c->reservation_pages));
	return 0;
}

int mem_admit(const struct mem_params *p, const struct mem_vm_config *running,
	      unsigned int n, const struct mem_vm_config *cand,
	      struct error *err)
{
	uint64_t reserved = 0;
	int r = mem_check_config(cand, err);

	if (r)
		return r;
	for (unsigned int j = 0; j < n; j++)
		reserved += running[j].reservation_pages;
	if (reserved > p->budget_pages ||
	    cand->reservation_pages > p->budget_pages - reserved)
		return error_set(err, ENOSPC,
				 "memory reservation %lluM does not fit: "
				 "%lluM of the host's %lluM budget is "
				 "reserved by %u running VMs",
				 mib(cand->reservation_pages), mib(reserved),
				 mib(p->budget_pages), n);
	return 0;
}

/*
 * ESX's shares-per-page ratio S / (P (f + k (1 - f))) with k = 1 / (1 - t)
 * makes a VM's weight, per page it holds, S / (f + k (1 - f)); multiplied
 * by (1 - t) to stay in integers: S (1 - t) / ((1 - t) f + (1 - f)), which
 * is S for an active VM and S (1 - t) for an idle one.
 */
static uint64_t taxed_shares(uint32_t shares, uint32_t active_permille,
			     uint32_t tax_pct)
{
	uint64_t f = active_permille > 1000 ? 1000 : active_permille;
	uint64_t keep = 100 - (tax_pct > 99 ? 99 : tax_pct);
	uint64_t den = keep * f + 100 * (1000 - f);
	uint64_t w = (uint64_t)shares * keep * 1000 / den;

	return w ? w : 1;
}

void mem_targets(const struct mem_params *p, struct mem_vm_state *v,
		 unsigned int n)
{
	struct qos_claim c[QOS_MAX_CLAIMS];
	uint64_t w[QOS_MAX_CLAIMS], max_w = 0;
	unsigned int m = n < QOS_MAX_CLAIMS ? n : QOS_MAX_CLAIMS;

	for (unsigned int j = 0; j < m; j++) {
		w[j] = taxed_shares(v[j].cfg.shares, v[j].active_permille,
				    p->idle_tax_pct);
		if (w[j] > max_w)
			max_w = w[j];
	}
	for (unsigned int j = 0; j < m; j++) {
		const struct mem_vm_config *cfg = &v[j].cfg;
		uint64_t s = w[j];

		/* scale the weights into the water-filling's range, keeping
		 * their ratios */
		if (max_w > QOS_MAX_SHARES) {
			s = (uint64_t)((unsigned __int128)s * QOS_MAX_SHARES /
				       max_w);
			s = s ? s : 1;
		}
		c[j] = (struct qos_claim){ .shares = (uint32_t)s,
					   .reservation =
						   cfg->reservation_pages,
					   .limit = cfg->limit_pages,
					   .demand = cfg->size_pages };
	}
	qos_waterfill(c, m, p->budget_pages);
	for (unsigned int j = 0; j < m; j++)
		v[j].target_pages = c[j].granted;
	for (unsigned int j = m; j < n; j++)
		v[j].target_pages = v[j].cfg.reservation_pages;
}
