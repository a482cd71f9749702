/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-corrupt.c - the decoders of compress/ on input no compressor of
 * ours wrote: compressed pages cut short, changed and extended, tags that
 * name no backend or a level no build makes, raw objects of the wrong
 * length, and well-formed lz4 blocks and zstd frames that decode to more
 * or less than a page. Whatever the bytes, comp_decompress() must return 0
 * (damage that happens to decode to some page) or a negative errno,
 * -EBADMSG for bad data and -ENOTSUP for a tag it cannot decode, must
 * count each failure in decompress_errors, and must never read past the
 * object or write outside the page.
 *
 * Objects are real output of the backends on the synthetic pages of
 * helpers.h; the outputs of the wrong size come from calling liblz4 and
 * libzstd directly. Each decoded page lands between guard bytes
 * (ct_guarded) and each input sits at the very end of a heap block
 * (ct_decompress_exact()), so that a write out of the page shows in a plain
 * build and a read past the input under AddressSanitizer. The random
 * changes come from fixed seeds, so a failure repeats. tests/fuzz/ goes on
 * from here with coverage-guided inputs.
 *
 * zstd cases are compiled only when configure found libzstd (HAVE_ZSTD,
 * from the forced config.h).
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

#include <lz4.h>
#include <lz4hc.h>
#ifdef HAVE_ZSTD
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_format: the backend's frames */
#include <zstd.h>
#endif

#include "compress/compress.h"
#include "tests/compress/helpers.h"
#include "tests/testlib.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PAGE	      COMP_PAGE_SIZE

/* ------------------------------------------------------------------------ */
/* Damaged objects                                                           */
/* ------------------------------------------------------------------------ */

/* Expects ret to be a clean outcome of a corrupt object. */
static void check_outcome(int ret, const struct ct_guarded *g, const char *what,
			  size_t detail)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "%s (%zu)", what, detail);
	if (ret != 0 && ret != -EBADMSG)
		fail_msg("%s: returned %d", msg, ret);
	ct_guard_check(g, msg);
}

/*
 * Every way of damaging real compressed pages of one backend: truncation to
 * every length, random changes of one and of several bytes, bytes appended,
 * len beyond any encoding. The decoder may take a damaged object for
 * another page (0) or reject it (-EBADMSG), nothing else, and never write
 * out of the page.
 */
