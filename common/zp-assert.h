/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * zp-assert.h - tiered assertions, switched by ./configure --enable-debug=N.
 *
 *   zp_assert(c)           level >= 1: cheap checks of invariants; on by default
 *   zp_assert_internal(c)  level >= 2: consistency of internal structures
 *   zp_assert_expensive(c) level >= 3: checks that walk whole structures
 *
 * A failed assertion is a broken invariant: the process stops at once rather
 * than go on with corrupt data. Never use these for bad input or ENOMEM.
 */
#ifndef ZP_ASSERT_H
#define ZP_ASSERT_H

#include "zp-compiler.h"

#ifndef ZP_DEBUG
#define ZP_DEBUG 1
#endif

zp_noreturn void zp_assert_fail(const char *expr, const char *file, int line,
				const char *func);
zp_noreturn zp_printf(4, 5) void zp_panic_at(const char *file, int line,
					     const char *func, const char *fmt,
					     ...);

#define zp_panic(...) zp_panic_at(__FILE__, __LINE__, __func__, __VA_ARGS__)

#define zp_assert_level(level, c)                                               \
	do {                                                                    \
		if (ZP_DEBUG >= (level) && zp_unlikely(!(c)))                   \
			zp_assert_fail(#c, __FILE__, __LINE__, __func__);       \
	} while (0)

#define zp_assert(c) zp_assert_level(1, c)
#define zp_assert_internal(c) zp_assert_level(2, c)
#define zp_assert_expensive(c) zp_assert_level(3, c)

#endif /* ZP_ASSERT_H */
