/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-numa.c - the pool's node policies on simulated topologies.
 *
 * Every test builds a simulated topology of 2 or 4 nodes (zp_node_sim_ops),
 * usually with a capacity on some nodes, and a pool without a node cache so
 * that the pages charged on a node are exactly the pages of its zspages.
 * Distances in the simulation are 10 to a node itself and 20 + 10 * |a - b|
 * to others, so from node 1 of four, nodes 0 and 2 are nearer than node 3.
 *
 * Objects of ZP_MAX_ALLOC bytes go to the huge class: each one is a zspage of
 * one page, which makes them the unit for counting new zspages and pages.
 * Whether an allocation opened a new zspage shows in zspages_created.
 *
 * The invariants checked after every phase (check_nodes) tie the pool's
 * view to the node layer's: node pages add up to the pool's, the pages the
 * simulation has charged on a node are that node's zspage and cache pages,
 * and zp_pool_node_resident() finds every page where the pool says it is.
 *
 * The room tests (test_room_*) also give a node a low watermark
 * (zp_node_sim_set_low()) and some a node cache, for the two levels at
 * which fresh pages may be taken, node_reserve and zp_pool_refill().
 */
#include <errno.h>
#include <pthread.h>
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

#include "pool/pool.h"
#include "tests/testlib.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* One page, one object, one zspage. */
#define HUGE ZP_MAX_ALLOC

/* ------------------------------------------------------------------------ */
/* Fixture: one simulated topology and one pool on it                       */
/* ------------------------------------------------------------------------ */

#define FX_MAX_MEM 8

struct fixture {
	struct zp_node_sim *sim;
	struct zp_pool *pool;
	void *mem[FX_MAX_MEM];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->pool)
		zp_pool_destroy(f->pool);
	if (f->sim) {
		zp_node_sim_set_current(f->sim, 0);
		zp_node_sim_destroy(f->sim);
	}
	for (size_t i = 0; i < FX_MAX_MEM; i++)
		free(f->mem[i]);
	free(f);
	return 0;
}

static void fx_config(struct fixture *f, struct zp_pool_config *cfg,
		      enum zp_numa_policy policy, unsigned int cache_pages)
{
	zp_pool_config_init(cfg);
	cfg->policy = policy;
	cfg->cache_pages = cache_pages;
	/* The cache holds exactly cache_pages when idle; test_cache_delay
	 * covers the delayed release. */
	cfg->release_delay_ms = 0;
	/* One shard: placement follows the policy alone; test_shards covers
	 * several. */
	cfg->shards = 1;
	cfg->node_ops = &zp_node_sim_ops;
	cfg->node_ctx = f->sim;
}

/* caps: nr_nodes capacities in pages (0 = unlimited), or NULL. */
static struct zp_pool *fx_pool(struct fixture *f, int nr_nodes,
			       const size_t *caps, enum zp_numa_policy policy)
{
	struct zp_pool_config cfg;

	assert_null(f->sim);
	assert_int_equal(zp_node_sim_create(nr_nodes, caps, &f->sim), 0);
	assert_non_null(f->sim);
	fx_config(f, &cfg, policy, 0);
	assert_int_equal(zp_pool_create(&cfg, &f->pool), 0);
	assert_non_null(f->pool);
	assert_int_equal(zp_pool_nr_nodes(f->pool), nr_nodes);
	return f->pool;
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
	int nid;  /* asked for */
	int node; /* placed on */
	bool live;
};

static void obj_check(struct zp_pool *pool, const struct obj *o)
{
	unsigned char buf[ZP_MAX_ALLOC];
	const void *p;
	int diff;

	assert_int_equal(zp_pool_obj_size(pool, o->h), o->size);
	assert_int_equal(zp_pool_obj_node(pool, o->h), o->node);
	zt_pattern(buf, o->h, 0, o->size);
	p = zp_pool_read_begin(pool, o->h);
	diff = p ? memcmp(p, buf, o->size) : -1;
	zp_pool_read_end(pool, o->h);
	assert_non_null(p);
	if (diff != 0)
		fail_msg("object %#llx of %zu bytes lost its contents",
			 (unsigned long long)o->h, o->size);
}

/* Allocate and write; returns zp_pool_malloc's result. */
static int obj_try(struct zp_pool *pool, struct obj *o, size_t size, int nid)
{
	unsigned char buf[ZP_MAX_ALLOC];
	int ret;

	memset(o, 0, sizeof(*o));
	o->size = size;
	o->nid = nid;
	ret = zp_pool_malloc(pool, size, nid, &o->h);
	if (ret)
		return ret;
	assert_true(o->h != 0);
	o->node = zp_pool_obj_node(pool, o->h);
	assert_in_range(o->node, 0, zp_pool_nr_nodes(pool) - 1);
	zt_pattern(buf, o->h, 0, size);
	zp_pool_write(pool, o->h, buf, size);
	o->live = true;
	return 0;
}

