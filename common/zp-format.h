/* SPDX-License-Identifier: GPL-2.0-or-later */
/* zp-format.h - building messages piece by piece into a fixed buffer */
#ifndef ZP_FORMAT_H
#define ZP_FORMAT_H

#include <stddef.h>

#include "zp-compiler.h"

/*
 * Append to buf (len bytes) at *pos, snprintf style: the text is cut to
 * fit and always terminated, and *pos counts what would have been
 * written, so the caller can tell truncation from the total. buf may be
 * NULL when len is 0.
 */
void zp_append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
	zp_printf(4, 5);

#endif /* ZP_FORMAT_H */
