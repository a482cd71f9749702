/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lz4hc.c - the lz4hc backend: slower compression into the same lz4 format,
 * so pages decode as fast as lz4's.
 *
 * LZ4_compress_HC_extStateHC() clears its 256 KiB state on every call,
 * which costs more than compressing a 4 KiB page at low levels. Instead the
 * stream is reset with LZ4_resetStreamHC_fast() and each page compressed as
 * the first block of a new stream: the tables keep stale entries, but the
 * reset moves the stream's origin past the 64 KiB window, so no page can
 * refer to an earlier one (what lz4frame does for independent blocks).
 *
 * Levels stop at 9: from LZ4HC_CLEVEL_OPT_MIN (10) on, lz4hc runs its
 * optimal parser, which liblz4 as distributions build it (LZ4HC_HEAPMODE)
 * mallocs 64 KiB for on every call, and the I/O path must not allocate.
 */
#include <errno.h>
#include <stdlib.h>

#include <lz4hc.h>

#include "compress/internal.h"

static void *lz4hc_state_new(void)
{
	return LZ4_createStreamHC();
}

static void lz4hc_state_free(void *state)
{
	LZ4_freeStreamHC(state);
}

static ssize_t lz4hc_compress(void *state, int level, const void *src,
			      void *dst, size_t cap)
{
	LZ4_resetStreamHC_fast(state, level);
	/* 0 means the output did not fit in cap. */
	return LZ4_compress_HC_continue(state, src, dst, COMP_PAGE_SIZE,
					(int)cap);
}

const struct comp_backend comp_backend_lz4hc = {
	.name = "lz4hc",
	.level_word = "level",
	.min_level = 1,
	.max_level = LZ4HC_CLEVEL_OPT_MIN - 1,
	.default_level = LZ4HC_CLEVEL_DEFAULT,
	.selectable = true,
	.state_new = lz4hc_state_new,
	.state_free = lz4hc_state_free,
	.compress = lz4hc_compress,
	.decompress = comp_lz4_decompress,
};