static void obj_new(struct zp_pool *pool, struct obj *o, size_t size, int nid)
{
	assert_int_equal(obj_try(pool, o, size, nid), 0);
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

static struct zp_pool_stats pool_stats(struct zp_pool *pool)
{
	struct zp_pool_stats st;

	zp_pool_stats(pool, &st);
	return st;
}

static struct zp_node_stats node_stats(struct zp_pool *pool, int nid)
{
	struct zp_node_stats ns;

	assert_int_equal(zp_pool_node_stats(pool, nid, &ns), 0);
	return ns;
}

static uint64_t zspages_created(struct zp_pool *pool)
{
	return pool_stats(pool).zspages_created;
}

static void class_of(struct zp_pool *pool, size_t size,
		     struct zp_class_stats *cs)
{
	unsigned int n = zp_pool_nr_classes(pool);

	for (unsigned int id = 0; id < n; id++) {
		assert_int_equal(zp_pool_class_stats(pool, id, cs), 0);
		if (cs->min_size <= size && size <= cs->max_size)
			return;
	}
	fail_msg("no class serves %zu bytes", size);
}

/*
 * The pool's view of the nodes agrees with itself, with the node layer's
 * charges and with where the node layer finds the pages.
 */
static void check_nodes_cache(struct zp_pool *pool, struct zp_node_sim *sim,
			      unsigned int cache_pages)
{
	int nr = zp_pool_nr_nodes(pool);
	uint64_t resident[ZP_MAX_NODES], elsewhere = UINT64_MAX;
	uint64_t pages = 0, zspages = 0, cached = 0, chunks = 0, fallback = 0;
	struct zp_pool_stats st = pool_stats(pool);

	zp_pool_validate(pool);
	memset(resident, 0xff, sizeof(resident));
	assert_int_equal(zp_pool_node_resident(pool, resident, &elsewhere), 0);
	for (int nid = 0; nid < nr; nid++) {
		struct zp_node_stats ns = node_stats(pool, nid);

		assert_int_equal(ns.pages, zp_pool_node_pages(pool, nid));
		assert_true(ns.pages_max >= ns.pages);
		assert_true(ns.cached_pages <= cache_pages);
		if (resident[nid] != ns.pages)
			fail_msg("node %d: %llu pages resident, the pool "
				 "counts %llu",
				 nid, (unsigned long long)resident[nid],
				 (unsigned long long)ns.pages);
		if (zp_node_sim_charged(sim, nid) != ns.pages + ns.cached_pages)
			fail_msg("node %d: %zu pages charged, the pool holds "
				 "%llu in zspages and %llu in its cache",
				 nid, zp_node_sim_charged(sim, nid),
				 (unsigned long long)ns.pages,
				 (unsigned long long)ns.cached_pages);
		pages += ns.pages;
		zspages += ns.zspages;
		cached += ns.cached_pages;
		chunks += ns.chunks;
		fallback += ns.fallback_zspages;
	}
	assert_int_equal(elsewhere, 0);
	assert_int_equal(pages, zp_pool_total_pages(pool));
	assert_int_equal(pages, st.pages);
	assert_int_equal(zspages, st.zspages);
	assert_int_equal(cached, st.cached_pages);
	assert_int_equal(chunks, st.chunks);
	assert_int_equal(fallback, st.fallback_zspages);
}

/* For pools without a node cache. */
static void check_nodes(struct zp_pool *pool, struct zp_node_sim *sim)
{
	check_nodes_cache(pool, sim, 0);
}

/* ------------------------------------------------------------------------ */
/* Arguments                                                                */
/* ------------------------------------------------------------------------ */

static void test_bad_nid(void **state)
{
	struct fixture *f = *state;
	struct zp_pool *pool = fx_pool(f, 2, NULL, ZP_NUMA_PREFERRED);
	struct zp_node_stats ns;
	struct obj o[3];
	zp_handle_t h;

	assert_int_equal(zp_pool_malloc(pool, 100, 2, &h), -EINVAL);
	assert_int_equal(zp_pool_malloc(pool, 100, ZP_MAX_NODES, &h), -EINVAL);
	assert_int_equal(zp_pool_node_stats(pool, 2, &ns), -ENOENT);
	assert_int_equal(zp_pool_node_stats(pool, -1, &ns), -ENOENT);
	assert_int_equal(pool_stats(pool).malloc_fail, 0);

	obj_new(pool, &o[0], HUGE, 0);
	obj_new(pool, &o[1], HUGE, 1);
	obj_new(pool, &o[2], HUGE, -1);
	assert_int_equal(o[0].node, 0);
	assert_int_equal(o[1].node, 1);
	/* The calling thread's simulated node is 0 until set. */
	assert_int_equal(o[2].node, 0);
	check_nodes(pool, f->sim);
	free_all(pool, o, 3);
	check_nodes(pool, f->sim);
}

/* ------------------------------------------------------------------------ */
/* Preferred                                                                */
/* ------------------------------------------------------------------------ */

#define PLACE_OBJS 400

static void test_preferred_placement(void **state)
{
	struct fixture *f = *state;
	struct zp_pool *pool = fx_pool(f, 2, NULL, ZP_NUMA_PREFERRED);
	struct obj *objs = fx_calloc(f, 2 * PLACE_OBJS, sizeof(*objs));
	struct zp_node_stats n0, n1;
	uint64_t rng = 21, created_on_0 = 0;

	/* A fresh pool has no partly free zspage: all of it goes to node 1. */
	for (size_t i = 0; i < PLACE_OBJS; i++) {
		obj_new(pool, &objs[i], zt_range(&rng, 1, ZP_MAX_ALLOC), 1);
		assert_int_equal(objs[i].node, 1);
	}
	assert_int_equal(zp_pool_node_pages(pool, 0), 0);
	assert_true(zp_pool_node_pages(pool, 1) > 0);
	n1 = node_stats(pool, 1);
	assert_int_equal(n1.preferred_zspages, zspages_created(pool));
	assert_int_equal(n1.fallback_zspages, 0);
	assert_int_equal(n1.zspages, pool_stats(pool).zspages);
	assert_int_equal(pool_stats(pool).fallback_zspages, 0);
	check_nodes(pool, f->sim);

	/*
	 * Asking for node 0 may fill node 1's partly free zspages, but every
	 * new zspage goes to node 0.
	 */
	for (size_t i = PLACE_OBJS; i < 2 * PLACE_OBJS; i++) {
		uint64_t before = zspages_created(pool);

		obj_new(pool, &objs[i], zt_range(&rng, 1, ZP_MAX_ALLOC), 0);
		if (zspages_created(pool) != before) {
			assert_int_equal(objs[i].node, 0);
			created_on_0++;
		}
	}
	assert_true(created_on_0 > 0);
	n0 = node_stats(pool, 0);
	assert_int_equal(n0.preferred_zspages, created_on_0);
	assert_int_equal(n0.fallback_zspages, 0);
	assert_int_equal(pool_stats(pool).fallback_zspages, 0);
	check_all(pool, objs, 2 * PLACE_OBJS);
	check_nodes(pool, f->sim);

	free_all(pool, objs, 2 * PLACE_OBJS);
	assert_int_equal(zp_pool_total_pages(pool), 0);
	check_nodes(pool, f->sim);
}

static void test_preferred_reuse(void **state)
{
	struct fixture *f = *state;
	struct zp_pool *pool = fx_pool(f, 2, NULL, ZP_NUMA_PREFERRED);
	struct zp_class_stats cs;
	struct obj *objs, extra[4];
	uint64_t created;
	size_t per, pages1;

	class_of(pool, 64, &cs);
	per = cs.objs_per_zspage;
	assert_true(per > 2);
	objs = fx_calloc(f, per, sizeof(*objs));

	/* A full zspage on node 0 and one with a single object on node 1. */
	for (size_t i = 0; i < per; i++) {
		obj_new(pool, &objs[i], 64, 0);
		assert_int_equal(objs[i].node, 0);
	}
	obj_new(pool, &extra[0], 64, 1);
	assert_int_equal(extra[0].node, 1);
	assert_int_equal(zspages_created(pool), 2);
	/* Now node 0's zspage is the fuller one, but not the preferred one. */
	obj_del(pool, &objs[0]);

	created = zspages_created(pool);
	obj_new(pool, &extra[1], 64, 1);
	assert_int_equal(extra[1].node, 1);
	obj_new(pool, &objs[0], 64, 0);
	assert_int_equal(objs[0].node, 0);
	assert_int_equal(zspages_created(pool), created);
	check_nodes(pool, f->sim);

	/*
	 * Node 1 has no partly free zspage of this class, node 0 has one: the
	 * object goes there rather than into a new zspage.
	 */
	obj_new(pool, &extra[2], 200, 0);
	assert_int_equal(extra[2].node, 0);
	created = zspages_created(pool);
	pages1 = zp_pool_node_pages(pool, 1);
	obj_new(pool, &extra[3], 200, 1);
	assert_int_equal(extra[3].node, 0);
	assert_int_equal(zspages_created(pool), created);
	assert_int_equal(zp_pool_node_pages(pool, 1), pages1);
	assert_int_equal(node_stats(pool, 1).preferred_zspages, 1);
	check_nodes(pool, f->sim);

	check_all(pool, objs, per);
	check_all(pool, extra, ARRAY_SIZE(extra));
	free_all(pool, objs, per);
	free_all(pool, extra, ARRAY_SIZE(extra));
	check_nodes(pool, f->sim);
	assert_int_equal(zp_pool_total_pages(pool), 0);
}

static void test_preferred_fallback(void **state)
{
	struct fixture *f = *state;
	const size_t caps[] = {0, 8};
	struct zp_pool *pool = fx_pool(f, 2, caps, ZP_NUMA_PREFERRED);
	struct zp_node_stats n0, n1;
	struct zp_pool_stats st;
	struct obj objs[12];

	for (size_t i = 0; i < ARRAY_SIZE(objs); i++) {
		obj_new(pool, &objs[i], HUGE, 1);
		assert_int_equal(objs[i].node, i < 8 ? 1 : 0);
	}
	assert_int_equal(zp_node_sim_charged(f->sim, 1), 8);
	assert_int_equal(zp_node_sim_charged(f->sim, 0), 4);
	n0 = node_stats(pool, 0);
	n1 = node_stats(pool, 1);
	st = pool_stats(pool);
	assert_int_equal(st.fallback_zspages, 4);
	assert_int_equal(st.malloc_fail, 0);
	assert_int_equal(n1.preferred_zspages, 8);
	assert_int_equal(n1.fallback_zspages, 0);
	/* A full node is refused before anything is charged, at the first
	 * level (ZP_ROOM_LOW): node 0 had room there. */
	assert_true(n1.low_refusals >= 1);
	assert_int_equal(n1.charge_fail, 0);
	assert_int_equal(n0.preferred_zspages, 0);
	assert_int_equal(n0.fallback_zspages, 4);
	assert_int_equal(n0.charge_fail, 0);
	assert_int_equal(n0.low_refusals, 0);
	check_nodes(pool, f->sim);

	/* Reset: the node counters restart, the placement stays. */
	zp_pool_reset_counters(pool);
	for (int nid = 0; nid < 2; nid++) {
		struct zp_node_stats ns = node_stats(pool, nid);

		assert_int_equal(ns.preferred_zspages, 0);
		assert_int_equal(ns.fallback_zspages, 0);
		assert_int_equal(ns.charge_fail, 0);
		assert_int_equal(ns.low_refusals, 0);
		assert_int_equal(ns.pages, nid == 0 ? 4 : 8);
		assert_int_equal(ns.zspages, nid == 0 ? 4 : 8);
		assert_int_equal(ns.pages_max, ns.pages);
	}
	assert_int_equal(pool_stats(pool).fallback_zspages, 0);
	check_nodes(pool, f->sim);

	/* Room on node 1 again: new zspages go back there. */
	obj_del(pool, &objs[0]);
	obj_new(pool, &objs[0], HUGE, 1);
	assert_int_equal(objs[0].node, 1);
	assert_int_equal(pool_stats(pool).fallback_zspages, 0);
	assert_int_equal(node_stats(pool, 1).preferred_zspages, 1);

	/* A larger capacity at run time takes effect at once. */
	zp_node_sim_set_capacity(f->sim, 1, 0);
	{
		struct obj o;

		obj_new(pool, &o, HUGE, 1);
		assert_int_equal(o.node, 1);
		obj_del(pool, &o);
	}
	check_all(pool, objs, ARRAY_SIZE(objs));
	free_all(pool, objs, ARRAY_SIZE(objs));
	check_nodes(pool, f->sim);
	assert_int_equal(zp_node_sim_charged(f->sim, 0), 0);
	assert_int_equal(zp_node_sim_charged(f->sim, 1), 0);
}

/* A zspage of several pages is charged whole or not at all. */
static void test_preferred_fallback_chain(void **state)
{
	struct fixture *f = *state;
	const size_t caps[] = {0, 10};
	struct zp_pool *pool = fx_pool(f, 2, caps, ZP_NUMA_PREFERRED);
	struct zp_class_stats cs;
	size_t per, pages, fit, n;
	struct obj *objs, o, h;

	class_of(pool, 3072, &cs);
	per = cs.objs_per_zspage;
	pages = cs.pages_per_zspage;
	assert_true(pages >= 2 && pages <= 5 && 10 % pages != 0);
	fit = 10 / pages;
	n = fit * per;
	objs = fx_calloc(f, n, sizeof(*objs));

	for (size_t i = 0; i < n; i++) {
		obj_new(pool, &objs[i], 3072, 1);
		assert_int_equal(objs[i].node, 1);
	}
	assert_int_equal(zp_node_sim_charged(f->sim, 1), fit * pages);
	obj_new(pool, &o, 3072, 1);
	assert_int_equal(o.node, 0);
	assert_int_equal(zp_node_sim_charged(f->sim, 1), fit * pages);
	assert_int_equal(pool_stats(pool).fallback_zspages, 1);
	check_nodes(pool, f->sim);

	/* The pages left on node 1 still take a one-page zspage. */
	obj_new(pool, &h, HUGE, 1);
	assert_int_equal(h.node, 1);
	assert_int_equal(zp_node_sim_charged(f->sim, 1), fit * pages + 1);
	check_nodes(pool, f->sim);

	check_all(pool, objs, n);
	obj_check(pool, &o);
	free_all(pool, objs, n);
	obj_del(pool, &o);
	obj_del(pool, &h);
	check_nodes(pool, f->sim);
}

static void test_preferred_distance(void **state)
{
	struct fixture *f = *state;
	const size_t caps[] = {4, 4, 4, 0};
	struct zp_pool *pool = fx_pool(f, 4, caps, ZP_NUMA_PREFERRED);
	struct zp_node_stats ns[4];
	struct obj objs[20];

	/* From node 1, nodes 0 and 2 (distance 30) come before 3 (40). */
	for (size_t i = 0; i < ARRAY_SIZE(objs); i++) {
		obj_new(pool, &objs[i], HUGE, 1);
		if (i < 4)
			assert_int_equal(objs[i].node, 1);
		else if (i < 12)
			assert_true(objs[i].node == 0 || objs[i].node == 2);
		else
			assert_int_equal(objs[i].node, 3);
	}
	for (int nid = 0; nid < 4; nid++)
		ns[nid] = node_stats(pool, nid);
	assert_int_equal(ns[1].preferred_zspages, 4);
	assert_int_equal(ns[1].fallback_zspages, 0);
	assert_int_equal(ns[0].fallback_zspages, 4);
	assert_int_equal(ns[2].fallback_zspages, 4);
	assert_int_equal(ns[3].fallback_zspages, 8);
	assert_true(ns[1].low_refusals >= 1);
	assert_int_equal(ns[3].low_refusals, 0);
	assert_int_equal(ns[3].charge_fail, 0);
	assert_int_equal(pool_stats(pool).fallback_zspages, 16);
	check_nodes(pool, f->sim);
	free_all(pool, objs, ARRAY_SIZE(objs));
	check_nodes(pool, f->sim);

	/* From node 0 the order is strict: 1, then 2, then 3. */
	for (int nid = 0; nid < 3; nid++)
		zp_node_sim_set_capacity(f->sim, nid, 2);
	for (size_t i = 0; i < 10; i++) {
		obj_new(pool, &objs[i], HUGE, 0);
		assert_int_equal(objs[i].node, i < 6 ? (int)i / 2 : 3);
	}
	check_nodes(pool, f->sim);
	free_all(pool, objs, 10);
	check_nodes(pool, f->sim);
}

static void test_preferred_enomem(void **state)
{
	struct fixture *f = *state;
	const size_t caps[] = {4, 4};
	struct zp_pool *pool = fx_pool(f, 2, caps, ZP_NUMA_PREFERRED);
	struct obj small[2], objs[8], o;
	size_t nhuge = 0, pages64;
	uint64_t created;
	int ret;

	/* One partly free zspage of the 64-byte class on node 0. */
	obj_new(pool, &small[0], 64, 0);
	pages64 = zp_pool_total_pages(pool);
	while ((ret = obj_try(pool, &objs[nhuge], HUGE, 0)) == 0) {
		assert_true(nhuge < ARRAY_SIZE(objs));
		nhuge++;
	}
	assert_int_equal(ret, -ENOMEM);
	assert_int_equal(zp_pool_node_pages(pool, 0), 4);
	assert_int_equal(zp_pool_node_pages(pool, 1), 4);
	assert_int_equal(nhuge + pages64, 8);
	assert_int_equal(pool_stats(pool).malloc_fail, 1);

	/* Full nodes still fill partly free zspages... */
	created = zspages_created(pool);
	obj_new(pool, &small[1], 64, 1);
	assert_int_equal(small[1].node, 0);
	assert_int_equal(zspages_created(pool), created);
	/* ...but cannot open a new one. */
	assert_int_equal(obj_try(pool, &o, 100, 1), -ENOMEM);
	assert_int_equal(obj_try(pool, &o, HUGE, -1), -ENOMEM);
	assert_int_equal(pool_stats(pool).malloc_fail, 3);
	assert_int_equal(pool_stats(pool).malloc_calls, nhuge + 2);
	check_nodes(pool, f->sim);
	assert_int_equal(zp_node_sim_charged(f->sim, 0), 4);
	assert_int_equal(zp_node_sim_charged(f->sim, 1), 4);

	/* Freeing a page on node 1 makes room there, and only there. */
	for (size_t i = 0; i < nhuge; i++) {
		if (objs[i].node == 1) {
			obj_del(pool, &objs[i]);
			obj_new(pool, &objs[i], HUGE, 0);
			assert_int_equal(objs[i].node, 1);
			break;
		}
	}
	assert_int_equal(obj_try(pool, &o, HUGE, 0), -ENOMEM);
	check_all(pool, objs, nhuge);
	check_all(pool, small, 2);
	free_all(pool, objs, nhuge);
	free_all(pool, small, 2);
	check_nodes(pool, f->sim);
	assert_int_equal(zp_pool_total_pages(pool), 0);
}

/* ------------------------------------------------------------------------ */
/* Strict                                                                   */
/* ------------------------------------------------------------------------ */

#define STRICT_OBJS 600

static void test_strict_no_reuse(void **state)
{
	struct fixture *f = *state;
	struct zp_pool *pool = fx_pool(f, 2, NULL, ZP_NUMA_STRICT);
	struct obj *objs = fx_calloc(f, STRICT_OBJS, sizeof(*objs));
	struct obj a, b, c;
	uint64_t created, rng = 31;

	/* Node 0's partly free zspage is not node 1's. */
	obj_new(pool, &a, 128, 0);
	created = zspages_created(pool);
	obj_new(pool, &b, 128, 1);
	assert_int_equal(a.node, 0);
	assert_int_equal(b.node, 1);
	assert_int_equal(zspages_created(pool), created + 1);
	/* But a node reuses its own. */
	obj_new(pool, &c, 128, 1);
	assert_int_equal(c.node, 1);
	assert_int_equal(zspages_created(pool), created + 1);

	/* Whatever is asked for is where it lands. */
	for (size_t i = 0; i < STRICT_OBJS; i++) {
		obj_new(pool, &objs[i], zt_range(&rng, 1, ZP_MAX_ALLOC),
			(int)zt_below(&rng, 2));
		assert_int_equal(objs[i].node, objs[i].nid);
	}
	check_nodes(pool, f->sim);
	for (size_t i = 0; i < STRICT_OBJS; i++) {
		if (zt_below(&rng, 2))
			obj_del(pool, &objs[i]);
	}
	for (size_t i = 0; i < STRICT_OBJS; i++) {
		if (objs[i].live)
			continue;
		obj_new(pool, &objs[i], zt_range(&rng, 1, 1000),
			(int)zt_below(&rng, 2));
		assert_int_equal(objs[i].node, objs[i].nid);
	}
	assert_int_equal(pool_stats(pool).fallback_zspages, 0);
	check_all(pool, objs, STRICT_OBJS);
	check_nodes(pool, f->sim);

	/* A negative node is the thread's current one. */
	zp_node_sim_set_current(f->sim, 1);
	{
		struct obj d;

		obj_new(pool, &d, HUGE, -1);
		assert_int_equal(d.node, 1);
		obj_del(pool, &d);
	}
	zp_node_sim_set_current(f->sim, 0);

	free_all(pool, objs, STRICT_OBJS);
	obj_del(pool, &a);
	obj_del(pool, &b);
	obj_del(pool, &c);
	check_nodes(pool, f->sim);
	assert_int_equal(zp_pool_total_pages(pool), 0);
}

static void test_strict_no_fallback(void **state)
{
	struct fixture *f = *state;
	const size_t caps[] = {0, 4};
	struct zp_pool *pool = fx_pool(f, 2, caps, ZP_NUMA_STRICT);
	struct obj objs[4], o, s;
	struct zp_pool_stats st;

	for (size_t i = 0; i < ARRAY_SIZE(objs); i++) {
		obj_new(pool, &objs[i], HUGE, 1);
		assert_int_equal(objs[i].node, 1);
	}
	assert_int_equal(obj_try(pool, &o, HUGE, 1), -ENOMEM);
	assert_int_equal(zp_pool_node_pages(pool, 0), 0);
	assert_int_equal(zp_node_sim_charged(f->sim, 0), 0);

	/* Room in node 0's partly free zspage does not help node 1. */
	obj_new(pool, &s, 64, 0);
	assert_int_equal(s.node, 0);
	assert_int_equal(obj_try(pool, &o, 64, 1), -ENOMEM);

	st = pool_stats(pool);
	assert_int_equal(st.malloc_fail, 2);
	assert_int_equal(st.fallback_zspages, 0);
	/* Strict asks its own node at the first level only. */
	assert_true(node_stats(pool, 1).low_refusals >= 1);
	assert_int_equal(node_stats(pool, 1).charge_fail, 0);
	assert_int_equal(node_stats(pool, 0).fallback_zspages, 0);

	/* Node 0 itself has room. */
	obj_new(pool, &o, HUGE, 0);
	assert_int_equal(o.node, 0);
	check_nodes(pool, f->sim);

	check_all(pool, objs, ARRAY_SIZE(objs));
	free_all(pool, objs, ARRAY_SIZE(objs));
	obj_del(pool, &o);
	obj_del(pool, &s);
	check_nodes(pool, f->sim);
}

/* ------------------------------------------------------------------------ */
/* Local                                                                    */
/* ------------------------------------------------------------------------ */

#define LOCAL_OBJS 32

struct local_thread {
	struct zp_pool *pool;
	struct zp_node_sim *sim;
	int current; /* node the thread says it runs on */
	int asked;   /* node it passes to zp_pool_malloc for the first half */
	size_t size;
	int n;
	int ret[LOCAL_OBJS];
	int node[LOCAL_OBJS];
	zp_handle_t h[LOCAL_OBJS];
};

/* No cmocka assertions off the main thread: results are checked after join. */
static void *local_worker(void *arg)
{
	struct local_thread *t = arg;

	zp_node_sim_set_current(t->sim, t->current);
	for (int i = 0; i < t->n; i++) {
		int nid = i < t->n / 2 ? t->asked : -1;

		t->ret[i] = zp_pool_malloc(t->pool, t->size, nid, &t->h[i]);
		t->node[i] =
			t->ret[i] ? -1 : zp_pool_obj_node(t->pool, t->h[i]);
	}
	return NULL;
}

static void run_local(struct local_thread *t, int nthreads)
{
	pthread_t tid[2];

	assert_true(nthreads <= 2);
	for (int i = 0; i < nthreads; i++)
		assert_int_equal(
			pthread_create(&tid[i], NULL, local_worker, &t[i]), 0);
	for (int i = 0; i < nthreads; i++)
		assert_int_equal(pthread_join(tid[i], NULL), 0);
	for (int i = 0; i < nthreads; i++) {
		for (int j = 0; j < t[i].n; j++) {
			assert_int_equal(t[i].ret[j], 0);
			if (t[i].node[j] != t[i].current)
				fail_msg("thread on node %d asking for node %d "
					 "got an object on node %d",
					 t[i].current,
					 j < t[i].n / 2 ? t[i].asked : -1,
					 t[i].node[j]);
		}
	}
}

static void test_local_threads(void **state)
{
	struct fixture *f = *state;
	struct zp_pool *pool = fx_pool(f, 2, NULL, ZP_NUMA_LOCAL);
	struct local_thread t[2], s;
	uint64_t created;
	struct obj o;

	/* Two threads on different nodes, each asking for the other's. */
	memset(t, 0, sizeof(t));
	for (int i = 0; i < 2; i++) {
		t[i].pool = pool;
		t[i].sim = f->sim;
		t[i].current = i == 0 ? 1 : 0;
		t[i].asked = i == 0 ? 0 : 1;
		t[i].size = HUGE;
		t[i].n = LOCAL_OBJS;
	}
	run_local(t, 2);
	assert_int_equal(node_stats(pool, 0).preferred_zspages, LOCAL_OBJS);
	assert_int_equal(node_stats(pool, 1).preferred_zspages, LOCAL_OBJS);
	assert_int_equal(zp_pool_node_pages(pool, 0), LOCAL_OBJS);
	assert_int_equal(zp_pool_node_pages(pool, 1), LOCAL_OBJS);
	assert_int_equal(pool_stats(pool).fallback_zspages, 0);
	check_nodes(pool, f->sim);

	/*
	 * Then as preferred: with one small object on node 1, the main thread
	 * (node 0, no partly free zspage there) fills node 1's zspage.
	 */
	memset(&s, 0, sizeof(s));
	s.pool = pool;
	s.sim = f->sim;
	s.current = 1;
	s.asked = 0;
	s.size = 64;
	s.n = 1;
	run_local(&s, 1);
	created = zspages_created(pool);
	obj_new(pool, &o, 64, 0);
	assert_int_equal(o.node, 1);
	assert_int_equal(zspages_created(pool), created);
	obj_del(pool, &o);
	zp_pool_free(pool, s.h[0]);

	for (int i = 0; i < 2; i++)
		for (int j = 0; j < t[i].n; j++)
			zp_pool_free(pool, t[i].h[j]);
	check_nodes(pool, f->sim);
	assert_int_equal(zp_pool_total_pages(pool), 0);
}

/* ------------------------------------------------------------------------ */
/* Interleave                                                               */
/* ------------------------------------------------------------------------ */

#define SPREAD_OBJS 400

static void test_interleave_spread(void **state)
{
	struct fixture *f = *state;
	struct zp_pool *pool = fx_pool(f, 4, NULL, ZP_NUMA_INTERLEAVE);
	struct obj *objs = fx_calloc(f, SPREAD_OBJS, sizeof(*objs));
	size_t count[4] = {0};
	struct obj small[20];
	uint64_t created;

	for (size_t i = 0; i < SPREAD_OBJS; i++) {
		/* Mostly node 0 is asked for; it must not matter. */
		obj_new(pool, &objs[i], HUGE, i % 10 == 0 ? -1 : 0);
		count[objs[i].node]++;
	}
	for (int nid = 0; nid < 4; nid++) {
		assert_in_range(count[nid], SPREAD_OBJS / 4 * 6 / 10,
				SPREAD_OBJS / 4 * 14 / 10);
		assert_int_equal(zp_pool_node_pages(pool, nid), count[nid]);
	}
	check_nodes(pool, f->sim);

	/* Partly free zspages are filled wherever they are. */
	obj_new(pool, &small[0], 64, 0);
	created = zspages_created(pool);
	for (size_t i = 1; i < ARRAY_SIZE(small); i++) {
		obj_new(pool, &small[i], 64, (int)i % 4);
		assert_int_equal(small[i].node, small[0].node);
	}
	assert_int_equal(zspages_created(pool), created);

	check_all(pool, objs, SPREAD_OBJS);
	free_all(pool, objs, SPREAD_OBJS);
	free_all(pool, small, ARRAY_SIZE(small));
	check_nodes(pool, f->sim);
	assert_int_equal(zp_pool_total_pages(pool), 0);
}

static void test_interleave_skip_full(void **state)
{
	struct fixture *f = *state;
	const size_t caps[] = {0, 0, 8, 0};
	struct zp_pool *pool = fx_pool(f, 4, caps, ZP_NUMA_INTERLEAVE);
	struct obj *objs = fx_calloc(f, SPREAD_OBJS, sizeof(*objs));
	size_t count[4] = {0};

	for (size_t i = 0; i < SPREAD_OBJS; i++) {
		obj_new(pool, &objs[i], HUGE, 2);
		count[objs[i].node]++;
	}
	/*
	 * The full node's turns go elsewhere; each other node keeps at least
	 * its own turns (98) and none takes more than its own and node 2's.
	 */
	assert_int_equal(count[2], 8);
	for (int nid = 0; nid < 4; nid++)
		if (nid != 2)
			assert_in_range(count[nid], 90, 200);
	assert_int_equal(pool_stats(pool).malloc_fail, 0);
	assert_int_equal(zp_node_sim_charged(f->sim, 2), 8);
	check_nodes(pool, f->sim);
	free_all(pool, objs, SPREAD_OBJS);
	check_nodes(pool, f->sim);
}

/* ------------------------------------------------------------------------ */
/* Compaction                                                               */
/* ------------------------------------------------------------------------ */

#define COMPACT_OBJS 1500

static void test_compact_per_node(void **state)
{
	struct fixture *f = *state;
	struct zp_pool *pool = fx_pool(f, 2, NULL, ZP_NUMA_PREFERRED);
	struct obj *objs = fx_calloc(f, 2 * COMPACT_OBJS, sizeof(*objs));
	size_t p0, p1, freed;
	uint64_t rng = 41;

	for (size_t i = 0; i < 2 * COMPACT_OBJS; i++)
		obj_new(pool, &objs[i], zt_range(&rng, 1, 1500),
			i < COMPACT_OBJS ? 0 : 1);
	for (size_t i = 0; i < 2 * COMPACT_OBJS; i++)
		if (zt_below(&rng, 10) < 7)
			obj_del(pool, &objs[i]);
	check_nodes(pool, f->sim);
	p0 = zp_pool_node_pages(pool, 0);
	p1 = zp_pool_node_pages(pool, 1);
	assert_true(p0 > 0 && p1 > 0);

	/* One node at a time: the other keeps its pages. */
	freed = zp_pool_compact(pool, 1);
	assert_true(freed > 0);
	assert_int_equal(zp_pool_node_pages(pool, 0), p0);
	assert_int_equal(zp_pool_node_pages(pool, 1), p1 - freed);
	check_all(pool, objs, 2 * COMPACT_OBJS);
	check_nodes(pool, f->sim);

	p1 = zp_pool_node_pages(pool, 1);
	freed = zp_pool_compact(pool, 0);
	assert_true(freed > 0);
	assert_int_equal(zp_pool_node_pages(pool, 0), p0 - freed);
	assert_int_equal(zp_pool_node_pages(pool, 1), p1);
	check_all(pool, objs, 2 * COMPACT_OBJS);
	check_nodes(pool, f->sim);

	/* Nothing moves across nodes, so nothing is left to gain. */
	assert_int_equal(zp_pool_compact(pool, -1), 0);
	check_all(pool, objs, 2 * COMPACT_OBJS);
	free_all(pool, objs, 2 * COMPACT_OBJS);
	check_nodes(pool, f->sim);
	assert_int_equal(zp_pool_total_pages(pool), 0);
}

static void test_compact_strict(void **state)
{
	struct fixture *f = *state;
	struct zp_pool *pool = fx_pool(f, 4, NULL, ZP_NUMA_STRICT);
	struct obj *objs = fx_calloc(f, 2 * COMPACT_OBJS, sizeof(*objs));
	size_t before[4], pages, freed;
	uint64_t rng = 43;

	for (size_t i = 0; i < 2 * COMPACT_OBJS; i++) {
		obj_new(pool, &objs[i], zt_range(&rng, 1, 3000),
			(int)zt_below(&rng, 4));
		assert_int_equal(objs[i].node, objs[i].nid);
	}
	for (size_t i = 0; i < 2 * COMPACT_OBJS; i++)
		if (zt_below(&rng, 10) < 7)
			obj_del(pool, &objs[i]);
	check_nodes(pool, f->sim);
	for (int nid = 0; nid < 4; nid++)
		before[nid] = zp_pool_node_pages(pool, nid);
	pages = zp_pool_total_pages(pool);

	freed = zp_pool_compact(pool, -1);
	assert_true(freed > 0);
	assert_int_equal(zp_pool_total_pages(pool), pages - freed);
	for (int nid = 0; nid < 4; nid++)
		assert_true(zp_pool_node_pages(pool, nid) < before[nid]);
	/* obj_check compares the node too. */
	check_all(pool, objs, 2 * COMPACT_OBJS);
	check_nodes(pool, f->sim);
	free_all(pool, objs, 2 * COMPACT_OBJS);
	check_nodes(pool, f->sim);
}

/* ------------------------------------------------------------------------ */
/* Node cache                                                               */
/* ------------------------------------------------------------------------ */

static int try_cached_pool(struct fixture *f, const size_t *caps)
{
	struct zp_pool_config cfg;
	int ret;

	assert_int_equal(zp_node_sim_create(2, caps, &f->sim), 0);
	fx_config(f, &cfg, ZP_NUMA_PREFERRED, 64);
	ret = zp_pool_create(&cfg, &f->pool);
	if (ret) {
		f->pool = NULL;
		/* A failed create gives back what it charged. */
		assert_int_equal(zp_node_sim_charged(f->sim, 0), 0);
		assert_int_equal(zp_node_sim_charged(f->sim, 1), 0);
	}
	return ret;
}

static void drop_pool(struct fixture *f)
{
	if (f->pool) {
		zp_pool_destroy(f->pool);
		f->pool = NULL;
		/* Destroy gives back every page. */
		assert_int_equal(zp_node_sim_charged(f->sim, 0), 0);
		assert_int_equal(zp_node_sim_charged(f->sim, 1), 0);
	}
	zp_node_sim_destroy(f->sim);
	f->sim = NULL;
}

static void test_cache(void **state)
{
	struct fixture *f = *state;
	const size_t small0[] = {32, 0}, small1[] = {0, 63};
	const size_t exact[] = {64, 64};
	struct obj objs[64];
	uint64_t rng = 51;

	assert_int_equal(try_cached_pool(f, NULL), 0);
	for (int nid = 0; nid < 2; nid++) {
		struct zp_node_stats ns = node_stats(f->pool, nid);

		assert_int_equal(ns.cached_pages, 64);
		assert_int_equal(ns.pages, 0);
		assert_int_equal(zp_node_sim_charged(f->sim, nid), 64);
	}
	assert_int_equal(pool_stats(f->pool).cached_pages, 128);
	check_nodes_cache(f->pool, f->sim, 64);

	/* Pages move between cache and zspages; the charges follow. */
	for (size_t i = 0; i < ARRAY_SIZE(objs); i++)
		obj_new(f->pool, &objs[i], zt_range(&rng, 1, ZP_MAX_ALLOC),
			(int)i % 2);
	check_nodes_cache(f->pool, f->sim, 64);
	for (size_t i = 0; i < ARRAY_SIZE(objs); i += 2)
		obj_del(f->pool, &objs[i]);
	check_nodes_cache(f->pool, f->sim, 64);
	check_all(f->pool, objs, ARRAY_SIZE(objs));
	free_all(f->pool, objs, ARRAY_SIZE(objs));
	check_nodes_cache(f->pool, f->sim, 64);
	/* Freed zspages refill the cache up to its size, no further. */
	for (int nid = 0; nid < 2; nid++) {
		assert_int_equal(node_stats(f->pool, nid).cached_pages, 64);
		assert_int_equal(zp_node_sim_charged(f->sim, nid), 64);
	}
	drop_pool(f);

	/* A node that cannot hold its cache fails the pool at once. */
	assert_int_equal(try_cached_pool(f, small0), -ENOMEM);
	drop_pool(f);
	assert_int_equal(try_cached_pool(f, small1), -ENOMEM);
	drop_pool(f);
	assert_int_equal(try_cached_pool(f, exact), 0);
	assert_int_equal(node_stats(f->pool, 0).cached_pages, 64);
	assert_int_equal(node_stats(f->pool, 1).cached_pages, 64);
	check_nodes_cache(f->pool, f->sim, 64);
	drop_pool(f);
}

/*
 * Shards: a thread allocates in its CPU's shard, fills another shard's
 * zspages before it makes a new zspage if that shard has a zspage's worth of
 * free slots, and frees into whichever shard holds the object; compaction
 * works within a shard.
 */
#define SHARD_OBJS 40

static void test_shards(void **state)
{
	struct fixture *f = *state;
	struct zp_pool_config cfg;
	struct zp_class_stats cs;
	struct obj *objs = fx_calloc(f, 4 * SHARD_OBJS, sizeof(*objs));
	unsigned int per;
	uint64_t created;
	size_t n = 0;

	assert_int_equal(zp_node_sim_create(2, NULL, &f->sim), 0);
	fx_config(f, &cfg, ZP_NUMA_PREFERRED, 0);
	cfg.shards = ZP_MAX_SHARDS + 1;
	assert_int_equal(zp_pool_create(&cfg, &f->pool), -EINVAL);
	cfg.shards = 0;
	assert_int_equal(zp_pool_create(&cfg, &f->pool), 0);
	assert_in_range(zp_pool_nr_shards(f->pool), 1, ZP_MAX_SHARDS);
	zp_pool_destroy(f->pool);
	cfg.shards = 2;
	assert_int_equal(zp_pool_create(&cfg, &f->pool), 0);
	assert_int_equal(zp_pool_nr_shards(f->pool), 2);

	/* CPU 0 fills two zspages of the 1000-byte class, then frees half of
	 * the objects: its shard has a zspage's worth of free slots. */
	class_of(f->pool, 1000, &cs);
	per = (unsigned int)cs.objs_per_zspage;
	assert_true(per >= 2 && 2 * per <= SHARD_OBJS);
	zp_node_sim_set_cpu(f->sim, 0);
	for (unsigned int i = 0; i < 2 * per; i++)
		obj_new(f->pool, &objs[n++], 1000, 0);
	for (unsigned int i = 0; i < 2 * per; i += 2)
		obj_del(f->pool, &objs[i]);
	created = zspages_created(f->pool);
	assert_int_equal(created, 2);

	/* CPU 1 has nothing of its own: it fills CPU 0's spare room rather
	 * than make a zspage... */
	zp_node_sim_set_cpu(f->sim, 1);
	obj_new(f->pool, &objs[n++], 1000, 0);
	assert_int_equal(zspages_created(f->pool), created);
	/* ...but leaves CPU 0 the few holes it has left and makes its own. */
	obj_new(f->pool, &objs[n++], 1000, 0);
	assert_int_equal(zspages_created(f->pool), created + 1);
	/* CPU 0 goes on filling its own zspages. */
	zp_node_sim_set_cpu(f->sim, 0);
	obj_new(f->pool, &objs[n++], 1000, 0);
	assert_int_equal(zspages_created(f->pool), created + 1);
	class_of(f->pool, 1000, &cs);
	assert_int_equal(cs.objs_used, per + 3);
	assert_int_equal(cs.zspages, 3);
	zp_pool_validate(f->pool);

	/* Many objects from both CPUs, freed from the other one. */
	for (size_t i = n; i < 4 * SHARD_OBJS; i++) {
		zp_node_sim_set_cpu(f->sim, (int)(i % 2));
		obj_new(f->pool, &objs[i], 200 + 37 * i % 3000, (int)(i / 3 % 2));
	}
	n = 4 * SHARD_OBJS;
	for (size_t i = 0; i < n; i += 3) {
		zp_node_sim_set_cpu(f->sim, (int)((i + 1) % 2));
		if (objs[i].live)
			obj_del(f->pool, &objs[i]);
	}
	zp_pool_validate(f->pool);
	zp_pool_compact(f->pool, -1);
	zp_pool_validate(f->pool);
	check_all(f->pool, objs, n);
	for (size_t i = 0; i < n; i++)
		if (objs[i].live)
			assert_int_equal(zp_pool_obj_node(f->pool, objs[i].h),
					 objs[i].node);
	check_nodes_cache(f->pool, f->sim, 0);
	free_all(f->pool, objs, n);
	assert_int_equal(zp_pool_total_pages(f->pool), 0);
	zp_node_sim_set_cpu(f->sim, -1);
	drop_pool(f);
}

/*
 * Delayed release: free pages above the floor stay charged to their node
 * while the pool may reuse them, and go back once they have gone unused for
 * a whole delay (or at once on zp_pool_trim).
 */
#define DELAY_MS 100
#define DELAY_OBJS 600

static void cache_delay_fill(struct fixture *f, struct obj *objs)
{
	uint64_t rng = 77;

	for (size_t i = 0; i < DELAY_OBJS; i++)
		obj_new(f->pool, &objs[i], zt_range(&rng, 600, 3000), 0);
	free_all(f->pool, objs, DELAY_OBJS);
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0)
		;
}