static void corrupt_backend(int backend)
{
	struct comp_ctx *ctx = ct_new_ctx(0), *dctx = ct_new_ctx(0);
	int min, max, def;
	unsigned char page[PAGE], obj[PAGE + 256], bad[PAGE + 256];
	struct ct_guarded g;
	uint64_t rng = 0x5eed0000ull + (uint64_t)backend;
	uint64_t fails = 0, oks = 0, accepted = 0;
	struct comp_stats before, after;

	assert_int_equal(comp_backend_levels(backend, &min, &max, &def), 0);
	before = ct_stats_of(dctx);
	for (unsigned int p = 0; p < 6; p++) {
		/* the default, the level that compresses most and a fast
		 * one that still shrinks text */
		int levels[] = {def, backend == COMP_LZ4 ? min : max,
				backend == COMP_LZ4 ? 8 : min};
		struct comp_spec spec = {backend, levels[p % 3]};
		struct comp_result res;
		size_t len;
		int ret;

		if (backend == COMP_ZSTD && p % 3 == 2)
			spec.level = -5;
		if (p < 4)
			ct_make_text_page(page, 100 + p);
		else
			ct_make_tunable_page(page, 100 + p, 1000 * p - 2000,
					     true);
		assert_int_equal(comp_compress(ctx, spec, page, &res), 0);
		if (res.kind != COMP_KIND_COMPRESSED)
			fail_msg("%s: test page %u did not compress",
				 ct_spec_str(spec), p);
		len = res.len;
		memcpy(obj, res.data, len);

		/* intact, as a control */
		ret = ct_decompress_exact(dctx, res.tag, obj, len,
					  ct_guard_arm(&g));
		assert_int_equal(ret, 0);
		assert_memory_equal(g.bytes + CT_GUARD, page, PAGE);
		ct_guard_check(&g, "intact");
		oks++;

		/* (a) every truncation */
		for (size_t cut = 0; cut < len; cut++) {
			ret = ct_decompress_exact(dctx, res.tag, obj, cut,
						  ct_guard_arm(&g));
			if (ret != -EBADMSG)
				fail_msg("%s: %zu of %zu bytes: %d, expected "
					 "-EBADMSG",
					 ct_spec_str(spec), cut, len, ret);
			ct_guard_check(&g, "truncated");
			fails++;
		}

		/* (b) random changes: one byte, then 2..16 bytes at once */
		for (unsigned int k = 0; k < 3000; k++) {
			unsigned int nchanges =
				k < 1500 ? 1
					 : (unsigned int)zt_range(&rng, 2, 16);

			memcpy(bad, obj, len);
			for (unsigned int c = 0; c < nchanges; c++) {
				size_t at = (size_t)zt_below(&rng, len);
				unsigned char x =
					(unsigned char)zt_range(&rng, 1, 255);

				/* the header and the first bytes matter most */
				if (zt_chance(&rng, 25))
					at = (size_t)zt_below(
						&rng, len < 8 ? len : 8);
				bad[at] ^= x;
			}
			ret = ct_decompress_exact(dctx, res.tag, bad, len,
						  ct_guard_arm(&g));
			check_outcome(ret, &g, "changed bytes", k);
			if (ret)
				fails++;
			else
				oks++, accepted++;
		}

		/* (c) bytes after the object: zeros, random, a copy of it */
		for (size_t extra = 1; extra <= 64; extra++) {
			memcpy(bad, obj, len);
			memset(bad + len, 0, extra);
			ret = ct_decompress_exact(dctx, res.tag, bad,
						  len + extra,
						  ct_guard_arm(&g));
			if (ret != -EBADMSG)
				fail_msg("%s: %zu zero bytes appended: %d",
					 ct_spec_str(spec), extra, ret);
			ct_guard_check(&g, "zeros appended");
			for (size_t i = 0; i < extra; i++)
				bad[len + i] = (unsigned char)zt_rand(&rng);
			ret = ct_decompress_exact(dctx, res.tag, bad,
						  len + extra,
						  ct_guard_arm(&g));
			if (ret != -EBADMSG)
				fail_msg("%s: %zu random bytes appended: %d",
					 ct_spec_str(spec), extra, ret);
			ct_guard_check(&g, "garbage appended");
			fails += 2;
		}
		if (2 * len <= sizeof(bad)) {
			memcpy(bad, obj, len);
			memcpy(bad + len, obj, len);
			ret = ct_decompress_exact(dctx, res.tag, bad, 2 * len,
						  ct_guard_arm(&g));
			if (ret != -EBADMSG)
				fail_msg("%s: object twice over: %d",
					 ct_spec_str(spec), ret);
			ct_guard_check(&g, "object twice");
			fails++;
		}

		/* len past anything a page encodes to: refused unread */
		{
			size_t big = 1u << 20;
			unsigned char *huge = calloc(1, big);

			assert_non_null(huge);
			memcpy(huge, obj, len);
			ret = comp_decompress(dctx, res.tag, huge, big,
					      ct_guard_arm(&g));
			assert_int_equal(ret, -EBADMSG);
			ct_guard_check(&g, "1 MiB");
			free(huge);
			ret = comp_decompress(dctx, res.tag, obj, SIZE_MAX / 2,
					      ct_guard_arm(&g));
			assert_int_equal(ret, -EBADMSG);
			ret = comp_decompress(dctx, res.tag, obj, SIZE_MAX,
					      ct_guard_arm(&g));
			assert_int_equal(ret, -EBADMSG);
			ct_guard_check(&g, "SIZE_MAX");
			fails += 3;
		}

		/* another backend's tag on these bytes is no success either
		 * unless it really decodes them; lz4 and lz4hc share a
		 * format, so only across format families */
		for (size_t i = 0; i < ARRAY_SIZE(ct_selectable); i++) {
			int other = ct_selectable[i];
			comp_tag_t tag;

			if ((other == COMP_ZSTD) == (backend == COMP_ZSTD))
				continue;
			tag = comp_spec_tag((struct comp_spec){other, 1});
			ret = ct_decompress_exact(dctx, tag, obj, len,
						  ct_guard_arm(&g));
			check_outcome(ret, &g, "other backend", i);
			if (ret)
				fails++;
			else
				oks++, accepted++;
		}
	}
	after = ct_stats_of(dctx);
	assert_int_equal(after.decompress_errors - before.decompress_errors,
			 fails);
	assert_int_equal(after.decompressions - before.decompressions, oks);
	assert_int_equal(after.pages, 0);
	print_message("# %s: %llu damaged objects rejected, %llu decoded to "
		      "some page\n",
		      comp_backend_name(backend), (unsigned long long)fails,
		      (unsigned long long)accepted);
	comp_ctx_free(ctx);
	comp_ctx_free(dctx);
}

