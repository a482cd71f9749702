/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-mixed.c - one pool holding objects of several algorithms at once,
 * as the daemon's pool does once its compressor setting has changed at run
 * time: the tag stored with each object, not the current setting, decides
 * how it is read back.
 *
 * About 4000 pages of the corpus (tests/corpus.h), with a random page every
 * RANDOM_EVERY pages so that some are stored raw whatever the algorithm,
 * are compressed with a setting that changes every ROTATE_EVERY pages
 * (lz4, lz4hc:9, zstd:3, zstd:-5) and the pool's huge class size as the raw
 * threshold, and stored the daemon's way:
 *   same-filled  only the word is kept, nothing goes to the pool
 *   raw          a 4096-byte object, which must land in the huge class
 *   compressed   an object of exactly the compressed length
 * A third of them, picked at random, are freed and the pool compacted, so
 * that objects move; then every page left is read back through
 * zp_pool_read_begin() in a context that compressed nothing, and must come
 * back bit for bit.
 *
 * Environment:
 *   ZP_TEST_PAGES  corpus pages to store (default 4000)
 *   ZP_TEST_SEED   which objects are freed (default 1)
 *   ZPOOLD_CORPUS  where the corpus is (see tests/corpus.h)
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
#include "pool/pool.h"
#include "tests/corpus.h"
#include "tests/testlib.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PAGE	      COMP_PAGE_SIZE

#define DEFAULT_PAGES 4000
#define DEFAULT_SEED  1
/* The setting changes this often: a few dozen changes over the run. */
#define ROTATE_EVERY 100
/* One page in this many is random bytes, which every backend stores raw. */
#define RANDOM_EVERY 64

static const char *const spec_texts[] = {
	"lz4",
	"lz4hc:9",
#ifdef HAVE_ZSTD
	"zstd:3",
	"zstd:-5",
#else
	"lz4:8",
#endif
};
#define NR_SPECS ARRAY_SIZE(spec_texts)

struct obj {
	const unsigned char *orig; /* the page it must read back as */
	size_t spec;		   /* index into spec_texts */
	enum comp_kind kind;
	comp_tag_t tag;
	uint32_t len;
	uint64_t word;	    /* of a same-filled page */
	zp_handle_t handle; /* 0 for a same-filled page */
	bool live;
};

static struct zp_corpus corpus;
static size_t nr_pages;
static uint64_t seed;

static struct zp_pool *make_pool(void)
{
	struct zp_pool_config cfg;
	struct zp_pool *pool = NULL;
	int ret;

	zp_pool_config_init(&cfg);
	/* as tests/pool/test-api.c: no delayed release, one shard, so that
	 * where objects go does not depend on the CPU */
	cfg.release_delay_ms = 0;
	cfg.shards = 1;
	ret = zp_pool_create(&cfg, &pool);
	if (ret)
		fail_msg("cannot create a pool: %s (may this process lock "
			 "memory? run as root)",
			 strerror(-ret));
	assert_non_null(pool);
	return pool;
}

/* The huge class's live objects, from the per-class statistics. */
static uint64_t huge_class_objects(struct zp_pool *pool)
{
	unsigned int n = zp_pool_nr_classes(pool), huge = 0;
	uint64_t objs = 0;

	for (unsigned int id = 0; id < n; id++) {
		struct zp_class_stats cs;

		assert_int_equal(zp_pool_class_stats(pool, id, &cs), 0);
		if (cs.huge) {
			objs += cs.objs_used;
			huge++;
		}
	}
	assert_int_equal(huge, 1);
	return objs;
}