static void test_cache_delay(void **state)
{
	struct fixture *f = *state;
	struct obj *objs = fx_calloc(f, DELAY_OBJS, sizeof(*objs));
	struct zp_pool_config cfg;
	struct zp_node_stats ns;
	struct obj one;

	assert_int_equal(zp_node_sim_create(2, NULL, &f->sim), 0);
	fx_config(f, &cfg, ZP_NUMA_PREFERRED, 16);
	cfg.release_delay_ms = DELAY_MS;
	assert_int_equal(zp_pool_create(&cfg, &f->pool), 0);

	cache_delay_fill(f, objs);
	ns = node_stats(f->pool, 0);
	assert_int_equal(ns.pages, 0);
	/* Everything freed stays: a pool that churns reuses it. */
	assert_true(ns.cached_pages > 100);
	assert_int_equal(ns.pages_released, 0);
	assert_int_equal(zp_node_sim_charged(f->sim, 0), ns.cached_pages);
	zp_pool_validate(f->pool);

	/* The fill drew the cache below its floor in the first interval, so
	 * nothing is due at the first check, where the shards' stashes also
	 * join the cache; after two more quiet intervals all but the floor
	 * has gone, at the zspages the node hands out. */
	for (int round = 0; round < 3; round++) {
		sleep_ms(DELAY_MS + 20);
		obj_new(f->pool, &one, 3000, 0);
		obj_del(f->pool, &one);
	}
	ns = node_stats(f->pool, 0);
	assert_true(ns.cached_pages <= 16 + ZP_MAX_ZSPAGE_PAGES);
	assert_true(ns.pages_released > 100);
	assert_int_equal(zp_node_sim_charged(f->sim, 0), ns.cached_pages);
	zp_pool_validate(f->pool);

	/* Churn within a delay keeps the pages. */
	cache_delay_fill(f, objs);
	ns = node_stats(f->pool, 0);
	assert_true(ns.cached_pages > 100);

	/* Trim returns everything above the floor at once. */
	assert_true(zp_pool_trim(f->pool) > 0);
	ns = node_stats(f->pool, 0);
	assert_int_equal(ns.cached_pages, 16);
	assert_int_equal(zp_node_sim_charged(f->sim, 0), 16);
	assert_int_equal(node_stats(f->pool, 1).pages_released, 0);
	assert_int_equal(pool_stats(f->pool).pages_released, ns.pages_released);
	zp_pool_validate(f->pool);
	drop_pool(f);
}

