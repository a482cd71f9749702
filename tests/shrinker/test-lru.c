/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-lru.c - the LRU list with links in the caller's records
 * (shrinker/lru.c).
 *
 *   order   pushes go to the head, the oldest is at the tail, removal from
 *           the head, middle and tail and rotation keep both directions
 *           consistent and the length exact
 *   model   a long random sequence of pushes, removals and rotations on
 *           several lists sharing one record array, checked after every
 *           step against a plain array model by walking each list both
 *           ways
 *
 * Environment:
 *   ZP_TEST_SEED   seed (decimal or 0x...), printed when a test fails
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shrinker/lru.h"
#include "tests/testlib.h"

#define NR_RECORDS 64
#define NR_LISTS 3
#define MODEL_STEPS 20000

static uint64_t seed = 1;

struct record {
	struct shr_lru_link link;
	int list; /* -1: on none */
};

static struct record records[NR_RECORDS + 1]; /* refs 1..NR_RECORDS */

static struct shr_lru_link *link_of(void *ctx, uint64_t ref)
{
	assert_ptr_equal(ctx, records);
	assert_true(ref >= 1 && ref <= NR_RECORDS);
	return &records[ref].link;
}

/* Walk l both ways: it must hold exactly want[0..n), newest first. */
static void check_list(struct shr_lru *l, const uint64_t *want, size_t n)
{
	uint64_t ref, prev = 0;
	size_t i = 0;

	assert_int_equal(shr_lru_len(l), n);
	for (ref = l->head; ref; ref = records[ref].link.next, i++) {
		assert_true(i < n);
		assert_int_equal(ref, want[i]);
		assert_int_equal(records[ref].link.prev, prev);
		prev = ref;
	}
	assert_int_equal(i, n);
	assert_int_equal(l->tail, n ? want[n - 1] : 0);
	assert_int_equal(shr_lru_oldest(l), n ? want[n - 1] : 0);
	for (ref = l->tail; ref; ref = records[ref].link.prev)
		assert_int_equal(ref, want[--i]);
	assert_int_equal(i, 0);
}

static void test_order(void **state)
{
	struct shr_lru l;
	uint64_t want[4] = {0};

	(void)state;
	shr_lru_init(&l, link_of, records);
	shr_lru_lock(&l);
	check_list(&l, want, 0);
	for (uint64_t r = 1; r <= 4; r++)
		shr_lru_push(&l, r);
	memcpy(want, (uint64_t[]){4, 3, 2, 1}, sizeof(want));
	check_list(&l, want, 4);
	shr_lru_rotate(&l, 1); /* the oldest becomes the newest */
	memcpy(want, (uint64_t[]){1, 4, 3, 2}, sizeof(want));
	check_list(&l, want, 4);
	shr_lru_rotate(&l, 1); /* already the newest */
	check_list(&l, want, 4);
	shr_lru_remove(&l, 4); /* middle */
	memcpy(want, (uint64_t[]){1, 3, 2}, 3 * sizeof(*want));
	check_list(&l, want, 3);
	shr_lru_remove(&l, 1); /* head */
	shr_lru_remove(&l, 2); /* tail */
	memcpy(want, (uint64_t[]){3}, sizeof(*want));
	check_list(&l, want, 1);
	shr_lru_remove(&l, 3);
	check_list(&l, want, 0);
	shr_lru_unlock(&l);
	shr_lru_destroy(&l);
}

static void test_model(void **state)
{
	struct shr_lru lists[NR_LISTS];
	uint64_t model[NR_LISTS][NR_RECORDS];
	size_t len[NR_LISTS] = {0};
	uint64_t rng = zt_mix64(seed);
	int i;

	(void)state;
	for (i = 0; i < NR_LISTS; i++)
		shr_lru_init(&lists[i], link_of, records);
	for (uint64_t r = 1; r <= NR_RECORDS; r++)
		records[r].list = -1;
	for (int step = 0; step < MODEL_STEPS; step++) {
		uint64_t ref = zt_range(&rng, 1, NR_RECORDS);
		int on = records[ref].list;
		size_t pos = 0;

		if (on >= 0)
			while (model[on][pos] != ref)
				pos++;
		if (on < 0) {
			int to = (int)zt_below(&rng, NR_LISTS);

			shr_lru_lock(&lists[to]);
			shr_lru_push(&lists[to], ref);
			shr_lru_unlock(&lists[to]);
			memmove(&model[to][1], &model[to][0],
				len[to] * sizeof(uint64_t));
			model[to][0] = ref;
			len[to]++;
			records[ref].list = to;
		} else if (zt_chance(&rng, 50)) {
			shr_lru_lock(&lists[on]);
			shr_lru_remove(&lists[on], ref);
			shr_lru_unlock(&lists[on]);
			memmove(&model[on][pos], &model[on][pos + 1],
				(len[on] - pos - 1) * sizeof(uint64_t));
			len[on]--;
			records[ref].list = -1;
		} else {
			shr_lru_lock(&lists[on]);
			shr_lru_rotate(&lists[on], ref);
			shr_lru_unlock(&lists[on]);
			memmove(&model[on][1], &model[on][0],
				pos * sizeof(uint64_t));
			model[on][0] = ref;
		}
		for (i = 0; i < NR_LISTS; i++)
			check_list(&lists[i], model[i], len[i]);
	}
	for (i = 0; i < NR_LISTS; i++)
		shr_lru_destroy(&lists[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_model),
	};

	seed = zt_env_u64("test-lru", "ZP_TEST_SEED", 1);
	print_message("test-lru: ZP_TEST_SEED=0x%" PRIx64 "\n", seed);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
