/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-stress.c - several threads allocate, write, read and free objects in
 * one pool while another compacts it and another reads its statistics, in
 * the manner of mimalloc's test-stress.c.
 *
 * The workers share a table of slots. A slot holds one object: its handle,
 * its size and the seeds its bytes are generated from, so that any thread can
 * check the contents without a copy. A worker claims a slot by moving its
 * state from EMPTY or FULL to BUSY with a compare-and-swap (acquire) and
 * gives it back with a release store, so no two threads use a slot at once
 * and each sees what the last owner wrote. A worker allocates into empty
 * slots and reads, rewrites or frees whatever it finds in full ones, most of
 * which other workers allocated: objects move between threads.
 *
 * Some reads hold their object for a few microseconds, as a decompressor
 * would: compaction must wait for them rather than move the object away and
 * free its zspage underneath. The statistics thread also runs
 * zp_pool_validate() now and then while the others work.
 *
 * The run is split into rounds. Between rounds every thread has ended, and
 * the main thread checks every object and compares the statistics with the
 * slot table exactly; during a round the statistics thread checks only what
 * holds at any moment.
 *
 * Each worker has its own seeded generator, so the choices each one makes
 * are fixed; which slots it finds full or empty, and so what it does with
 * them, depends on how the scheduler interleaves the threads.
 *
 * Environment:
 *   ZP_TEST_SEED     base seed (decimal or 0x...), printed when a test fails
 *   ZP_TEST_THREADS  workers, 1..16 (default 3)
 *   ZP_TEST_ITERS    slot operations per worker and configuration
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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

#define DEFAULT_SEED	0x7a706f6f6c640002ull /* "zpoold" 2 */
#define DEFAULT_THREADS 3
#define MAX_THREADS	16
/* ThreadSanitizer makes the run about twenty times slower, AddressSanitizer
 * about three times. The defaults keep the four configurations to about
 * 20 s on two cores in sanitizer builds and 10 s in plain ones. */
#if defined(__SANITIZE_THREAD__)
#define TSAN_BUILD 1
#elif defined(__SANITIZE_ADDRESS__)
#define ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN_BUILD 1
#elif __has_feature(address_sanitizer)
#define ASAN_BUILD 1
#endif
#endif
#if defined(TSAN_BUILD)
#define DEFAULT_ITERS 48000ull
#elif defined(ASAN_BUILD)
#define DEFAULT_ITERS 250000ull
#else
#define DEFAULT_ITERS 400000ull
#endif
#define ROUNDS 4
/* About three quarters end up full: a few thousand live objects, several
 * MiB, spread over every class. */
#define NR_SLOTS 4096
/* Pauses of the compaction and statistics threads: they run thousands of
 * times per round but leave the workers most of the two cores. */
#define COMPACT_PAUSE_NS 200000
#define STATS_PAUSE_NS	 100000
/* One read in this many holds its object for a while, long enough for a
 * compaction run to want the object's zspage. */
#define SLOW_READ_ONE_IN 32
#define SLOW_READ_NS	 20000

/* ------------------------------------------------------------------------ */
/* Seeds, failure context                                                   */
/* ------------------------------------------------------------------------ */

static uint64_t base_seed = DEFAULT_SEED;
static uint64_t nr_iters = DEFAULT_ITERS;
static unsigned int nr_threads = DEFAULT_THREADS;

/* Written by the main thread before it starts any other, read by the abort
 * handler in whichever thread aborts. */
static struct {
	const char *config;
	volatile unsigned int round;
	bool passed;
} ctx;

static const struct zt_field where_fields[] = {
	{"config", ZT_FIELD_STR, &ctx.config},
	{"round", ZT_FIELD_UINT, &ctx.round},
	{NULL},
};
static const struct zt_field rerun_fields[] = {
	{"ZP_TEST_SEED", ZT_FIELD_HEX, &base_seed},
	{"ZP_TEST_THREADS", ZT_FIELD_UINT, &nr_threads},
	{"ZP_TEST_ITERS", ZT_FIELD_U64, &nr_iters},
	{NULL},
};

