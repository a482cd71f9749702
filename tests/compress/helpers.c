/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * helpers.c - what the unit tests of compress/ on synthetic pages share;
 * helpers.h documents each piece.
 *
 * Pages are synthetic and made from a seed, so that a failure repeats:
 *   random    zt_rand() bytes, which no backend can shrink
 *   text      words, numbers and pointers strung together, which shrink
 *             about as much as heap data does
 *   tunable   a random prefix followed by text or zeros: the prefix's length
 *             moves the compressed size across any raw threshold
 * test-roundtrip.c does the same on the real corpus.
 *
 * Decoded pages are written inside a larger buffer between guard bytes, so
 * that a decoder writing past the page shows in a plain build too. Inputs
 * to comp_decompress() are first copied to the very end of a heap block, so
 * that AddressSanitizer catches any read past src + len.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "compress/compress.h"
#include "tests/compress/helpers.h"
#include "tests/testlib.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PAGE	      COMP_PAGE_SIZE

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */
/* ------------------------------------------------------------------------ */

const char *ct_spec_str(struct comp_spec spec)
{
	static char bufs[4][48];
	static unsigned int next;
	char *buf = bufs[next++ % ARRAY_SIZE(bufs)];

	comp_spec_format(spec, buf, sizeof(bufs[0]));
	return buf;
}

/* ------------------------------------------------------------------------ */
/* Pages                                                                     */
/* ------------------------------------------------------------------------ */

void ct_fill_word(unsigned char *page, uint64_t word)
{
	for (size_t i = 0; i < PAGE; i += sizeof(word))
		memcpy(page + i, &word, sizeof(word));
}

void ct_make_random_page(unsigned char *page, uint64_t seed)
{
	uint64_t rng = seed;

	for (size_t i = 0; i < PAGE; i += 8) {
		uint64_t w = zt_rand(&rng);

		memcpy(page + i, &w, sizeof(w));
	}
}

/* Pieces of the sort of text a Python or Node.js heap is full of. */
static const char *const text_words[] = {
	"\"id\": ",    "\"name\": \"",
	"\"value\": ", "\"children\": [",
	"], ",	       "null",
	"true",	       "false",
	"{",	       "}",
	", ",	       "\"",
	"user",	       "config",
	"timestamp",   "0.5",
	"Object",      "function",
	"prototype",   "length",
	"undefined",   "string",
	"key",	       "\n",
	"    ",	       "__proto__",
	"Map",	       "utf-8",
};

/* Words (70%), decimal numbers (20%) and 8-byte pointers (10%). */
void ct_make_text_page(unsigned char *page, uint64_t seed)
{
	uint64_t rng = zt_mix64(seed);
	size_t n = 0;

	while (n < PAGE) {
		unsigned int r = (unsigned int)zt_below(&rng, 100);
		char tmp[32];
		const char *s = tmp;
		size_t len;

		if (r < 70) {
			s = text_words[zt_below(&rng, ARRAY_SIZE(text_words))];
			len = strlen(s);
		} else if (r < 90) {
			len = (size_t)snprintf(
				tmp, sizeof(tmp), "%llu",
				(unsigned long long)zt_below(&rng, 1000000));
		} else {
			uint64_t p = 0x00007f0000000000ull |
				     (zt_rand(&rng) & 0xfffffff8ull);

			memcpy(tmp, &p, sizeof(p));
			len = sizeof(p);
		}
		if (len > PAGE - n)
			len = PAGE - n;
		memcpy(page + n, s, len);
		n += len;
	}
}

void ct_make_tunable_page(unsigned char *page, uint64_t seed, size_t nrandom,
			  bool text)
{
	if (text)
		ct_make_text_page(page, seed);
	else
		memset(page, 0, PAGE);
	zt_pattern(page, seed, 0, nrandom);
}

/* ------------------------------------------------------------------------ */
/* Guarded pages and checked calls                                           */
/* ------------------------------------------------------------------------ */

unsigned char *ct_guard_arm(struct ct_guarded *g)
{
	memset(g->bytes, CT_GUARD_BYTE, sizeof(g->bytes));
	return g->bytes + CT_GUARD;
}

void ct_guard_check(const struct ct_guarded *g, const char *what)
{
	for (size_t i = 0; i < CT_GUARD; i++) {
		if (g->bytes[i] != CT_GUARD_BYTE)
			fail_msg("%s: wrote %zu bytes before the page", what,
				 CT_GUARD - i);
		if (g->bytes[CT_GUARD + PAGE + i] != CT_GUARD_BYTE)
			fail_msg("%s: wrote past the page at +%zu", what, i);
	}
}

/* The copy starts one byte into its block, which ends right after it. */
int ct_decompress_exact(struct comp_ctx *ctx, comp_tag_t tag, const void *src,
			size_t len, void *page)
{
	unsigned char *block = malloc(len + 1);
	int ret;

	assert_non_null(block);
	memcpy(block + 1, src, len);
	ret = comp_decompress(ctx, tag, block + 1, len, page);
	free(block);
	return ret;
}

struct comp_ctx *ct_new_ctx(unsigned int threshold)
{
	struct comp_ctx *ctx = comp_ctx_new(threshold);

	if (!ctx)
		fail_msg("cannot make a context with threshold %u: %s",
			 threshold, strerror(errno));
	return ctx;
}

struct comp_stats ct_stats_of(const struct comp_ctx *ctx)
{
	struct comp_stats s;

	comp_ctx_stats(ctx, &s);
	return s;
}

void ct_assert_stats_equal(const struct comp_stats *got,
			   const struct comp_stats *want)
{
#define CHECK_FIELD(name, desc)                                        \
	if (got->name != want->name)                                   \
		fail_msg("counter '%s' is %llu, expected %llu", #name, \
			 (unsigned long long)got->name,                \
			 (unsigned long long)want->name);
	COMP_STAT_FIELDS(CHECK_FIELD)
#undef CHECK_FIELD
}