static void test_corrupt_lz4(void **state)
{
	(void)state;
	corrupt_backend(COMP_LZ4);
}

static void test_corrupt_lz4hc(void **state)
{
	(void)state;
	corrupt_backend(COMP_LZ4HC);
}

#ifdef HAVE_ZSTD
static void test_corrupt_zstd(void **state)
{
	(void)state;
	corrupt_backend(COMP_ZSTD);
}
#endif

/* ------------------------------------------------------------------------ */
/* Bad tags and raw objects                                                  */
/* ------------------------------------------------------------------------ */

/* Tags that name no backend, bad raw objects, and the counter. */
static void test_bad_tags(void **state)
{
	struct comp_ctx *ctx = ct_new_ctx(0);
	unsigned char page[PAGE + 64];
	struct ct_guarded g;
	struct comp_stats want = {0}, got;
	static const size_t raw_lens[] = {0, 1, 8, 4095, 4097, 4100, 8192};

	(void)state;
	ct_make_text_page(page, 7);
	for (size_t i = 0; i < ARRAY_SIZE(raw_lens); i++) {
		unsigned char *src = malloc(raw_lens[i] + 1);

		assert_non_null(src);
		memset(src, 0x3c, raw_lens[i] + 1);
		assert_int_equal(comp_decompress(ctx, CT_RAW_TAG, src + 1,
						 raw_lens[i], ct_guard_arm(&g)),
				 -EBADMSG);
		ct_guard_check(&g, "raw of a wrong length");
		free(src);
		want.decompress_errors++;
	}
	/* the raw tag with exactly a page: a copy */
	assert_int_equal(ct_decompress_exact(ctx, CT_RAW_TAG, page, PAGE,
					     ct_guard_arm(&g)),
			 0);
	assert_memory_equal(g.bytes + CT_GUARD, page, PAGE);
	want.decompressions++;

	/* every backend id no build has, with a few levels */
	for (unsigned int id = NR_COMP_BACKENDS; id < 16; id++) {
		for (unsigned int off = 0; off < 4096; off += 1365) {
			comp_tag_t tag =
				(comp_tag_t)(id << COMP_TAG_LEVEL_BITS | off);

			assert_int_equal(ct_decompress_exact(ctx, tag, page,
							     100,
							     ct_guard_arm(&g)),
					 -ENOTSUP);
			ct_guard_check(&g, "unknown backend");
			want.decompress_errors++;
		}
	}
	assert_int_equal(ct_decompress_exact(ctx, (comp_tag_t)(15u << 12), page,
					     PAGE, ct_guard_arm(&g)),
			 -ENOTSUP);
	want.decompress_errors++;

	/* a known backend with a level no build makes, and raw with a level:
	 * a failure either way */
	{
		comp_tag_t tags[] = {
			(comp_tag_t)(COMP_LZ4HC << 12 | 100),
			(comp_tag_t)(COMP_RAW << 12 | 1),
#ifdef HAVE_ZSTD
			(comp_tag_t)(COMP_ZSTD << 12 | 4000),
#endif
		};

		for (size_t i = 0; i < ARRAY_SIZE(tags); i++) {
			int ret = ct_decompress_exact(ctx, tags[i], page, PAGE,
						      ct_guard_arm(&g));

			if (ret != -ENOTSUP && ret != -EBADMSG)
				fail_msg("tag %#x: %d", tags[i], ret);
			ct_guard_check(&g, "bad level");
			want.decompress_errors++;
		}
	}
	got = ct_stats_of(ctx);
	ct_assert_stats_equal(&got, &want);
	comp_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Well-formed input of the wrong size                                       */
/* ------------------------------------------------------------------------ */

/* A well-formed lz4 block of n bytes: only whole pages are objects. */
static void test_lz4_wrong_size(void **state)
{
	struct comp_ctx *ctx = ct_new_ctx(0);
	/* text beyond the page too, for the blocks longer than a page */
	unsigned char src[2 * PAGE], dst[LZ4_COMPRESSBOUND(PAGE + 64)];
	struct ct_guarded g;
	static const int sizes[] = {0, 1, 2048, 4095, 4096, 4097, 4100, 4160};
	comp_tag_t tags[] = {comp_spec_tag((struct comp_spec){COMP_LZ4, 1}),
			     comp_spec_tag((struct comp_spec){COMP_LZ4HC, 9})};

	(void)state;
	ct_make_text_page(src, 11);
	ct_make_text_page(src + PAGE, 12);
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		for (int hc = 0; hc < 2; hc++) {
			int n = hc ? LZ4_compress_HC((char *)src, (char *)dst,
						     sizes[i], sizeof(dst), 9)
				   : LZ4_compress_default((char *)src,
							  (char *)dst, sizes[i],
							  sizeof(dst));
			int ret;

			assert_true(n > 0);
			for (size_t t = 0; t < ARRAY_SIZE(tags); t++) {
				ret = ct_decompress_exact(ctx, tags[t], dst,
							  (size_t)n,
							  ct_guard_arm(&g));
				ct_guard_check(&g, "lz4 block");
				if (sizes[i] == PAGE) {
					/* the control: a page decodes */
					assert_int_equal(ret, 0);
					assert_memory_equal(g.bytes + CT_GUARD,
							    src, PAGE);
				} else if (ret != -EBADMSG) {
					fail_msg("lz4 block of %d bytes: %d",
						 sizes[i], ret);
				}
			}
		}
	}
	comp_ctx_free(ctx);
}