/* For the main thread only: cmocka's failures jump back into its runner. */
#define check(c, fmt, ...)                                       \
	do {                                                     \
		if (!(c))                                        \
			fail_msg("%s: " fmt, #c, ##__VA_ARGS__); \
	} while (0)

/* ------------------------------------------------------------------------ */
/* Clocks and object sizes                                                  */
/* ------------------------------------------------------------------------ */

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pause_ns(long ns)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = ns};

	nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------------ */
/* Shared state                                                             */
/* ------------------------------------------------------------------------ */

enum slot_state {
	SLOT_EMPTY,
	SLOT_FULL,
	SLOT_BUSY, /* claimed by one thread */
	NR_SLOT_STATES
};

struct slot {
	_Atomic uint32_t state;
	/* The rest belongs to the thread that moved state to SLOT_BUSY. */
	uint32_t size;
	/* Bytes below split come from top_seed, the rest from base_seed. */
	uint32_t split;
	uint32_t allocator; /* worker that allocated the object */
	zp_handle_t handle;
	uint64_t base_seed;
	uint64_t top_seed;
};

struct counters {
	uint64_t mallocs, frees, foreign_frees, reads, foreign_reads, writes;
	uint64_t busy;
};

struct stress {
	const char *name;
	struct zp_pool *pool;
	struct zp_node_sim *sim; /* NULL on the real node layer */
	int nr_nodes;
	size_t huge_size;
	uint64_t seed;
	struct slot *slots;

	atomic_bool stop;
	pthread_mutex_t fail_lock;
	bool failed;	    /* protected by fail_lock */
	char fail_msg[512]; /* protected by fail_lock */

	/* protected by sum_lock: added to as the threads end */
	pthread_mutex_t sum_lock;
	struct counters sum;
	uint64_t compactions, compact_freed, stats_reads;
};

struct worker {
	struct stress *st;
	unsigned int id;
	uint64_t rng;
	uint64_t iters;
	struct counters c;
	pthread_t thread;
	unsigned char buf[ZP_MAX_ALLOC];
};

/* Record the first failure of any thread and stop them all. */
zp_printf(2, 3) static void thread_fail(struct stress *st, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&st->fail_lock);
	if (!st->failed) {
		va_start(ap, fmt);
		vsnprintf(st->fail_msg, sizeof(st->fail_msg), fmt, ap);
		va_end(ap);
		st->failed = true;
	}
	pthread_mutex_unlock(&st->fail_lock);
	atomic_store(&st->stop, true);
}

static bool stopped(struct stress *st)
{
	return atomic_load_explicit(&st->stop, memory_order_relaxed);
}

static void expected_bytes(const struct slot *s, unsigned char *buf)
{
	zt_pattern(buf, s->top_seed, 0, s->split);
	zt_pattern(buf, s->base_seed, s->split, s->size - s->split);
}

/* Compare an object with what its slot says; buf is scratch. The caller owns
 * the slot. slow: hold the object a while before looking, as a decompressor
 * would, so that compaction wants to move it meanwhile. Returns false after
 * recording a failure. */
static bool verify_slot(struct stress *st, const struct slot *s, size_t idx,
			unsigned char *buf, unsigned int who, bool slow)
{
	const unsigned char *p;
	size_t size, at = 0;
	int node, diff;

	size = zp_pool_obj_size(st->pool, s->handle);
	if (size != s->size) {
		thread_fail(st,
			    "slot %zu: object %#" PRIx64 " has size %zu, "
			    "allocated with %u (thread %u checking)",
			    idx, s->handle, size, s->size, who);
		return false;
	}
	node = zp_pool_obj_node(st->pool, s->handle);
	if (node < 0 || node >= st->nr_nodes) {
		thread_fail(st, "slot %zu: object %#" PRIx64 " on node %d", idx,
			    s->handle, node);
		return false;
	}
	expected_bytes(s, buf);
	p = zp_pool_read_begin(st->pool, s->handle);
	if (!p) {
		thread_fail(st, "slot %zu: read_begin(%#" PRIx64 ") is NULL",
			    idx, s->handle);
		return false;
	}
	if (slow)
		pause_ns(SLOW_READ_NS);
	diff = memcmp(p, buf, s->size);
	if (diff)
		while (p[at] == buf[at])
			at++;
	zp_pool_read_end(st->pool, s->handle);
	if (diff) {
		thread_fail(st,
			    "slot %zu: object %#" PRIx64 " (%u B, node %d, "
			    "allocated by thread %u, checked by thread %u) "
			    "differs from byte %zu on (rewritten prefix %u B)",
			    idx, s->handle, s->size, node, s->allocator, who,
			    at, s->split);
		return false;
	}
	return true;
}

