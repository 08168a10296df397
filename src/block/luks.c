/* LUKS1 headers, key slots and AES-XTS-plain64 with libcrypto: luks.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "block/libcrypto.h"
#include "block/luks.h"

static const uint8_t luks_magic[6] = { 'L', 'U', 'K', 'S', 0xba, 0xbe };

struct luks {
	const struct libcrypto *C;
	const EVP_CIPHER *cipher;
	uint8_t key[LUKS_MAX_KEY]; /* the master key */
	unsigned key_bytes;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A fixed-size, NUL-padded string field (not necessarily terminated). */
static void get_str(char *out, const uint8_t *p, size_t n)
{
	memcpy(out, p, n);
	out[n] = '\0';
}

static bool hash_known(const char *name)
{
	return !strcmp(name, "sha1") || !strcmp(name, "sha256") ||
	       !strcmp(name, "sha512");
}

static const EVP_MD *luks_md(const struct libcrypto *C, const char *name)
{
	if (!strcmp(name, "sha1"))
		return C->EVP_sha1();
	if (!strcmp(name, "sha256"))
		return C->EVP_sha256();
	if (!strcmp(name, "sha512"))
		return C->EVP_sha512();
	return NULL;
}

/* Sectors of key material a slot holds. */
static uint64_t material_sectors(uint32_t key_bytes, uint32_t stripes)
{
	return ((uint64_t)key_bytes * stripes + LUKS_SECTOR - 1) / LUKS_SECTOR;
}

/* ---- the header (LUKS1 spec, "The partition header") ------------------- */

/* Field offsets of the 592-byte header, and of a 48-byte key slot. */
enum {
	H_MAGIC = 0,
	H_VERSION = 6,
	H_CIPHER = 8,
	H_MODE = 40,
	H_HASH = 72,
	H_PAYLOAD = 104,
	H_KEY_BYTES = 108,
	H_MK_DIGEST = 112,
	H_MK_SALT = 132,
	H_MK_ITER = 164,
	H_UUID = 168,
	H_SLOTS = 208,
	SLOT_LEN = 48,
};
_Static_assert(H_SLOTS + LUKS_SLOTS * SLOT_LEN == LUKS_HDR_LEN,
	       "LUKS1 header is 592 bytes");

