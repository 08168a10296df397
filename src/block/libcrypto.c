/* OpenSSL's libcrypto, loaded on first use: libcrypto.h. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include <openssl/opensslv.h>

#include "block/libcrypto.h"

#define STR_(x) #x
#define STR(x)	STR_(x)
/* the soname of the library the headers describe: libcrypto.so.3 */
#define LIBCRYPTO_SONAME "libcrypto.so." STR(OPENSSL_SHLIB_VERSION)

static struct libcrypto table;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static atomic_bool loaded;
static char failure[160];

static void load(void)
{
	void *h = dlopen(LIBCRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL);
	void *fn;

	if (!h) {
		snprintf(failure, sizeof(failure), "%s", dlerror());
		return;
	}
#define LIBCRYPTO_LOAD(name)                                       \
	fn = dlsym(h, #name);                                      \
	if (!fn) {                                                 \
		snprintf(failure, sizeof(failure), "%s has no %s", \
			 LIBCRYPTO_SONAME, #name);                 \
		dlclose(h);                                        \
		return;                                            \
	}                                                          \
	table.name = (__typeof__(name) *)fn;
	LIBCRYPTO_FUNCTIONS(LIBCRYPTO_LOAD)
#undef LIBCRYPTO_LOAD
	atomic_store(&loaded, true);
}

const struct libcrypto *libcrypto_get(struct error *err)
{
	pthread_once(&once, load);
	if (!atomic_load(&loaded)) {
		error_set(err, ENOENT,
			  "encryption: cannot load OpenSSL's %s (%s)",
			  LIBCRYPTO_SONAME, failure);
		return NULL;
	}
	return &table;
}

bool libcrypto_loaded(void)
{
	return atomic_load(&loaded);
}
