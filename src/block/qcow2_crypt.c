/*
 * qcow2 encryption with LUKS (spec "Full disk encryption header pointer";
 * QEMU's encrypt.format=luks): the LUKS area lives in clusters of the image
 * that a header extension points to; guest data clusters are encrypted
 * with AES-XTS-plain64 whose IV is the 512-byte sector number of the *host*
 * offset (as QEMU does for LUKS in qcow2). luks.c does the crypto.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2_int.h"

int qcow2_crypt_unlock(struct qcow2 *q, const char *key_secret,
		       struct error *err)
{
	uint8_t pass[LUKS_SECRET_MAX];
	size_t pass_len;
	uint8_t *area;
	int r;

	if (!key_secret)
		return error_set(err, EACCES,
				 "image %s is encrypted (LUKS): give its "
				 "passphrase with key-secret=file:PATH or "
				 "key-secret=env:NAME",
				 q->name);
	r = luks_secret_load(key_secret, pass, &pass_len, "key-secret", err);
	if (r < 0) {
		error_prefix(err, "image %s", q->name);
		return r;
	}
	area = malloc(q->crypt_len);
	if (!area) {
		explicit_bzero(pass, sizeof(pass));
		return error_set(err, ENOMEM, "image %s: out of memory",
				 q->name);
	}
	r = qcow2_pread(q, area, q->crypt_len, q->crypt_off);
	if (r < 0)
		error_set(err, -r, "image %s: reading the LUKS header: %s",
			  q->name, strerror(-r));
	else if ((r = luks_unlock(area, q->crypt_len, pass, pass_len, &q->luks,
				  err)) < 0)
		error_prefix(err, "image %s", q->name);
	explicit_bzero(pass, sizeof(pass));
	free(area);
	return r;
}

int qcow2_crypt_new_area(const char *key_secret, unsigned iter_ms,
			 uint8_t **area, uint64_t *len, struct error *err)
{
	uint8_t pass[LUKS_SECRET_MAX];
	struct luks *l = NULL;
	size_t pass_len;
	int r;

	*area = NULL;
	r = luks_secret_load(key_secret, pass, &pass_len, "key-secret", err);
	if (r < 0)
		return r;
	*len = luks_area_len();
	*area = calloc(1, *len);
	if (!*area)
		r = error_set(err, ENOMEM, "LUKS: out of memory");
	else
		r = luks_format(*area, *len, pass, pass_len, iter_ms, &l, err);
	explicit_bzero(pass, sizeof(pass));
	luks_free(l);
	if (r < 0) {
		free(*area);
		*area = NULL;
	}
	return r;
}