int luks_parse(const uint8_t *buf, size_t len, uint64_t area_len,
	       struct luks_header *h, struct error *err)
{
	memset(h, 0, sizeof(*h));
	if (len < LUKS_HDR_LEN || area_len < LUKS_HDR_LEN)
		return error_set(err, EINVAL,
				 "LUKS header: %zu bytes, expected at least "
				 "%d",
				 len < area_len ? len : (size_t)area_len,
				 LUKS_HDR_LEN);
	if (memcmp(buf + H_MAGIC, luks_magic, sizeof(luks_magic)))
		return error_set(err, EINVAL, "LUKS header: bad magic");
	if (buf[H_VERSION] != 0 || buf[H_VERSION + 1] != 1)
		return error_set(err, ENOTSUP,
				 "LUKS header: version %u is not supported "
				 "(expected 1)",
				 (unsigned)buf[H_VERSION] << 8 |
					 buf[H_VERSION + 1]);
	get_str(h->cipher_name, buf + H_CIPHER, 32);
	get_str(h->cipher_mode, buf + H_MODE, 32);
	get_str(h->hash_spec, buf + H_HASH, 32);
	h->payload_offset = be32(buf + H_PAYLOAD);
	h->key_bytes = be32(buf + H_KEY_BYTES);
	memcpy(h->mk_digest, buf + H_MK_DIGEST, LUKS_DIGEST_LEN);
	memcpy(h->mk_salt, buf + H_MK_SALT, LUKS_SALT_LEN);
	h->mk_iterations = be32(buf + H_MK_ITER);
	get_str(h->uuid, buf + H_UUID, 40);
	if (strcmp(h->cipher_name, "aes") ||
	    strcmp(h->cipher_mode, "xts-plain64"))
		return error_set(err, ENOTSUP,
				 "LUKS header: cipher %s-%s is not supported "
				 "(expected aes-xts-plain64)",
				 h->cipher_name, h->cipher_mode);
	if (h->key_bytes != 32 && h->key_bytes != 64)
		return error_set(err, ENOTSUP,
				 "LUKS header: a %u-byte aes-xts key is not "
				 "supported (expected 32 or 64)",
				 h->key_bytes);
	if (!hash_known(h->hash_spec))
		return error_set(err, ENOTSUP,
				 "LUKS header: hash %s is not supported "
				 "(expected sha1, sha256 or sha512)",
				 h->hash_spec);
	if (h->mk_iterations == 0 || h->mk_iterations > LUKS_MAX_ITER)
		return error_set(err, EINVAL,
				 "LUKS header: master key digest iterations "
				 "%u (expected 1..%u)",
				 h->mk_iterations, LUKS_MAX_ITER);
	uint64_t all_iter = 0;
	for (int i = 0; i < LUKS_SLOTS; i++) {
		const uint8_t *p = buf + H_SLOTS + i * SLOT_LEN;
		struct luks_slot *s = &h->slot[i];
		uint64_t start, end;

		s->active = be32(p);
		s->iterations = be32(p + 4);
		memcpy(s->salt, p + 8, LUKS_SALT_LEN);
		s->key_offset = be32(p + 40);
		s->stripes = be32(p + 44);
		if (s->active != LUKS_SLOT_ACTIVE &&
		    s->active != LUKS_SLOT_DEAD)
			return error_set(err, EINVAL,
					 "LUKS header: key slot %d: state "
					 "0x%08x is neither active nor "
					 "disabled",
					 i, s->active);
		if (s->active != LUKS_SLOT_ACTIVE)
			continue;
		if (s->stripes != LUKS_STRIPES || s->iterations == 0)
			return error_set(err, EINVAL,
					 "LUKS header: key slot %d: %u "
					 "stripes, %u iterations (expected "
					 "%d stripes, iterations > 0)",
					 i, s->stripes, s->iterations,
					 LUKS_STRIPES);
		/* each active slot is tried in turn: bound the sum too */
		all_iter += s->iterations;
		if (s->iterations > LUKS_MAX_ITER ||
		    all_iter > 2ull * LUKS_MAX_ITER)
			return error_set(err, EINVAL,
					 "LUKS header: key slot %d: %u PBKDF2 "
					 "iterations (%llu in the active slots "
					 "so far): more than the %u per slot "
					 "(%u in all) accepted, which would "
					 "take minutes to try",
					 i, s->iterations,
					 (unsigned long long)all_iter,
					 LUKS_MAX_ITER, 2 * LUKS_MAX_ITER);
		start = (uint64_t)s->key_offset * LUKS_SECTOR;
		end = start +
		      material_sectors(h->key_bytes, s->stripes) * LUKS_SECTOR;
		if (start < LUKS_HDR_LEN || end > area_len)
			return error_set(err, EINVAL,
					 "LUKS header: key slot %d: key "
					 "material at %llu..%llu is outside "
					 "the LUKS area (%d..%llu)",
					 i, (unsigned long long)start,
					 (unsigned long long)end, LUKS_HDR_LEN,
					 (unsigned long long)area_len);
		for (int j = 0; j < i; j++) {
			const struct luks_slot *o = &h->slot[j];
			uint64_t os, oe;

			if (o->active != LUKS_SLOT_ACTIVE)
				continue;
			os = (uint64_t)o->key_offset * LUKS_SECTOR;
			oe = os + material_sectors(h->key_bytes, o->stripes) *
					  LUKS_SECTOR;
			if (start < oe && os < end)
				return error_set(err, EINVAL,
						 "LUKS header: key slots %d "
						 "and %d overlap",
						 j, i);
		}
	}
	return 0;
}