/* ------------------------------------------------------------------------ */
/* Threads                                                                  */
/* ------------------------------------------------------------------------ */

static int pick_nid(struct worker *w)
{
	return (int)zt_below(&w->rng, (uint64_t)w->st->nr_nodes + 1) - 1;
}

static enum slot_state fill_empty(struct worker *w, struct slot *s, size_t idx)
{
	struct stress *st = w->st;
	size_t size = zt_pick_size(&w->rng, st->huge_size);
	int nid = pick_nid(w);
	zp_handle_t h = 0;
	int ret;

	ret = zp_pool_malloc(st->pool, size, nid, &h);
	if (ret != 0 || h == 0) {
		thread_fail(st,
			    "thread %u: malloc(%zu, node %d) returned %d, "
			    "handle %#" PRIx64,
			    w->id, size, nid, ret, h);
		return SLOT_EMPTY;
	}
	s->handle = h;
	s->size = (uint32_t)size;
	s->split = 0;
	s->allocator = w->id;
	s->base_seed = s->top_seed = zt_rand(&w->rng);
	expected_bytes(s, w->buf);
	zp_pool_write(st->pool, h, w->buf, size);
	w->c.mallocs++;
	if (zt_below(&w->rng, 8) == 0)
		verify_slot(st, s, idx, w->buf, w->id, false);
	return SLOT_FULL;
}

static enum slot_state use_full(struct worker *w, struct slot *s, size_t idx)
{
	struct stress *st = w->st;
	unsigned int p = (unsigned int)zt_below(&w->rng, 100);
	bool foreign = s->allocator != w->id;

	if (!verify_slot(st, s, idx, w->buf, w->id,
			 zt_below(&w->rng, SLOW_READ_ONE_IN) == 0))
		return SLOT_FULL;
	w->c.reads++;
	w->c.foreign_reads += foreign;
	if (p < 40)
		return SLOT_FULL;
	if (p < 75) {
		zp_pool_free(st->pool, s->handle);
		s->handle = 0;
		w->c.frees++;
		w->c.foreign_frees += foreign;
		return SLOT_EMPTY;
	}
	if (p < 90) {
		s->base_seed = s->top_seed = zt_rand(&w->rng);
		s->split = 0;
		zt_pattern(w->buf, s->base_seed, 0, s->size);
		zp_pool_write(st->pool, s->handle, w->buf, s->size);
	} else {
		/* A longer prefix than the last partial rewrite, so that two
		 * seeds describe the whole object. */
		uint32_t split =
			s->split +
			(uint32_t)zt_below(&w->rng, s->size - s->split + 1);

		s->top_seed = zt_rand(&w->rng);
		s->split = split;
		zt_pattern(w->buf, s->top_seed, 0, split);
		if (split)
			zp_pool_write(st->pool, s->handle, w->buf, split);
	}
	w->c.writes++;
	if (zt_below(&w->rng, 4) == 0)
		verify_slot(st, s, idx, w->buf, w->id, false);
	return SLOT_FULL;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct stress *st = w->st;

