/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-random.c - the pool against a reference model, over a long random
 * sequence of operations, once per NUMA policy.
 *
 * The model keeps a malloc'd copy of every live object's bytes, its size, its
 * node and the sums the pool's statistics must match. Each step mallocs,
 * writes (all or a prefix of an object), frees or reads back a random object;
 * every few thousand steps the pool is compacted, on all nodes or on one, and
 * every live object is checked afterwards: its bytes, its size and its node,
 * which compaction must not change.
 *
 * The pool runs on a simulated topology of two nodes. The number of live
 * objects rises and falls in waves so that frees leave zspages partly used
 * and compaction has work. Between 55% and 75% of the steps the nodes get
 * only a little room above what they hold, so that allocations fail with
 * -ENOMEM; a failure must leave the pool as it was.
 *
 * Every thousand steps the statistics are compared with the model, pool-wide,
 * per class and per node, and every 20,000 steps zp_pool_validate() walks
 * the pool. A few malloc calls with a bad size or node must fail with
 * -EINVAL and change nothing.
 *
 * Placement is checked where the policy makes it exact: under strict every
 * object sits on the node it asked for; when a malloc creates a zspage with
 * room everywhere, preferred and local put it on the preferred (local) node
 * and interleave spreads new zspages over both nodes although most requests
 * ask for node 0. Outside strict, an -ENOMEM means that no node has room,
 * so asking again for another node must fail too.
 *
 * Environment:
 *   ZP_TEST_SEED   base seed (decimal or 0x...), printed when a test fails
 *   ZP_TEST_STEPS  steps per policy (default 200000)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pool/pool.h"
#include "tests/check.h"
#include "tests/testlib.h"
#include "zp-compiler.h"

#define DEFAULT_SEED  0x7a706f6f6c640001ull /* "zpoold" 1 */
#define DEFAULT_STEPS 200000ull

#define NR_NODES 2
/* Shards, and how often (in steps) the simulated thread moves to another
 * CPU, and so to another shard: objects then live in both shards and
 * allocation crosses between them. */
#define NR_SHARDS 2
#define CPU_SWITCH_EVERY 97
/* Small, so that the node caches run dry and the fallback paths are taken
 * often; the pool's default of 256 would hide them in a test this size. */
#define CACHE_PAGES 4
/* Room above the pages already charged during the tight phase: enough for a
 * few zspages of any class (chains are at most 16 pages). */
#define TIGHT_HEADROOM_PAGES 48

#define COMPACT_EVERY	  5000
#define STATS_EVERY	  1000
#define VALIDATE_EVERY	  20000
#define NODE_SWITCH_EVERY 1000
/* One wave of the live-object target: up for half, down for half. */
#define WAVE_STEPS 30000
#define WAVE_LOW   200
#define WAVE_HIGH  6000

/* ------------------------------------------------------------------------ */
/* Seeds, failure context                                                   */
/* ------------------------------------------------------------------------ */

static uint64_t base_seed = DEFAULT_SEED;
static uint64_t nr_steps = DEFAULT_STEPS;

/* What the running test is doing, for the failure report (teardown) and for
 * an abort inside the pool (zp_pool_validate, zp_assert). */
static struct {
	const char *policy;
	const char *phase;
	uint64_t run_seed;
	volatile uint64_t step;
	bool passed;
} ctx;

static const struct zt_field where_fields[] = {
	{"policy", ZT_FIELD_STR, &ctx.policy},
	{"phase", ZT_FIELD_STR, &ctx.phase},
	{"step", ZT_FIELD_U64, &ctx.step},
	{"run seed", ZT_FIELD_HEX, &ctx.run_seed},
	{NULL},
};
static const struct zt_field rerun_fields[] = {
	{"ZP_TEST_SEED", ZT_FIELD_HEX, &base_seed},
	{"ZP_TEST_STEPS", ZT_FIELD_U64, &nr_steps},
	{NULL},
};

