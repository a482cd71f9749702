/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * check.h - checks the cmocka tests share. Include after cmocka.h.
 */
#ifndef ZP_TESTS_CHECK_H
#define ZP_TESTS_CHECK_H

#include <inttypes.h>
#include <stdint.h>
#include <string.h>

/* a == b as 64-bit numbers; on failure both expressions and values are
 * shown, which assert_int_equal does not do. */
#define check_eq(a, b)                                                        \
	do {                                                                  \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);              \
		if (a_ != b_)                                                 \
			fail_msg("%s == %s: %" PRIu64 " != %" PRIu64, #a, #b, \
				 a_, b_);                                     \
	} while (0)

/* text holds part (a message a test expects, say). */
#define assert_has(text, part)                                                \
	do {                                                                  \
		const char *t_ = (text), *p_ = (part);                        \
		if (!strstr(t_, p_))                                          \
			fail_msg("'%s' is not in '%s'", p_, t_);              \
	} while (0)

#endif /* ZP_TESTS_CHECK_H */
