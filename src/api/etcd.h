/*
 * A small client of etcd's v3 API through its JSON gateway (HTTP POST of
 * JSON to /v3/kv/..., keys and values base64-encoded), with libcurl and
 * jansson: what the distributed switch keeps in etcd (daemon_switch.c,
 * docs/network.md "Distributed switch"). Only http:// URLs; every request
 * has a 3 s timeout. No consensus of our own: etcd is the store.
 *
 * Any thread; calls on one struct etcd are serialised by its lock.
 */
#ifndef SV_API_ETCD_H
#define SV_API_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define ETCD_URL_MAX 128

struct etcd;

/* A client of the etcd at url ("http://HOST:PORT"); nothing is sent yet.
 * NULL with err set for a bad URL or no memory. */
struct etcd *etcd_open(const char *url, struct error *err);
void etcd_close(struct etcd *e);

/* Check a URL as etcd_open does. */
int etcd_check_url(const char *url, struct error *err);

int etcd_put(struct etcd *e, const char *key, const char *value,
	     struct error *err);
/* Put attached to lease (0: none): the key goes when the lease does. */
int etcd_put_lease(struct etcd *e, const char *key, const char *value,
		   int64_t lease, struct error *err);

/* Leases (/v3/lease/...): grant one of ttl_s seconds into *id; refresh
 * it (the TTL it has again, in seconds, or -ENOENT when it expired or is
 * unknown); revoke it (its keys are deleted with it). */
int etcd_lease_grant(struct etcd *e, unsigned ttl_s, int64_t *id,
		     struct error *err);
int etcd_lease_keepalive(struct etcd *e, int64_t id, struct error *err);
int etcd_lease_revoke(struct etcd *e, int64_t id, struct error *err);

/* The value of key (malloc'd, NUL-terminated) into *value; -ENOENT when
 * there is none. */
int etcd_get(struct etcd *e, const char *key, char **value, struct error *err);
/* Every key under prefix, in key order: fn(key, value, opaque) for each.
 * Returns the number of keys or a negative errno. */
int etcd_list(struct etcd *e, const char *prefix,
	      void (*fn)(const char *key, const char *value, void *opaque),
	      void *opaque, struct error *err);
/* Delete key (prefix false) or every key under it. The number deleted or
 * a negative errno. */
int etcd_delete(struct etcd *e, const char *key, bool prefix,
		struct error *err);

#endif
