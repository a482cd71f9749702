/* SPDX-License-Identifier: GPL-2.0-or-later */
/* assert.c - where broken invariants end the process */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "zp-assert.h"

void zp_assert_fail(const char *expr, const char *file, int line,
		    const char *func)
{
	fprintf(stderr, "%s:%d: %s: assertion failed: %s\n", file, line, func,
		expr);
	fflush(stderr);
	abort();
}

void zp_panic_at(const char *file, int line, const char *func,
		 const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: %s: ", file, line, func);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}