#define check(c, fmt, ...)                                       \
	do {                                                     \
		if (!(c))                                        \
			fail_msg("%s: " fmt, #c, ##__VA_ARGS__); \
	} while (0)

/* ------------------------------------------------------------------------ */
/* Random numbers                                                           */
/* ------------------------------------------------------------------------ */

static void fill_random(uint64_t *rng, unsigned char *p, size_t len)
{
	while (len >= 8) {
		uint64_t v = zt_rand(rng);

		memcpy(p, &v, 8);
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t v = zt_rand(rng);

		memcpy(p, &v, len);
	}
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------------ */
/* The model                                                                */
/* ------------------------------------------------------------------------ */

struct obj {
	zp_handle_t handle;
	unsigned char *data; /* what the object must hold */
	uint32_t size;
	int node; /* zp_pool_obj_node() when it was allocated */
};

struct run {
	enum zp_numa_policy policy;
	uint64_t rng;
	struct zp_node_sim *sim;
	struct zp_pool *pool;

	/* The pool's classes, learnt from zp_pool_class_stats() at the start.
	 */
	unsigned int nr_classes;
	struct zp_class_stats *classes;
	uint16_t class_of[ZP_MAX_ALLOC + 1];
	size_t huge_size;

	/* Live objects, in no order; a free moves the last one into the gap. */
	struct obj *objs;
	size_t nr, cap;
	zp_handle_t *sorted; /* scratch for the duplicate-handle check */
	uint64_t *class_objs;
	uint64_t bytes_requested, bytes_used, huge_objects;
	uint64_t mallocs, frees, fails;

	int cur_node; /* the simulated node this thread runs on */
	bool tight;   /* node capacities are set */
	size_t capacity[NR_NODES];

	uint64_t enomem;
	uint64_t new_zspages[NR_NODES]; /* placed while no node was limited */
	uint64_t pages_max_seen;
	uint64_t compactions;
	uint64_t compact_freed;
	unsigned char buf[ZP_MAX_ALLOC];
};

static void set_current(struct run *r, int node)
{
	zp_node_sim_set_current(r->sim, node);
	r->cur_node = node;
}

/* Mostly node 0, so that a policy which ignores the request shows. */
static int pick_nid(struct run *r)
{
	unsigned int p = (unsigned int)zt_below(&r->rng, 100);

	if (p < 70)
		return 0;
	if (p < 85)
		return 1;
	return -1;
}

static uint64_t live_target(uint64_t step)
{
	uint64_t pos = step % WAVE_STEPS, half = WAVE_STEPS / 2;
	uint64_t span = WAVE_HIGH - WAVE_LOW;

	if (pos < half)
		return WAVE_LOW + span * pos / half;
	return WAVE_HIGH - span * (pos - half) / half;
}

/* Map every request size to its class and check that the classes cover
 * 1..ZP_MAX_ALLOC exactly once, with the huge class where it says. */
static void learn_classes(struct run *r)
{
	unsigned int n = zp_pool_nr_classes(r->pool);
	struct zp_class_stats cs;

	r->huge_size = zp_pool_huge_class_size(r->pool);
	check(r->huge_size > ZP_MIN_ALLOC && r->huge_size <= ZP_MAX_ALLOC,
	      "huge class size %zu", r->huge_size);
	check(n > 0 && n <= ZP_NR_SIZES, "%u classes", n);
	r->nr_classes = n;
	r->classes = calloc(n, sizeof(*r->classes));
	r->class_objs = calloc(n, sizeof(*r->class_objs));
	assert_non_null(r->classes);
	assert_non_null(r->class_objs);
	for (size_t s = 0; s <= ZP_MAX_ALLOC; s++)
		r->class_of[s] = UINT16_MAX;

	for (unsigned int c = 0; c < n; c++) {
		check_eq(zp_pool_class_stats(r->pool, c, &r->classes[c]), 0);
		cs = r->classes[c];
		check(cs.min_size >= 1 && cs.min_size <= cs.max_size &&
			      cs.max_size <= ZP_MAX_ALLOC,
		      "class %u serves %u..%u", c, cs.min_size, cs.max_size);
		check(cs.size >= cs.max_size,
		      "class %u: slot %" PRIu64 " B for objects up to %u B", c,
		      cs.size, cs.max_size);
		check(cs.objs_per_zspage > 0 && cs.pages_per_zspage > 0 &&
			      cs.pages_per_zspage <= ZP_MAX_ZSPAGE_PAGES,
		      "class %u: %" PRIu64 " objects in %" PRIu64 " pages", c,
		      cs.objs_per_zspage, cs.pages_per_zspage);
		for (size_t s = cs.min_size; s <= cs.max_size; s++) {
			check(r->class_of[s] == UINT16_MAX,
			      "size %zu served by classes %u and %u", s,
			      r->class_of[s], c);
			check((cs.huge != 0) == (s >= r->huge_size),
			      "size %zu in class %u (huge %" PRIu64
			      "), huge class from %zu",
			      s, c, cs.huge, r->huge_size);
			r->class_of[s] = (uint16_t)c;
		}
	}
	for (size_t s = 1; s <= ZP_MAX_ALLOC; s++)
		check(r->class_of[s] != UINT16_MAX, "size %zu has no class", s);
	check_eq(zp_pool_class_stats(r->pool, n, &cs), -ENOENT);
}

static void model_add(struct run *r, zp_handle_t h, size_t size, int node,
		      unsigned char *data)
{
	unsigned int c = r->class_of[size];

	if (r->nr == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 1024;
		r->objs = realloc(r->objs, r->cap * sizeof(*r->objs));
		r->sorted = realloc(r->sorted, r->cap * sizeof(*r->sorted));
		assert_non_null(r->objs);
		assert_non_null(r->sorted);
	}
	r->objs[r->nr++] = (struct obj){.handle = h,
					.data = data,
					.size = (uint32_t)size,
					.node = node};
	r->class_objs[c]++;
	r->bytes_requested += size;
	r->bytes_used += r->classes[c].size;
	r->huge_objects += size >= r->huge_size;
	r->mallocs++;
}

static void model_remove(struct run *r, size_t i)
{
	struct obj *o = &r->objs[i];
	unsigned int c = r->class_of[o->size];

	r->class_objs[c]--;
	r->bytes_requested -= o->size;
	r->bytes_used -= r->classes[c].size;
	r->huge_objects -= o->size >= r->huge_size;
	r->frees++;
	free(o->data);
	*o = r->objs[--r->nr];
}

/* ------------------------------------------------------------------------ */
/* Checks against the model                                                 */
/* ------------------------------------------------------------------------ */

static void verify_obj(struct run *r, size_t i)
{
	const struct obj *o = &r->objs[i];
	const unsigned char *p;
	size_t at = 0;
	int diff;

	check_eq(zp_pool_obj_size(r->pool, o->handle), o->size);
	check(zp_pool_obj_node(r->pool, o->handle) == o->node,
	      "object %#" PRIx64 " moved from node %d to node %d", o->handle,
	      o->node, zp_pool_obj_node(r->pool, o->handle));
	p = zp_pool_read_begin(r->pool, o->handle);
	check(p != NULL, "object %#" PRIx64, o->handle);
	diff = memcmp(p, o->data, o->size);
	if (diff)
		while (p[at] == o->data[at])
			at++;
	zp_pool_read_end(r->pool, o->handle);
	check(diff == 0,
	      "object %#" PRIx64 " (%u B, node %d) differs from the model "
	      "from byte %zu on",
	      o->handle, o->size, o->node, at);
}

static int cmp_handle(const void *a, const void *b)
{
	zp_handle_t x = *(const zp_handle_t *)a, y = *(const zp_handle_t *)b;

	return x < y ? -1 : x > y;
}

static void verify_all(struct run *r)
{
	for (size_t i = 0; i < r->nr; i++) {
		verify_obj(r, i);
		r->sorted[i] = r->objs[i].handle;
	}
	if (r->nr)
		qsort(r->sorted, r->nr, sizeof(*r->sorted), cmp_handle);
	for (size_t i = 1; i < r->nr; i++)
		check(r->sorted[i] != r->sorted[i - 1],
		      "handle %#" PRIx64 " given to two live objects",
		      r->sorted[i]);
}

static void check_stats(struct run *r)
{
	struct zp_pool_stats s;
	struct zp_class_stats cs;
	struct zp_node_stats ns;
	uint64_t zspages = 0, pages = 0, huge = 0;
	uint64_t node_pages = 0, node_zspages = 0, fallback = 0, placed = 0;

	zp_pool_stats(r->pool, &s);
	check_eq(s.objects, r->nr);
	check_eq(s.bytes_requested, r->bytes_requested);
	check_eq(s.bytes_used, r->bytes_used);
	check_eq(s.huge_objects, r->huge_objects);
	check_eq(s.malloc_calls, r->mallocs);
	check_eq(s.free_calls, r->frees);
	check_eq(s.malloc_fail, r->fails);
	check_eq(s.pages, zp_pool_total_pages(r->pool));
	check(s.pages <= s.pages_max, "%" PRIu64 " pages, max %" PRIu64,
	      s.pages, s.pages_max);
	check(s.pages_max >= r->pages_max_seen,
	      "pages_max %" PRIu64 " but %" PRIu64 " pages were seen",
	      s.pages_max, r->pages_max_seen);
	if (s.pages > r->pages_max_seen)
		r->pages_max_seen = s.pages;
	check_eq(s.zspages_created - s.zspages_freed, s.zspages);

	for (unsigned int c = 0; c < r->nr_classes; c++) {
		uint64_t groups = 0;

		check_eq(zp_pool_class_stats(r->pool, c, &cs), 0);
		check_eq(cs.objs_used, r->class_objs[c]);
		check_eq(cs.objs_allocated, cs.zspages * cs.objs_per_zspage);
		check(cs.zspages <= cs.objs_used,
		      "class %u (%" PRIu64 " B) keeps %" PRIu64
		      " zspages for %" PRIu64 " objects",
		      c, cs.size, cs.zspages, cs.objs_used);
		for (int g = 0; g < ZP_NR_FULLNESS; g++)
			groups += cs.fullness[g];
		check_eq(groups, cs.zspages);
		zspages += cs.zspages;
		pages += cs.zspages * cs.pages_per_zspage;
		if (cs.huge)
			huge += cs.objs_used;
	}
	check_eq(zspages, s.zspages);
	check_eq(pages, s.pages);
	check_eq(huge, s.huge_objects);

	for (int n = 0; n < NR_NODES; n++) {
		size_t charged = zp_node_sim_charged(r->sim, n);

		check_eq(zp_pool_node_stats(r->pool, n, &ns), 0);
		check_eq(ns.pages, zp_pool_node_pages(r->pool, n));
		check(ns.pages <= ns.pages_max,
		      "node %d: %" PRIu64 " pages, max %" PRIu64, n, ns.pages,
		      ns.pages_max);
		check(ns.pages <= charged,
		      "node %d holds %" PRIu64 " pages in zspages but only %zu "
		      "are charged to it",
		      n, ns.pages, charged);
		node_pages += ns.pages;
		node_zspages += ns.zspages;
		fallback += ns.fallback_zspages;
		placed += ns.preferred_zspages + ns.fallback_zspages;
	}
	check_eq(node_pages, s.pages);
	check_eq(node_zspages, s.zspages);
	check_eq(fallback, s.fallback_zspages);
	check_eq(placed, s.zspages_created);
	check_eq(zp_pool_node_stats(r->pool, NR_NODES, &ns), -ENOENT);
}

/* After a full compaction no node keeps more than one partly used zspage of
 * a class per shard (zsmalloc stops short of that by less than one zspage):
 * compaction cannot move objects between shards, whose handles differ. */
static void check_compacted(struct run *r)
{
	struct zp_class_stats cs;

	for (unsigned int c = 0; c < r->nr_classes; c++) {
		uint64_t need;

		check_eq(zp_pool_class_stats(r->pool, c, &cs), 0);
		need = (cs.objs_used + cs.objs_per_zspage - 1) /
		       cs.objs_per_zspage;
		check(cs.zspages <= need + NR_NODES * NR_SHARDS,
		      "after compaction class %u (%" PRIu64 " B, %" PRIu64
		      " objects per zspage) keeps %" PRIu64
		      " zspages for %" PRIu64 " objects",
		      c, cs.size, cs.objs_per_zspage, cs.zspages, cs.objs_used);
	}
}

static void compact_and_verify(struct run *r, int nid)
{
	struct zp_pool_stats before, after;
	size_t node_before[NR_NODES], freed;

	zp_pool_stats(r->pool, &before);
	for (int n = 0; n < NR_NODES; n++)
		node_before[n] = zp_pool_node_pages(r->pool, n);

	freed = zp_pool_compact(r->pool, nid);

	zp_pool_stats(r->pool, &after);
	check(after.pages <= before.pages &&
		      before.pages - after.pages == freed,
	      "compact(%d) returned %zu, pages went from %" PRIu64
	      " to %" PRIu64,
	      nid, freed, before.pages, after.pages);
	check_eq(after.compact_runs, before.compact_runs + 1);
	check_eq(after.pages_compacted - before.pages_compacted, freed);
	check_eq(after.objects, before.objects);
	check_eq(after.bytes_requested, before.bytes_requested);
	check_eq(after.malloc_calls, before.malloc_calls);
	check_eq(after.free_calls, before.free_calls);
	for (int n = 0; n < NR_NODES; n++) {
		size_t now = zp_pool_node_pages(r->pool, n);

		if (nid >= 0 && n != nid)
			check(now == node_before[n],
			      "compacting node %d took node %d from %zu to %zu "
			      "pages",
			      nid, n, node_before[n], now);
		else
			check(now <= node_before[n],
			      "compacting node %d: node %d grew from %zu to "
			      "%zu "
			      "pages",
			      nid, n, node_before[n], now);
	}
	if (nid < 0)
		check_compacted(r);
	verify_all(r);
	check_stats(r);
	r->compactions++;
	r->compact_freed += freed;
}

/* ------------------------------------------------------------------------ */
/* Operations                                                               */
/* ------------------------------------------------------------------------ */

static void on_enomem(struct run *r, const struct zp_pool_stats *before,
		      size_t size, int nid, int pref)
{
	struct zp_pool_stats after;
	zp_handle_t h = 0;
	int other = (pref + 1) % NR_NODES, ret;

	check(r->tight,
	      "malloc(%zu, node %d) failed with -ENOMEM and no node is limited",
	      size, nid);
	r->fails++;
	r->enomem++;
	zp_pool_stats(r->pool, &after);
	check_eq(after.objects, before->objects);
	check_eq(after.malloc_calls, before->malloc_calls);
	check_eq(after.malloc_fail, before->malloc_fail + 1);
	check_eq(after.zspages, before->zspages);
	check_eq(after.bytes_requested, before->bytes_requested);
	if (r->policy == ZP_NUMA_STRICT)
		return;

	/* Outside strict, -ENOMEM says no node has room: preferring another
	 * node cannot help. */
	if (r->policy == ZP_NUMA_LOCAL) {
		set_current(r, other);
		ret = zp_pool_malloc(r->pool, size, -1, &h);
		set_current(r, pref);
	} else {
		ret = zp_pool_malloc(r->pool, size, other, &h);
	}
	check(ret == -ENOMEM,
	      "malloc(%zu) failed with -ENOMEM preferring node %d but returned "
	      "%d preferring node %d",
	      size, pref, ret, other);
	r->fails++;
}

static void do_malloc(struct run *r)
{
	size_t size = zt_pick_size(&r->rng, r->huge_size);
	int nid = pick_nid(r);
	int pref = (r->policy == ZP_NUMA_LOCAL || nid < 0) ? r->cur_node : nid;
	struct zp_pool_stats before, after;
	zp_handle_t h = 0;
	unsigned char *data;
	uint64_t created;
	int ret, node;

	zp_pool_stats(r->pool, &before);
	ret = zp_pool_malloc(r->pool, size, nid, &h);
	if (ret == -ENOMEM) {
		on_enomem(r, &before, size, nid, pref);
		return;
	}
	check(ret == 0, "malloc(%zu, node %d) returned %d", size, nid, ret);
	check(h != 0, "malloc(%zu, node %d)", size, nid);
	zp_pool_stats(r->pool, &after);

	node = zp_pool_obj_node(r->pool, h);
	check(node >= 0 && node < NR_NODES, "object on node %d", node);
	check_eq(zp_pool_obj_size(r->pool, h), size);
	check_eq(after.malloc_calls, before.malloc_calls + 1);
	check_eq(after.objects, before.objects + 1);
	if (r->policy == ZP_NUMA_STRICT)
		check(node == pref,
		      "strict: malloc(%zu) for node %d placed on node %d", size,
		      pref, node);

	created = after.zspages_created - before.zspages_created;
	check(created <= 1, "one malloc created %" PRIu64 " zspages", created);
	if (created && r->policy != ZP_NUMA_INTERLEAVE)
		check_eq(after.fallback_zspages - before.fallback_zspages,
			 node != pref);
	if (!created)
		check_eq(after.fallback_zspages, before.fallback_zspages);
	if (created && !r->tight) {
		r->new_zspages[node]++;
		if (r->policy != ZP_NUMA_INTERLEAVE)
			check(node == pref,
			      "new zspage for malloc(%zu) preferring node %d "
			      "placed on node %d while every node has room",
			      size, pref, node);
	}

	data = malloc(size);
	assert_non_null(data);
	fill_random(&r->rng, data, size);
	zp_pool_write(r->pool, h, data, size);
	model_add(r, h, size, node, data);
	if (zt_chance(&r->rng, 10))
		verify_obj(r, r->nr - 1);
}

static void do_free(struct run *r)
{
	size_t i = (size_t)zt_below(&r->rng, r->nr);

	verify_obj(r, i);
	zp_pool_free(r->pool, r->objs[i].handle);
	model_remove(r, i);
}

/* All of an object, or a prefix of it. */
static void do_write(struct run *r)
{
	size_t i = (size_t)zt_below(&r->rng, r->nr);
	struct obj *o = &r->objs[i];
	size_t len = zt_chance(&r->rng, 50)
			     ? o->size
			     : 1 + (size_t)zt_below(&r->rng, o->size);

	fill_random(&r->rng, r->buf, len);
	zp_pool_write(r->pool, o->handle, r->buf, len);
	memcpy(o->data, r->buf, len);
	if (zt_chance(&r->rng, 25))
		verify_obj(r, i);
}

static void do_invalid(struct run *r)
{
	zp_handle_t h = 0;
	size_t size = 100;
	int nid = 0, ret;

	switch (zt_below(&r->rng, 3)) {
	case 0:
		size = 0;
		break;
	case 1:
		size = ZP_MAX_ALLOC + 1;
		break;
	default:
		/* local ignores the node asked for */
		if (r->policy == ZP_NUMA_LOCAL)
			size = 0;
		else
			nid = NR_NODES;
		break;
	}
	ret = zp_pool_malloc(r->pool, size, nid, &h);
	check(ret == -EINVAL, "malloc(%zu, node %d) returned %d", size, nid,
	      ret);
}

static void do_step(struct run *r, uint64_t step)
{
	unsigned int p_malloc, p_free, p;

	if (r->tight) {
		p_malloc = 60;
		p_free = 10;
	} else if (r->nr < live_target(step)) {
		p_malloc = 45;
		p_free = 15;
	} else {
		p_malloc = 15;
		p_free = 45;
	}
	if (zt_below(&r->rng, 1000) < 2) {
		do_invalid(r);
		return;
	}
	p = (unsigned int)zt_below(&r->rng, 100);
	if (r->nr == 0 || p < p_malloc)
		do_malloc(r);
	else if (p < p_malloc + p_free)
		do_free(r);
	else if (p < p_malloc + p_free + 20)
		do_write(r);
	else
		verify_obj(r, (size_t)zt_below(&r->rng, r->nr));
}

static void set_tight(struct run *r, bool tight)
{
	for (int n = 0; n < NR_NODES; n++) {
		r->capacity[n] = tight ? zp_node_sim_charged(r->sim, n) +
						 TIGHT_HEADROOM_PAGES
				       : 0;
		zp_node_sim_set_capacity(r->sim, n, r->capacity[n]);
	}
	r->tight = tight;
}

/* ------------------------------------------------------------------------ */
/* One run per policy                                                       */
/* ------------------------------------------------------------------------ */

static void run_policy(struct run *r, enum zp_numa_policy policy)
{
	uint64_t tight_from = nr_steps * 55 / 100,
		 tight_to = nr_steps * 75 / 100;
	size_t caps[NR_NODES] = {0};
	struct zp_pool_config cfg;
	struct zp_pool_stats s;
	uint64_t seed = base_seed + (uint64_t)policy * ZT_GOLDEN_GAMMA;
	double t0 = now_seconds();

	r->policy = policy;
	r->rng = zt_rand(&seed);
	ctx.run_seed = r->rng;
	ctx.policy = zp_numa_policy_name(policy);
	ctx.phase = "setup";
	check(ctx.policy != NULL, "policy %d has no name", (int)policy);

	check_eq(zp_node_sim_create(NR_NODES, caps, &r->sim), 0);
	zp_pool_config_init(&cfg);
	cfg.policy = policy;
	cfg.cache_pages = CACHE_PAGES;
	cfg.node_ops = &zp_node_sim_ops;
	cfg.node_ctx = r->sim;
	cfg.shards = NR_SHARDS;
	zp_node_sim_set_cpu(r->sim, 0);
	check_eq(zp_pool_create(&cfg, &r->pool), 0);
	check_eq(zp_pool_nr_nodes(r->pool), NR_NODES);
	check_eq(zp_pool_nr_shards(r->pool), NR_SHARDS);
	learn_classes(r);
	set_current(r, 0);

	ctx.phase = "roomy";
	for (uint64_t step = 0; step < nr_steps; step++) {
		ctx.step = step;
		if (step == tight_from) {
			set_tight(r, true);
			ctx.phase = "tight";
		} else if (step == tight_to) {
			set_tight(r, false);
			ctx.phase = "roomy again";
		}
		if (step && step % NODE_SWITCH_EVERY == 0)
			set_current(r, (int)zt_below(&r->rng, NR_NODES));
		if (step && step % CPU_SWITCH_EVERY == 0)
			zp_node_sim_set_cpu(r->sim,
					    (int)zt_below(&r->rng, NR_SHARDS));
		if (step && step % COMPACT_EVERY == 0) {
			uint64_t k = step / COMPACT_EVERY;

			compact_and_verify(r, k % 2 ? -1
						    : (int)(k / 2 % NR_NODES));
		}
		if (step % STATS_EVERY == 0)
			check_stats(r);
		if (step && step % VALIDATE_EVERY == 0) {
			zp_pool_validate(r->pool);
			verify_all(r);
		}
		do_step(r, step);
	}
	if (r->tight)
		set_tight(r, false);

	ctx.phase = "drain";
	check_stats(r);
	compact_and_verify(r, -1);
	zp_pool_validate(r->pool);
	while (r->nr)
		do_free(r);
	check_stats(r);
	check_eq(zp_pool_total_pages(r->pool), 0);
	for (int n = 0; n < NR_NODES; n++)
		check_eq(zp_pool_node_pages(r->pool, n), 0);
	zp_pool_validate(r->pool);
	check_eq(zp_pool_compact(r->pool, -1), 0);

	/* Every page is back in a node cache; trimmed, each cache holds its
	 * floor, and that is all the node layer still has charged. */
	zp_pool_trim(r->pool);
	zp_pool_stats(r->pool, &s);
	check_eq(s.cached_pages, (uint64_t)NR_NODES * CACHE_PAGES);
	for (int n = 0; n < NR_NODES; n++)
		check_eq(zp_node_sim_charged(r->sim, n), CACHE_PAGES);

	if (nr_steps >= DEFAULT_STEPS / 4) {
		/* Enough waves and compactions that each must have shown. */
		check(r->enomem > 0, "no allocation failed in the tight phase");
		check(s.pages_compacted > 0 && s.objects_moved > 0,
		      "compaction freed %" PRIu64 " pages, moved %" PRIu64
		      " objects",
		      s.pages_compacted, s.objects_moved);
		if (policy == ZP_NUMA_INTERLEAVE) {
			uint64_t total = r->new_zspages[0] + r->new_zspages[1];

			check(total >= 100 &&
				      r->new_zspages[0] * 10 <= total * 7 &&
				      r->new_zspages[1] * 10 <= total * 7,
			      "interleave placed %" PRIu64 " and %" PRIu64
			      " new zspages on nodes 0 and 1",
			      r->new_zspages[0], r->new_zspages[1]);
		}
	}

	print_message("%-10s %" PRIu64 " steps in %.1f s: peak %" PRIu64
		      " pages, %" PRIu64 " compactions freed %" PRIu64
		      " pages (%" PRIu64 " objects moved), %" PRIu64
		      " -ENOMEM, new zspages on nodes 0/1: %" PRIu64 "/%" PRIu64
		      "\n",
		      ctx.policy, nr_steps, now_seconds() - t0, s.pages_max,
		      r->compactions, r->compact_freed, s.objects_moved,
		      r->enomem, r->new_zspages[0], r->new_zspages[1]);

	zp_pool_destroy(r->pool);
	r->pool = NULL;
	for (int n = 0; n < NR_NODES; n++)
		check(zp_node_sim_charged(r->sim, n) == 0,
		      "node %d still has %zu pages charged after destroy", n,
		      zp_node_sim_charged(r->sim, n));
	zp_node_sim_set_cpu(r->sim, -1);
	zp_node_sim_destroy(r->sim);
	r->sim = NULL;
	ctx.passed = true;
}

static int setup(void **state)
{
	struct run *r = calloc(1, sizeof(*r));

	if (!r)
		return -1;
	memset(&ctx, 0, sizeof(ctx));
	*state = r;
	return 0;
}

/* After a failure the pool may be corrupt: it is left alone (leaked) so that
 * the report comes out and the other policies still run. */
static int teardown(void **state)
{
	struct run *r = *state;

	if (!ctx.passed)
		zt_report_failure();
	for (size_t i = 0; i < r->nr; i++)
		free(r->objs[i].data);
	free(r->objs);
	free(r->sorted);
	free(r->classes);
	free(r->class_objs);
	free(r);
	memset(&ctx, 0, sizeof(ctx));
	return 0;
}

static void test_preferred(void **state)
{
	run_policy(*state, ZP_NUMA_PREFERRED);
}

static void test_strict(void **state)
{
	run_policy(*state, ZP_NUMA_STRICT);
}

static void test_local(void **state)
{
	run_policy(*state, ZP_NUMA_LOCAL);
}

static void test_interleave(void **state)
{
	run_policy(*state, ZP_NUMA_INTERLEAVE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_preferred, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_strict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interleave, setup,
						teardown),
	};

	base_seed = zt_env_u64("test-random", "ZP_TEST_SEED", DEFAULT_SEED);
	nr_steps = zt_env_u64("test-random", "ZP_TEST_STEPS", DEFAULT_STEPS);
	zt_report_setup("test-random", where_fields, rerun_fields);
	print_message("test-random: ZP_TEST_SEED=0x%" PRIx64
		      " ZP_TEST_STEPS=%" PRIu64 "\n",
		      base_seed, nr_steps);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
