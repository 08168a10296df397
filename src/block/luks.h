/*
 * LUKS1 volume headers as QEMU writes them inside qcow2 images
 * (encrypt.format=luks; the LUKS1 on-disk format specification, version
 * 1.2.3, and QEMU's docs/interop/qcow2.txt "Full disk encryption header
 * pointer"). Ciphers: aes-xts-plain64 with 256- or 512-bit keys (AES-128
 * or AES-256-XTS); hashes sha1, sha256, sha512. Crypto is OpenSSL's
 * libcrypto (PBKDF2, AES-XTS, digests).
 *
 *   struct luks *l;
 *   luks_unlock(area, area_len, pass, pass_len, &l, &err);  (header + keys)
 *   luks_crypt(l, host_offset / 512, buf, len, false);         (decrypt)
 *   luks_free(l);
 *
 * The "area" is the whole LUKS region: the 592-byte header followed by the
 * key material of the slots (QEMU: payload_offset sectors, about 2 MiB).
 * The payload (the guest's data) is elsewhere: in qcow2 clusters, each
 * 512-byte sector encrypted with the IV of its host sector number.
 *
 * Thread safety: an unlocked struct luks is read-only; luks_crypt may be
 * called from any number of threads at once. Secrets (passphrases, keys)
 * are wiped from memory when freed.
 */
#ifndef SV_BLOCK_LUKS_H
#define SV_BLOCK_LUKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define LUKS_HDR_LEN	 592
#define LUKS_SECTOR	 512
#define LUKS_SLOTS	 8
#define LUKS_STRIPES	 4000
#define LUKS_DIGEST_LEN	 20
#define LUKS_SALT_LEN	 32
#define LUKS_MAX_KEY	 64
#define LUKS_SLOT_ACTIVE 0x00ac71f3u
#define LUKS_SLOT_DEAD	 0x0000deadu
#define LUKS_SECRET_MAX	 4096 /* bytes of a passphrase */
/* PBKDF2 iterations accepted per key slot and for the master key digest
 * (a hostile header's 2^32 - 1 would take an hour or more to try): about
 * 30 s of sha256 here, and over 6x what a 2 s --iter-time gives on a
 * fast CPU. Images we create stay below it. */
#define LUKS_MAX_ITER (1u << 26)

struct luks_slot {
	uint32_t active; /* LUKS_SLOT_ACTIVE or LUKS_SLOT_DEAD */
	uint32_t iterations;
	uint8_t salt[LUKS_SALT_LEN];
	uint32_t key_offset; /* sectors from the header's start */
	uint32_t stripes;
};

/* A parsed header (host byte order, strings NUL-terminated). */
struct luks_header {
	char cipher_name[33], cipher_mode[33], hash_spec[33];
	uint32_t payload_offset; /* sectors */
	uint32_t key_bytes;
	uint8_t mk_digest[LUKS_DIGEST_LEN];
	uint8_t mk_salt[LUKS_SALT_LEN];
	uint32_t mk_iterations;
	char uuid[41];
	struct luks_slot slot[LUKS_SLOTS];
};

/* Parse and check the header at the start of buf (len bytes of the area,
 * at least LUKS_HDR_LEN): magic, version 1, a supported cipher and hash,
 * key slots inside area_len bytes and not overlapping the header or each
 * other. -EINVAL/-ENOTSUP with a message; never reads past len. */
int luks_parse(const uint8_t *buf, size_t len, uint64_t area_len,
	       struct luks_header *h, struct error *err);

struct luks;

/* Parse the area and unlock it with the passphrase: tries every active
 * slot. Wrong passphrase: -EACCES ("no key slot matches the passphrase").
 * *out is freed with luks_free. */
int luks_unlock(const uint8_t *area, size_t area_len, const uint8_t *pass,
		size_t pass_len, struct luks **out, struct error *err);

/* Bytes of the area luks_format() writes for AES-256-XTS (QEMU's layout:
 * header, 8 slots of 4000 stripes each aligned to 4 KiB). */
uint64_t luks_area_len(void);

/* Make a new volume: a random master key, AES-256-XTS, sha256, slot 0
 * keyed with the passphrase; iterations for the slot and the digest are
 * timed to take about iter_ms each (at least 1000, as QEMU). Fills area
 * (luks_area_len() bytes, zeroed by the caller) and returns the unlocked
 * volume in *out. */
int luks_format(uint8_t *area, size_t area_len, const uint8_t *pass,
		size_t pass_len, unsigned iter_ms, struct luks **out,
		struct error *err);

/* Encrypt or decrypt len bytes (a multiple of 512) in place; the first
 * sector's IV number is sector. 0, or -EIO if the cipher failed. */
int luks_crypt(const struct luks *l, uint64_t sector, void *buf, size_t len,
	       bool encrypt);

/* Wipe and free. NULL is a no-op. */
void luks_free(struct luks *l);

/* Read a secret given as "file:PATH" (the file's bytes, as QEMU's
 * --object secret,file=) or "env:NAME" (the variable's value); never a
 * literal. At most LUKS_SECRET_MAX bytes into buf, length in *len. what
 * names the option for messages. */
int luks_secret_load(const char *spec, uint8_t *buf, size_t *len,
		     const char *what, struct error *err);

#endif
