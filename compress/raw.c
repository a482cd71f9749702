/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * raw.c - the "stored raw" form: a page kept as it is because compressing
 * it saved too little. Never selected by an operator; comp_compress()
 * falls back to it, and its tag tells comp_decompress() to copy.
 */
#include <errno.h>
#include <string.h>

#include "compress/internal.h"

static int raw_decompress(void *state, const void *src, size_t len, void *dst)
{
	(void)state;
	if (len != COMP_PAGE_SIZE)
		return -EBADMSG;
	memcpy(dst, src, COMP_PAGE_SIZE);
	return 0;
}

const struct comp_backend comp_backend_raw = {
	.name = "raw",
	.level_word = "level",
	.min_level = 0,
	.max_level = 0,
	.default_level = 0,
	.selectable = false,
	.decompress = raw_decompress,
};
