/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-noalloc.c - comp_compress() and comp_decompress() never allocate
 * (compress.h's promise, which lets the daemon compress pages while the
 * system is short of memory).
 *
 * This program defines malloc and all its relatives itself. They forward to
 * glibc's allocator through the __libc_* names glibc exports for that
 * purpose, and count calls while `counting` is set. Functions of the
 * executable take precedence over libc's in every shared library, so an
 * allocation made anywhere under the calls - in libzpcompress, liblz4,
 * libzstd or libc itself - is counted. test_interposition proves that it
 * is: if the replacement silently did not happen, it fails, rather than
 * the other tests passing for nothing.
 *
 * The counted window holds nothing but calls of compress/: the corpus is
 * loaded, contexts made and buffers allocated before it, and failures are
 * recorded in it and asserted after it (cmocka's messages allocate).
 *
 * Runs in plain builds only (Makefile.am): the sanitizers replace malloc
 * themselves.
 *
 * Environment:
 *   ZP_TEST_PAGES  corpus pages to run through each backend (default 300)
 *   ZPOOLD_CORPUS  where the corpus is (see tests/corpus.h)
 */
#include <errno.h>
#include <execinfo.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <lz4.h>
#ifdef HAVE_ZSTD
#include <zstd.h>
#endif

#include "compress/compress.h"
#include "tests/corpus.h"
#include "tests/testlib.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PAGE	      COMP_PAGE_SIZE
#define RAW_TAG	      ((comp_tag_t)(COMP_RAW << COMP_TAG_LEVEL_BITS))

#define DEFAULT_PAGES 300

/* ------------------------------------------------------------------------ */
/* The replacement allocator                                                 */
/* ------------------------------------------------------------------------ */

/* glibc's allocator under the names it exports for replacements. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_memalign(size_t align, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

/* Single-threaded: only the test's thread sets the flag and allocates. */
static volatile bool counting;
static volatile unsigned long nr_allocs, nr_frees;
/* Where the first counted call came from, for the failure message. */
static void *volatile first_caller;

static void note(volatile unsigned long *counter, void *caller)
{
	if (!counting)
		return;
	if (!first_caller)
		first_caller = caller;
	(*counter)++;
}

void *malloc(size_t size)
{
	note(&nr_allocs, __builtin_return_address(0));
	return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	note(&nr_allocs, __builtin_return_address(0));
	return __libc_calloc(n, size);
}

void *realloc(void *ptr, size_t size)
{
	note(&nr_allocs, __builtin_return_address(0));
	return __libc_realloc(ptr, size);
}

void *reallocarray(void *ptr, size_t n, size_t size)
{
	note(&nr_allocs, __builtin_return_address(0));
	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_realloc(ptr, n * size);
}

void free(void *ptr)
{
	if (ptr)
		note(&nr_frees, __builtin_return_address(0));
	__libc_free(ptr);
}

int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	note(&nr_allocs, __builtin_return_address(0));
	if (!align || align % sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	p = __libc_memalign(align, size);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

void *aligned_alloc(size_t align, size_t size)
{
	note(&nr_allocs, __builtin_return_address(0));
	return __libc_memalign(align, size);
}

void *memalign(size_t align, size_t size)
{
	note(&nr_allocs, __builtin_return_address(0));
	return __libc_memalign(align, size);
}

void *valloc(size_t size)
{
	note(&nr_allocs, __builtin_return_address(0));
	return __libc_valloc(size);
}

void *pvalloc(size_t size)
{
	note(&nr_allocs, __builtin_return_address(0));
	return __libc_pvalloc(size);
}

static void count_start(void)
{
	nr_allocs = 0;
	nr_frees = 0;
	first_caller = NULL;
	counting = true;
}

static void count_stop(void)
{
	counting = false;
}

/* Fails, naming where the first allocation came from, unless the window
 * allocated and freed nothing. */
static void assert_no_allocs(const char *what)
{
	if (!nr_allocs && !nr_frees)
		return;
	if (first_caller) {
		void *caller = first_caller;

		fflush(stdout);
		fprintf(stderr, "# the first from: ");
		fflush(stderr);
		backtrace_symbols_fd(&caller, 1, STDERR_FILENO);
	}
	fail_msg("%s: %lu allocations and %lu frees", what, nr_allocs,
		 nr_frees);
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */
/* ------------------------------------------------------------------------ */

static struct zp_corpus corpus;
static size_t nr_pages;

/* Through a volatile pointer, so that the compiler cannot drop a malloc
 * whose result it can see is only freed. */
static void *(*volatile opaque_malloc)(size_t) = malloc;

/* The counting sees every route to the allocator the calls under test
 * could take: this file, libc, both compressor libraries and compress/. */
static void test_interposition(void **state)
{
	struct comp_ctx *ctx;
	void *p;

	(void)state;
	count_start();
	p = opaque_malloc(16);
	count_stop();
	free(p);
	if (nr_allocs != 1)
		fail_msg("malloc(16) counted %lu times: the allocator is not "
			 "replaced",
			 nr_allocs);

	count_start();
	free(opaque_malloc(16));
	count_stop();
	assert_int_equal(nr_allocs, 1);
	assert_int_equal(nr_frees, 1);

	/* libc allocating for itself */
	count_start();
	p = strdup("counted");
	count_stop();
	free(p);
	if (!nr_allocs)
		fail_msg("strdup() allocated uncounted");

	/* the libraries compress/ calls */
	count_start();
	p = LZ4_createStream();
	count_stop();
	assert_non_null(p);
	LZ4_freeStream(p);
	if (!nr_allocs)
		fail_msg("liblz4 allocated uncounted");
#ifdef HAVE_ZSTD
	count_start();
	p = ZSTD_createCCtx();
	count_stop();
	assert_non_null(p);
	ZSTD_freeCCtx(p);
	if (!nr_allocs)
		fail_msg("libzstd allocated uncounted");
#endif

	/* and compress/ itself */
	count_start();
	ctx = comp_ctx_new(0);
	count_stop();
	assert_non_null(ctx);
	if (!nr_allocs)
		fail_msg("comp_ctx_new() allocated uncounted");
	count_start();
	comp_ctx_free(ctx);
	count_stop();
	if (!nr_frees)
		fail_msg("comp_ctx_free() freed uncounted");
}

/* Specs in the order one context takes them: every backend at several
 * levels, the level of each changing back and forth. */
static const struct comp_spec sequence[] = {
	{COMP_LZ4, 1},	   {COMP_LZ4HC, 1},  {COMP_LZ4HC, 9}, {COMP_LZ4, 8},
	{COMP_LZ4HC, 4},   {COMP_LZ4, 4096}, {COMP_LZ4HC, 7},
#ifdef HAVE_ZSTD
	{COMP_ZSTD, 1},	   {COMP_ZSTD, 19},  {COMP_ZSTD, -5},  {COMP_ZSTD, 22},
	{COMP_ZSTD, -100}, {COMP_ZSTD, 3},   {COMP_ZSTD, 0},
#endif
	{COMP_LZ4HC, 9},
};

/* What one counted run found, asserted after it. */
struct window {
	struct comp_ctx *ctx, *dctx;
	unsigned char *obj, *out; /* PAGE + 64 and PAGE bytes */
	uint64_t rng;
	unsigned long calls, compressed;
	/* allocations and frees during each spec's calls */
	unsigned long per_spec[ARRAY_SIZE(sequence)];
	unsigned long elsewhere;
	/* wrong results */
	unsigned long compress, decompress, mismatch, corrupt;
	size_t first_page;
	int first_ret;
};

static unsigned long allocs_and_frees(void)
{
	return nr_allocs + nr_frees;
}

static void fault(struct window *w, unsigned long *counter, size_t page,
		  int ret)
{
	if (!w->compress && !w->decompress && !w->mismatch && !w->corrupt) {
		w->first_page = page;
		w->first_ret = ret;
	}
	(*counter)++;
}

/* One page with one spec: compressed, decoded in the other context, then
 * damaged in three ways (cut in half, a byte changed, bytes added) and
 * decoded again. */
static void run_one(struct window *w, struct comp_spec spec,
		    const unsigned char *page, size_t i)
{
	struct comp_result res;
	uint64_t word;
	unsigned char x;
	size_t at;
	int ret;

	w->calls++;
	ret = comp_compress(w->ctx, spec, page, &res);
	if (ret) {
		fault(w, &w->compress, i, ret);
		return;
	}
	if (res.kind == COMP_KIND_SAME) {
		comp_page_fill(w->out, res.word);
		if (!comp_page_same_filled(w->out, &word) ||
		    memcmp(w->out, page, PAGE))
			fault(w, &w->mismatch, i, 0);
		return;
	}
	memcpy(w->obj, res.data, res.len);
	ret = comp_decompress(w->dctx, res.tag, w->obj, res.len, w->out);
	if (ret)
		fault(w, &w->decompress, i, ret);
	else if (memcmp(w->out, page, PAGE))
		fault(w, &w->mismatch, i, 0);
	if (res.kind == COMP_KIND_RAW)
		return;
	w->compressed++;

	ret = comp_decompress(w->dctx, res.tag, w->obj, res.len / 2, w->out);
	if (ret != -EBADMSG)
		fault(w, &w->corrupt, i, ret);
	at = (size_t)zt_below(&w->rng, res.len);
	x = (unsigned char)zt_range(&w->rng, 1, 255);
	w->obj[at] ^= x;
	ret = comp_decompress(w->dctx, res.tag, w->obj, res.len, w->out);
	if (ret && ret != -EBADMSG)
		fault(w, &w->corrupt, i, ret);
	w->obj[at] ^= x;
	memset(w->obj + res.len, 0xff, 64);
	ret = comp_decompress(w->dctx, res.tag, w->obj, res.len + 64, w->out);
	if (ret != -EBADMSG)
		fault(w, &w->corrupt, i, ret);
	memset(w->obj + res.len, 0, 64);
}

/* Garbage under every tag, and tags of no backend. */
static void run_garbage(struct window *w, size_t i)
{
	for (int b = 0; b < NR_COMP_BACKENDS + 2; b++) {
		comp_tag_t tag = (comp_tag_t)(b << COMP_TAG_LEVEL_BITS);
		size_t len = (size_t)zt_range(&w->rng, 1, PAGE + 64);
		int ret;

		for (size_t k = 0; k < len; k += 8) {
			uint64_t r = zt_rand(&w->rng);

			memcpy(w->obj + k, &r, len - k < 8 ? len - k : 8);
		}
		ret = comp_decompress(w->dctx, tag, w->obj, len, w->out);
		if (ret != -EBADMSG && ret != -ENOTSUP &&
		    !(b == COMP_RAW && len == PAGE && !ret))
			fault(w, &w->corrupt, i, ret);
	}
	if (comp_decompress(w->dctx, RAW_TAG, w->obj, PAGE - 1, w->out) !=
	    -EBADMSG)
		fault(w, &w->corrupt, i, 0);
}

/*
 * Each page with each spec of the sequence in turn, so that the context's
 * level changes on every call; every 16th page is random bytes, which no
 * backend shrinks (libzstd's error path included). Allocations are charged
 * to the spec whose calls made them, so that a failure names it.
 */
static void test_no_allocations(void **state)
{
	struct window w = {.rng = 42};
	unsigned char *random_page = malloc(PAGE);
	struct comp_stats cs, ds, sum;
	char report[1024] = "";
	size_t rlen = 0;

	(void)state;
	w.ctx = comp_ctx_new(3633);
	w.dctx = comp_ctx_new(0);
	w.obj = calloc(1, PAGE + 64);
	w.out = calloc(1, PAGE);
	assert_non_null(w.ctx);
	assert_non_null(w.dctx);
	assert_non_null(random_page);
	assert_non_null(w.obj);
	assert_non_null(w.out);
	zt_pattern(random_page, 7, 0, PAGE);

	count_start();
	for (size_t i = 0; i < nr_pages; i++) {
		const unsigned char *page =
			i % 16 == 15
				? random_page
				: zp_corpus_page(&corpus, i * corpus.nr_pages /
								  nr_pages);
		unsigned long before;

		for (size_t s = 0; s < ARRAY_SIZE(sequence); s++) {
			size_t si = (i + s) % ARRAY_SIZE(sequence);

			before = allocs_and_frees();
			run_one(&w, sequence[si], page, i);
			w.per_spec[si] += allocs_and_frees() - before;
		}
		before = allocs_and_frees();
		run_garbage(&w, i);
		w.elsewhere += allocs_and_frees() - before;
	}
	comp_ctx_stats(w.ctx, &cs);
	comp_ctx_stats(w.dctx, &ds);
	sum = cs;
	comp_stats_add(&sum, &ds);
	count_stop();

	for (size_t s = 0; s < ARRAY_SIZE(sequence); s++) {
		char name[32];

		if (!w.per_spec[s] || rlen >= sizeof(report))
			continue;
		comp_spec_format(sequence[s], name, sizeof(name));
		rlen += (size_t)snprintf(report + rlen, sizeof(report) - rlen,
					 "%s%s: %lu", rlen ? ", " : "", name,
					 w.per_spec[s]);
	}
	if (rlen || w.elsewhere)
		print_message("# allocations and frees by spec: %s; decoding "
			      "garbage: %lu\n",
			      rlen ? report : "none", w.elsewhere);
	assert_no_allocs("compressing and decompressing");
	if (w.compress || w.decompress || w.mismatch || w.corrupt)
		fail_msg("%lu compress errors, %lu decompress errors, %lu "
			 "pages differ, %lu damaged objects mishandled; the "
			 "first at page %zu (%d)",
			 w.compress, w.decompress, w.mismatch, w.corrupt,
			 w.first_page, w.first_ret);
	/* the window did the work it claims */
	assert_int_equal(cs.pages, w.calls);
	assert_int_equal(cs.compress_errors, 0);
	assert_int_equal(cs.compressed_pages, w.compressed);
	assert_true(w.compressed > w.calls / 2);
	assert_true(cs.raw_pages >= nr_pages / 16 * ARRAY_SIZE(sequence));
	assert_true(ds.decompressions >= w.compressed);
	assert_true(ds.decompress_errors >= 2 * w.compressed);
	assert_int_equal(sum.pages, cs.pages);
	print_message("# %lu compressions (%lu compressed), %llu "
		      "decompressions, %llu rejected, no allocation\n",
		      w.calls, w.compressed,
		      (unsigned long long)ds.decompressions,
		      (unsigned long long)ds.decompress_errors);
	comp_ctx_free(w.ctx);
	comp_ctx_free(w.dctx);
	free(w.out);
	free(w.obj);
	free(random_page);
}

static int group_setup(void **state)
{
	return zp_corpus_setup(state, &corpus, &nr_pages);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interposition),
		cmocka_unit_test(test_no_allocations),
	};

	nr_pages = (size_t)zt_env_u64("test-noalloc", "ZP_TEST_PAGES",
				      DEFAULT_PAGES);
	if (nr_pages < 16)
		nr_pages = 16;
	return cmocka_run_group_tests(tests, group_setup, zp_corpus_teardown);
}
