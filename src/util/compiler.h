/* Small compiler helpers shared by every layer. */
#ifndef SV_UTIL_COMPILER_H
#define SV_UTIL_COMPILER_H

#include <stddef.h>

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr)-offsetof(type, member)))

#define SV_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define SV_MUST_CHECK	     __attribute__((warn_unused_result))
#define SV_NORETURN	     __attribute__((noreturn))
#define SV_UNUSED	     __attribute__((unused))
#define SV_ALWAYS_INLINE     inline __attribute__((always_inline))
#define SV_NOINLINE	     __attribute__((noinline))
#define SV_COLD		     __attribute__((cold))

#define IS_POW2(x) ((x) != 0 && ((x) & ((x)-1)) == 0)

#endif