/* ---- AES-XTS-plain64 ---------------------------------------------------- */

static const EVP_CIPHER *xts_cipher(const struct libcrypto *C,
				    unsigned key_bytes)
{
	return key_bytes == 32 ? C->EVP_aes_128_xts() : C->EVP_aes_256_xts();
}

/* Each 512-byte sector with IV = its number, 64-bit little-endian, zero
 * padded to 16 bytes (plain64). */
static int xts(const struct libcrypto *C, const EVP_CIPHER *cipher,
	       const uint8_t *key, uint64_t sector, uint8_t *buf, size_t len,
	       bool encrypt)
{
	EVP_CIPHER_CTX *ctx = C->EVP_CIPHER_CTX_new();
	int r = 0;

	if (!ctx || len % LUKS_SECTOR ||
	    !C->EVP_CipherInit_ex(ctx, cipher, NULL, key, NULL, encrypt)) {
		C->EVP_CIPHER_CTX_free(ctx);
		return -EIO;
	}
	for (size_t off = 0; off < len; off += LUKS_SECTOR, sector++) {
		uint8_t iv[16] = { 0 };
		int outl;

		for (int i = 0; i < 8; i++)
			iv[i] = (uint8_t)(sector >> (8 * i));
		if (!C->EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, encrypt) ||
		    !C->EVP_CipherUpdate(ctx, buf + off, &outl, buf + off,
					 LUKS_SECTOR) ||
		    outl != LUKS_SECTOR) {
			r = -EIO;
			break;
		}
	}
	C->EVP_CIPHER_CTX_free(ctx);
	return r;
}

int luks_crypt(const struct luks *l, uint64_t sector, void *buf, size_t len,
	       bool encrypt)
{
	return xts(l->C, l->cipher, l->key, sector, buf, len, encrypt);
}

/* ---- anti-forensic split (LUKS1 spec, "AF-Splitter") ------------------- */

/* Replace block (n bytes) by hash(i || chunk i) per digest-sized chunk,
 * the last one truncated. */
static int diffuse(const struct libcrypto *C, const EVP_MD *md, uint8_t *block,
		   size_t n)
{
	size_t ds = (size_t)C->EVP_MD_get_size(md);
	EVP_MD_CTX *ctx = C->EVP_MD_CTX_new();
	uint8_t out[EVP_MAX_MD_SIZE], iv[4];
	int r = 0;

	if (!ctx)
		return -ENOMEM;
	for (size_t i = 0; i * ds < n; i++) {
		size_t k = n - i * ds < ds ? n - i * ds : ds;

		put32(iv, (uint32_t)i);
		if (!C->EVP_DigestInit_ex(ctx, md, NULL) ||
		    !C->EVP_DigestUpdate(ctx, iv, 4) ||
		    !C->EVP_DigestUpdate(ctx, block + i * ds, k) ||
		    !C->EVP_DigestFinal_ex(ctx, out, NULL)) {
			r = -EIO;
			break;
		}
		memcpy(block + i * ds, out, k);
	}
	C->EVP_MD_CTX_free(ctx);
	explicit_bzero(out, sizeof(out));
	return r;
}

