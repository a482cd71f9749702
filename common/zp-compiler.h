/* SPDX-License-Identifier: GPL-2.0-or-later */
/* zp-compiler.h - compiler helpers shared by every folder */
#ifndef ZP_COMPILER_H
#define ZP_COMPILER_H

#include <stddef.h>

#define zp_likely(x) __builtin_expect(!!(x), 1)
#define zp_unlikely(x) __builtin_expect(!!(x), 0)

#define ZP_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ZP_DIV_ROUND_UP(n, d) (((n) + (d)-1) / (d))
#define ZP_ALIGN_UP(n, a) (((n) + (a)-1) & ~((__typeof__(n))(a)-1))
#define ZP_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ZP_MAX(a, b) ((a) > (b) ? (a) : (b))

#define zp_container_of(ptr, type, member)                                      \
	((type *)((char *)(ptr)-offsetof(type, member)))

/* A cache line, to keep locks of different classes and nodes apart. */
#define ZP_CACHELINE 64
#define zp_cacheline_aligned __attribute__((aligned(ZP_CACHELINE)))

#define zp_unused __attribute__((unused))
#define zp_noreturn __attribute__((noreturn))
#define zp_printf(f, a) __attribute__((format(printf, f, a)))

#endif /* ZP_COMPILER_H */