	if (st->sim)
		zp_node_sim_set_current(st->sim, (int)(w->id % 2));
	for (uint64_t i = 0; i < w->iters && !stopped(st); i++) {
		size_t idx = (size_t)zt_below(&w->rng, NR_SLOTS);
		struct slot *s = &st->slots[idx];
		uint32_t state =
			atomic_load_explicit(&s->state, memory_order_relaxed);
		enum slot_state next;

		if (state == SLOT_BUSY ||
		    !atomic_compare_exchange_strong_explicit(
			    &s->state, &state, SLOT_BUSY, memory_order_acquire,
			    memory_order_relaxed)) {
			w->c.busy++;
			continue;
		}
		if (state == SLOT_EMPTY)
			next = fill_empty(w, s, idx);
		else
			next = use_full(w, s, idx);
		atomic_store_explicit(&s->state, next, memory_order_release);
	}

	pthread_mutex_lock(&st->sum_lock);
	st->sum.mallocs += w->c.mallocs;
	st->sum.frees += w->c.frees;
	st->sum.foreign_frees += w->c.foreign_frees;
	st->sum.reads += w->c.reads;
	st->sum.foreign_reads += w->c.foreign_reads;
	st->sum.writes += w->c.writes;
	st->sum.busy += w->c.busy;
	pthread_mutex_unlock(&st->sum_lock);
	return NULL;
}

static void *compactor_main(void *arg)
{
	struct stress *st = arg;
	uint64_t runs = 0, freed = 0;

	while (!stopped(st)) {
		/* On the simulated nodes every third run takes one node. */
		int nid = -1;

		if (st->sim && runs % 3 == 2)
			nid = (int)(runs / 3 % (uint64_t)st->nr_nodes);
		freed += zp_pool_compact(st->pool, nid);
		runs++;
		pause_ns(COMPACT_PAUSE_NS);
	}
	pthread_mutex_lock(&st->sum_lock);
	st->compactions += runs;
	st->compact_freed += freed;
	pthread_mutex_unlock(&st->sum_lock);
	return NULL;
}

/* What holds at any moment: each check relates counters that the pool keeps
 * under one lock (a class's or a node's), and sums of such snapshots keep
 * those relations. Counters never go down between two reads. */