/* key (n bytes) from stripes blocks of n bytes. */
static int af_merge(const struct libcrypto *C, const EVP_MD *md,
		    const uint8_t *src, size_t n, unsigned stripes,
		    uint8_t *key)
{
	memset(key, 0, n);
	for (unsigned s = 0; s < stripes; s++) {
		for (size_t i = 0; i < n; i++)
			key[i] ^= src[(size_t)s * n + i];
		if (s + 1 < stripes) {
			int r = diffuse(C, md, key, n);

			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* dst (stripes blocks of n bytes): random blocks, and a last one such
 * that af_merge gives key back. */
static int af_split(const struct libcrypto *C, const EVP_MD *md,
		    const uint8_t *key, size_t n, unsigned stripes,
		    uint8_t *dst)
{
	uint8_t d[LUKS_MAX_KEY] = { 0 };
	uint8_t *last = dst + (size_t)(stripes - 1) * n;

	if (C->RAND_bytes(dst, (int)((size_t)(stripes - 1) * n)) != 1)
		return -EIO;
	for (unsigned s = 0; s + 1 < stripes; s++) {
		for (size_t i = 0; i < n; i++)
			d[i] ^= dst[(size_t)s * n + i];
		if (diffuse(C, md, d, n) < 0)
			return -EIO;
	}
	for (size_t i = 0; i < n; i++)
		last[i] = d[i] ^ key[i];
	explicit_bzero(d, sizeof(d));
	return 0;
}

static int pbkdf2(const struct libcrypto *C, const EVP_MD *md,
		  const uint8_t *pass, size_t pass_len, const uint8_t *salt,
		  uint32_t iter, uint8_t *out, size_t n)
{
	return C->PKCS5_PBKDF2_HMAC(
		       (const char *)pass, (int)pass_len, salt, LUKS_SALT_LEN,
		       (int)(iter > 0x7fffffff ? 0x7fffffff : iter), md, (int)n,
		       out) == 1
		       ? 0
		       : -EIO;
}

/* ---- unlocking ------------------------------------------------------------ */

/* Try slot s: 0 with the master key in mk, 1 if the passphrase does not
 * open it, -errno on failure. */
static int try_slot(const struct libcrypto *C, const struct luks_header *h,
		    const struct luks_slot *s, const uint8_t *area,
		    const uint8_t *pass, size_t pass_len, uint8_t *mk)
{
	const EVP_MD *md = luks_md(C, h->hash_spec);
	size_t mlen = material_sectors(h->key_bytes, s->stripes) * LUKS_SECTOR;
	uint8_t key[LUKS_MAX_KEY], digest[LUKS_DIGEST_LEN];
	uint8_t *mat = malloc(mlen);
	int r;

	if (!mat)
		return -ENOMEM;
	memcpy(mat, area + (size_t)s->key_offset * LUKS_SECTOR, mlen);
	r = pbkdf2(C, md, pass, pass_len, s->salt, s->iterations, key,
		   h->key_bytes);
	if (r == 0)
		r = xts(C, xts_cipher(C, h->key_bytes), key, 0, mat, mlen,
			false);
	if (r == 0)
		r = af_merge(C, md, mat, h->key_bytes, s->stripes, mk);
	if (r == 0)
		r = pbkdf2(C, md, mk, h->key_bytes, h->mk_salt,
			   h->mk_iterations, digest, LUKS_DIGEST_LEN);
	if (r == 0 && C->CRYPTO_memcmp(digest, h->mk_digest, LUKS_DIGEST_LEN))
		r = 1;
	explicit_bzero(mat, mlen);
	explicit_bzero(key, sizeof(key));
	free(mat);
	return r;
}

int luks_unlock(const uint8_t *area, size_t area_len, const uint8_t *pass,
		size_t pass_len, struct luks **out, struct error *err)
{
	const struct libcrypto *C;
	struct luks_header h;
	struct luks *l;
	int r = 1;

	*out = NULL;
	r = luks_parse(area, area_len, area_len, &h, err);
	if (r < 0)
		return r;
	C = libcrypto_get(err);
	if (!C)
		return -err->code;
	r = 1;
	l = calloc(1, sizeof(*l));
	if (!l)
		return error_set(err, ENOMEM, "LUKS: out of memory");
	l->C = C;
	for (int i = 0; i < LUKS_SLOTS && r == 1; i++)
		if (h.slot[i].active == LUKS_SLOT_ACTIVE)
			r = try_slot(C, &h, &h.slot[i], area, pass, pass_len,
				     l->key);
	if (r != 0) {
		luks_free(l);
		if (r == 1)
			return error_set(err, EACCES,
					 "LUKS: no key slot matches the "
					 "passphrase (wrong key-secret?)");
		return error_set(err, -r, "LUKS: unlocking failed: %s",
				 strerror(-r));
	}
	l->key_bytes = h.key_bytes;
	l->cipher = xts_cipher(C, h.key_bytes);
	*out = l;
	return 0;
}

void luks_free(struct luks *l)
{
	if (!l)
		return;
	explicit_bzero(l, sizeof(*l));
	free(l);
}

/* ---- formatting ------------------------------------------------------------ */

/* QEMU's layout: the header padded to 4 KiB (8 sectors), then 8 slots of
 * key material, each rounded up to a multiple of 8 sectors. */
#define HDR_SECTORS 8u

static uint32_t slot_sectors(uint32_t key_bytes)
{
	uint64_t n = material_sectors(key_bytes, LUKS_STRIPES);

	return (uint32_t)((n + HDR_SECTORS - 1) / HDR_SECTORS * HDR_SECTORS);
}

uint64_t luks_area_len(void)
{
	return (uint64_t)(HDR_SECTORS + LUKS_SLOTS * slot_sectors(64)) *
	       LUKS_SECTOR;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* PBKDF2 iterations that take about ms milliseconds here (>= 1000). */
static uint32_t iterations_for(const struct libcrypto *C, const EVP_MD *md,
			       unsigned ms)
{
	uint8_t salt[LUKS_SALT_LEN] = { 0 }, out[64];
	const uint32_t probe = 10000;
	uint64_t t0 = now_ns(), dt;
	double n;

	pbkdf2(C, md, (const uint8_t *)"probe", 5, salt, probe, out,
	       sizeof(out));
	dt = now_ns() - t0;
	if (dt == 0)
		dt = 1;
	n = (double)probe * ms * 1e6 / (double)dt;
	if (n < 1000)
		return 1000;
	return n > LUKS_MAX_ITER ? LUKS_MAX_ITER : (uint32_t)n;
}

int luks_format(uint8_t *area, size_t area_len, const uint8_t *pass,
		size_t pass_len, unsigned iter_ms, struct luks **out,
		struct error *err)
{
	const struct libcrypto *C = libcrypto_get(err);
	const EVP_MD *md;
	const uint32_t key_bytes = 64;
	uint32_t ss = slot_sectors(key_bytes);
	size_t mlen = material_sectors(key_bytes, LUKS_STRIPES) * LUKS_SECTOR;
	uint8_t key[LUKS_MAX_KEY], salt[LUKS_SALT_LEN], u[16];
	uint32_t iter;
	struct luks *l;
	uint8_t *p;
	int r;

	*out = NULL;
	if (!C)
		return -err->code;
	if (area_len < luks_area_len())
		return error_set(err, EINVAL, "LUKS: area too small");
	md = C->EVP_sha256();
	l = calloc(1, sizeof(*l));
	if (!l)
		return error_set(err, ENOMEM, "LUKS: out of memory");
	l->C = C;
	l->key_bytes = key_bytes;
	l->cipher = xts_cipher(C, key_bytes);
	memset(area, 0, luks_area_len());
	memcpy(area + H_MAGIC, luks_magic, sizeof(luks_magic));
	area[H_VERSION + 1] = 1;
	memcpy(area + H_CIPHER, "aes", 3);
	memcpy(area + H_MODE, "xts-plain64", 11);
	memcpy(area + H_HASH, "sha256", 6);
	put32(area + H_PAYLOAD, HDR_SECTORS + LUKS_SLOTS * ss);
	put32(area + H_KEY_BYTES, key_bytes);
	if (C->RAND_bytes(l->key, (int)key_bytes) != 1 ||
	    C->RAND_bytes(area + H_MK_SALT, LUKS_SALT_LEN) != 1 ||
	    C->RAND_bytes(salt, LUKS_SALT_LEN) != 1 ||
	    C->RAND_bytes(u, 16) != 1) {
		luks_free(l);
		return error_set(err, EIO, "LUKS: no random bytes");
	}
	/* QEMU spends an eighth of the time on the digest */
	iter = iterations_for(C, md, iter_ms);
	put32(area + H_MK_ITER, iter / 8 < 1000 ? 1000 : iter / 8);
	r = pbkdf2(C, md, l->key, key_bytes, area + H_MK_SALT,
		   be32(area + H_MK_ITER), area + H_MK_DIGEST, LUKS_DIGEST_LEN);
	u[6] = (u[6] & 0x0f) | 0x40; /* version 4 UUID */
	u[8] = (u[8] & 0x3f) | 0x80;
	snprintf((char *)area + H_UUID, 40,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
		 u[10], u[11], u[12], u[13], u[14], u[15]);
	for (uint32_t i = 0; i < LUKS_SLOTS; i++) {
		p = area + H_SLOTS + i * SLOT_LEN;
		put32(p, i == 0 ? LUKS_SLOT_ACTIVE : LUKS_SLOT_DEAD);
		put32(p + 4, i == 0 ? iter : 0);
		if (i == 0)
			memcpy(p + 8, salt, LUKS_SALT_LEN);
		put32(p + 40, HDR_SECTORS + i * ss);
		put32(p + 44, LUKS_STRIPES);
	}
	/* slot 0: the split master key, encrypted with the passphrase's key */
	p = area + (size_t)HDR_SECTORS * LUKS_SECTOR;
	if (r == 0)
		r = pbkdf2(C, md, pass, pass_len, salt, iter, key, key_bytes);
	if (r == 0)
		r = af_split(C, md, l->key, key_bytes, LUKS_STRIPES, p);
	if (r == 0)
		r = xts(C, l->cipher, key, 0, p, mlen, true);
	explicit_bzero(key, sizeof(key));
	if (r < 0) {
		luks_free(l);
		return error_set(err, EIO, "LUKS: formatting failed");
	}
	*out = l;
	return 0;
}

/* ---- secrets ------------------------------------------------------------------ */

int luks_secret_load(const char *spec, uint8_t *buf, size_t *len,
		     const char *what, struct error *err)
{
	*len = 0;
	if (!strncmp(spec, "env:", 4)) {
		const char *v = getenv(spec + 4);
		size_t n;

		if (!spec[4] || !v)
			return error_set(err, ENOENT,
					 "%s: environment variable '%s' is "
					 "not set",
					 what, spec + 4);
		n = strlen(v);
		if (n > LUKS_SECRET_MAX)
			return error_set(err, EINVAL,
					 "%s: secret longer than %d bytes",
					 what, LUKS_SECRET_MAX);
		memcpy(buf, v, n);
		*len = n;
		return 0;
	}
	if (!strncmp(spec, "file:", 5)) {
		int fd = open(spec + 5, O_RDONLY | O_CLOEXEC);
		ssize_t n;
		uint8_t extra;

		if (fd < 0)
			return error_set(err, errno, "%s: %s: %s", what,
					 spec + 5, strerror(errno));
		n = read(fd, buf, LUKS_SECRET_MAX);
		if (n >= 0 && n == LUKS_SECRET_MAX && read(fd, &extra, 1) > 0)
			n = -2;
		close(fd);
		if (n == -2)
			return error_set(err, EINVAL,
					 "%s: %s: secret longer than %d bytes",
					 what, spec + 5, LUKS_SECRET_MAX);
		if (n < 0)
			return error_set(err, errno, "%s: %s: %s", what,
					 spec + 5, strerror(errno));
		*len = (size_t)n;
		return 0;
	}
	return error_set(err, EINVAL,
			 "%s: expected file:PATH or env:NAME (a secret is "
			 "never given literally)",
			 what);
}