#ifdef HAVE_ZSTD
/* A well-formed frame like the backend's of n bytes. */
static size_t zstd_frame(void *dst, size_t cap, const void *src, size_t n,
			 bool magicless, bool content_size)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t ret;

	assert_non_null(cc);
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(
		cc, ZSTD_c_format,
		magicless ? ZSTD_f_zstd1_magicless : ZSTD_f_zstd1)));
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(
		cc, ZSTD_c_contentSizeFlag, content_size)));
	assert_false(ZSTD_isError(
		ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 3)));
	ret = ZSTD_compress2(cc, dst, cap, src, n);
	assert_false(ZSTD_isError(ret));
	ZSTD_freeCCtx(cc);
	return ret;
}

static void test_zstd_wrong_size(void **state)
{
	struct comp_ctx *ctx = ct_new_ctx(0);
	unsigned char src[2 * PAGE], dst[ZSTD_COMPRESSBOUND(PAGE + 64)];
	struct ct_guarded g;
	static const size_t sizes[] = {0, 1, 2048, 4095, 4096, 4097, 4160};
	comp_tag_t tag = comp_spec_tag((struct comp_spec){COMP_ZSTD, 3});

	(void)state;
	ct_make_text_page(src, 21);
	ct_make_text_page(src + PAGE, 22);
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		for (int cs = 0; cs < 2; cs++) {
			size_t n = zstd_frame(dst, sizeof(dst), src, sizes[i],
					      true, cs);
			int ret = ct_decompress_exact(ctx, tag, dst, n,
						      ct_guard_arm(&g));

			ct_guard_check(&g, "zstd frame");
			if (sizes[i] == PAGE) {
				assert_int_equal(ret, 0);
				assert_memory_equal(g.bytes + CT_GUARD, src,
						    PAGE);
			} else if (ret != -EBADMSG) {
				fail_msg("zstd frame of %zu bytes (content "
					 "size %s): %d",
					 sizes[i], cs ? "given" : "absent",
					 ret);
			}
		}
	}
	/* a frame with the magic number is not the backend's format */
	{
		size_t n =
			zstd_frame(dst, sizeof(dst), src, PAGE, false, false);
		int ret =
			ct_decompress_exact(ctx, tag, dst, n, ct_guard_arm(&g));

		ct_guard_check(&g, "zstd frame with magic");
		assert_int_equal(ret, -EBADMSG);
	}
	comp_ctx_free(ctx);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corrupt_lz4),
		cmocka_unit_test(test_corrupt_lz4hc),
#ifdef HAVE_ZSTD
		cmocka_unit_test(test_corrupt_zstd),
#endif
		cmocka_unit_test(test_bad_tags),
		cmocka_unit_test(test_lz4_wrong_size),
#ifdef HAVE_ZSTD
		cmocka_unit_test(test_zstd_wrong_size),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
