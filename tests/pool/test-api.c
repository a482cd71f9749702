/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-api.c - every call of the pool's public API, on one node.
 *
 * Each pool test runs twice: on the real node layer (cfg.node_ops = NULL,
 * libnuma, the machine's single node) and on a simulated topology of one
 * node, so that the two layers are held to the same behaviour. Multi-node
 * placement lives in test-numa.c.
 *
 * Objects are filled with a pattern derived from their handle and checked
 * byte for byte, so that an object written over by a neighbour, moved to the
 * wrong place by compaction or handed out twice shows up as a mismatch.
 *
 * Facts about the layout are checked through the API only: a zspage is one
 * contiguous range of pages_per_zspage pages, and the pool fills a zspage
 * before it opens another, so objects allocated one after another in a fresh
 * class share a zspage until it is full.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "pool/pool.h"
#include "tests/testlib.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------ */
/* Fixture: one node layer, and everything a test made on it               */
/* ------------------------------------------------------------------------ */

/* Enough for the tests below; teardown frees what a failed test left. */
#define FX_MAX_POOLS 8
#define FX_MAX_MEM   16

struct fixture {
	struct zp_node_sim *sim; /* NULL: the real node layer */
	struct zp_pool *pools[FX_MAX_POOLS];
	void *mem[FX_MAX_MEM];
};

static int setup_real(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	*state = f;
	return 0;
}

static int setup_sim(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (zp_node_sim_create(1, NULL, &f->sim) != 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < FX_MAX_POOLS; i++)
		if (f->pools[i])
			zp_pool_destroy(f->pools[i]);
	for (size_t i = 0; i < FX_MAX_MEM; i++)
		free(f->mem[i]);
	if (f->sim)
		zp_node_sim_destroy(f->sim);
	free(f);
	return 0;
}

static void fx_config(struct fixture *f, struct zp_pool_config *cfg)
{
	zp_pool_config_init(cfg);
	/* An idle node's cache holds exactly cache_pages (test-numa covers the
	 * delayed release). */
	cfg->release_delay_ms = 0;
	/* One shard, so that which zspage an allocation fills does not depend
	 * on the CPU the test runs on (test-numa covers shards). */
	cfg->shards = 1;
	if (f->sim) {
		cfg->node_ops = &zp_node_sim_ops;
		cfg->node_ctx = f->sim;
	}
}

/* Create a pool (cfg NULL: the defaults) that teardown destroys. */
static struct zp_pool *fx_pool(struct fixture *f,
			       const struct zp_pool_config *cfg)
{
	struct zp_pool_config defaults;
	struct zp_pool *pool = NULL;
	int ret;

	if (!cfg) {
		fx_config(f, &defaults);
		cfg = &defaults;
	}
	ret = zp_pool_create(cfg, &pool);
	if (ret)
		fail_msg("cannot create a pool: %s (may this process lock "
			 "memory? run as root)", strerror(-ret));
	assert_non_null(pool);
	for (size_t i = 0; i < FX_MAX_POOLS; i++) {
		if (!f->pools[i]) {
			f->pools[i] = pool;
			return pool;
		}
	}
	fail_msg("fixture holds too many pools");
	return NULL;
}

static void fx_destroy(struct fixture *f, struct zp_pool *pool)
{
	for (size_t i = 0; i < FX_MAX_POOLS; i++)
		if (f->pools[i] == pool)
			f->pools[i] = NULL;
	zp_pool_destroy(pool);
}

static void *fx_calloc(struct fixture *f, size_t n, size_t size)
{
	void *p = calloc(n, size);

	assert_non_null(p);
	if (zt_keep(f->mem, FX_MAX_MEM, p))
		return p;
	free(p);
	fail_msg("fixture holds too many buffers");
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Objects                                                                  */
/* ------------------------------------------------------------------------ */

struct obj {
	zp_handle_t h;
	size_t size;
	uintptr_t addr;
	bool live;
};

static uintptr_t obj_addr(struct zp_pool *pool, zp_handle_t h)
{
	const void *p = zp_pool_read_begin(pool, h);

	zp_pool_read_end(pool, h);
	assert_non_null(p);
	return (uintptr_t)p;
}

static void obj_fill(struct zp_pool *pool, struct obj *o)
{
	unsigned char buf[ZP_MAX_ALLOC];

	zt_pattern(buf, o->h, 0, o->size);
	zp_pool_write(pool, o->h, buf, o->size);
}

static void obj_check(struct zp_pool *pool, const struct obj *o)
{
	unsigned char buf[ZP_MAX_ALLOC];
	const void *p;
	int diff;

	assert_int_equal(zp_pool_obj_size(pool, o->h), o->size);
	zt_pattern(buf, o->h, 0, o->size);
	p = zp_pool_read_begin(pool, o->h);
	diff = p ? memcmp(p, buf, o->size) : -1;
	/* End the read before asserting: a failed assertion leaves the test. */
	zp_pool_read_end(pool, o->h);
	assert_non_null(p);
	if (diff != 0)
		fail_msg("object %#llx of %zu bytes lost its contents",
			 (unsigned long long)o->h, o->size);
}

/* Allocate, check the handle and size, and write the pattern. */
static void obj_new(struct zp_pool *pool, struct obj *o, size_t size, int nid)
{
	int ret;

	o->h = 0;
	o->size = size;
	ret = zp_pool_malloc(pool, size, nid, &o->h);
	assert_int_equal(ret, 0);
	assert_true(o->h != 0);
	assert_int_equal(zp_pool_obj_size(pool, o->h), size);
	obj_fill(pool, o);
	o->addr = obj_addr(pool, o->h);
	o->live = true;
}

static void obj_del(struct zp_pool *pool, struct obj *o)
{
	assert_true(o->live);
	zp_pool_free(pool, o->h);
	o->live = false;
}

static void check_all(struct zp_pool *pool, const struct obj *objs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (objs[i].live)
			obj_check(pool, &objs[i]);
}

static void free_all(struct zp_pool *pool, struct obj *objs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (objs[i].live)
			obj_del(pool, &objs[i]);
}

/* The class that serves size; fails the test if none does. */
static unsigned int class_of(struct zp_pool *pool, size_t size,
			     struct zp_class_stats *cs)
{
	unsigned int n = zp_pool_nr_classes(pool);

	for (unsigned int id = 0; id < n; id++) {
		assert_int_equal(zp_pool_class_stats(pool, id, cs), 0);
		if (cs->min_size <= size && size <= cs->max_size)
			return id;
	}
	fail_msg("no class serves %zu bytes", size);
	return 0;
}

static size_t class_size_of(struct zp_pool *pool, size_t size)
{
	struct zp_class_stats cs;

	class_of(pool, size, &cs);
	return cs.size;
}

static bool is_huge_size(struct zp_pool *pool, size_t size)
{
	return size >= zp_pool_huge_class_size(pool);
}

/* ------------------------------------------------------------------------ */
/* Tests without a pool                                                     */
/* ------------------------------------------------------------------------ */

static void test_policy_names(void **state)
{
	static const char *const names[] = {"preferred", "strict", "local",
					    "interleave"};
	enum zp_numa_policy policy;

	(void)state;
	assert_int_equal(ARRAY_SIZE(names), ZP_NUMA_NR_POLICIES);
	assert_int_equal(ZP_NUMA_PREFERRED, 0);
	for (int i = 0; i < ZP_NUMA_NR_POLICIES; i++) {
		const char *name = zp_numa_policy_name((enum zp_numa_policy)i);

		assert_non_null(name);
		assert_string_equal(name, names[i]);
		policy = ZP_NUMA_NR_POLICIES;
		assert_int_equal(zp_numa_policy_parse(names[i], &policy), 0);
		assert_int_equal(policy, i);
	}
	assert_null(zp_numa_policy_name(ZP_NUMA_NR_POLICIES));
	assert_null(zp_numa_policy_name((enum zp_numa_policy)(-1)));

	policy = ZP_NUMA_STRICT;
	assert_int_equal(zp_numa_policy_parse("bogus", &policy), -EINVAL);
	assert_int_equal(zp_numa_policy_parse("", &policy), -EINVAL);
	assert_int_equal(zp_numa_policy_parse("preferred-ish", &policy),
			 -EINVAL);
	assert_int_equal(zp_numa_policy_parse("prefer", &policy), -EINVAL);
	assert_int_equal(policy, ZP_NUMA_STRICT);
}

/*
 * Check one descriptor table against the X-macro list it must come from:
 * same number of entries, every field named once with its own offset and
 * kind, nothing outside the struct's first size bytes.
 */
static void check_desc_table(const struct zp_stat_desc *table, size_t n,
			     const struct zp_stat_desc *expect, size_t nexpect,
			     size_t size)
{
	assert_int_equal(n, nexpect);
	for (size_t i = 0; i < n; i++) {
		const struct zp_stat_desc *d = &table[i];
		bool found = false;

		assert_non_null(d->name);
		assert_true(d->name[0] != '\0');
		assert_non_null(d->description);
		assert_true(d->description[0] != '\0');
		assert_true(d->kind < ZP_NR_STAT_KINDS);
		assert_true(d->offset % sizeof(uint64_t) == 0);
		assert_true(d->offset + sizeof(uint64_t) <= size);
		for (size_t j = 0; j < i; j++) {
			assert_string_not_equal(d->name, table[j].name);
			assert_true(d->offset != table[j].offset);
		}
		for (size_t j = 0; j < nexpect; j++) {
			if (strcmp(d->name, expect[j].name) != 0)
				continue;
			found = true;
			assert_int_equal(d->offset, expect[j].offset);
			assert_int_equal(d->kind, expect[j].kind);
			assert_string_equal(d->description,
					    expect[j].description);
		}
		if (!found)
			fail_msg("statistic '%s' is not in the field list",
				 d->name);
	}
}

#define POOL_DESC(n, k, d)  {#n, k, d, offsetof(struct zp_pool_stats, n)},
#define NODE_DESC(n, k, d)  {#n, k, d, offsetof(struct zp_node_stats, n)},
#define CLASS_DESC(n, k, d) {#n, k, d, offsetof(struct zp_class_stats, n)},

static void test_stat_desc(void **state)
{
	static const struct zp_stat_desc pool_expect[] = {
		ZP_POOL_STAT_FIELDS(POOL_DESC)};
	static const struct zp_stat_desc node_expect[] = {
		ZP_NODE_STAT_FIELDS(NODE_DESC)};
	static const struct zp_stat_desc class_expect[] = {
		ZP_CLASS_STAT_FIELDS(CLASS_DESC)};

	(void)state;
	/* Every field of the pool and node structs has a descriptor. */
	assert_int_equal(zp_pool_nr_stat_desc,
			 sizeof(struct zp_pool_stats) / sizeof(uint64_t));
	assert_int_equal(zp_node_nr_stat_desc,
			 sizeof(struct zp_node_stats) / sizeof(uint64_t));
	check_desc_table(zp_pool_stat_desc, zp_pool_nr_stat_desc, pool_expect,
			 ARRAY_SIZE(pool_expect), sizeof(struct zp_pool_stats));
	check_desc_table(zp_node_stat_desc, zp_node_nr_stat_desc, node_expect,
			 ARRAY_SIZE(node_expect), sizeof(struct zp_node_stats));
	/* The class table covers the X-macro fields, not the histogram. */
	check_desc_table(zp_class_stat_desc, zp_class_nr_stat_desc,
			 class_expect, ARRAY_SIZE(class_expect),
			 offsetof(struct zp_class_stats, fullness));
}

/* ------------------------------------------------------------------------ */
/* Configuration, create and destroy                                        */
/* ------------------------------------------------------------------------ */

static void expect_einval(const struct zp_pool_config *cfg, const char *what)
{
	struct zp_pool *pool = NULL;
	int ret = zp_pool_create(cfg, &pool);

	if (ret != -EINVAL) {
		if (ret == 0)
			zp_pool_destroy(pool);
		fail_msg("config with %s: expected -EINVAL, got %d", what, ret);
	}
}

static void test_config(void **state)
{
	struct fixture *f = *state;
	struct zp_pool_config cfg;
	struct zp_pool *pool;

	memset(&cfg, 0xa5, sizeof(cfg));
	zp_pool_config_init(&cfg);
	assert_int_equal(cfg.policy, ZP_NUMA_PREFERRED);
	assert_int_equal(cfg.max_zspage_pages, 8);
	assert_int_equal(cfg.max_zspage_pages, ZP_DEFAULT_ZSPAGE_PAGES);
	assert_int_equal(cfg.chunk_bytes, 4u << 20);
	assert_int_equal(cfg.cache_pages, 256);
	assert_int_equal(cfg.release_delay_ms, 1000);
	assert_int_equal(cfg.shards, 0);
	assert_null(cfg.node_ops);
	assert_null(cfg.node_ctx);

	fx_config(f, &cfg);
	cfg.max_zspage_pages = 0;
	expect_einval(&cfg, "max_zspage_pages 0");
	cfg.max_zspage_pages = ZP_MAX_ZSPAGE_PAGES + 1;
	expect_einval(&cfg, "max_zspage_pages 17");
	cfg.max_zspage_pages = UINT_MAX;
	expect_einval(&cfg, "max_zspage_pages UINT_MAX");

	fx_config(f, &cfg);
	cfg.chunk_bytes = 0;
	expect_einval(&cfg, "chunk_bytes 0");
	cfg.chunk_bytes = 4096;
	expect_einval(&cfg, "chunk_bytes of one page");
	cfg.chunk_bytes = 8 * ZP_PAGE_SIZE;
	expect_einval(&cfg, "chunk_bytes of 8 pages");
	cfg.chunk_bytes = 2 * ZP_MAX_ZSPAGE_PAGES * ZP_PAGE_SIZE + ZP_PAGE_SIZE;
	expect_einval(&cfg, "chunk_bytes of 33 pages");
	cfg.chunk_bytes = (4u << 20) + 100;
	expect_einval(&cfg, "chunk_bytes not page aligned");

	fx_config(f, &cfg);
	cfg.policy = ZP_NUMA_NR_POLICIES;
	expect_einval(&cfg, "policy ZP_NUMA_NR_POLICIES");
	cfg.policy = (enum zp_numa_policy)(-1);
	expect_einval(&cfg, "policy -1");
	cfg.policy = (enum zp_numa_policy)1000;
	expect_einval(&cfg, "policy 1000");

	/* The edges of the allowed ranges are allowed, and the pool works. */
	static const unsigned int good_pages[] = {ZP_MIN_ZSPAGE_PAGES, 4,
						  ZP_MAX_ZSPAGE_PAGES};
	for (size_t i = 0; i < ARRAY_SIZE(good_pages); i++) {
		struct obj o;

		fx_config(f, &cfg);
		cfg.max_zspage_pages = good_pages[i];
		cfg.chunk_bytes = ZP_MAX_ZSPAGE_PAGES * ZP_PAGE_SIZE;
		cfg.cache_pages = 0;
		pool = fx_pool(f, &cfg);
		obj_new(pool, &o, 1000, 0);
		obj_check(pool, &o);
		zp_pool_validate(pool);
		obj_del(pool, &o);
		assert_int_equal(zp_pool_total_pages(pool), 0);
		fx_destroy(f, pool);
	}

	for (int p = 0; p < ZP_NUMA_NR_POLICIES; p++) {
		struct obj o;

		fx_config(f, &cfg);
		cfg.policy = (enum zp_numa_policy)p;
		pool = fx_pool(f, &cfg);
		obj_new(pool, &o, 300, 0);
		obj_check(pool, &o);
		obj_del(pool, &o);
		zp_pool_validate(pool);
		fx_destroy(f, pool);
	}
}

static void test_create_destroy(void **state)
{
	struct fixture *f = *state;
	struct zp_pool_stats st;
	struct zp_node_stats ns;
	struct zp_pool *pool;

	/* Creating and destroying must not leak locked memory or mappings. */
	for (int i = 0; i < 20; i++) {
		pool = fx_pool(f, NULL);
		zp_pool_validate(pool);
		fx_destroy(f, pool);
	}

	pool = fx_pool(f, NULL);
	assert_int_equal(zp_pool_nr_nodes(pool), 1);
	assert_int_equal(zp_pool_total_pages(pool), 0);
	assert_int_equal(zp_pool_node_pages(pool, 0), 0);

	zp_pool_stats(pool, &st);
	assert_int_equal(st.pages, 0);
	assert_int_equal(st.pages_max, 0);
	assert_int_equal(st.objects, 0);
	assert_int_equal(st.zspages, 0);
	assert_int_equal(st.malloc_calls, 0);
	assert_int_equal(st.free_calls, 0);
	/* The cache is filled at creation: 256 pages on the one node. */
	assert_int_equal(st.cached_pages, 256);
	assert_true(st.chunks >= 1);
	assert_true(st.mapped_bytes >= 256 * ZP_PAGE_SIZE);
	assert_true(st.metadata_bytes > 0);

	assert_int_equal(zp_pool_node_stats(pool, 0, &ns), 0);
	assert_int_equal(ns.pages, 0);
	assert_int_equal(ns.cached_pages, 256);
	assert_true(ns.chunks >= 1);
	assert_int_equal(zp_pool_node_stats(pool, 1, &ns), -ENOENT);
	assert_int_equal(zp_pool_node_stats(pool, -1, &ns), -ENOENT);
	assert_int_equal(zp_pool_node_stats(pool, ZP_MAX_NODES, &ns), -ENOENT);

	/* Destroy takes live objects with it. */
	for (size_t size = 1; size <= ZP_MAX_ALLOC; size += 97) {
		zp_handle_t h;

		assert_int_equal(zp_pool_malloc(pool, size, 0, &h), 0);
	}
	assert_true(zp_pool_total_pages(pool) > 0);
	zp_pool_validate(pool);
	fx_destroy(f, pool);
}

/* ------------------------------------------------------------------------ */
/* Allocation                                                               */
/* ------------------------------------------------------------------------ */

static void test_malloc_sizes(void **state)
{
	struct fixture *f = *state;
	struct zp_pool *pool = fx_pool(f, NULL);
	size_t huge = zp_pool_huge_class_size(pool);
	const size_t sizes[] = {
		1, 31, 32, 33, 100, 2000, huge - 1, huge, 4095, 4096,
	};
	struct obj objs[ARRAY_SIZE(sizes) + 1];
	struct zp_pool_stats st;
	size_t nhuge = 0;

	assert_in_range(huge, 2048, ZP_MAX_ALLOC);
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		obj_new(pool, &objs[i], sizes[i], 0);
		assert_int_equal(zp_pool_obj_node(pool, objs[i].h), 0);
		for (size_t j = 0; j < i; j++)
			assert_true(objs[i].h != objs[j].h);
		if (sizes[i] >= huge)
			nhuge++;
		zp_pool_validate(pool);
	}
	/* A negative node means the calling thread's node. */
	obj_new(pool, &objs[ARRAY_SIZE(sizes)], 500, -1);
	assert_int_equal(zp_pool_obj_node(pool, objs[ARRAY_SIZE(sizes)].h), 0);

	check_all(pool, objs, ARRAY_SIZE(objs));
	for (size_t i = 0; i < ARRAY_SIZE(objs); i++)
		assert_int_equal(zp_pool_obj_size(pool, objs[i].h),
				 objs[i].size);

	zp_pool_stats(pool, &st);
	assert_int_equal(st.objects, ARRAY_SIZE(objs));
	assert_int_equal(st.huge_objects, nhuge);
	assert_int_equal(nhuge, 3);
	assert_int_equal(st.malloc_calls, ARRAY_SIZE(objs));

	free_all(pool, objs, ARRAY_SIZE(objs));
	zp_pool_validate(pool);
	assert_int_equal(zp_pool_total_pages(pool), 0);
}

static void test_malloc_bad_args(void **state)
{
	struct fixture *f = *state;
	struct zp_pool *pool = fx_pool(f, NULL);
	int nr_nodes = zp_pool_nr_nodes(pool);
	struct zp_pool_stats st;
	zp_handle_t h = 0;

	assert_int_equal(zp_pool_malloc(pool, 0, 0, &h), -EINVAL);
	assert_int_equal(zp_pool_malloc(pool, ZP_MAX_ALLOC + 1, 0, &h),
			 -EINVAL);
	assert_int_equal(zp_pool_malloc(pool, 8192, 0, &h), -EINVAL);
	assert_int_equal(zp_pool_malloc(pool, SIZE_MAX, 0, &h), -EINVAL);
	assert_int_equal(zp_pool_malloc(pool, 100, nr_nodes, &h), -EINVAL);
	assert_int_equal(zp_pool_malloc(pool, 100, ZP_MAX_NODES, &h), -EINVAL);
	assert_int_equal(zp_pool_malloc(pool, 100, 1000, &h), -EINVAL);
	assert_int_equal(zp_pool_malloc(pool, 100, INT_MAX, &h), -EINVAL);
	assert_int_equal(zp_pool_malloc(pool, 0, -1, &h), -EINVAL);

	/* Bad input is neither an allocation nor a lack of memory. */
	zp_pool_stats(pool, &st);
	assert_int_equal(st.malloc_calls, 0);
	assert_int_equal(st.malloc_fail, 0);
	assert_int_equal(st.objects, 0);
	assert_int_equal(st.pages, 0);
	zp_pool_validate(pool);

	/* The pool still works after refusing. */
	assert_int_equal(zp_pool_malloc(pool, 100, -1, &h), 0);
	assert_true(h != 0);
	assert_int_equal(zp_pool_obj_size(pool, h), 100);
	zp_pool_free(pool, h);
	zp_pool_validate(pool);
}

struct mapping_walk {
	uintptr_t start[4096];
	uintptr_t end[4096];
	size_t n;
	size_t calls;
	int stop_with;
};

static int record_mapping(void *addr, size_t len, void *arg)
{
	struct mapping_walk *w = arg;

	w->calls++;
	if (w->n < ARRAY_SIZE(w->start)) {
		w->start[w->n] = (uintptr_t)addr;
		w->end[w->n] = (uintptr_t)addr + len;
		w->n++;
	}
	return w->stop_with;
}

static bool in_mappings(const struct mapping_walk *w, uintptr_t addr,
			size_t len)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->start[i] <= addr && addr + len <= w->end[i])
			return true;
	return false;
}

