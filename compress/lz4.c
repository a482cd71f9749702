/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lz4.c - the lz4 backend: LZ4_compress_fast() with a configurable
 * acceleration, on a state allocated once.
 *
 * LZ4_compress_fast_extState() is what LZ4_compress_fast() runs on a stack
 * state; giving it ours saves nothing per call but keeps 16 KiB off the
 * worker's stack. For inputs under 64 KiB it uses 16-bit table entries,
 * which compress 4 KiB pages better than the streaming API's 32-bit ones.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include <lz4.h>

#include "compress/internal.h"

/* liblz4 clamps accelerations above 65537; beyond a few dozen lz4 stores
 * nearly everything as literals, and 4096 values fill the tag's level
 * field. */
#define LZ4_MAX_ACCELERATION 4096

static void *lz4_state_new(void)
{
	return malloc((size_t)LZ4_sizeofState());
}

static void lz4_state_free(void *state)
{
	free(state);
}

static ssize_t lz4_compress(void *state, int level, const void *src, void *dst,
			    size_t cap)
{
	/* 0 is also liblz4's "did not fit": it never fails otherwise. */
	return LZ4_compress_fast_extState(state, src, dst, COMP_PAGE_SIZE,
					  (int)cap, level);
}

int comp_lz4_decompress(void *state, const void *src, size_t len, void *dst)
{
	int n;

	(void)state;
	/* The longest lz4 encoding of a page; anything longer is not ours. */
	if (len == 0 || len > LZ4_COMPRESSBOUND(COMP_PAGE_SIZE))
		return -EBADMSG;
	/* The safe decoder checks every offset and length against both
	 * buffers: corrupt input ends in a negative return, never a stray
	 * access. */
	n = LZ4_decompress_safe(src, dst, (int)len, COMP_PAGE_SIZE);
	return n == (int)COMP_PAGE_SIZE ? 0 : -EBADMSG;
}

const struct comp_backend comp_backend_lz4 = {
	.name = "lz4",
	.level_word = "acceleration",
	.min_level = 1,
	.max_level = LZ4_MAX_ACCELERATION,
	.default_level = 1,
	.selectable = true,
	.state_new = lz4_state_new,
	.state_free = lz4_state_free,
	.compress = lz4_compress,
	.decompress = comp_lz4_decompress,
};
