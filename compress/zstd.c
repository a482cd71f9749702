/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * zstd.c - the zstd backend, on static contexts that never allocate.
 *
 * Both contexts live in workspaces sized once, when the state is made: the
 * compression workspace for the hungriest level on a 4 KiB input (a window
 * of 4 KiB makes even level 22 need under 300 KiB), the decompression one
 * for a decoder that writes straight into the caller's page. A context in
 * a static workspace returns an error rather than allocate, so the I/O path
 * cannot reach malloc through libzstd.
 *
 * Frames are written without magic number, content size or dictionary id:
 * the tag already says "zstd" and the size is always one page, and the
 * five bytes saved are over 0.3% of an average compressed page. Objects are
 * decoded as exactly one frame that fills exactly one page.
 */
#include <errno.h>
#include <stdlib.h>

#define ZSTD_STATIC_LINKING_ONLY /* static contexts, magicless frames */
#include <zstd.h>
#include <zstd_errors.h>

#include "compress/internal.h"

/* zstd's negative levels trade ratio for speed like `zstd --fast=N`; below
 * -100 pages barely shrink. */
#define ZSTD_MIN_LEVEL (-100)
/* ZSTD_maxCLevel() of every zstd release since 1.0; a constant, because
 * the ops table is. */
#define ZSTD_MAX_LEVEL 22

struct zstd_state {
	ZSTD_CCtx *cctx; /* in cwork */
	ZSTD_DCtx *dctx; /* in dwork */
	int level;       /* the level cctx is set to */
	void *cwork;
	void *dwork;
};

/* The compression workspace that fits every level on one page. */
static size_t zstd_cwork_size(void)
{
	size_t size = 0;
	int level;

	for (level = ZSTD_MIN_LEVEL; level <= ZSTD_MAX_LEVEL; level++) {
		ZSTD_compressionParameters cp =
			ZSTD_getCParams(level, COMP_PAGE_SIZE, 0);
		size_t s = ZSTD_estimateCCtxSize_usingCParams(cp);

		size = ZP_MAX(size, s);
	}
	return size;
}

static void zstd_state_free(void *p)
{
	struct zstd_state *st = p;

	if (!st)
		return;
	free(st->cwork);
	free(st->dwork);
	free(st);
}

static int zstd_set(ZSTD_CCtx *cctx, ZSTD_cParameter param, int value)
{
	return ZSTD_isError(ZSTD_CCtx_setParameter(cctx, param, value)) ? -1
									 : 0;
}

static void *zstd_state_new(void)
{
	struct zstd_state *st = calloc(1, sizeof(*st));
	size_t csize = zstd_cwork_size();
	size_t dsize = ZSTD_estimateDCtxSize();

	if (!st)
		return NULL;
	st->cwork = malloc(csize);
	st->dwork = malloc(dsize);
	if (!st->cwork || !st->dwork)
		goto fail;
	st->cctx = ZSTD_initStaticCCtx(st->cwork, csize);
	st->dctx = ZSTD_initStaticDCtx(st->dwork, dsize);
	if (!st->cctx || !st->dctx)
		goto fail_inval;
	st->level = ZSTD_CLEVEL_DEFAULT;
	if (zstd_set(st->cctx, ZSTD_c_compressionLevel, st->level) ||
	    zstd_set(st->cctx, ZSTD_c_format, ZSTD_f_zstd1_magicless) ||
	    zstd_set(st->cctx, ZSTD_c_contentSizeFlag, 0) ||
	    zstd_set(st->cctx, ZSTD_c_dictIDFlag, 0) ||
	    zstd_set(st->cctx, ZSTD_c_checksumFlag, 0) ||
	    ZSTD_isError(ZSTD_DCtx_setParameter(st->dctx, ZSTD_d_format,
						ZSTD_f_zstd1_magicless)))
		goto fail_inval;
	return st;

fail_inval:
	errno = EINVAL;
fail:
	zstd_state_free(st);
	return NULL;
}

static ssize_t zstd_compress(void *p, int level, const void *src, void *dst,
			     size_t cap)
{
	struct zstd_state *st = p;
	size_t n;

	if (level != st->level) {
		if (zstd_set(st->cctx, ZSTD_c_compressionLevel, level))
			return -EINVAL;
		st->level = level;
	}
	/* Given exactly cap bytes, zstd gives up on frames a few bytes
	 * shorter than cap, so it writes into the whole buffer and the length
	 * is compared afterwards. */
	n = ZSTD_compress2(st->cctx, dst, COMP_OUT_BYTES, src, COMP_PAGE_SIZE);
	if (!ZSTD_isError(n))
		return n <= cap ? (ssize_t)n : 0;
	if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall)
		return 0;
	/* A failed call leaves the context mid-frame; start the next one
	 * afresh (parameters are kept). */
	ZSTD_CCtx_reset(st->cctx, ZSTD_reset_session_only);
	return -EIO;
}

static int zstd_decompress(void *p, const void *src, size_t len, void *dst)
{
	struct zstd_state *st = p;
	const unsigned char *ip = src, *iend = ip + len;
	unsigned char *op = dst, *oend = op + COMP_PAGE_SIZE;
	size_t need, n;

	if (len == 0 || len > ZSTD_COMPRESSBOUND(COMP_PAGE_SIZE))
		return -EBADMSG;
	/*
	 * One frame, block by block: the bufferless API asks for exact sizes
	 * and reads nothing else. ZSTD_decompressDCtx() would go on to look
	 * for a further frame in what is left, and libzstd before 1.5.5 reads
	 * a 4-byte magic number there even when 1 to 3 bytes are left
	 * (facebook/zstd#3592): objects of 1-3 bytes, or a frame followed by
	 * 1-3 bytes, would be read past their end. One frame also means no
	 * trailing bytes are accepted.
	 */
	if (ZSTD_isError(ZSTD_decompressBegin(st->dctx)))
		return -EBADMSG;
	while ((need = ZSTD_nextSrcSizeToDecompress(st->dctx)) != 0) {
		if (need > (size_t)(iend - ip))
			return -EBADMSG;
		n = ZSTD_decompressContinue(st->dctx, op, (size_t)(oend - op),
					    ip, need);
		if (ZSTD_isError(n))
			return -EBADMSG;
		ip += need;
		op += n;
	}
	return ip == iend && op == oend ? 0 : -EBADMSG;
}

const struct comp_backend comp_backend_zstd = {
	.name = "zstd",
	.level_word = "level",
	.min_level = ZSTD_MIN_LEVEL,
	.max_level = ZSTD_MAX_LEVEL,
	.default_level = ZSTD_CLEVEL_DEFAULT,
	.selectable = true,
	.state_new = zstd_state_new,
	.state_free = zstd_state_free,
	.compress = zstd_compress,
	.decompress = zstd_decompress,
};