/* ------------------------------------------------------------------------ */
/* Room: the watermarks, node_reserve and the refill                        */
/* ------------------------------------------------------------------------ */

/*
 * The last pages of a simulated node's capacity stand for its memory below
 * the low watermark (zp_node_sim_set_low()). New zspages take fresh pages
 * from a node only while it has room above that mark plus node_reserve
 * (ZP_ROOM_LOW), on every node in fallback order, and only when none has,
 * down to the min watermark, which here is the capacity (ZP_ROOM_MIN);
 * strict stays at the first level. Cached pages are resident already and
 * need no room.
 */
static struct zp_pool *fx_room_pool(struct fixture *f, const size_t *caps,
				    enum zp_numa_policy policy,
				    unsigned int cache_pages,
				    size_t reserve_pages)
{
	struct zp_pool_config cfg;

	assert_null(f->sim);
	assert_int_equal(zp_node_sim_create(2, caps, &f->sim), 0);
	fx_config(f, &cfg, policy, cache_pages);
	cfg.node_reserve_bytes = reserve_pages * ZP_PAGE_SIZE;
	assert_int_equal(zp_pool_create(&cfg, &f->pool), 0);
	return f->pool;
}

/* Node 1 at its low watermark sends new zspages to node 0. */
static void test_room_preferred_low(void **state)
{
	struct fixture *f = *state;
	const size_t caps[] = {0, 16};
	struct zp_pool *pool = fx_room_pool(f, caps, ZP_NUMA_PREFERRED, 0, 0);
	struct zp_node_stats n0, n1;
	struct obj objs[12], o;

	/* 8 pages above the low mark, 8 below. */
	zp_node_sim_set_low(f->sim, 1, 8);
	for (size_t i = 0; i < ARRAY_SIZE(objs); i++) {
		obj_new(pool, &objs[i], HUGE, 1);
		assert_int_equal(objs[i].node, i < 8 ? 1 : 0);
	}
	assert_int_equal(zp_node_sim_charged(f->sim, 1), 8);
	assert_int_equal(zp_node_sim_charged(f->sim, 0), 4);
	n0 = node_stats(pool, 0);
	n1 = node_stats(pool, 1);
	assert_int_equal(n1.preferred_zspages, 8);
	assert_int_equal(n1.fallback_zspages, 0);
	assert_int_equal(n1.low_refusals, 4);
	assert_int_equal(n1.charge_fail, 0);
	assert_int_equal(n0.preferred_zspages, 0);
	assert_int_equal(n0.fallback_zspages, 4);
	assert_int_equal(n0.low_refusals, 0);
	/* Node 0 had room at the first level: nothing went below a low
	 * watermark. */
	assert_int_equal(n0.low_zspages, 0);
	assert_int_equal(n1.low_zspages, 0);
	assert_int_equal(pool_stats(pool).fallback_zspages, 4);
	assert_int_equal(pool_stats(pool).malloc_fail, 0);
	check_nodes(pool, f->sim);

	/* The capacity had room all along: the mark turned them away. */
	zp_node_sim_set_low(f->sim, 1, 0);
	obj_new(pool, &o, HUGE, 1);
	assert_int_equal(o.node, 1);
	assert_int_equal(node_stats(pool, 1).low_refusals, 4);
	check_all(pool, objs, ARRAY_SIZE(objs));
	obj_del(pool, &o);
	free_all(pool, objs, ARRAY_SIZE(objs));
	check_nodes(pool, f->sim);
}

