/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-refill.c - a pool whose allocations never fault in fresh pages
 * (cfg.refill_in_background), on a simulated topology of two nodes.
 *
 *   cache_only     without a refill thread, allocations take the nodes'
 *                  caches and nothing else: no page is charged after
 *                  creation, a node whose cache is empty is waited for
 *                  (refill_waits, refill_timeouts) and then the next node
 *                  serves (preferred), and once both are empty the
 *                  allocation fails with -ENOMEM
 *   strict         a strict pool waits for its own node only and then fails
 *   thread         with a refill thread (zp_pool_refill_wait(),
 *                  zp_pool_refill()), a thousand zspages' worth of objects
 *                  all land on the preferred node, the cache is refilled
 *                  there (refilled_pages) and every object reads back
 *   tables         with a refill thread, objects of every class, whose
 *                  handle and zspage tables take their pages from the same
 *                  small cache: a table short of a page waits for a pass
 *                  of the refill thread without holding the class lock
 *                  that the pass takes, so no allocation times out or
 *                  leaves the preferred node, and every object reads back
 *   wait           zp_pool_refill_wait() times out when nothing is wanted,
 *                  returns at once when a node's cache has fallen to half
 *                  its floor, and zp_pool_refill_wake() ends a wait
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "pool/pool.h"
#include "tests/testlib.h"

/* An object that takes a zspage of one page to itself. */
#define BIG 3000
#define CACHE 32
#define NR_OBJS 4096

struct fixture {
	struct zp_node_sim *sim;
	struct zp_pool *pool;
	zp_handle_t h[NR_OBJS];
	unsigned int nr;
	pthread_t thread;
	bool running;
	atomic_bool stop;
	unsigned char buf[BIG];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	*state = f;
	return 0;
}

static void stop_thread(struct fixture *f)
{
	if (!f->running)
		return;
	atomic_store(&f->stop, true);
	zp_pool_refill_wake(f->pool);
	pthread_join(f->thread, NULL);
	f->running = false;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	stop_thread(f);
	if (f->pool) {
		for (unsigned int i = 0; i < f->nr; i++)
			zp_pool_free(f->pool, f->h[i]);
		zp_pool_destroy(f->pool);
	}
	if (f->sim)
		zp_node_sim_destroy(f->sim);
	free(f);
	return 0;
}

static void fx_pool(struct fixture *f, enum zp_numa_policy policy)
{
	struct zp_pool_config cfg;

	assert_int_equal(zp_node_sim_create(2, NULL, &f->sim), 0);
	zp_pool_config_init(&cfg);
	cfg.policy = policy;
	cfg.cache_pages = CACHE;
	cfg.release_delay_ms = 0;
	cfg.shards = 1;
	cfg.max_zspage_pages = 1;
	cfg.refill_in_background = true;
	cfg.refill_wait_ms = 20;
	cfg.node_ops = &zp_node_sim_ops;
	cfg.node_ctx = f->sim;
	assert_int_equal(zp_pool_create(&cfg, &f->pool), 0);
}

static int alloc_on(struct fixture *f, int nid)
{
	zp_handle_t h;
	int ret = zp_pool_malloc(f->pool, BIG, nid, &h);

	if (ret == 0) {
		assert_true(f->nr < NR_OBJS);
		f->h[f->nr++] = h;
	}
	return ret;
}

static struct zp_node_stats node_stats(struct fixture *f, int nid)
{
	struct zp_node_stats st;

	assert_int_equal(zp_pool_node_stats(f->pool, nid, &st), 0);
	return st;
}

static void test_cache_only(void **state)
{
	struct fixture *f = *state;
	size_t charged0, charged1;
	unsigned int got = 0;

	fx_pool(f, ZP_NUMA_PREFERRED);
	charged0 = zp_node_sim_charged(f->sim, 0);
	charged1 = zp_node_sim_charged(f->sim, 1);
	assert_int_equal(charged1, CACHE);
	while (alloc_on(f, 1) == 0)
		got++;
	/* Both caches, and not a page more: the class's two tables took a
	 * page each of the cache of the thread's node (0) for their first
	 * segments. */
	assert_int_equal(got, 2 * CACHE - 2);
	assert_int_equal(zp_node_sim_charged(f->sim, 0), charged0);
	assert_int_equal(zp_node_sim_charged(f->sim, 1), charged1);
	assert_int_equal(node_stats(f, 1).pages, CACHE);
	assert_int_equal(node_stats(f, 0).pages, CACHE - 2);
	assert_int_equal(node_stats(f, 0).fallback_zspages, CACHE - 2);
	/* Node 1 was waited for before node 0 served, and in vain. */
	assert_true(node_stats(f, 1).refill_waits >= 1);
	assert_true(node_stats(f, 1).refill_timeouts >= 1);
	assert_int_equal(node_stats(f, 1).refilled_pages, 0);
	/* A refill brings both caches back, and allocation goes on. */
	assert_int_equal(zp_pool_refill(f->pool), 2 * CACHE);
	assert_int_equal(node_stats(f, 1).refilled_pages, CACHE);
	assert_int_equal(alloc_on(f, 1), 0);
	assert_int_equal(node_stats(f, 1).pages, CACHE + 1);
}