static void test_mixed_pool(void **state)
{
	struct zp_pool *pool = make_pool();
	struct comp_spec specs[NR_SPECS];
	size_t huge = zp_pool_huge_class_size(pool);
	struct comp_ctx *ctx, *reader;
	struct obj *objs = calloc(nr_pages, sizeof(*objs));
	unsigned char *randoms = malloc((nr_pages / RANDOM_EVERY + 1) * PAGE);
	static uint32_t per_tag[1u << 16];
	uint64_t per_spec[NR_SPECS][NR_COMP_KINDS] = {{0}};
	uint64_t in_pool = 0, raw = 0, freed = 0, rng = seed;
	unsigned char out[PAGE];
	struct zp_pool_stats ps;
	struct comp_stats cs;

	(void)state;
	assert_non_null(objs);
	assert_non_null(randoms);
	memset(per_tag, 0, sizeof(per_tag));
	for (size_t s = 0; s < NR_SPECS; s++) {
		char err[256];

		if (comp_spec_parse(spec_texts[s], &specs[s], err, sizeof(err)))
			fail_msg("%s", err);
	}
	/* the daemon's threshold: what would take a whole page anyway */
	assert_true(huge > 0 && huge <= PAGE);
	ctx = comp_ctx_new((unsigned int)huge);
	reader = comp_ctx_new(0);
	assert_non_null(ctx);
	assert_non_null(reader);
	assert_int_equal(comp_ctx_raw_threshold(ctx), huge);

	for (size_t i = 0; i < nr_pages; i++) {
		struct obj *o = &objs[i];
		struct comp_result res;

		if (i % RANDOM_EVERY == RANDOM_EVERY / 2) {
			unsigned char *p = randoms + (i / RANDOM_EVERY) * PAGE;

			zt_pattern(p, seed + i, 0, PAGE);
			o->orig = p;
		} else {
			o->orig = zp_corpus_page(&corpus, i * corpus.nr_pages /
								  nr_pages);
		}
		o->spec = (i / ROTATE_EVERY) % NR_SPECS;
		assert_int_equal(
			comp_compress(ctx, specs[o->spec], o->orig, &res), 0);
		o->kind = res.kind;
		o->tag = res.tag;
		o->len = res.len;
		o->word = res.word;
		o->live = true;
		per_spec[o->spec][res.kind]++;
		if (res.kind == COMP_KIND_SAME)
			continue;
		per_tag[res.tag]++;
		assert_int_equal(zp_pool_malloc(pool, res.len, 0, &o->handle),
				 0);
		zp_pool_write(pool, o->handle, res.data, res.len);
		assert_int_equal(zp_pool_obj_size(pool, o->handle), res.len);
		in_pool++;
		if (res.kind == COMP_KIND_RAW) {
			assert_int_equal(res.len, PAGE);
			raw++;
		} else {
			assert_true(res.len < huge);
		}
	}
	comp_ctx_stats(ctx, &cs);
	assert_int_equal(cs.compress_errors, 0);
	assert_int_equal(cs.pages, nr_pages);

	/* every spec stored objects of its own, and each tag says which */
	for (size_t s = 0; s < NR_SPECS; s++) {
		comp_tag_t tag = comp_spec_tag(specs[s]);

		print_message(
			"# %-8s %5llu compressed, %3llu raw, %3llu "
			"same-filled\n",
			spec_texts[s],
			(unsigned long long)per_spec[s][COMP_KIND_COMPRESSED],
			(unsigned long long)per_spec[s][COMP_KIND_RAW],
			(unsigned long long)per_spec[s][COMP_KIND_SAME]);
		if (!per_spec[s][COMP_KIND_COMPRESSED])
			fail_msg("no object compressed with %s", spec_texts[s]);
		assert_int_equal(per_tag[tag],
				 per_spec[s][COMP_KIND_COMPRESSED]);
	}
	assert_int_equal(per_tag[(comp_tag_t)(COMP_RAW << COMP_TAG_LEVEL_BITS)],
			 raw);
	assert_true(raw > 0);

	/* raw objects, and only they, take the huge class */
	zp_pool_stats(pool, &ps);
	assert_int_equal(ps.objects, in_pool);
	assert_int_equal(ps.huge_objects, raw);
	assert_int_equal(huge_class_objects(pool), raw);

	/* a third goes, wherever it is */
	for (size_t i = 0; i < nr_pages; i++) {
		struct obj *o = &objs[i];

		if (!zt_chance(&rng, 33))
			continue;
		if (o->handle) {
			zp_pool_free(pool, o->handle);
			in_pool--;
			if (o->kind == COMP_KIND_RAW)
				raw--;
		}
		o->live = false;
		freed++;
	}
	zp_pool_compact(pool, -1);
	zp_pool_validate(pool);
	zp_pool_stats(pool, &ps);
	print_message("# %llu of %zu pages freed; compaction moved %llu "
		      "objects and freed %llu pages\n",
		      (unsigned long long)freed, nr_pages,
		      (unsigned long long)ps.objects_moved,
		      (unsigned long long)ps.pages_compacted);
	assert_int_equal(ps.objects, in_pool);
	assert_int_equal(ps.huge_objects, raw);
	/* the reads below are of objects that moved */
	assert_true(ps.objects_moved > 0);

	/* every page left, by its tag, in a context that saw none of it */
	for (size_t i = 0; i < nr_pages; i++) {
		struct obj *o = &objs[i];
		int ret = 0;

		if (!o->live)
			continue;
		memset(out, 0x5a, sizeof(out));
		if (o->kind == COMP_KIND_SAME) {
			comp_page_fill(out, o->word);
		} else {
			const void *src = zp_pool_read_begin(pool, o->handle);

			assert_non_null(src);
			ret = comp_decompress(reader, o->tag, src, o->len, out);
			zp_pool_read_end(pool, o->handle);
		}
		if (ret)
			fail_msg("page %zu (%s, tag %#x, %u bytes): %d", i,
				 spec_texts[o->spec], o->tag, o->len, ret);
		if (memcmp(out, o->orig, PAGE))
			fail_msg("page %zu (%s, kind %d, %u bytes) differs "
				 "after compaction",
				 i, spec_texts[o->spec], o->kind, o->len);
	}
	comp_ctx_stats(reader, &cs);
	assert_int_equal(cs.decompressions, in_pool);
	assert_int_equal(cs.decompress_errors, 0);

	for (size_t i = 0; i < nr_pages; i++)
		if (objs[i].live && objs[i].handle)
			zp_pool_free(pool, objs[i].handle);
	zp_pool_stats(pool, &ps);
	assert_int_equal(ps.objects, 0);
	zp_pool_destroy(pool);
	comp_ctx_free(ctx);
	comp_ctx_free(reader);
	free(randoms);
	free(objs);
}

static int group_setup(void **state)
{
	return zp_corpus_setup(state, &corpus, &nr_pages);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mixed_pool),
	};

	nr_pages = (size_t)zt_env_u64("test-mixed", "ZP_TEST_PAGES",
				      DEFAULT_PAGES);
	seed = zt_env_u64("test-mixed", "ZP_TEST_SEED", DEFAULT_SEED);
	/* enough for every spec to have its turn */
	if (nr_pages < ROTATE_EVERY * NR_SPECS)
		nr_pages = ROTATE_EVERY * NR_SPECS;
	return cmocka_run_group_tests(tests, group_setup, zp_corpus_teardown);
}