/* Strict refuses a new zspage on its node at the low watermark, and takes
 * nothing from the other node. */
static void test_room_strict_low(void **state)
{
	struct fixture *f = *state;
	const size_t caps[] = {0, 16};
	struct zp_pool *pool = fx_room_pool(f, caps, ZP_NUMA_STRICT, 0, 0);
	struct zp_node_stats n1;
	struct obj objs[8], o;

	zp_node_sim_set_low(f->sim, 1, 8);
	for (size_t i = 0; i < ARRAY_SIZE(objs); i++) {
		obj_new(pool, &objs[i], HUGE, 1);
		assert_int_equal(objs[i].node, 1);
	}
	assert_int_equal(obj_try(pool, &o, HUGE, 1), -ENOMEM);
	/* Not a page between the watermarks, nothing on node 0. */
	assert_int_equal(zp_node_sim_charged(f->sim, 1), 8);
	assert_int_equal(zp_node_sim_charged(f->sim, 0), 0);
	assert_int_equal(zp_pool_node_pages(pool, 0), 0);
	n1 = node_stats(pool, 1);
	assert_int_equal(n1.low_refusals, 1);
	assert_int_equal(n1.low_zspages, 0);
	assert_int_equal(n1.charge_fail, 0);
	assert_int_equal(node_stats(pool, 0).fallback_zspages, 0);
	assert_int_equal(pool_stats(pool).fallback_zspages, 0);
	assert_int_equal(pool_stats(pool).malloc_fail, 1);
	check_nodes(pool, f->sim);

	/* Node 0 has room for its own; node 1 once its mark goes. */
	obj_new(pool, &o, HUGE, 0);
	assert_int_equal(o.node, 0);
	obj_del(pool, &o);
	zp_node_sim_set_low(f->sim, 1, 0);
	obj_new(pool, &o, HUGE, 1);
	assert_int_equal(o.node, 1);
	obj_del(pool, &o);
	check_all(pool, objs, ARRAY_SIZE(objs));
	free_all(pool, objs, ARRAY_SIZE(objs));
	check_nodes(pool, f->sim);
}