static void test_strict(void **state)
{
	struct fixture *f = *state;
	unsigned int got = 0;

	fx_pool(f, ZP_NUMA_STRICT);
	while (alloc_on(f, 1) == 0)
		got++;
	assert_int_equal(got, CACHE);
	assert_int_equal(node_stats(f, 0).pages, 0);
	assert_true(node_stats(f, 1).refill_timeouts >= 1);
	assert_int_equal(alloc_on(f, 1), -ENOMEM);
}

static void *refill_main(void *arg)
{
	struct fixture *f = arg;

	while (!atomic_load(&f->stop)) {
		zp_pool_refill_wait(f->pool, 1000);
		zp_pool_refill(f->pool);
	}
	return NULL;
}

static void test_thread(void **state)
{
	struct fixture *f = *state;
	struct zp_node_stats st;
	const unsigned int n = 1000;

	fx_pool(f, ZP_NUMA_PREFERRED);
	assert_int_equal(pthread_create(&f->thread, NULL, refill_main, f), 0);
	f->running = true;
	for (unsigned int i = 0; i < n; i++) {
		memset(f->buf, (int)(i & 0xff), BIG);
		assert_int_equal(alloc_on(f, 1), 0);
		zp_pool_write(f->pool, f->h[i], f->buf, BIG);
	}
	st = node_stats(f, 1);
	/* Every zspage on node 1: the refill kept up, or was waited for. */
	assert_int_equal(st.pages, n);
	assert_int_equal(node_stats(f, 0).pages, 0);
	assert_int_equal(st.refill_timeouts, 0);
	assert_true(st.refilled_pages >= n - CACHE);
	for (unsigned int i = 0; i < n; i++) {
		const unsigned char *p = zp_pool_read_begin(f->pool, f->h[i]);

		assert_true(p[0] == (i & 0xff) && p[BIG - 1] == (i & 0xff));
		zp_pool_read_end(f->pool, f->h[i]);
	}
}

static void test_tables(void **state)
{
	struct fixture *f = *state;
	struct zp_pool_stats ps;
	struct zp_node_stats st;
	unsigned int n = 0;

	fx_pool(f, ZP_NUMA_PREFERRED);
	assert_int_equal(pthread_create(&f->thread, NULL, refill_main, f), 0);
	f->running = true;
	/* Four objects of each size from 16 bytes up, in rounds, so that
	 * the classes' tables keep asking for pages while zspages do. */
	for (unsigned int round = 0; round < 4; round++) {
		for (size_t size = 16; size <= BIG; size += 16) {
			zp_handle_t h;

			memset(f->buf, (int)(n & 0xff), size);
			assert_int_equal(zp_pool_malloc(f->pool, size, 1, &h), 0);
			zp_pool_write(f->pool, h, f->buf, size);
			assert_true(f->nr < NR_OBJS);
			f->h[f->nr++] = h;
			n++;
		}
	}
	zp_pool_stats(f->pool, &ps);
	st = node_stats(f, 1);
	print_message("# tables: %u objects, %llu table waits, %llu table "
		      "pages on node 0, %llu on node 1\n",
		      n, (unsigned long long)ps.table_waits,
		      (unsigned long long)node_stats(f, 0).table_pages,
		      (unsigned long long)st.table_pages);
	assert_int_equal(ps.malloc_fail, 0);
	assert_int_equal(st.refill_timeouts, 0);
	assert_int_equal(node_stats(f, 0).refill_timeouts, 0);
	assert_int_equal(st.fallback_zspages, 0);
	assert_int_equal(node_stats(f, 0).pages, 0);
	/* The tables' pages are the cache's, on the thread's node (0). */
	assert_true(node_stats(f, 0).table_pages > 0);
	zp_pool_validate(f->pool);
	n = 0;
	for (unsigned int round = 0; round < 4; round++) {
		for (size_t size = 16; size <= BIG; size += 16) {
			const unsigned char *p = zp_pool_read_begin(f->pool, f->h[n]);

			assert_true(p[0] == (n & 0xff) && p[size - 1] == (n & 0xff));
			zp_pool_read_end(f->pool, f->h[n]);
			n++;
		}
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *wake_later(void *arg)
{
	struct fixture *f = arg;
	struct timespec ts = {0, 50 * 1000 * 1000};

	nanosleep(&ts, NULL);
	zp_pool_refill_wake(f->pool);
	return NULL;
}

static void test_wait(void **state)
{
	struct fixture *f = *state;
	pthread_t t;
	double t0;

	fx_pool(f, ZP_NUMA_PREFERRED);
	t0 = now();
	assert_false(zp_pool_refill_wait(f->pool, 100));
	assert_true(now() - t0 >= 0.09);
	/* Half the cache of node 0 taken: a refill is wanted. */
	for (unsigned int i = 0; i <= CACHE / 2; i++)
		assert_int_equal(alloc_on(f, 0), 0);
	t0 = now();
	assert_true(zp_pool_refill_wait(f->pool, 5000));
	assert_true(now() - t0 < 1.0);
	/* Told once: the next wait waits. */
	assert_int_equal(pthread_create(&t, NULL, wake_later, f), 0);
	t0 = now();
	assert_false(zp_pool_refill_wait(f->pool, 5000));
	assert_true(now() - t0 < 2.0);
	pthread_join(t, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cache_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_strict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