static void *stats_main(void *arg)
{
	struct stress *st = arg;
	struct zp_pool_stats s, prev;
	struct zp_class_stats cs;
	struct zp_node_stats ns;
	unsigned int nr_classes = zp_pool_nr_classes(st->pool);
	uint64_t resident[ZP_MAX_NODES], elsewhere, reads = 0;
	uint64_t rng = st->seed ^ 0x5ca1ab1eull;

	memset(&prev, 0, sizeof(prev));
	if (nr_classes == 0)
		thread_fail(st, "the pool has no classes");
	while (!stopped(st)) {
		unsigned int c = (unsigned int)zt_below(&rng, nr_classes);
		uint64_t groups = 0;
		int ret;

		zp_pool_stats(st->pool, &s);
		if (s.bytes_requested < s.objects ||
		    s.bytes_used < s.bytes_requested ||
		    s.bytes_used > s.objects * ZP_MAX_ALLOC) {
			thread_fail(st,
				    "stats: %" PRIu64 " objects, %" PRIu64
				    " B requested, %" PRIu64 " B used",
				    s.objects, s.bytes_requested, s.bytes_used);
			break;
		}
#define MONOTONIC(f)                                           \
	if (s.f < prev.f) {                                    \
		thread_fail(st,                                \
			    "stats: " #f " went from %" PRIu64 \
			    " down to %" PRIu64,               \
			    prev.f, s.f);                      \
		break;                                         \
	}
		MONOTONIC(pages_max)
		MONOTONIC(malloc_calls)
		MONOTONIC(free_calls)
		MONOTONIC(malloc_fail)
		MONOTONIC(zspages_created)
		MONOTONIC(zspages_freed)
		MONOTONIC(fallback_zspages)
		MONOTONIC(compact_runs)
		MONOTONIC(pages_compacted)
		MONOTONIC(objects_moved)
#undef MONOTONIC
		if (s.malloc_fail != 0) {
			thread_fail(st,
				    "stats: %" PRIu64 " failed allocations "
				    "with unlimited nodes",
				    s.malloc_fail);
			break;
		}
		prev = s;

		ret = zp_pool_class_stats(st->pool, c, &cs);
		for (int g = 0; g < ZP_NR_FULLNESS; g++)
			groups += cs.fullness[g];
		if (ret != 0 || cs.objs_used > cs.objs_allocated ||
		    cs.objs_allocated != cs.zspages * cs.objs_per_zspage ||
		    groups != cs.zspages) {
			thread_fail(st,
				    "class %u stats (%d): %" PRIu64
				    " objects, %" PRIu64 " slots, %" PRIu64
				    " zspages of %" PRIu64 " slots, %" PRIu64
				    " in fullness groups",
				    c, ret, cs.objs_used, cs.objs_allocated,
				    cs.zspages, cs.objs_per_zspage, groups);
			break;
		}
		for (int n = 0; n < st->nr_nodes; n++) {
			ret = zp_pool_node_stats(st->pool, n, &ns);
			if (ret != 0 || ns.pages > ns.pages_max) {
				thread_fail(st,
					    "node %d stats (%d): %" PRIu64
					    " pages, max %" PRIu64,
					    n, ret, ns.pages, ns.pages_max);
				break;
			}
		}
		if (reads % 64 == 63) {
			ret = zp_pool_node_resident(st->pool, resident,
						    &elsewhere);
			if (ret != 0) {
				thread_fail(st, "node_resident returned %d",
					    ret);
				break;
			}
		}
		if (reads % 256 == 255)
			zp_pool_validate(st->pool);
		reads++;
		pause_ns(STATS_PAUSE_NS);
	}
	pthread_mutex_lock(&st->sum_lock);
	st->stats_reads += reads;
	pthread_mutex_unlock(&st->sum_lock);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* The main thread                                                          */
/* ------------------------------------------------------------------------ */

static void check_failed(struct stress *st)
{
	pthread_mutex_lock(&st->fail_lock);
	if (st->failed) {
		pthread_mutex_unlock(&st->fail_lock);
		fail_msg("%s", st->fail_msg);
	}
	pthread_mutex_unlock(&st->fail_lock);
}

/* With every other thread ended: every object, and the statistics exactly. */
static void check_quiet(struct stress *st)
{
	struct zp_pool_stats s;
	struct zp_node_stats ns;
	uint64_t live = 0, bytes = 0, node_pages = 0;
	unsigned char *buf = malloc(ZP_MAX_ALLOC);

	assert_non_null(buf);
	for (size_t i = 0; i < NR_SLOTS; i++) {
		struct slot *s_ = &st->slots[i];
		uint32_t state = atomic_load(&s_->state);

		check(state == SLOT_EMPTY || state == SLOT_FULL,
		      "slot %zu left in state %u", i, state);
		if (state != SLOT_FULL)
			continue;
		verify_slot(st, s_, i, buf, 0, false);
		check_failed(st);
		live++;
		bytes += s_->size;
	}
	free(buf);

	zp_pool_stats(st->pool, &s);
	check_eq(s.objects, live);
	check_eq(s.bytes_requested, bytes);
	check_eq(s.malloc_calls, st->sum.mallocs);
	check_eq(s.free_calls, st->sum.frees);
	check_eq(s.malloc_fail, 0);
	check_eq(s.pages, zp_pool_total_pages(st->pool));
	check_eq(s.zspages_created - s.zspages_freed, s.zspages);
	for (int n = 0; n < st->nr_nodes; n++) {
		check_eq(zp_pool_node_stats(st->pool, n, &ns), 0);
		check_eq(ns.pages, zp_pool_node_pages(st->pool, n));
		node_pages += ns.pages;
	}
	check_eq(node_pages, s.pages);
	zp_pool_validate(st->pool);
}

static void run_round(struct stress *st, unsigned int round)
{
	unsigned int n = nr_threads;
	struct worker *w = calloc(n, sizeof(*w));
	pthread_t compactor, stats;

	assert_non_null(w);
	ctx.round = round;
	atomic_store(&st->stop, false);
	for (unsigned int i = 0; i < n; i++) {
		uint64_t seed = st->seed + round * 0x1000 + i;

		w[i].st = st;
		w[i].id = i + 1;
		w[i].rng = zt_mix64(seed);
		w[i].iters = nr_iters / ROUNDS;
		check_eq(pthread_create(&w[i].thread, NULL, worker_main, &w[i]),
			 0);
	}
	check_eq(pthread_create(&compactor, NULL, compactor_main, st), 0);
	check_eq(pthread_create(&stats, NULL, stats_main, st), 0);
	for (unsigned int i = 0; i < n; i++)
		pthread_join(w[i].thread, NULL);
	atomic_store(&st->stop, true);
	pthread_join(compactor, NULL);
	pthread_join(stats, NULL);
	free(w);

	check_failed(st);
	check_quiet(st);
}

static void run_config(struct stress *st, bool simulated,
		       enum zp_numa_policy policy)
{
	struct zp_pool_config cfg;
	struct zp_pool_stats s;
	unsigned char *buf;
	double t0 = now_seconds();
	uint64_t seed = base_seed + (uint64_t)policy * ZT_GOLDEN_GAMMA +
			(simulated ? 0x51u : 0);
	int ret;

	st->seed = zt_rand(&seed);
	zp_pool_config_init(&cfg);
	cfg.policy = policy;
	if (simulated) {
		check_eq(zp_node_sim_create(2, NULL, &st->sim), 0);
		cfg.node_ops = &zp_node_sim_ops;
		cfg.node_ctx = st->sim;
		/* Small caches: new zspages come from fresh chunk pages and
		 * dead ones go back to the system while others read. */
		cfg.cache_pages = 8;
	}
	ret = zp_pool_create(&cfg, &st->pool);
	check(ret == 0, "cannot create a pool: %d (may this process lock "
	      "memory? run as root)", ret);
	st->nr_nodes = zp_pool_nr_nodes(st->pool);
	check(st->nr_nodes >= 1 && st->nr_nodes <= ZP_MAX_NODES, "%d nodes",
	      st->nr_nodes);
	if (simulated)
		check_eq(st->nr_nodes, 2);
	st->huge_size = zp_pool_huge_class_size(st->pool);
	check(st->huge_size > ZP_MIN_ALLOC && st->huge_size <= ZP_MAX_ALLOC,
	      "huge class from %zu", st->huge_size);

	for (unsigned int round = 0; round < ROUNDS; round++)
		run_round(st, round);

	ctx.round = ROUNDS;
	buf = malloc(ZP_MAX_ALLOC);
	assert_non_null(buf);
	for (size_t i = 0; i < NR_SLOTS; i++) {
		struct slot *sl = &st->slots[i];

		if (atomic_load(&sl->state) != SLOT_FULL)
			continue;
		verify_slot(st, sl, i, buf, 0, false);
		check_failed(st);
		zp_pool_free(st->pool, sl->handle);
		st->sum.frees++;
		atomic_store(&sl->state, SLOT_EMPTY);
	}
	free(buf);
	check_quiet(st);
	check_eq(zp_pool_total_pages(st->pool), 0);

	/* Trimmed, each node cache holds exactly its floor. */
	zp_pool_trim(st->pool);
	zp_pool_stats(st->pool, &s);
	check_eq(s.objects, 0);
	check_eq(s.bytes_requested, 0);
	check_eq(s.cached_pages,
		 (uint64_t)cfg.cache_pages * (uint64_t)st->nr_nodes);
	if (st->sim)
		for (int n = 0; n < 2; n++)
			check_eq(zp_node_sim_charged(st->sim, n),
				 cfg.cache_pages);
	if (nr_threads >= 2 && nr_iters >= DEFAULT_ITERS / 4) {
		check(st->sum.foreign_frees > 0 && st->sum.foreign_reads > 0,
		      "%" PRIu64 " objects freed and %" PRIu64
		      " read by a thread other than their allocator",
		      st->sum.foreign_frees, st->sum.foreign_reads);
		check(s.objects_moved > 0 && st->compactions > 0,
		      "%" PRIu64 " compactions moved %" PRIu64 " objects",
		      st->compactions, s.objects_moved);
	}

	print_message("%-22s %u threads x %" PRIu64 " ops in %.1f s: %" PRIu64
		      " mallocs, %" PRIu64 " frees (%" PRIu64
		      " by another thread), %" PRIu64 " reads, %" PRIu64
		      " writes, %" PRIu64 " busy; %" PRIu64
		      " compactions freed %" PRIu64 " pages, moved %" PRIu64
		      " objects; %" PRIu64 " stats reads; peak %" PRIu64
		      " pages\n",
		      st->name, nr_threads, nr_iters, now_seconds() - t0,
		      st->sum.mallocs, st->sum.frees, st->sum.foreign_frees,
		      st->sum.reads, st->sum.writes, st->sum.busy,
		      st->compactions, st->compact_freed, s.objects_moved,
		      st->stats_reads, s.pages_max);

	zp_pool_destroy(st->pool);
	st->pool = NULL;
	if (st->sim) {
		for (int n = 0; n < 2; n++)
			check(zp_node_sim_charged(st->sim, n) == 0,
			      "node %d still has %zu pages charged after "
			      "destroy",
			      n, zp_node_sim_charged(st->sim, n));
		zp_node_sim_destroy(st->sim);
		st->sim = NULL;
	}
	ctx.passed = true;
}

static int setup(void **state)
{
	struct stress *st = calloc(1, sizeof(*st));

	if (!st)
		return -1;
	st->slots = calloc(NR_SLOTS, sizeof(*st->slots));
	if (!st->slots) {
		free(st);
		return -1;
	}
	for (size_t i = 0; i < NR_SLOTS; i++)
		atomic_init(&st->slots[i].state, SLOT_EMPTY);
	atomic_init(&st->stop, false);
	pthread_mutex_init(&st->fail_lock, NULL);
	pthread_mutex_init(&st->sum_lock, NULL);
	memset(&ctx, 0, sizeof(ctx));
	*state = st;
	return 0;
}

/* After a failure the pool is left alone (leaked): it may be corrupt, and
 * the other configurations should still run. */
static int teardown(void **state)
{
	struct stress *st = *state;

	if (!ctx.passed)
		zt_report_failure();
	pthread_mutex_destroy(&st->fail_lock);
	pthread_mutex_destroy(&st->sum_lock);
	free(st->slots);
	free(st);
	memset(&ctx, 0, sizeof(ctx));
	return 0;
}

static void test_real_preferred(void **state)
{
	struct stress *st = *state;

	ctx.config = st->name = "real nodes, preferred";
	run_config(st, false, ZP_NUMA_PREFERRED);
}

static void test_real_interleave(void **state)
{
	struct stress *st = *state;

	ctx.config = st->name = "real nodes, interleave";
	run_config(st, false, ZP_NUMA_INTERLEAVE);
}

static void test_sim_preferred(void **state)
{
	struct stress *st = *state;

	ctx.config = st->name = "2 sim nodes, preferred";
	run_config(st, true, ZP_NUMA_PREFERRED);
}

static void test_sim_interleave(void **state)
{
	struct stress *st = *state;

	ctx.config = st->name = "2 sim nodes, interleave";
	run_config(st, true, ZP_NUMA_INTERLEAVE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_real_preferred, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_real_interleave, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sim_preferred, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sim_interleave, setup,
						teardown),
	};
	uint64_t threads;

	base_seed = zt_env_u64("test-stress", "ZP_TEST_SEED", DEFAULT_SEED);
	nr_iters = zt_env_u64("test-stress", "ZP_TEST_ITERS", DEFAULT_ITERS);
	threads = zt_env_u64("test-stress", "ZP_TEST_THREADS", DEFAULT_THREADS);
	if (threads < 1 || threads > MAX_THREADS) {
		fprintf(stderr, "test-stress: ZP_TEST_THREADS must be 1..%d\n",
			MAX_THREADS);
		return 1;
	}
	nr_threads = (unsigned int)threads;
	zt_report_setup("test-stress", where_fields, rerun_fields);
	print_message("test-stress: ZP_TEST_SEED=0x%" PRIx64
		      " ZP_TEST_THREADS=%u ZP_TEST_ITERS=%" PRIu64 "\n",
		      base_seed, nr_threads, nr_iters);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