/* Every node at its low watermark: new zspages go on down to the min
 * watermark, preferred node first, and say so in low_zspages. */
static void test_room_all_low(void **state)
{
	struct fixture *f = *state;
	const size_t caps[] = {16, 16};
	struct zp_pool *pool = fx_room_pool(f, caps, ZP_NUMA_PREFERRED, 0, 0);
	struct zp_node_stats n0, n1;
	struct obj objs[32], o;

	/* No page above either low mark. */
	zp_node_sim_set_low(f->sim, 0, 16);
	zp_node_sim_set_low(f->sim, 1, 16);
	for (size_t i = 0; i < ARRAY_SIZE(objs); i++) {
		obj_new(pool, &objs[i], HUGE, 1);
		assert_int_equal(objs[i].node, i < 16 ? 1 : 0);
	}
	n0 = node_stats(pool, 0);
	n1 = node_stats(pool, 1);
	assert_int_equal(n1.low_zspages, 16);
	assert_int_equal(n1.preferred_zspages, 16);
	assert_int_equal(n0.low_zspages, 16);
	assert_int_equal(n0.fallback_zspages, 16);
	/* Each one asked both nodes at the first level. */
	assert_int_equal(n1.low_refusals, 32);
	assert_int_equal(n0.low_refusals, 32);
	/* Node 1 was asked at the second level first, and was full. */
	assert_int_equal(n1.charge_fail, 16);
	assert_int_equal(pool_stats(pool).malloc_fail, 0);
	check_nodes(pool, f->sim);

	/* Below the min watermark nothing is taken. */
	assert_int_equal(obj_try(pool, &o, HUGE, 1), -ENOMEM);
	assert_int_equal(zp_node_sim_charged(f->sim, 0), 16);
	assert_int_equal(zp_node_sim_charged(f->sim, 1), 16);
	assert_int_equal(pool_stats(pool).malloc_fail, 1);
	check_all(pool, objs, ARRAY_SIZE(objs));
	free_all(pool, objs, ARRAY_SIZE(objs));
	check_nodes(pool, f->sim);
}

