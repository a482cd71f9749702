/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * internal.h - what the files of compress/ share: the backend ops table
 * and the context.
 */
#ifndef ZP_COMPRESS_INTERNAL_H
#define ZP_COMPRESS_INTERNAL_H

#include <sys/types.h>

#include "compress/compress.h"
#include "zp-compiler.h"

/*
 * One compressor library. Each backend is a file that fills one of these;
 * a backend whose library configure did not find is not compiled, and its
 * slot in comp_backends[] stays NULL.
 */
struct comp_backend {
	const char *name;
	/* What the level means, for messages: "level" or "acceleration". */
	const char *level_word;
	int min_level, max_level, default_level;
	/* Whether an operator may select it (everything but raw). */
	bool selectable;

	/* Working memory for compress and decompress, allocated once per
	 * context so that neither call allocates; NULL with errno set on
	 * failure. May be NULL for a backend that needs none. */
	void *(*state_new)(void);
	void (*state_free)(void *state);

	/*
	 * Compress COMP_PAGE_SIZE bytes of src into at most cap bytes
	 * (cap < COMP_PAGE_SIZE). dst has room for COMP_OUT_BYTES, for
	 * libraries that want slack beyond what they produce. Returns the
	 * length, 0 exactly when the output would be longer than cap, or a
	 * negative errno when the library failed for another reason.
	 */
	ssize_t (*compress)(void *state, int level, const void *src, void *dst,
			    size_t cap);

	/* Decode exactly COMP_PAGE_SIZE bytes into dst from len bytes of src:
	 * 0, or -EBADMSG for anything else, without reading or writing out of
	 * bounds. */
	int (*decompress)(void *state, const void *src, size_t len, void *dst);
};

/* raw.c */
extern const struct comp_backend comp_backend_raw;
/* lz4.c */
extern const struct comp_backend comp_backend_lz4;
/* Decoding is the same for lz4 and lz4hc output. */
int comp_lz4_decompress(void *state, const void *src, size_t len, void *dst);
/* lz4hc.c */
extern const struct comp_backend comp_backend_lz4hc;
/* zstd.c */
#ifdef HAVE_ZSTD
extern const struct comp_backend comp_backend_zstd;
#endif

/* compress.c: indexed by enum comp_backend_id, NULL where not built. */
extern const struct comp_backend *const comp_backends[NR_COMP_BACKENDS];

/* A page plus the slack zstd asks for beyond its output (it refuses a
 * buffer less than about 9 bytes longer than the frame it writes). */
#define COMP_OUT_BYTES (COMP_PAGE_SIZE + 64)

struct comp_ctx {
	void *state[NR_COMP_BACKENDS];
	unsigned raw_threshold;
	/* Written by the owning thread with relaxed atomic stores, so that a
	 * reader on another thread sees whole values. */
	struct comp_stats stats;
	/* Output of the last compression. */
	unsigned char out[COMP_OUT_BYTES] zp_cacheline_aligned;
};

#endif /* ZP_COMPRESS_INTERNAL_H */
