/*
 * OpenSSL's libcrypto, loaded on first use (dlopen): a VM worker maps it
 * only when its machine has an encrypted disk (issue 14: 1.4 MiB of a
 * worker's RSS otherwise). The worker opens its disks before it enters
 * its sandbox (vmm/vmworker.c), so the library is loaded while the host's
 * file system is still there; in the sandbox it is already mapped.
 *
 *   const struct libcrypto *C = libcrypto_get(&err);
 *   if (!C) return -err.code;
 *   C->EVP_CipherInit_ex(...);
 *
 * The table's entries have the types of OpenSSL's declarations, so the
 * headers check every call; the soname is the one of those headers.
 * Thread safety: libcrypto_get may be called from any thread; the table
 * never changes once loaded.
 */
#ifndef SV_BLOCK_LIBCRYPTO_H
#define SV_BLOCK_LIBCRYPTO_H

#include <stdbool.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util/error.h"

/* X(name): every function of libcrypto that Softvisor's block layer calls */
#define LIBCRYPTO_FUNCTIONS(X) \
	X(CRYPTO_memcmp)       \
	X(EVP_CIPHER_CTX_free) \
	X(EVP_CIPHER_CTX_new)  \
	X(EVP_CipherInit_ex)   \
	X(EVP_CipherUpdate)    \
	X(EVP_DigestFinal_ex)  \
	X(EVP_DigestInit_ex)   \
	X(EVP_DigestUpdate)    \
	X(EVP_MD_CTX_free)     \
	X(EVP_MD_CTX_new)      \
	X(EVP_MD_get_size)     \
	X(EVP_aes_128_xts)     \
	X(EVP_aes_256_xts)     \
	X(EVP_sha1)            \
	X(EVP_sha256)          \
	X(EVP_sha512)          \
	X(PKCS5_PBKDF2_HMAC)   \
	X(RAND_bytes)

#define LIBCRYPTO_MEMBER(name) __typeof__(name) *name;
struct libcrypto {
	LIBCRYPTO_FUNCTIONS(LIBCRYPTO_MEMBER)
};
#undef LIBCRYPTO_MEMBER

/* The table, loading the library the first time; NULL with err naming
 * the library and what failed (not installed, a symbol missing). */
const struct libcrypto *libcrypto_get(struct error *err);
/* Whether this process has loaded it (a test's question). */
bool libcrypto_loaded(void);

#endif