/* node_reserve widens the first level's margin, and only the first's. */
static void test_room_node_reserve(void **state)
{
	struct fixture *f = *state;
	const size_t caps[] = {0, 16};
	struct zp_pool *pool = fx_room_pool(f, caps, ZP_NUMA_PREFERRED, 0, 4);
	struct zp_pool_config cfg;
	struct zp_pool *bad = NULL;
	struct zp_node_stats n1;
	struct obj objs[20], o;

	/* Whole pages only. */
	fx_config(f, &cfg, ZP_NUMA_PREFERRED, 0);
	cfg.node_reserve_bytes = ZP_PAGE_SIZE + 1;
	assert_int_equal(zp_pool_create(&cfg, &bad), -EINVAL);
	assert_null(bad);

	/* 8 pages above the low mark, of which the reserve keeps 4. */
	zp_node_sim_set_low(f->sim, 1, 8);
	for (size_t i = 0; i < 8; i++) {
		obj_new(pool, &objs[i], HUGE, 1);
		assert_int_equal(objs[i].node, i < 4 ? 1 : 0);
	}
	/* Node 1 has 12 pages free: more than its low mark, fewer than the
	 * mark and the reserve (and the zspage). */
	assert_int_equal(zp_node_sim_charged(f->sim, 1), 4);
	n1 = node_stats(pool, 1);
	assert_int_equal(n1.low_refusals, 4);
	assert_int_equal(n1.low_zspages, 0);
	assert_int_equal(node_stats(pool, 0).fallback_zspages, 4);
	check_nodes(pool, f->sim);

	/* No node with room at the first level: node 1 gives what it has
	 * down to its min watermark, the reserve included. */
	zp_node_sim_set_capacity(f->sim, 0, zp_node_sim_charged(f->sim, 0));
	for (size_t i = 8; i < ARRAY_SIZE(objs); i++) {
		obj_new(pool, &objs[i], HUGE, 1);
		assert_int_equal(objs[i].node, 1);
	}
	assert_int_equal(zp_node_sim_charged(f->sim, 1), 16);
	assert_int_equal(node_stats(pool, 1).low_zspages, 12);
	assert_int_equal(obj_try(pool, &o, HUGE, 1), -ENOMEM);
	check_all(pool, objs, ARRAY_SIZE(objs));
	free_all(pool, objs, ARRAY_SIZE(objs));
	check_nodes(pool, f->sim);
}

#define ROOM_CACHE 8

/* zp_pool_refill() faults the cache back in where there is room. */
static void test_room_refill(void **state)
{
	struct fixture *f = *state;
	const size_t caps[] = {0, 64};
	struct zp_pool *pool = fx_room_pool(f, caps, ZP_NUMA_PREFERRED,
					    ROOM_CACHE, 0);
	struct obj objs[2 * ROOM_CACHE];
	struct zp_node_stats n0, n1;

	/* The cache of node 1 taken by zspages. */
	for (size_t i = 0; i < ROOM_CACHE; i++) {
		obj_new(pool, &objs[i], HUGE, 1);
		assert_int_equal(objs[i].node, 1);
	}
	assert_int_equal(node_stats(pool, 1).cached_pages, 0);
	assert_int_equal(zp_node_sim_charged(f->sim, 1), ROOM_CACHE);
	assert_int_equal(node_stats(pool, 1).refilled_pages, 0);

	assert_int_equal(zp_pool_refill(pool), ROOM_CACHE);
	n0 = node_stats(pool, 0);
	n1 = node_stats(pool, 1);
	assert_int_equal(n1.cached_pages, ROOM_CACHE);
	assert_int_equal(n1.refilled_pages, ROOM_CACHE);
	assert_int_equal(n0.cached_pages, ROOM_CACHE);
	assert_int_equal(n0.refilled_pages, 0);
	assert_int_equal(zp_node_sim_charged(f->sim, 1), 2 * ROOM_CACHE);
	check_nodes_cache(pool, f->sim, ROOM_CACHE);
	/* Full caches: nothing to do. */
	assert_int_equal(zp_pool_refill(pool), 0);
	assert_int_equal(node_stats(pool, 1).refilled_pages, ROOM_CACHE);

	/* Taken again, and node 1 at its low watermark: it stays empty. */
	for (size_t i = ROOM_CACHE; i < 2 * ROOM_CACHE; i++) {
		obj_new(pool, &objs[i], HUGE, 1);
		assert_int_equal(objs[i].node, 1);
	}
	assert_int_equal(node_stats(pool, 1).cached_pages, 0);
	zp_node_sim_set_low(f->sim, 1, 64 - 2 * ROOM_CACHE);
	assert_int_equal(zp_pool_refill(pool), 0);
	n1 = node_stats(pool, 1);
	assert_int_equal(n1.cached_pages, 0);
	assert_int_equal(n1.refilled_pages, ROOM_CACHE);
	/* The refill that stopped at the mark counts as a refusal. */
	assert_int_equal(n1.low_refusals, 1);
	assert_int_equal(zp_node_sim_charged(f->sim, 1), 2 * ROOM_CACHE);
	check_nodes_cache(pool, f->sim, ROOM_CACHE);

	/* Room again, the cache again. */
	zp_node_sim_set_low(f->sim, 1, 0);
	assert_int_equal(zp_pool_refill(pool), ROOM_CACHE);
	n1 = node_stats(pool, 1);
	assert_int_equal(n1.cached_pages, ROOM_CACHE);
	assert_int_equal(n1.refilled_pages, 2 * ROOM_CACHE);
	check_all(pool, objs, ARRAY_SIZE(objs));
	free_all(pool, objs, ARRAY_SIZE(objs));
	check_nodes_cache(pool, f->sim, ROOM_CACHE);
	assert_int_equal(zp_node_sim_charged(f->sim, 1), ROOM_CACHE);
}

