/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * helpers.h - what the unit tests of compress/ on synthetic pages share
 * (test-compress.c, test-corrupt.c): lists of specs, pages made from a
 * seed, an output page between guard bytes, and calls of compress/ that
 * fail the running cmocka test instead of returning an error.
 *
 * Everything here may call cmocka's fail_msg() and assert_*(), so it is
 * for code that runs inside a cmocka test only.
 */
#ifndef ZP_TESTS_COMPRESS_HELPERS_H
#define ZP_TESTS_COMPRESS_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compress/compress.h"

/* The tag of a page stored as it is. */
#define CT_RAW_TAG ((comp_tag_t)(COMP_RAW << COMP_TAG_LEVEL_BITS))

/*
 * The spec lists are defined here rather than in helpers.c so that the
 * tests may take ARRAY_SIZE() of them; each program has its own copy of a
 * few dozen bytes.
 */

/* Backends an operator may select in this build, in id order. */
static const int ct_selectable[] = {
	COMP_LZ4,
	COMP_LZ4HC,
#ifdef HAVE_ZSTD
	COMP_ZSTD,
#endif
};

/* A few specs per backend: both ends of each range and the defaults. */
static const struct comp_spec ct_sample_specs[] = {
	{COMP_LZ4, 1},	   {COMP_LZ4, 2},   {COMP_LZ4, 4096},
	{COMP_LZ4HC, 1},   {COMP_LZ4HC, 5}, {COMP_LZ4HC, 9},
#ifdef HAVE_ZSTD
	{COMP_ZSTD, -100}, {COMP_ZSTD, -5}, {COMP_ZSTD, 1},
	{COMP_ZSTD, 3},	   {COMP_ZSTD, 19}, {COMP_ZSTD, 22},
#endif
};

/**
 * ct_spec_str() - "name:level" of spec, for messages. The string lives in
 * one of a few rotating buffers, so that one message may name several
 * specs; it is overwritten four calls later.
 */
const char *ct_spec_str(struct comp_spec spec);

/*
 * Pages made from a seed, so that a failure repeats. Each writes a whole
 * page (COMP_PAGE_SIZE bytes), which need not be aligned.
 */

/** ct_fill_word() - word repeated over the page: a same-filled page. */
void ct_fill_word(unsigned char *page, uint64_t word);

/** ct_make_random_page() - zt_rand() bytes, which no backend can shrink. */
void ct_make_random_page(unsigned char *page, uint64_t seed);

/**
 * ct_make_text_page() - words, numbers and pointers strung together, which
 * shrink about as much as heap data does (lz4 makes about half a page).
 */
void ct_make_text_page(unsigned char *page, uint64_t seed);

/**
 * ct_make_tunable_page() - nrandom random bytes followed by text (text) or
 * zeros: nrandom moves the compressed size across any raw threshold.
 */
void ct_make_tunable_page(unsigned char *page, uint64_t seed, size_t nrandom,
			  bool text);

/*
 * An output page between guard bytes, so that a decoder writing outside
 * the page shows in a plain build too. The page is bytes[CT_GUARD] on.
 */
#define CT_GUARD      256
#define CT_GUARD_BYTE 0xa5
struct ct_guarded {
	unsigned char bytes[CT_GUARD + COMP_PAGE_SIZE + CT_GUARD];
};

/** ct_guard_arm() - fill g with the guard byte and return its page. */
unsigned char *ct_guard_arm(struct ct_guarded *g);

/**
 * ct_guard_check() - fail the test, naming what, if a guard byte of g
 * changed since ct_guard_arm().
 */
void ct_guard_check(const struct ct_guarded *g, const char *what);

/**
 * ct_decompress_exact() - comp_decompress() of len bytes of src copied to
 * the very end of a heap block, where AddressSanitizer sees any read past
 * src + len. Returns what comp_decompress() returns.
 */
int ct_decompress_exact(struct comp_ctx *ctx, comp_tag_t tag, const void *src,
			size_t len, void *page);

/**
 * ct_new_ctx() - comp_ctx_new(threshold); fails the test when that fails.
 */
struct comp_ctx *ct_new_ctx(unsigned int threshold);

/** ct_stats_of() - the counters of ctx, by value. */
struct comp_stats ct_stats_of(const struct comp_ctx *ctx);

/**
 * ct_assert_stats_equal() - fail the test, naming the first counter that
 * differs, unless every counter of got equals want's.
 */
void ct_assert_stats_equal(const struct comp_stats *got,
			   const struct comp_stats *want);

#endif /* ZP_TESTS_COMPRESS_HELPERS_H */
