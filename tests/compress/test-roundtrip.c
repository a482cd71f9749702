/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-roundtrip.c - every backend at every level on the swap-like corpus
 * (tests/corpus.h): each page must come back bit for bit.
 *
 * The default level of each backend runs on every page of the corpus, so
 * that what the daemon does out of the box is checked on all 96 MiB, and so
 * that two facts of the data can be checked: the corpus has exactly 277
 * same-filled pages (what the kernel's zram finds on it), and its
 * compression ratio (original bytes over stored bytes, a same-filled page
 * storing 0, a raw one 4096) is above 2.2 with lz4 and 3.5 with zstd:3
 * (measured: lz4 2.32, lz4hc:9 2.61, zstd:3 3.86). Those are properties of
 * the corpus and the formats, not timings.
 *
 * Every other level runs on pages spread evenly over the corpus, fewer for
 * zstd's slowest levels (12 and up compress 2 to 5 MB/s of 4 KiB pages),
 * so that the whole test takes seconds in an -O2 build.
 *
 * Pages are compressed with the raw threshold the daemon uses (3633, the
 * pool's huge class size) in one context per backend, whose level changes
 * from run to run as the daemon's setting may, and decompressed in another.
 * test_separate_contexts also stores every object first and decodes it
 * later in a context that never compressed anything.
 *
 * Environment:
 *   ZP_TEST_PAGES  corpus pages for the levels that do not run on all of
 *                  it (default 2048; zstd from level 12 takes a quarter,
 *                  from 16 an eighth)
 *   ZPOOLD_CORPUS  where the corpus is (see tests/corpus.h)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "compress/compress.h"
#include "tests/corpus.h"
#include "tests/testlib.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PAGE	      COMP_PAGE_SIZE

/* What the daemon passes: the pool's huge class size with the default
 * zspages of 8 pages. */
#define RAW_THRESHOLD 3633

/* Same-filled pages of the corpus, as zram counts them (corpus README). */
#define CORPUS_SAME_PAGES 277

#define DEFAULT_SUBSET 2048
/* zstd compresses 4 KiB pages at about 5 MB/s from level 12 on and 2 MB/s
 * from 16 on: those take a quarter and an eighth of the subset. */
#define ZSTD_SLOW_LEVEL	  12
#define ZSTD_SLOWER_LEVEL 16

static struct zp_corpus corpus;
static size_t subset_pages;

struct run {
	uint64_t pages, same, raw, compressed;
	uint64_t stored; /* bytes: 0 per same page, 4096 per raw one */
};

static double run_ratio(const struct run *r)
{
	return r->stored ? (double)(r->pages * PAGE) / (double)r->stored : 0.0;
}

static const char *spec_str(struct comp_spec spec)
{
	static char buf[48];

	comp_spec_format(spec, buf, sizeof(buf));
	return buf;
}

static struct comp_ctx *new_ctx(unsigned int threshold)
{
	struct comp_ctx *ctx = comp_ctx_new(threshold);

	if (!ctx)
		fail_msg("cannot make a context: %s", strerror(errno));
	return ctx;
}

/* Page i of n pages spread evenly over the corpus (all of it when n is at
 * least its size). */
static size_t pick(size_t i, size_t n)
{
	if (n >= corpus.nr_pages)
		return i;
	return i * corpus.nr_pages / n;
}

/*
 * Compress n pages with spec in cctx and decode each at once in dctx;
 * checks every page, the kind's rules and both contexts' counters.
 */
static void run_spec(struct comp_ctx *cctx, struct comp_ctx *dctx,
		     struct comp_spec spec, size_t n, struct run *r)
{
	struct comp_stats c0, c1, d0, d1;
	unsigned char out[PAGE];
	comp_tag_t tag = comp_spec_tag(spec);
	uint64_t compressed_bytes = 0;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (n > corpus.nr_pages)
		n = corpus.nr_pages;
	memset(r, 0, sizeof(*r));
	comp_ctx_stats(cctx, &c0);
	comp_ctx_stats(dctx, &d0);
	for (size_t i = 0; i < n; i++) {
		size_t idx = pick(i, n);
		const unsigned char *page = zp_corpus_page(&corpus, idx);
		struct comp_result res;
		int ret = comp_compress(cctx, spec, page, &res);

		if (ret)
			fail_msg("%s: page %zu: comp_compress() returned %d",
				 spec_str(spec), idx, ret);
		r->pages++;
		memset(out, 0xa5, sizeof(out));
		switch (res.kind) {
		case COMP_KIND_SAME:
			if (res.len || res.data)
				fail_msg("%s: page %zu: same-filled with %u "
					 "bytes to store",
					 spec_str(spec), idx, res.len);
			comp_page_fill(out, res.word);
			r->same++;
			break;
		case COMP_KIND_RAW:
			if (res.len != PAGE || res.data != page)
				fail_msg("%s: page %zu: raw, but %u bytes at "
					 "%p",
					 spec_str(spec), idx, res.len,
					 res.data);
			ret = comp_decompress(dctx, res.tag, res.data, res.len,
					      out);
			r->raw++;
			r->stored += PAGE;
			break;
		case COMP_KIND_COMPRESSED:
			if (res.len == 0 || res.len >= RAW_THRESHOLD ||
			    res.tag != tag)
				fail_msg("%s: page %zu: %u bytes, tag %#x",
					 spec_str(spec), idx, res.len, res.tag);
			ret = comp_decompress(dctx, res.tag, res.data, res.len,
					      out);
			r->compressed++;
			r->stored += res.len;
			compressed_bytes += res.len;
			break;
		default:
			fail_msg("%s: page %zu: kind %d", spec_str(spec), idx,
				 res.kind);
		}
		if (ret)
			fail_msg("%s: page %zu (kind %d, %u bytes) does not "
				 "decompress: %d",
				 spec_str(spec), idx, res.kind, res.len, ret);
		if (memcmp(out, page, PAGE))
			fail_msg("%s: page %zu (kind %d, %u bytes) differs "
				 "after the round trip",
				 spec_str(spec), idx, res.kind, res.len);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	comp_ctx_stats(cctx, &c1);
	comp_ctx_stats(dctx, &d1);
	if (c1.compress_errors != c0.compress_errors)
		fail_msg("%s: %llu compression errors", spec_str(spec),
			 (unsigned long long)(c1.compress_errors -
					      c0.compress_errors));
	assert_int_equal(c1.pages - c0.pages, r->pages);
	assert_int_equal(c1.same_pages - c0.same_pages, r->same);
	assert_int_equal(c1.raw_pages - c0.raw_pages, r->raw);
	assert_int_equal(c1.compressed_pages - c0.compressed_pages,
			 r->compressed);
	assert_int_equal(c1.compressed_bytes - c0.compressed_bytes,
			 compressed_bytes);
	assert_int_equal(c1.decompressions, c0.decompressions);
	assert_int_equal(d1.decompressions - d0.decompressions,
			 r->raw + r->compressed);
	assert_int_equal(d1.decompress_errors, d0.decompress_errors);
	assert_int_equal(d1.pages, d0.pages);
	/* the time is for whoever reads the log, never compared */
	print_message("# %-10s %5llu pages: %4llu same, %4llu raw, ratio "
		      "%.3f (%.2f s)\n",
		      spec_str(spec), (unsigned long long)r->pages,
		      (unsigned long long)r->same, (unsigned long long)r->raw,
		      run_ratio(r),
		      (double)(t1.tv_sec - t0.tv_sec) +
			      (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
}

/* Pages for a level other than the default. */
static size_t pages_for(struct comp_spec spec)
{
	size_t n = subset_pages;

	if (spec.backend == COMP_ZSTD && spec.level >= ZSTD_SLOWER_LEVEL)
		n /= 8;
	else if (spec.backend == COMP_ZSTD && spec.level >= ZSTD_SLOW_LEVEL)
		n /= 4;
	return n ? n : 1;
}

/*
 * The default level on the whole corpus, then each level of levels[] on a
 * subset, all in one compression context. Returns the default's ratio.
 */
static double run_backend(int backend, const int *levels, size_t nr_levels)
{
	struct comp_ctx *cctx = new_ctx(RAW_THRESHOLD);
	struct comp_ctx *dctx = new_ctx(RAW_THRESHOLD);
	int min, max, def;
	struct run r;
	double ratio;

	assert_true(comp_backend_available(backend));
	assert_int_equal(comp_backend_levels(backend, &min, &max, &def), 0);

	run_spec(cctx, dctx, (struct comp_spec){backend, def}, corpus.nr_pages,
		 &r);
	assert_int_equal(r.pages, corpus.nr_pages);
	if (r.same != CORPUS_SAME_PAGES)
		fail_msg("%s found %llu same-filled pages in the corpus, "
			 "zram %d",
			 comp_backend_name(backend), (unsigned long long)r.same,
			 CORPUS_SAME_PAGES);
	ratio = run_ratio(&r);

	for (size_t i = 0; i < nr_levels; i++) {
		struct comp_spec spec = {backend, levels[i]};

		if (levels[i] == def)
			continue;
		assert_true(comp_spec_valid(spec));
		run_spec(cctx, dctx, spec, pages_for(spec), &r);
	}
	comp_ctx_free(cctx);
	comp_ctx_free(dctx);
	return ratio;
}

static void test_lz4(void **state)
{
	/* accelerations 1..4096: a sample, both ends included */
	static const int levels[] = {1, 2, 3, 4, 8, 16, 64, 1024, 4096};
	double ratio;

	(void)state;
	ratio = run_backend(COMP_LZ4, levels, ARRAY_SIZE(levels));
	if (ratio <= 2.2)
		fail_msg("lz4 ratio on the corpus %.3f, expected > 2.2", ratio);
}

/* Every level from the backend's lowest to its highest. */
static size_t all_levels(int backend, int *levels, size_t cap)
{
	int min, max, def;
	size_t n = 0;

	assert_int_equal(comp_backend_levels(backend, &min, &max, &def), 0);
	for (int level = min; level <= max; level++) {
		assert_true(n < cap);
		levels[n++] = level;
	}
	return n;
}

static void test_lz4hc(void **state)
{
	int levels[64];
	size_t n = all_levels(COMP_LZ4HC, levels, ARRAY_SIZE(levels));
	double ratio;

	(void)state;
	assert_true(n >= 9);
	ratio = run_backend(COMP_LZ4HC, levels, n);
	/* lz4hc writes lz4's format, only better */
	if (ratio <= 2.2)
		fail_msg("lz4hc default ratio on the corpus %.3f, expected > "
			 "2.2",
			 ratio);
}

#ifdef HAVE_ZSTD
static void test_zstd(void **state)
{
	int levels[64], min, max, def;
	size_t n = 0;
	double ratio;

	(void)state;
	assert_int_equal(comp_backend_levels(COMP_ZSTD, &min, &max, &def), 0);
	/* the lowest level, one halfway, then -10 to the highest; the
	 * negative levels between behave alike */
	levels[n++] = min;
	if (min < -50)
		levels[n++] = -50;
	for (int level = min > -10 ? min : -10; level <= max; level++) {
		assert_true(n < ARRAY_SIZE(levels));
		if (level != min)
			levels[n++] = level;
	}
	ratio = run_backend(COMP_ZSTD, levels, n);
	if (ratio <= 3.5)
		fail_msg("zstd:%d ratio on the corpus %.3f, expected > 3.5",
			 def, ratio);
}
#endif

/*
 * Objects made in one context, kept, and decoded later in another that
 * has done nothing else: the contexts share nothing, so an object must
 * carry all its decoder needs.
 */
static void test_separate_contexts(void **state)
{
	static const int backends[] = {
		COMP_LZ4,
		COMP_LZ4HC,
#ifdef HAVE_ZSTD
		COMP_ZSTD,
#endif
	};
	size_t n =
		subset_pages < corpus.nr_pages ? subset_pages : corpus.nr_pages;
	unsigned char *store = malloc(n * PAGE);
	struct comp_result *results = calloc(n, sizeof(*results));
	unsigned char out[PAGE];

	(void)state;
	assert_non_null(store);
	assert_non_null(results);
	for (size_t b = 0; b < ARRAY_SIZE(backends); b++) {
		struct comp_ctx *cctx = new_ctx(RAW_THRESHOLD);
		struct comp_ctx *dctx = new_ctx(0);
		struct comp_spec spec;
		struct comp_stats cs, ds;
		int min, max;
		uint64_t kept = 0;

		spec.backend = backends[b];
		assert_int_equal(comp_backend_levels(spec.backend, &min, &max,
						     &spec.level),
				 0);
		for (size_t i = 0; i < n; i++) {
			const unsigned char *page =
				zp_corpus_page(&corpus, pick(i, n));

			assert_int_equal(
				comp_compress(cctx, spec, page, &results[i]),
				0);
			if (results[i].kind == COMP_KIND_SAME)
				continue;
			memcpy(store + i * PAGE, results[i].data,
			       results[i].len);
			kept++;
		}
		comp_ctx_stats(cctx, &cs);
		assert_int_equal(cs.pages, n);
		assert_int_equal(cs.compress_errors, 0);
		assert_int_equal(cs.decompressions, 0);
		comp_ctx_free(cctx);
		/* decoded in reverse, long after the compressor is gone */
		for (size_t i = n; i-- > 0;) {
			const unsigned char *page =
				zp_corpus_page(&corpus, pick(i, n));

			memset(out, 0x5a, sizeof(out));
			if (results[i].kind == COMP_KIND_SAME) {
				comp_page_fill(out, results[i].word);
			} else {
				int ret = comp_decompress(dctx, results[i].tag,
							  store + i * PAGE,
							  results[i].len, out);

				if (ret)
					fail_msg("%s: page %zu: %d",
						 spec_str(spec), pick(i, n),
						 ret);
			}
			if (memcmp(out, page, PAGE))
				fail_msg("%s: page %zu differs", spec_str(spec),
					 pick(i, n));
		}
		comp_ctx_stats(dctx, &ds);
		assert_int_equal(ds.decompressions, kept);
		assert_int_equal(ds.decompress_errors, 0);
		assert_int_equal(ds.pages, 0);
		comp_ctx_free(dctx);
	}
	free(results);
	free(store);
}

static int group_setup(void **state)
{
	if (zp_corpus_setup(state, &corpus, NULL))
		return -1;
	if (corpus.nr_pages * ZP_CORPUS_PAGE != ZP_CORPUS_BYTES) {
		print_message("# the corpus '%s' has %zu pages\n", corpus.path,
			      corpus.nr_pages);
		return -1;
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lz4),
		cmocka_unit_test(test_lz4hc),
#ifdef HAVE_ZSTD
		cmocka_unit_test(test_zstd),
#endif
		cmocka_unit_test(test_separate_contexts),
	};

	subset_pages = (size_t)zt_env_u64("test-roundtrip", "ZP_TEST_PAGES",
					  DEFAULT_SUBSET);
	if (!subset_pages)
		subset_pages = 1;
	return cmocka_run_group_tests(tests, group_setup, zp_corpus_teardown);
}