/* A node at its low watermark still hands out its cache. */
static void test_room_cache_at_low(void **state)
{
	struct fixture *f = *state;
	const size_t caps[] = {0, 16};
	struct obj objs[ROOM_CACHE + 1], o;
	struct zp_node_stats n0, n1;

	fx_room_pool(f, caps, ZP_NUMA_PREFERRED, ROOM_CACHE, 0);
	/* No fresh page above the low mark; the cache is below it. */
	zp_node_sim_set_low(f->sim, 1, 16);
	for (size_t i = 0; i < ROOM_CACHE; i++) {
		obj_new(f->pool, &objs[i], HUGE, 1);
		assert_int_equal(objs[i].node, 1);
	}
	n1 = node_stats(f->pool, 1);
	assert_int_equal(n1.cached_pages, 0);
	assert_int_equal(n1.preferred_zspages, ROOM_CACHE);
	assert_int_equal(n1.low_refusals, 0);
	assert_int_equal(n1.low_zspages, 0);
	assert_int_equal(zp_node_sim_charged(f->sim, 1), ROOM_CACHE);
	/* The cache gone, a fresh page is refused: node 0's cache serves. */
	obj_new(f->pool, &objs[ROOM_CACHE], HUGE, 1);
	assert_int_equal(objs[ROOM_CACHE].node, 0);
	n0 = node_stats(f->pool, 0);
	n1 = node_stats(f->pool, 1);
	assert_int_equal(n1.low_refusals, 1);
	assert_int_equal(n0.fallback_zspages, 1);
	assert_int_equal(n0.low_zspages, 0);
	assert_int_equal(zp_node_sim_charged(f->sim, 1), ROOM_CACHE);
	check_nodes_cache(f->pool, f->sim, ROOM_CACHE);
	check_all(f->pool, objs, ARRAY_SIZE(objs));
	free_all(f->pool, objs, ARRAY_SIZE(objs));
	drop_pool(f);

	/* Strict: its node's cache, and then nothing. */
	fx_room_pool(f, caps, ZP_NUMA_STRICT, ROOM_CACHE, 0);
	zp_node_sim_set_low(f->sim, 1, 16);
	for (size_t i = 0; i < ROOM_CACHE; i++) {
		obj_new(f->pool, &objs[i], HUGE, 1);
		assert_int_equal(objs[i].node, 1);
	}
	assert_int_equal(obj_try(f->pool, &o, HUGE, 1), -ENOMEM);
	assert_int_equal(node_stats(f->pool, 1).low_refusals, 1);
	assert_int_equal(zp_pool_node_pages(f->pool, 0), 0);
	assert_int_equal(zp_node_sim_charged(f->sim, 0), ROOM_CACHE);
	assert_int_equal(zp_node_sim_charged(f->sim, 1), ROOM_CACHE);
	check_nodes_cache(f->pool, f->sim, ROOM_CACHE);
	check_all(f->pool, objs, ROOM_CACHE);
	free_all(f->pool, objs, ROOM_CACHE);
	drop_pool(f);
}

/*
 * The pool's own records (handle and descriptor tables, chunk records) are
 * bound to no node: a thread on a full node still stores objects on
 * another, whose memory the kernel would take the records from too.
 */
#define TABLE_OBJS 600

static void test_room_tables(void **state)
{
	struct fixture *f = *state;
	const size_t caps[] = {4, 0};
	struct zp_pool *pool = fx_room_pool(f, caps, ZP_NUMA_PREFERRED, 0, 0);
	struct obj *objs = fx_calloc(f, TABLE_OBJS, sizeof(*objs));
	struct obj full[4];

	/* This thread runs on node 0 (the simulation's default). */
	for (size_t i = 0; i < ARRAY_SIZE(full); i++) {
		obj_new(pool, &full[i], HUGE, 0);
		assert_int_equal(full[i].node, 0);
	}
	assert_int_equal(zp_node_sim_charged(f->sim, 0), 4);
	/* A class not used yet, more handles than a segment holds, and
	 * node 1's first chunk. */
	for (size_t i = 0; i < TABLE_OBJS; i++) {
		obj_new(pool, &objs[i], 64, 1);
		assert_int_equal(objs[i].node, 1);
	}
	assert_int_equal(zp_node_sim_charged(f->sim, 0), 4);
	check_nodes(pool, f->sim);
	check_all(pool, objs, TABLE_OBJS);
	free_all(pool, objs, TABLE_OBJS);
	free_all(pool, full, ARRAY_SIZE(full));
	check_nodes(pool, f->sim);
}

/* ------------------------------------------------------------------------ */
/* Node statistics                                                          */
/* ------------------------------------------------------------------------ */

#define SUM_OBJS 2000

static void test_node_stats(void **state)
{
	struct fixture *f = *state;
	const size_t caps[] = {0, 50, 0, 0};
	struct zp_pool *pool = fx_pool(f, 4, caps, ZP_NUMA_PREFERRED);
	struct obj *objs = fx_calloc(f, SUM_OBJS, sizeof(*objs));
	uint64_t rng = 61;

	for (size_t i = 0; i < SUM_OBJS; i++) {
		int nid = (int)zt_below(&rng, 5) - 1;

		obj_new(pool, &objs[i], zt_range(&rng, 1, ZP_MAX_ALLOC), nid);
		if (i % 500 == 0)
			check_nodes(pool, f->sim);
	}
	check_nodes(pool, f->sim);
	assert_int_equal(zp_pool_node_pages(pool, 1), 50);
	{
		/* Under preferred every new zspage is one or the other. */
		uint64_t sum = 0;

		for (int nid = 0; nid < 4; nid++) {
			struct zp_node_stats ns = node_stats(pool, nid);

			sum += ns.preferred_zspages + ns.fallback_zspages;
			assert_true(zp_pool_node_pages(pool, nid) > 0);
		}
		assert_int_equal(sum, zspages_created(pool));
	}
	for (size_t i = 0; i < SUM_OBJS; i++)
		if (zt_below(&rng, 3))
			obj_del(pool, &objs[i]);
	check_nodes(pool, f->sim);
	zp_pool_compact(pool, -1);
	check_nodes(pool, f->sim);
	check_all(pool, objs, SUM_OBJS);
	free_all(pool, objs, SUM_OBJS);
	check_nodes(pool, f->sim);
	for (int nid = 0; nid < 4; nid++) {
		struct zp_node_stats ns = node_stats(pool, nid);

		assert_int_equal(ns.pages, 0);
		assert_int_equal(ns.zspages, 0);
		assert_true(ns.pages_max > 0);
	}
}

/* ------------------------------------------------------------------------ */

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_bad_nid),
		TEST(test_preferred_placement),
		TEST(test_preferred_reuse),
		TEST(test_preferred_fallback),
		TEST(test_preferred_fallback_chain),
		TEST(test_preferred_distance),
		TEST(test_preferred_enomem),
		TEST(test_strict_no_reuse),
		TEST(test_strict_no_fallback),
		TEST(test_local_threads),
		TEST(test_interleave_spread),
		TEST(test_interleave_skip_full),
		TEST(test_compact_per_node),
		TEST(test_compact_strict),
		TEST(test_cache),
		TEST(test_cache_delay),
		TEST(test_shards),
		TEST(test_room_preferred_low),
		TEST(test_room_strict_low),
		TEST(test_room_all_low),
		TEST(test_room_node_reserve),
		TEST(test_room_refill),
		TEST(test_room_cache_at_low),
		TEST(test_room_tables),
		TEST(test_node_stats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