static int cmp_obj_addr(const void *a, const void *b)
{
	const struct obj *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* No two live objects share a byte. Sorts a copy by address. */
static void check_no_overlap(struct fixture *f, const struct obj *objs,
			     size_t n)
{
	struct obj *s = fx_calloc(f, n, sizeof(*s));
	size_t m = 0;

	for (size_t i = 0; i < n; i++)
		if (objs[i].live)
			s[m++] = objs[i];
	qsort(s, m, sizeof(*s), cmp_obj_addr);
	for (size_t i = 1; i < m; i++)
		if (s[i - 1].addr + s[i - 1].size > s[i].addr)
			fail_msg("objects %#llx (%zu bytes at %#lx) and %#llx "
				 "(at %#lx) overlap",
				 (unsigned long long)s[i - 1].h, s[i - 1].size,
				 (unsigned long)s[i - 1].addr,
				 (unsigned long long)s[i].h,
				 (unsigned long)s[i].addr);
}

static void check_in_mappings(struct fixture *f, struct zp_pool *pool,
			      const struct obj *objs, size_t n)
{
	struct mapping_walk *w = fx_calloc(f, 1, sizeof(*w));

	assert_int_equal(zp_pool_for_each_mapping(pool, record_mapping, w), 0);
	assert_true(w->n >= 1);
	assert_true(w->n < ARRAY_SIZE(w->start));
	for (size_t i = 0; i < n; i++)
		if (objs[i].live && !in_mappings(w, objs[i].addr, objs[i].size))
			fail_msg("object at %#lx of %zu bytes is in no mapping",
				 (unsigned long)objs[i].addr, objs[i].size);
}

#define CONTENT_OBJS 3000

static void test_contents(void **state)
{
	struct fixture *f = *state;
	struct zp_pool *pool = fx_pool(f, NULL);
	struct obj *objs = fx_calloc(f, CONTENT_OBJS, sizeof(*objs));
	uint64_t rng = 1;
	size_t n = 0;

	/* Every size that is a class edge, and its neighbours. */
	for (size_t s = ZP_MIN_ALLOC; s <= ZP_MAX_ALLOC && n < CONTENT_OBJS;
	     s += ZP_CLASS_DELTA) {
		obj_new(pool, &objs[n++], s, 0);
		obj_new(pool, &objs[n++], s - 1, 0);
		if (s < ZP_MAX_ALLOC)
			obj_new(pool, &objs[n++], s + 1, -1);
	}
	/* Then random sizes, more of them small as compressed data is. */
	while (n < CONTENT_OBJS) {
		size_t hi = zt_below(&rng, 2) ? 512 : ZP_MAX_ALLOC;

		obj_new(pool, &objs[n++], zt_range(&rng, 1, hi), 0);
	}
	zp_pool_validate(pool);
	check_all(pool, objs, n);
	check_no_overlap(f, objs, n);
	check_in_mappings(f, pool, objs, n);

	/* Free a random half and refill: reused slots must not clobber. */
	for (size_t i = 0; i < n; i++)
		if (zt_below(&rng, 2))
			obj_del(pool, &objs[i]);
	zp_pool_validate(pool);
	check_all(pool, objs, n);
	for (size_t i = 0; i < n; i++)
		if (!objs[i].live)
			obj_new(pool, &objs[i], zt_range(&rng, 1, ZP_MAX_ALLOC),
				0);
	zp_pool_validate(pool);
	check_all(pool, objs, n);
	check_no_overlap(f, objs, n);
	check_in_mappings(f, pool, objs, n);

	/* A partial write changes only the bytes written. */
	{
		struct obj *o = &objs[0];
		unsigned char buf[ZP_MAX_ALLOC];
		const unsigned char *p;
		size_t half = o->size / 2;
		bool ok;

		zt_pattern(buf, o->h, 0, o->size);
		memset(buf, 0x5a, half);
		zp_pool_write(pool, o->h, buf, half);
		p = zp_pool_read_begin(pool, o->h);
		ok = p && memcmp(p, buf, o->size) == 0;
		zp_pool_read_end(pool, o->h);
		assert_true(ok);
		obj_fill(pool, o);
	}

	free_all(pool, objs, n);
	zp_pool_validate(pool);
	assert_int_equal(zp_pool_total_pages(pool), 0);
}

/* ------------------------------------------------------------------------ */
/* Size classes                                                             */
/* ------------------------------------------------------------------------ */

/* Slot size for an object of size bytes before classes are merged. */
static size_t slot_size(size_t size)
{
	size_t s =
		(size + ZP_CLASS_DELTA - 1) / ZP_CLASS_DELTA * ZP_CLASS_DELTA;

	return s < ZP_MIN_ALLOC ? ZP_MIN_ALLOC : s;
}

static double used_fraction(size_t size, unsigned int pages)
{
	size_t bytes = (size_t)pages * ZP_PAGE_SIZE;

	return (double)(bytes - bytes % size) / (double)bytes;
}

/*
 * Check the class table of a fresh pool; return the huge threshold and the
 * longest zspage any class uses.
 */
static size_t check_classes(struct zp_pool *pool, unsigned int max_pages,
			    unsigned int *longest)
{
	unsigned int n = zp_pool_nr_classes(pool);
	struct zp_class_stats cs, prev;
	unsigned int nhuge = 0;
	size_t huge_min = 0;

	assert_in_range(n, 2, ZP_NR_SIZES);
	*longest = 0;
	memset(&prev, 0, sizeof(prev));
	for (unsigned int id = 0; id < n; id++) {
		assert_int_equal(zp_pool_class_stats(pool, id, &cs), 0);
		assert_int_equal(cs.size % ZP_CLASS_DELTA, 0);
		assert_in_range(cs.size, ZP_MIN_ALLOC, ZP_MAX_ALLOC);
		assert_in_range(cs.pages_per_zspage, 1, max_pages);
		assert_int_equal(cs.objs_per_zspage,
				 cs.pages_per_zspage * ZP_PAGE_SIZE / cs.size);
		assert_int_equal(cs.max_size, cs.size);
		assert_true(cs.min_size <= cs.max_size);
		if (id == 0) {
			assert_int_equal(cs.min_size, 1);
		} else {
			assert_true(cs.size > prev.size);
			assert_int_equal(cs.min_size, prev.max_size + 1);
			/* Neighbours that pack alike would have been merged. */
			assert_false(
				cs.pages_per_zspage == prev.pages_per_zspage &&
				cs.objs_per_zspage == prev.objs_per_zspage);
		}
		/* Every size the class serves packs as the class does. */
		for (size_t s = cs.min_size; s <= cs.max_size; s++)
			assert_int_equal(cs.pages_per_zspage * ZP_PAGE_SIZE /
						 slot_size(s),
					 cs.objs_per_zspage);

		/* A fresh pool holds nothing. */
		assert_int_equal(cs.objs_used, 0);
		assert_int_equal(cs.objs_allocated, 0);
		assert_int_equal(cs.zspages, 0);
		assert_int_equal(cs.pages_compacted, 0);
		for (int g = 0; g < ZP_NR_FULLNESS; g++)
			assert_int_equal(cs.fullness[g], 0);

		assert_true(cs.huge <= 1);
		if (cs.objs_per_zspage == 1) {
			assert_int_equal(cs.pages_per_zspage, 1);
			assert_int_equal(cs.huge, 1);
			nhuge++;
			huge_min = cs.min_size;
		} else {
			assert_int_equal(cs.huge, 0);
		}
		if (cs.pages_per_zspage > *longest)
			*longest = cs.pages_per_zspage;
		prev = cs;
	}
	assert_int_equal(prev.max_size, ZP_MAX_ALLOC);
	assert_int_equal(zp_pool_class_stats(pool, n, &cs), -ENOENT);
	assert_int_equal(zp_pool_class_stats(pool, UINT_MAX, &cs), -ENOENT);

	/* One huge class, the last, and the threshold is where it starts. */
	assert_int_equal(nhuge, 1);
	assert_int_equal(prev.huge, 1);
	assert_int_equal(zp_pool_huge_class_size(pool), huge_min);
	return huge_min;
}

static void test_classes(void **state)
{
	struct fixture *f = *state;
	static const unsigned int chains[] = {4, 8, 16, 1};
	size_t huge[ARRAY_SIZE(chains)];
	struct zp_pool_config cfg;

	for (size_t i = 0; i < ARRAY_SIZE(chains); i++) {
		struct zp_pool *pool;
		unsigned int longest;

		fx_config(f, &cfg);
		cfg.max_zspage_pages = chains[i];
		pool = fx_pool(f, &cfg);
		huge[i] = check_classes(pool, chains[i], &longest);
		if (chains[i] == 8)
			assert_in_range(zp_pool_nr_classes(pool), 60, 200);
		if (chains[i] == 16)
			assert_true(longest > 8);
		fx_destroy(f, pool);
	}
	/* Longer chains pack big objects better, so fewer are huge. */
	assert_in_range(huge[1], 3500, 3700);
	assert_true(huge[0] < huge[1]);
	assert_true(huge[2] > huge[1]);
	assert_true(huge[3] < huge[0]);

	/* The default configuration is chain 8. */
	{
		struct zp_pool *pool = fx_pool(f, NULL);

		assert_int_equal(zp_pool_huge_class_size(pool), huge[1]);
		assert_in_range(zp_pool_nr_classes(pool), 60, 200);
	}
}

/*
 * pool.h promises chains "chosen per class for the least waste". zsmalloc
 * compares whole percents of the zspage used, so a chain within one point of
 * the best counts as the least waste.
 */
/* Tail waste of a chain plus its length at 1/128 of a zspage per page. */
static double chain_cost(uint64_t size, unsigned int pages)
{
	return 1.0 - used_fraction(size, pages) + pages / 128.0;
}

static void test_class_waste(void **state)
{
	struct fixture *f = *state;
	static const unsigned int chains[] = {4, 8, 16};
	struct zp_pool_config cfg;

	for (size_t i = 0; i < ARRAY_SIZE(chains); i++) {
		struct zp_pool *pool;
		unsigned int n;

		fx_config(f, &cfg);
		cfg.max_zspage_pages = chains[i];
		pool = fx_pool(f, &cfg);
		n = zp_pool_nr_classes(pool);
		for (unsigned int id = 0; id < n; id++) {
			struct zp_class_stats cs;
			unsigned int chosen, best = 1;

			assert_int_equal(zp_pool_class_stats(pool, id, &cs), 0);
			chosen = (unsigned int)cs.pages_per_zspage;
			/* The documented rule: the chain with the least cost,
			 * tail waste plus 1/128 per page of chain, the shorter
			 * on a tie. */
			for (unsigned int p = 2; p <= chains[i]; p++)
				if (chain_cost(cs.size, p) <
				    chain_cost(cs.size, best) - 1e-12)
					best = p;
			if (chosen != best)
				fail_msg("chain %u: class %llu B uses %u pages "
					 "(%.2f%% used), %u pages cost less "
					 "(%.2f%% used)",
					 chains[i], (unsigned long long)cs.size,
					 chosen,
					 100 * used_fraction(cs.size, chosen),
					 best, 100 * used_fraction(cs.size, best));
			/* No class may waste more than the cost of its chain
			 * allows against a single page. */
			assert_true(chain_cost(cs.size, chosen) <=
				    chain_cost(cs.size, 1) + 1e-12);
		}
		fx_destroy(f, pool);
	}
}

/* ------------------------------------------------------------------------ */
/* Fullness groups                                                          */
/* ------------------------------------------------------------------------ */

static int fullness_group(unsigned int used, unsigned int per)
{
	if (used == 0)
		return ZP_FULLNESS_EMPTY;
	if (used == per)
		return ZP_FULLNESS_FULL;
	return ZP_FULLNESS_0 + (int)(used * 10 / per);
}

static void expect_fullness(struct zp_pool *pool, unsigned int cid,
			    const uint64_t expect[ZP_NR_FULLNESS])
{
	struct zp_class_stats cs;

	assert_int_equal(zp_pool_class_stats(pool, cid, &cs), 0);
	for (int g = 0; g < ZP_NR_FULLNESS; g++)
		if (cs.fullness[g] != expect[g])
			fail_msg("fullness group %d holds %llu zspages, "
				 "expected %llu",
				 g, (unsigned long long)cs.fullness[g],
				 (unsigned long long)expect[g]);
}

/* Remove addr from set (n entries); false if it is not there. */
static bool take_addr(uintptr_t *set, size_t *n, uintptr_t addr)
{
	for (size_t i = 0; i < *n; i++) {
		if (set[i] == addr) {
			set[i] = set[--*n];
			return true;
		}
	}
	return false;
}

static void test_fullness(void **state)
{
	struct fixture *f = *state;
	struct zp_pool *pool = fx_pool(f, NULL);
	uint64_t expect[ZP_NR_FULLNESS] = {0};
	struct zp_class_stats cs;
	struct zp_pool_stats st;
	unsigned int cid = class_of(pool, 64, &cs);
	unsigned int per = (unsigned int)cs.objs_per_zspage;
	size_t zbytes = cs.pages_per_zspage * ZP_PAGE_SIZE;
	size_t n = 3 * (size_t)per;
	struct obj *objs = fx_calloc(f, n + 1, sizeof(*objs));
	uintptr_t *free_a = fx_calloc(f, per, sizeof(*free_a));
	uintptr_t *free_b = fx_calloc(f, per, sizeof(*free_b));
	size_t na = 0, nb = 0, used_a, used_b;
	uint64_t created;

	assert_true(per >= 16);
	for (size_t i = 0; i < n; i++)
		obj_new(pool, &objs[i], 64, 0);

	/* Zspage z holds objects z*per .. z*per+per-1, in one range. */
	uintptr_t lo[3], hi[3];
	for (size_t z = 0; z < 3; z++) {
		lo[z] = UINTPTR_MAX;
		hi[z] = 0;
		for (size_t i = z * per; i < (z + 1) * per; i++) {
			if (objs[i].addr < lo[z])
				lo[z] = objs[i].addr;
			if (objs[i].addr + 64 > hi[z])
				hi[z] = objs[i].addr + 64;
		}
		assert_true(hi[z] - lo[z] <= zbytes);
		for (size_t y = 0; y < z; y++)
			assert_true(hi[z] <= lo[y] || hi[y] <= lo[z]);
	}
	expect[ZP_FULLNESS_FULL] = 3;
	expect_fullness(pool, cid, expect);
	zp_pool_stats(pool, &st);
	assert_int_equal(st.zspages, 3);
	created = st.zspages_created;

	/*
	 * Zspage 1 (A) keeps three quarters, zspage 0 (B) one quarter, zspage 2
	 * stays full. A is freed from first, so neither the oldest nor the most
	 * recently freed zspage is the fullest one.
	 */
	for (size_t i = per; i < 2 * (size_t)per; i++) {
		if (i % 4 == 0) {
			free_a[na++] = objs[i].addr;
			obj_del(pool, &objs[i]);
		}
	}
	for (size_t i = 0; i < per; i++) {
		if (i % 4 != 0) {
			free_b[nb++] = objs[i].addr;
			obj_del(pool, &objs[i]);
		}
	}
	used_a = per - na;
	used_b = per - nb;
	zp_pool_validate(pool);
	memset(expect, 0, sizeof(expect));
	expect[ZP_FULLNESS_FULL] = 1;
	expect[fullness_group(used_a, per)]++;
	expect[fullness_group(used_b, per)]++;
	assert_int_equal(fullness_group(used_a, per), ZP_FULLNESS_70);
	assert_int_equal(fullness_group(used_b, per), ZP_FULLNESS_20);
	expect_fullness(pool, cid, expect);
	assert_int_equal(zp_pool_class_stats(pool, cid, &cs), 0);
	assert_int_equal(cs.objs_used, used_a + used_b + per);
	assert_int_equal(cs.objs_allocated, 3 * (size_t)per);
	assert_int_equal(cs.zspages, 3);

	/* New objects fill A's holes first, then B's. */
	for (size_t i = per; i < 2 * (size_t)per; i++) {
		if (objs[i].live)
			continue;
		obj_new(pool, &objs[i], 64, 0);
		if (!take_addr(free_a, &na, objs[i].addr))
			fail_msg("object went to %#lx, not into the fullest "
				 "zspage [%#lx, %#lx)",
				 (unsigned long)objs[i].addr,
				 (unsigned long)lo[1], (unsigned long)hi[1]);
	}
	assert_int_equal(na, 0);
	memset(expect, 0, sizeof(expect));
	expect[ZP_FULLNESS_FULL] = 2;
	expect[fullness_group(used_b, per)] = 1;
	expect_fullness(pool, cid, expect);

	obj_new(pool, &objs[n], 64, 0);
	assert_true(take_addr(free_b, &nb, objs[n].addr));
	memset(expect, 0, sizeof(expect));
	expect[ZP_FULLNESS_FULL] = 2;
	expect[fullness_group(used_b + 1, per)] = 1;
	expect_fullness(pool, cid, expect);

	zp_pool_stats(pool, &st);
	assert_int_equal(st.zspages_created, created);
	assert_int_equal(st.zspages, 3);
	zp_pool_validate(pool);
	check_all(pool, objs, n + 1);

	free_all(pool, objs, n + 1);
	memset(expect, 0, sizeof(expect));
	expect_fullness(pool, cid, expect);
	assert_int_equal(zp_pool_total_pages(pool), 0);
	zp_pool_validate(pool);
}

/* ------------------------------------------------------------------------ */
/* Statistics                                                               */
/* ------------------------------------------------------------------------ */

struct expect_stats {
	uint64_t objects, huge, requested, used;
};

static void expect_add(struct zp_pool *pool, struct expect_stats *e,
		       const struct obj *o, int sign)
{
	e->objects += (uint64_t)sign;
	e->huge += is_huge_size(pool, o->size) ? (uint64_t)sign : 0;
	e->requested += (uint64_t)sign * o->size;
	e->used += (uint64_t)sign * class_size_of(pool, o->size);
}

/* The pool's totals agree with the objects, the classes and the nodes. */
static void check_gauges(struct zp_pool *pool, const struct expect_stats *e)
{
	unsigned int n = zp_pool_nr_classes(pool);
	uint64_t objs = 0, zspages = 0, pages = 0;
	struct zp_class_stats cs;
	struct zp_node_stats ns;
	struct zp_pool_stats st;

	zp_pool_stats(pool, &st);
	assert_int_equal(st.objects, e->objects);
	assert_int_equal(st.huge_objects, e->huge);
	assert_int_equal(st.bytes_requested, e->requested);
	assert_int_equal(st.bytes_used, e->used);
	assert_int_equal(st.pages, zp_pool_total_pages(pool));
	assert_true(st.pages_max >= st.pages);
	assert_true(st.mapped_bytes >= st.pages * ZP_PAGE_SIZE);
	/* The default cache: never more than 256 pages on the node. */
	assert_true(st.cached_pages <= 256);

	for (unsigned int id = 0; id < n; id++) {
		uint64_t groups = 0;

		assert_int_equal(zp_pool_class_stats(pool, id, &cs), 0);
		objs += cs.objs_used;
		zspages += cs.zspages;
		pages += cs.zspages * cs.pages_per_zspage;
		assert_int_equal(cs.objs_allocated,
				 cs.zspages * cs.objs_per_zspage);
		assert_true(cs.objs_used <= cs.objs_allocated);
		for (int g = 0; g < ZP_NR_FULLNESS; g++)
			groups += cs.fullness[g];
		assert_int_equal(groups, cs.zspages);
		assert_int_equal(cs.fullness[ZP_FULLNESS_EMPTY], 0);
	}
	assert_int_equal(objs, st.objects);
	assert_int_equal(zspages, st.zspages);
	assert_int_equal(pages, st.pages);

	assert_int_equal(zp_pool_node_stats(pool, 0, &ns), 0);
	assert_int_equal(ns.pages, st.pages);
	assert_int_equal(ns.zspages, st.zspages);
	assert_int_equal(zp_pool_node_pages(pool, 0), st.pages);
	assert_true(ns.pages_max >= ns.pages);
}

#define STATS_OBJS 1500

static void test_stats(void **state)
{
	struct fixture *f = *state;
	struct zp_pool *pool = fx_pool(f, NULL);
	struct obj *objs = fx_calloc(f, STATS_OBJS, sizeof(*objs));
	struct expect_stats e = {0};
	struct zp_pool_stats st, before;
	uint64_t rng = 7, frees = 0, peak;

	check_gauges(pool, &e);
	for (size_t i = 0; i < STATS_OBJS; i++) {
		size_t size = i % 10 == 0 ? ZP_MAX_ALLOC - i % 300
					  : zt_range(&rng, 1, 2500);

		obj_new(pool, &objs[i], size, 0);
		expect_add(pool, &e, &objs[i], 1);
	}
	check_gauges(pool, &e);
	zp_pool_stats(pool, &st);
	assert_true(e.huge > 0);
	assert_int_equal(st.malloc_calls, STATS_OBJS);
	assert_int_equal(st.free_calls, 0);
	assert_int_equal(st.malloc_fail, 0);
	assert_int_equal(st.zspages_freed, 0);
	assert_int_equal(st.zspages_created, st.zspages);
	assert_int_equal(st.pages_max, st.pages);
	assert_true(st.pages > 0);
	assert_true(st.bytes_used >= st.bytes_requested);
	peak = st.pages;

	for (size_t i = 0; i < STATS_OBJS; i++) {
		if (zt_below(&rng, 3) == 0)
			continue;
		expect_add(pool, &e, &objs[i], -1);
		obj_del(pool, &objs[i]);
		frees++;
	}
	zp_pool_validate(pool);
	check_gauges(pool, &e);
	zp_pool_stats(pool, &st);
	assert_int_equal(st.free_calls, frees);
	assert_int_equal(st.malloc_calls, STATS_OBJS);
	assert_true(st.zspages_freed > 0);
	assert_int_equal(st.zspages_created - st.zspages_freed, st.zspages);
	assert_true(st.pages < peak);
	assert_int_equal(st.pages_max, peak);

	/* Reset: counters to zero, gauges kept, marks restart from now. */
	before = st;
	zp_pool_reset_counters(pool);
	zp_pool_stats(pool, &st);
	for (size_t i = 0; i < zp_pool_nr_stat_desc; i++) {
		const struct zp_stat_desc *d = &zp_pool_stat_desc[i];
		uint64_t now =
			*(const uint64_t *)((const char *)&st + d->offset);
		uint64_t then =
			*(const uint64_t *)((const char *)&before + d->offset);

		switch (d->kind) {
		case ZP_STAT_COUNTER:
			if (now != 0)
				fail_msg("counter '%s' is %llu after reset",
					 d->name, (unsigned long long)now);
			break;
		case ZP_STAT_GAUGE:
			if (now != then)
				fail_msg("gauge '%s' changed from %llu to %llu "
					 "on reset",
					 d->name, (unsigned long long)then,
					 (unsigned long long)now);
			break;
		default:
			break;
		}
	}
	assert_int_equal(st.pages_max, st.pages);
	{
		struct zp_node_stats ns;

		assert_int_equal(zp_pool_node_stats(pool, 0, &ns), 0);
		assert_int_equal(ns.pages_max, ns.pages);
		assert_int_equal(ns.preferred_zspages, 0);
		assert_int_equal(ns.fallback_zspages, 0);
		assert_int_equal(ns.charge_fail, 0);
	}
	/* The class histogram and pages are gauges too. */
	check_gauges(pool, &e);

	/* Counting starts again from zero. */
	for (size_t i = 0; i < STATS_OBJS; i++) {
		if (objs[i].live)
			continue;
		obj_new(pool, &objs[i], zt_range(&rng, 1, ZP_MAX_ALLOC), 0);
		expect_add(pool, &e, &objs[i], 1);
	}
	check_gauges(pool, &e);
	zp_pool_stats(pool, &st);
	assert_int_equal(st.malloc_calls, frees);
	assert_int_equal(st.free_calls, 0);
	assert_true(st.pages_max >= st.pages);
	/* Zspages made since the reset, less those freed since, plus those
	 * that lived through it. */
	assert_int_equal(st.zspages_created - st.zspages_freed + before.zspages,
			 st.zspages);

	free_all(pool, objs, STATS_OBJS);
	memset(&e, 0, sizeof(e));
	check_gauges(pool, &e);
	zp_pool_stats(pool, &st);
	assert_int_equal(st.pages, 0);
	assert_int_equal(st.zspages, 0);
	assert_int_equal(st.objects, 0);
	assert_int_equal(st.bytes_requested, 0);
	assert_int_equal(st.bytes_used, 0);
	assert_int_equal(st.free_calls, STATS_OBJS);
	assert_true(st.pages_max > 0);
	/* Freed zspages refilled the cache, no further than its size. */
	assert_int_equal(st.cached_pages, 256);
	assert_int_equal(zp_pool_total_pages(pool), 0);
	zp_pool_validate(pool);
}

/* ------------------------------------------------------------------------ */
/* Compaction                                                               */
/* ------------------------------------------------------------------------ */

/* After compaction no class keeps more than one zspage beyond need. */
static void check_compacted(struct zp_pool *pool)
{
	unsigned int n = zp_pool_nr_classes(pool);
	struct zp_class_stats cs;

	for (unsigned int id = 0; id < n; id++) {
		uint64_t need;

		assert_int_equal(zp_pool_class_stats(pool, id, &cs), 0);
		need = (cs.objs_used + cs.objs_per_zspage - 1) /
		       cs.objs_per_zspage;
		if (cs.zspages > need + 1)
			fail_msg("class %u (%llu B) keeps %llu zspages for "
				 "%llu objects of %llu per zspage",
				 id, (unsigned long long)cs.size,
				 (unsigned long long)cs.zspages,
				 (unsigned long long)cs.objs_used,
				 (unsigned long long)cs.objs_per_zspage);
	}
}

/* Survivors read back, and how many changed address. */
static size_t check_moved(struct zp_pool *pool, const struct obj *objs,
			  size_t n)
{
	size_t moved = 0;

	for (size_t i = 0; i < n; i++) {
		if (!objs[i].live)
			continue;
		obj_check(pool, &objs[i]);
		if (obj_addr(pool, objs[i].h) != objs[i].addr)
			moved++;
	}
	return moved;
}

#define COMPACT_ZSPAGES 32

static void test_compact_class(void **state)
{
	struct fixture *f = *state;
	struct zp_pool *pool = fx_pool(f, NULL);
	struct zp_class_stats cs, cs_after;
	struct zp_pool_stats st, st_after;
	unsigned int cid = 0, per, best_pages = 0;
	size_t n, pages, freed, moved;
	struct obj *objs;
	uint64_t rng = 3;

	/* A mid-sized class with a long chain: objects cross pages. */
	for (size_t s = 400; s <= 1200; s += ZP_CLASS_DELTA) {
		struct zp_class_stats c;
		unsigned int id = class_of(pool, s, &c);

		if (c.pages_per_zspage > best_pages) {
			best_pages = (unsigned int)c.pages_per_zspage;
			cid = id;
		}
	}
	assert_int_equal(zp_pool_class_stats(pool, cid, &cs), 0);
	assert_true(cs.pages_per_zspage > 1);
	per = (unsigned int)cs.objs_per_zspage;
	n = (size_t)per * COMPACT_ZSPAGES;
	objs = fx_calloc(f, n, sizeof(*objs));

	for (size_t i = 0; i < n; i++)
		obj_new(pool, &objs[i],
			zt_range(&rng, cs.min_size, cs.max_size), 0);
	pages = zp_pool_total_pages(pool);
	assert_int_equal(pages, COMPACT_ZSPAGES * cs.pages_per_zspage);
	for (size_t i = 1; i < n; i += 2)
		obj_del(pool, &objs[i]);
	zp_pool_validate(pool);
	/* Freeing every other object empties no zspage. */
	assert_int_equal(zp_pool_total_pages(pool), pages);

	zp_pool_stats(pool, &st);
	assert_int_equal(zp_pool_class_stats(pool, cid, &cs), 0);
	freed = zp_pool_compact(pool, -1);
	zp_pool_validate(pool);
	zp_pool_stats(pool, &st_after);
	assert_int_equal(zp_pool_class_stats(pool, cid, &cs_after), 0);

	assert_true(freed > 0);
	assert_true(freed * 10 >= pages * 4);
	assert_int_equal(freed % cs.pages_per_zspage, 0);
	assert_int_equal(zp_pool_total_pages(pool), pages - freed);
	assert_int_equal(st_after.pages, pages - freed);
	assert_int_equal(st_after.pages_compacted - st.pages_compacted, freed);
	assert_int_equal(st_after.compact_runs - st.compact_runs, 1);
	assert_true(st_after.objects_moved > st.objects_moved);
	assert_int_equal(st_after.zspages_freed - st.zspages_freed,
			 freed / cs.pages_per_zspage);
	assert_int_equal(st_after.objects, st.objects);
	assert_int_equal(st_after.bytes_requested, st.bytes_requested);
	assert_int_equal(cs_after.pages_compacted - cs.pages_compacted, freed);
	assert_int_equal(cs_after.objs_used, cs.objs_used);
	assert_int_equal(cs_after.zspages,
			 cs.zspages - freed / cs.pages_per_zspage);
	check_compacted(pool);

	moved = check_moved(pool, objs, n);
	assert_true(moved > 0);
	assert_true(moved <= st_after.objects_moved - st.objects_moved);

	/* Nothing is left to gain. */
	assert_int_equal(zp_pool_compact(pool, -1), 0);
	check_moved(pool, objs, n);
	free_all(pool, objs, n);
	assert_int_equal(zp_pool_total_pages(pool), 0);
	zp_pool_validate(pool);
}

/* Owners: whose objects share a zspage, before and after compaction. */
static void test_owners(void **state)
{
	struct fixture *f = *state;
	struct zp_pool_config cfg;
	struct zp_class_stats cs;
	struct zp_pool *pool;
	unsigned int per, zspages = 4;
	uint64_t got[256];
	struct obj *objs;
	size_t i, j, n, size = 1000;

	fx_config(f, &cfg);
	cfg.owners = true;
	pool = fx_pool(f, &cfg);
	class_of(pool, size, &cs);
	per = (unsigned int)cs.objs_per_zspage;
	assert_true(per > 1 && per <= ARRAY_SIZE(got));
	n = (size_t)per * zspages;
	objs = fx_calloc(f, n, sizeof(*objs));
	for (i = 0; i < n; i++)
		obj_new(pool, &objs[i], size, 0);
	/* Owners not set yet are left out. */
	assert_int_equal(zp_pool_zspage_owners(pool, objs[0].h, got, 256), 0);
	for (i = 0; i < n; i++)
		zp_pool_set_owner(pool, objs[i].h, 1000 + i);
	/* A fresh class fills one zspage after the other: objects
	 * z * per .. z * per + per - 1 share zspage z. */
	for (i = 0; i < n; i += per + 1) {
		size_t first = i / per * per, k = zp_pool_zspage_owners(
						      pool, objs[i].h, got, 256);

		assert_int_equal(k, per);
		for (j = 0; j < k; j++)
			assert_true(got[j] >= 1000 + first &&
				    got[j] < 1000 + first + per);
	}
	/* max caps the answer. */
	assert_int_equal(zp_pool_zspage_owners(pool, objs[0].h, got, 2), 2);
	/* Freed objects leave; a reused handle starts without an owner. */
	obj_del(pool, &objs[1]);
	assert_int_equal(zp_pool_zspage_owners(pool, objs[0].h, got, 256),
			 per - 1);
	obj_new(pool, &objs[1], size, 0);
	assert_int_equal(zp_pool_zspage_owners(pool, objs[1].h, got, 256),
			 per - 1);
	zp_pool_set_owner(pool, objs[1].h, 1001);
	/* Owners move with their objects. */
	for (i = 0; i < n; i++)
		if (i % 2)
			obj_del(pool, &objs[i]);
	assert_true(zp_pool_compact(pool, -1) > 0);
	for (i = 0; i < n; i += 2) {
		size_t k = zp_pool_zspage_owners(pool, objs[i].h, got, 256);
		bool self = false;

		for (j = 0; j < k; j++) {
			assert_int_equal((got[j] - 1000) % 2, 0);
			self |= got[j] == 1000 + i;
		}
		assert_true(self);
	}
	free_all(pool, objs, n);
	zp_pool_validate(pool);
}

#define COMPACT_RANDOM_OBJS 4000

static void test_compact_random(void **state)
{
	struct fixture *f = *state;
	struct zp_pool *pool = fx_pool(f, NULL);
	struct obj *objs = fx_calloc(f, COMPACT_RANDOM_OBJS, sizeof(*objs));
	struct zp_pool_stats st, st_after;
	size_t pages, freed;
	uint64_t rng = 11;

	for (size_t i = 0; i < COMPACT_RANDOM_OBJS; i++) {
		size_t hi = zt_below(&rng, 2) ? 700 : ZP_MAX_ALLOC;

		obj_new(pool, &objs[i], zt_range(&rng, 1, hi), 0);
	}
	for (size_t i = 0; i < COMPACT_RANDOM_OBJS; i++)
		if (zt_below(&rng, 10) < 7)
			obj_del(pool, &objs[i]);
	zp_pool_validate(pool);
	pages = zp_pool_total_pages(pool);
	zp_pool_stats(pool, &st);

	freed = zp_pool_compact(pool, -1);
	zp_pool_validate(pool);
	zp_pool_stats(pool, &st_after);
	assert_true(freed > 0);
	assert_int_equal(zp_pool_total_pages(pool), pages - freed);
	assert_int_equal(st_after.pages_compacted - st.pages_compacted, freed);
	assert_true(st_after.objects_moved > st.objects_moved);
	assert_int_equal(st_after.objects, st.objects);
	assert_int_equal(st_after.bytes_used, st.bytes_used);
	check_compacted(pool);
	{
		/* Class counters add up to the pool's. */
		unsigned int n = zp_pool_nr_classes(pool);
		uint64_t sum = 0;

		for (unsigned int id = 0; id < n; id++) {
			struct zp_class_stats cs;

			assert_int_equal(zp_pool_class_stats(pool, id, &cs), 0);
			sum += cs.pages_compacted;
		}
		assert_int_equal(sum, st_after.pages_compacted);
	}
	assert_true(check_moved(pool, objs, COMPACT_RANDOM_OBJS) > 0);

	/* Handles survive: freeing and reallocating works as before. */
	for (size_t i = 0; i < COMPACT_RANDOM_OBJS; i++) {
		if (objs[i].live && i % 2)
			obj_del(pool, &objs[i]);
		else if (!objs[i].live && i % 5 == 0)
			obj_new(pool, &objs[i], zt_range(&rng, 1, 3000), 0);
	}
	zp_pool_validate(pool);
	check_all(pool, objs, COMPACT_RANDOM_OBJS);
	zp_pool_compact(pool, 0);
	zp_pool_validate(pool);
	check_all(pool, objs, COMPACT_RANDOM_OBJS);
	check_compacted(pool);

	free_all(pool, objs, COMPACT_RANDOM_OBJS);
	assert_int_equal(zp_pool_total_pages(pool), 0);
	zp_pool_validate(pool);
}

static void test_compact_nothing(void **state)
{
	struct fixture *f = *state;
	struct zp_pool *pool = fx_pool(f, NULL);
	struct zp_class_stats cs;
	struct zp_pool_stats st;
	struct obj *objs;
	size_t n, pages;

	/* Empty pool. */
	assert_int_equal(zp_pool_compact(pool, -1), 0);
	assert_int_equal(zp_pool_compact(pool, 0), 0);

	/* Full zspages only. */
	class_of(pool, 1000, &cs);
	n = 4 * cs.objs_per_zspage;
	objs = fx_calloc(f, n + 8, sizeof(*objs));
	for (size_t i = 0; i < n; i++)
		obj_new(pool, &objs[i], 1000, 0);
	pages = zp_pool_total_pages(pool);
	assert_int_equal(zp_pool_compact(pool, -1), 0);
	assert_int_equal(zp_pool_total_pages(pool), pages);

	/* One partly used zspage in each of a few other classes. */
	for (size_t i = 0; i < 8; i++)
		obj_new(pool, &objs[n + i], 40 + 300 * i, 0);
	pages = zp_pool_total_pages(pool);
	assert_int_equal(zp_pool_compact(pool, -1), 0);
	assert_int_equal(zp_pool_total_pages(pool), pages);

	zp_pool_stats(pool, &st);
	assert_int_equal(st.compact_runs, 4);
	assert_int_equal(st.pages_compacted, 0);
	assert_int_equal(st.objects_moved, 0);
	assert_int_equal(st.zspages_freed, 0);
	zp_pool_validate(pool);
	check_all(pool, objs, n + 8);
	/* Nothing moved. */
	assert_int_equal(check_moved(pool, objs, n + 8), 0);
	free_all(pool, objs, n + 8);
	assert_int_equal(zp_pool_total_pages(pool), 0);
}

/* ------------------------------------------------------------------------ */
/* Where the memory is                                                      */
/* ------------------------------------------------------------------------ */

static void check_resident(struct zp_pool *pool)
{
	uint64_t resident[ZP_MAX_NODES];
	uint64_t elsewhere = UINT64_MAX;

	memset(resident, 0xff, sizeof(resident));
	assert_int_equal(zp_pool_node_resident(pool, resident, &elsewhere), 0);
	assert_int_equal(resident[0], zp_pool_total_pages(pool));
	assert_int_equal(elsewhere, 0);
	/* elsewhere may be NULL. */
	memset(resident, 0xff, sizeof(resident));
	assert_int_equal(zp_pool_node_resident(pool, resident, NULL), 0);
	assert_int_equal(resident[0], zp_pool_total_pages(pool));
}

#define RESIDENT_OBJS 1200

static void test_node_resident(void **state)
{
	struct fixture *f = *state;
	struct zp_pool *pool = fx_pool(f, NULL);
	struct obj *objs = fx_calloc(f, RESIDENT_OBJS, sizeof(*objs));
	uint64_t rng = 5;

	assert_int_equal(zp_pool_nr_nodes(pool), 1);
	check_resident(pool);
	for (size_t i = 0; i < RESIDENT_OBJS; i++)
		obj_new(pool, &objs[i], zt_range(&rng, 1, ZP_MAX_ALLOC), 0);
	assert_true(zp_pool_total_pages(pool) > 100);
	check_resident(pool);
	for (size_t i = 0; i < RESIDENT_OBJS; i++)
		if (zt_below(&rng, 4))
			obj_del(pool, &objs[i]);
	check_resident(pool);
	zp_pool_compact(pool, -1);
	check_resident(pool);
	check_all(pool, objs, RESIDENT_OBJS);
	free_all(pool, objs, RESIDENT_OBJS);
	check_resident(pool);
	assert_int_equal(zp_pool_total_pages(pool), 0);
}

static void test_for_each_mapping(void **state)
{
	struct fixture *f = *state;
	struct zp_pool *pool = fx_pool(f, NULL);
	struct mapping_walk *w = fx_calloc(f, 1, sizeof(*w));
	struct zp_pool_stats st;
	size_t mapped = 0;
	struct obj o;

	/* Every mapping is visited, the chunks among them. */
	obj_new(pool, &o, 3000, 0);
	assert_int_equal(zp_pool_for_each_mapping(pool, record_mapping, w), 0);
	zp_pool_stats(pool, &st);
	assert_true(w->n >= st.chunks);
	assert_int_equal(w->calls, w->n);
	for (size_t i = 0; i < w->n; i++) {
		assert_true(w->end[i] > w->start[i]);
		mapped += w->end[i] - w->start[i];
	}
	assert_true(mapped >= st.mapped_bytes);
	assert_true(in_mappings(w, o.addr, o.size));

	/* The first non-zero return stops the walk and is passed on. */
	memset(w, 0, sizeof(*w));
	w->stop_with = 7;
	assert_int_equal(zp_pool_for_each_mapping(pool, record_mapping, w), 7);
	assert_int_equal(w->calls, 1);
	memset(w, 0, sizeof(*w));
	w->stop_with = -EIO;
	assert_int_equal(zp_pool_for_each_mapping(pool, record_mapping, w),
			 -EIO);
	assert_int_equal(w->calls, 1);

	obj_check(pool, &o);
	obj_del(pool, &o);
	zp_pool_validate(pool);
}

/* ------------------------------------------------------------------------ */

/* clang-format off */
#define ON_BOTH(f)                                                             \
	{ #f "/real", f, setup_real, teardown, NULL },                         \
	{ #f "/sim", f, setup_sim, teardown, NULL }
/* clang-format on */

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_names),
		cmocka_unit_test(test_stat_desc),
		ON_BOTH(test_config),
		ON_BOTH(test_create_destroy),
		ON_BOTH(test_malloc_sizes),
		ON_BOTH(test_malloc_bad_args),
		ON_BOTH(test_contents),
		ON_BOTH(test_classes),
		{"test_class_waste/sim", test_class_waste, setup_sim, teardown,
		 NULL},
		ON_BOTH(test_fullness),
		ON_BOTH(test_stats),
		ON_BOTH(test_compact_class),
		ON_BOTH(test_compact_random),
		ON_BOTH(test_compact_nothing),
		ON_BOTH(test_owners),
		ON_BOTH(test_node_resident),
		ON_BOTH(test_for_each_mapping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
