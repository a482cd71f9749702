/* SPDX-License-Identifier: GPL-2.0-or-later */
/* format.c - building messages piece by piece into a fixed buffer */
#include <stdarg.h>
#include <stdio.h>

#include "zp-format.h"

void zp_append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(*pos < len ? buf + *pos : NULL,
		      *pos < len ? len - *pos : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*pos += (size_t)n;
}
