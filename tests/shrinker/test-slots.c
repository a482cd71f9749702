/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-slots.c - the slot allocator of the backing store (shrinker/slots.c).
 *
 *   errors     no slots, more slots than a file can address, a run of no
 *              slots: -EINVAL and nothing changed; destroy(NULL)
 *   counts     used and total exact after every step, for sizes around
 *              the 64-slot words of the bitmap
 *   runs       an empty allocator gives the whole run asked for, the cursor
 *              goes on where the last run ended and wraps around, a run
 *              never wraps past the last slot, a full allocator says
 *              -ENOSPC, a run of the full length ahead wins over a shorter
 *              hole, the longest short run wins over the other short ones,
 *              and holes of one slot are used when nothing longer is free
 *   tails      sizes that are not multiples of 64 never hand out a slot at
 *              or past the total, however they are filled and emptied
 *   far        in a file much larger than the search window, a free slot
 *              or run far from the cursor is still found
 *   broken     freeing a free slot, or past the end, aborts (in a child)
 *   model      a long random sequence of allocations and frees, checked
 *              against a plain array of flags: no run overlaps a live one,
 *              runs are cut only where a used slot or the end is, the
 *              cursor's run is taken when it is long enough, and the counts
 *              agree
 *   threads    four threads allocate and free their own runs at once and
 *              claim every slot they get in an array of atomic owners: a
 *              slot given to two threads at a time shows
 *
 * Environment:
 *   ZP_TEST_SEED   base seed (decimal or 0x...), printed when a test fails
 *   ZP_TEST_STEPS  operations of the model test per size (default 300000)
 *   ZP_TEST_ITERS  operations per thread of the threads test (default
 *                  200000, 50000 under ThreadSanitizer)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shrinker/slots.h"
#include "tests/check.h"
#include "tests/testlib.h"
#include "zp-assert.h"
#include "zp-compiler.h"

#define DEFAULT_SEED  0x7a706f6f6c640004ull /* "zpoold" 4 */
#define DEFAULT_STEPS 300000ull

/* ThreadSanitizer makes the threads test about ten times slower; the
 * defaults keep it under a second in either build. */
#if defined(__SANITIZE_THREAD__)
#define TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN_BUILD 1
#endif
#endif
#if defined(TSAN_BUILD)
#define DEFAULT_ITERS 50000ull
#else
#define DEFAULT_ITERS 200000ull
#endif

#define NR_THREADS 4
/* Not a multiple of 64. The threads would hold about twice as many slots
 * (4 x 48 runs of 12.5 on average): the file stays nearly full, so runs
 * interleave closely, come out short and meet -ENOSPC now and then. */
#define THREAD_SLOTS 1001
/* Runs a thread holds at most, and the longest run it asks for. */
#define THREAD_RUNS 48
#define THREAD_WANT 24

/* Far larger than the allocator's search window (64 Ki slots). */
#define FAR_SLOTS (1u << 20)

/* ------------------------------------------------------------------------ */
/* Seeds, failure context                                                   */
/* ------------------------------------------------------------------------ */

static uint64_t base_seed = DEFAULT_SEED;
static uint64_t nr_steps = DEFAULT_STEPS;
static uint64_t nr_iters = DEFAULT_ITERS;

/* What the running test is doing, for the failure report (teardown) and for
 * an abort inside the allocator (zp_assert). */
static struct {
	const char *phase;
	uint64_t total;
	volatile uint64_t step;
	bool passed;
} ctx;

static const struct zt_field where_fields[] = {
	{"phase", ZT_FIELD_STR, &ctx.phase},
	{"total", ZT_FIELD_U64, &ctx.total},
	{"step", ZT_FIELD_U64, &ctx.step},
	{NULL},
};
static const struct zt_field rerun_fields[] = {
	{"ZP_TEST_SEED", ZT_FIELD_HEX, &base_seed},
	{"ZP_TEST_STEPS", ZT_FIELD_U64, &nr_steps},
	{"ZP_TEST_ITERS", ZT_FIELD_U64, &nr_iters},
	{NULL},
};

static int setup(void **state)
{
	memset(&ctx, 0, sizeof(ctx));
	*state = NULL;
	return 0;
}

/* After a failure the allocator may be corrupt: each test leaks it then,
 * so that the report comes out and the other tests still run. */
static int teardown(void **state)
{
	(void)state;
	if (!ctx.passed)
		zt_report_failure();
	memset(&ctx, 0, sizeof(ctx));
	return 0;
}

#define check(c, fmt, ...)                                       \
	do {                                                     \
		if (!(c))                                        \
			fail_msg("%s: " fmt, #c, ##__VA_ARGS__); \
	} while (0)

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static struct shr_slots *new_slots(uint64_t nr_slots)
{
	struct shr_slots *s = NULL;
	int ret = shr_slots_create(nr_slots, &s);

	if (ret)
		fail_msg("shr_slots_create(%" PRIu64 "): %d", nr_slots, ret);
	ctx.total = nr_slots;
	return s;
}

/* alloc(want) must give exactly the run first..first+got-1. */
#define expect_run(s, want, first, got) \
	expect_run_at(s, want, first, got, __LINE__)

static void expect_run_at(struct shr_slots *s, unsigned int want,
			  uint64_t first, unsigned int got, int line)
{
	uint64_t f = UINT64_MAX;
	unsigned int g = 0;
	int ret = shr_slots_alloc(s, want, &f, &g);

	if (ret || f != first || g != got)
		fail_msg("line %d: alloc(%u) = %d, run %" PRIu64 "+%u; "
			 "expected run %" PRIu64 "+%u",
			 line, want, ret, f, g, first, got);
}

#define expect_enospc(s, want) expect_enospc_at(s, want, __LINE__)

static void expect_enospc_at(struct shr_slots *s, unsigned int want, int line)
{
	uint64_t f = 12345;
	unsigned int g = 678;
	int ret = shr_slots_alloc(s, want, &f, &g);

	if (ret != -ENOSPC || f != 12345 || g != 678)
		fail_msg("line %d: alloc(%u) = %d, run %" PRIu64 "+%u; "
			 "expected -ENOSPC and the outputs left alone",
			 line, want, ret, f, g);
}

/* Every slot in first..first+n-1 is allocated (used) or free (!used). */
static void expect_state(const struct shr_slots *s, uint64_t first, uint64_t n,
			 bool used)
{
	for (uint64_t i = first; i < first + n; i++)
		if (shr_slots_is_used(s, i) != used)
			fail_msg("slot %" PRIu64 " is %s, expected %s", i,
				 used ? "free" : "used",
				 used ? "used" : "free");
}

/* An allocator of nr_slots with every slot allocated and the cursor back
 * at slot 0. */
static struct shr_slots *new_full(uint64_t nr_slots)
{
	struct shr_slots *s = new_slots(nr_slots);

	expect_run(s, (unsigned int)nr_slots, 0, (unsigned int)nr_slots);
	check_eq(shr_slots_used(s), nr_slots);
	return s;
}

/* ------------------------------------------------------------------------ */
/* Errors and counts                                                        */
/* ------------------------------------------------------------------------ */

static void test_errors(void **state)
{
	static char sentinel;
	struct shr_slots *s = (struct shr_slots *)&sentinel;
	uint64_t first = 12345;
	unsigned int got = 678;

	(void)state;
	ctx.phase = "errors";
	check_eq(shr_slots_create(0, &s), -EINVAL);
	check(s == (struct shr_slots *)&sentinel, "create changed *out");
	/* 2^51 slots of 4 KiB are as much as an off_t addresses. */
	check_eq(shr_slots_create((1ull << 51) + 1, &s), -EINVAL);
	check_eq(shr_slots_create(UINT64_MAX, &s), -EINVAL);
	check(s == (struct shr_slots *)&sentinel, "create changed *out");
	shr_slots_destroy(NULL);

	s = new_slots(10);
	check_eq(shr_slots_alloc(s, 0, &first, &got), -EINVAL);
	check_eq(first, 12345);
	check_eq(got, 678);
	check_eq(shr_slots_used(s), 0);
	shr_slots_free(s, 0, 0);
	shr_slots_free(s, 10, 0);
	check_eq(shr_slots_used(s), 0);
	/* The refused calls did not move the cursor. */
	expect_run(s, 1, 0, 1);
	shr_slots_free(s, 0, 0);
	check_eq(shr_slots_used(s), 1);
	expect_state(s, 0, 1, true);
	shr_slots_destroy(s);
	ctx.passed = true;
}

static void test_counts(void **state)
{
	static const uint64_t sizes[] = {1, 2, 63, 64, 65, 128, 1000, 4097};

	(void)state;
	ctx.phase = "counts";
	for (size_t k = 0; k < ZP_ARRAY_SIZE(sizes); k++) {
		uint64_t n = sizes[k];
		struct shr_slots *s = new_slots(n);
		uint64_t first;
		unsigned int got;

		check_eq(shr_slots_total(s), n);
		check_eq(shr_slots_used(s), 0);
		expect_state(s, 0, n, false);

		/* One slot at a time, in order, until full. */
		for (uint64_t i = 0; i < n; i++) {
			ctx.step = i;
			expect_run(s, 1, i, 1);
			check_eq(shr_slots_used(s), i + 1);
			check_eq(shr_slots_total(s), n);
		}
		expect_state(s, 0, n, true);
		expect_enospc(s, 1);

		/* Every other slot back, then the rest. */
		for (uint64_t i = 0; i < n; i += 2)
			shr_slots_free(s, i, 1);
		check_eq(shr_slots_used(s), n / 2);
		for (uint64_t i = 0; i < n; i++)
			check_eq(shr_slots_is_used(s, i), i % 2);
		for (uint64_t i = 1; i < n; i += 2)
			shr_slots_free(s, i, 1);
		check_eq(shr_slots_used(s), 0);

		/* A run longer than the file is cut at its end. */
		check_eq(shr_slots_alloc(s, UINT_MAX, &first, &got), 0);
		check_eq(first, 0);
		check_eq(got, n);
		check_eq(shr_slots_used(s), n);
		shr_slots_free(s, 0, (unsigned int)n);
		check_eq(shr_slots_used(s), 0);
		expect_state(s, 0, n, false);
		shr_slots_destroy(s);
	}
	ctx.passed = true;
}

/* ------------------------------------------------------------------------ */
/* Runs                                                                     */
/* ------------------------------------------------------------------------ */

static void test_sequential(void **state)
{
	struct shr_slots *s;

	(void)state;
	ctx.phase = "sequential";
	s = new_slots(1000);
	expect_run(s, 16, 0, 16);
	expect_run(s, 8, 16, 8);
	expect_run(s, 1, 24, 1);
	check_eq(shr_slots_used(s), 25);
	expect_state(s, 0, 25, true);
	expect_state(s, 25, 975, false);

	/* A freed run behind the cursor waits until the cursor comes round. */
	shr_slots_free(s, 0, 16);
	check_eq(shr_slots_used(s), 9);
	expect_run(s, 8, 25, 8);
	/* To the end of the file, not across it. */
	expect_run(s, 2000, 33, 967);
	/* The cursor wrapped: the hole at the start is next, as long as it
	 * is. */
	expect_run(s, 100, 0, 16);
	check_eq(shr_slots_used(s), 1000);
	expect_enospc(s, 1);
	shr_slots_destroy(s);
	ctx.passed = true;
}

static void test_wrap_around(void **state)
{
	struct shr_slots *s;

	(void)state;
	ctx.phase = "wrap-around";
	s = new_slots(100);
	expect_run(s, 60, 0, 60);
	expect_run(s, 30, 60, 30);
	shr_slots_free(s, 0, 60);
	/* Ahead of the cursor only 90..99 is free, too short; past the wrap
	 * the freed run holds the whole length. */
	expect_run(s, 20, 0, 20);
	expect_run(s, 10, 20, 10);
	/* Nothing of 50 anywhere: the longest run ahead, 30..59, beats
	 * 90..99. */
	expect_run(s, 50, 30, 30);
	expect_run(s, 5, 90, 5);
	expect_run(s, 5, 95, 5);
	expect_enospc(s, 1);
	/* The cursor wrapped to slot 0: 5 comes before 50. */
	shr_slots_free(s, 50, 1);
	shr_slots_free(s, 5, 1);
	expect_run(s, 1, 5, 1);
	expect_run(s, 1, 50, 1);
	shr_slots_destroy(s);

	/* A run never wraps: 90..99 and 0..9 are free but not consecutive. */
	s = new_slots(100);
	expect_run(s, 90, 0, 90);
	shr_slots_free(s, 0, 10);
	expect_run(s, 20, 90, 10);
	expect_run(s, 20, 0, 10);
	expect_enospc(s, 20);
	shr_slots_destroy(s);
	ctx.passed = true;
}

static void test_full(void **state)
{
	struct shr_slots *s;

	(void)state;
	ctx.phase = "full";
	s = new_full(65);
	expect_enospc(s, 1);
	expect_enospc(s, 100);
	shr_slots_free(s, 64, 1);
	check_eq(shr_slots_used(s), 64);
	expect_run(s, 7, 64, 1);
	expect_enospc(s, 1);
	shr_slots_free(s, 0, 65);
	check_eq(shr_slots_used(s), 0);
	expect_run(s, 65, 0, 65);
	shr_slots_destroy(s);
	ctx.passed = true;
}

static void test_prefer_full_run(void **state)
{
	struct shr_slots *s;

	(void)state;
	ctx.phase = "prefer-full-run";
	s = new_full(1000);
	shr_slots_free(s, 10, 1);
	shr_slots_free(s, 300, 3);
	shr_slots_free(s, 500, 40);
	/* The holes at 10 and 300 come first from the cursor, but are
	 * short. */
	expect_run(s, 32, 500, 32);
	/* Nothing of 32 left: the longest run, and from the cursor on. */
	expect_run(s, 32, 532, 8);
	expect_run(s, 32, 300, 3);
	expect_run(s, 32, 10, 1);
	expect_enospc(s, 1);
	check_eq(shr_slots_used(s), 1000);

	/* The first run of the full length wins, not a longer one. */
	shr_slots_free(s, 100, 20);
	shr_slots_free(s, 200, 50);
	expect_run(s, 16, 100, 16);
	expect_run(s, 16, 200, 16);
	shr_slots_destroy(s);
	ctx.passed = true;
}

static void test_hole_of_one(void **state)
{
	struct shr_slots *s;

	(void)state;
	ctx.phase = "hole-of-one";
	s = new_full(1000);
	shr_slots_free(s, 10, 1);
	shr_slots_free(s, 700, 1);
	expect_run(s, 8, 10, 1);
	expect_run(s, 8, 700, 1);
	expect_enospc(s, 8);
	/* The slots on either side of a word boundary. */
	shr_slots_free(s, 63, 1);
	shr_slots_free(s, 64, 1);
	expect_run(s, 8, 63, 2);
	/* The last slot, in the part-used last word. */
	shr_slots_free(s, 999, 1);
	expect_run(s, 8, 999, 1);
	check_eq(shr_slots_used(s), 1000);
	shr_slots_destroy(s);
	ctx.passed = true;
}

/* ------------------------------------------------------------------------ */
/* Tails and far runs                                                       */
/* ------------------------------------------------------------------------ */

struct held {
	uint64_t first;
	unsigned int n;
};

/* Allocate runs of random lengths until -ENOSPC, checking each against
 * taken[]; returns the number of runs added to runs[]. */
static size_t fill_random(struct shr_slots *s, uint64_t total, bool *taken,
			  struct held *runs, size_t nr, uint64_t *rng)
{
	for (;;) {
		unsigned int want = (unsigned int)zt_range(rng, 1, 70);
		uint64_t first = UINT64_MAX;
		unsigned int got = 0;
		int ret = shr_slots_alloc(s, want, &first, &got);

		if (ret == -ENOSPC)
			break;
		check_eq(ret, 0);
		check(got >= 1 && got <= want, "got %u of %u", got, want);
		check(first < total && got <= total - first,
		      "run %" PRIu64 "+%u past the total %" PRIu64, first, got,
		      total);
		for (uint64_t i = first; i < first + got; i++) {
			check(!taken[i], "slot %" PRIu64 " handed out twice",
			      i);
			taken[i] = true;
		}
		runs[nr++] = (struct held){first, got};
	}
	for (uint64_t i = 0; i < total; i++)
		check(taken[i], "slot %" PRIu64 " free at -ENOSPC", i);
	return nr;
}

static void test_tails(void **state)
{
	static const uint64_t sizes[] = {1, 63, 65, 127, 129, 1000, 4097};
	uint64_t rng = base_seed;

	(void)state;
	ctx.phase = "tails";
	for (size_t k = 0; k < ZP_ARRAY_SIZE(sizes); k++) {
		uint64_t total = sizes[k];
		struct shr_slots *s = new_slots(total);
		bool *taken = calloc(total, sizeof(*taken));
		struct held *runs = calloc(total, sizeof(*runs));
		size_t nr = 0;

		assert_non_null(taken);
		assert_non_null(runs);
		for (unsigned int round = 0; round < 20; round++) {
			ctx.step = round;
			nr = fill_random(s, total, taken, runs, nr, &rng);
			check_eq(shr_slots_used(s), total);
			/* Free about half the runs, in random order. */
			for (size_t i = 0; i < nr;) {
				if (zt_chance(&rng, 50)) {
					i++;
					continue;
				}
				shr_slots_free(s, runs[i].first, runs[i].n);
				memset(taken + runs[i].first, 0, runs[i].n);
				runs[i] = runs[--nr];
			}
			for (uint64_t i = 0; i < total; i++)
				check_eq(shr_slots_is_used(s, i), taken[i]);
		}
		for (size_t i = 0; i < nr; i++)
			shr_slots_free(s, runs[i].first, runs[i].n);
		check_eq(shr_slots_used(s), 0);
		free(runs);
		free(taken);
		shr_slots_destroy(s);
	}
	ctx.passed = true;
}

static void test_far(void **state)
{
	struct shr_slots *s;
	uint64_t first, got_total = 0;
	unsigned int got;

	(void)state;
	ctx.phase = "far";
	s = new_full(FAR_SLOTS);

	/* One free slot, the file's length away from the cursor. */
	shr_slots_free(s, FAR_SLOTS - 3, 1);
	expect_run(s, 64, FAR_SLOTS - 3, 1);
	/* The only free run, far behind the cursor. */
	shr_slots_free(s, 600000, 64);
	expect_run(s, 64, 600000, 64);

	/* Two places far away: whichever comes first, everything free must be
	 * found before -ENOSPC. */
	shr_slots_free(s, 10, 1);
	shr_slots_free(s, 800000, 64);
	for (;;) {
		int ret = shr_slots_alloc(s, 64, &first, &got);

		if (ret == -ENOSPC)
			break;
		check_eq(ret, 0);
		check((first == 10 && got == 1) ||
			      (first >= 800000 && first + got <= 800064),
		      "run %" PRIu64 "+%u was not free", first, got);
		got_total += got;
	}
	check_eq(got_total, 65);
	check_eq(shr_slots_used(s), FAR_SLOTS);
	shr_slots_destroy(s);
	ctx.passed = true;
}

/* ------------------------------------------------------------------------ */
/* Broken invariants                                                        */
/* ------------------------------------------------------------------------ */

/* Run shr_slots_free(first, n) on an allocator of 100 slots whose slots
 * 0..49 are allocated, in a child: it must die of SIGABRT. */
static void expect_abort(uint64_t first, unsigned int n)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct shr_slots *s;
		uint64_t f;
		unsigned int g;
		int null = open("/dev/null", O_WRONLY);

		signal(SIGABRT, SIG_DFL);
		if (null >= 0)
			dup2(null, STDERR_FILENO);
		if (shr_slots_create(100, &s) ||
		    shr_slots_alloc(s, 50, &f, &g) || f != 0 || g != 50)
			_exit(2);
		shr_slots_free(s, first, n);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
		fail_msg("free(%" PRIu64 ", %u) did not abort: status %#x",
			 first, n, status);
}

static void test_broken(void **state)
{
	(void)state;
	ctx.phase = "broken";
	if (ZP_DEBUG < 1)
		skip();
	expect_abort(50, 1);  /* never allocated */
	expect_abort(49, 2);  /* half allocated */
	expect_abort(100, 1); /* past the end */
	expect_abort(99, 2);  /* across the end */
	expect_abort(0, 101);
	ctx.passed = true;
}

/* ------------------------------------------------------------------------ */
/* Against a model                                                          */
/* ------------------------------------------------------------------------ */

struct model {
	uint64_t total;
	bool *used;	   /* per slot */
	struct held *runs; /* what the test holds, one entry per live run */
	size_t nr_runs;
	uint64_t nr_used;
	uint64_t cursor; /* where the allocator must go on from */
};

/* Length of the free run at slot, up to limit. */
static uint64_t free_run_at(const struct model *m, uint64_t slot,
			    uint64_t limit)
{
	uint64_t n = 0;

	while (n < limit && slot + n < m->total && !m->used[slot + n])
		n++;
	return n;
}

static void model_alloc(struct shr_slots *s, struct model *m, uint64_t *rng)
{
	unsigned int r = (unsigned int)zt_below(rng, 100);
	unsigned int want = r < 60   ? (unsigned int)zt_range(rng, 1, 64)
			    : r < 95 ? (unsigned int)zt_range(rng, 1, 8)
			    : r < 99 ? (unsigned int)zt_range(rng, 65, 700)
				     : UINT_MAX;
	uint64_t first = UINT64_MAX;
	unsigned int got = 0;
	int ret = shr_slots_alloc(s, want, &first, &got);
	uint64_t ahead;

	if (m->nr_used == m->total) {
		check_eq(ret, -ENOSPC);
		return;
	}
	check_eq(ret, 0);
	check(got >= 1 && got <= want, "got %u of %u", got, want);
	check(first < m->total && got <= m->total - first,
	      "run %" PRIu64 "+%u past the total %" PRIu64, first, got,
	      m->total);
	for (uint64_t i = first; i < first + got; i++)
		check(!m->used[i],
		      "slot %" PRIu64 " of run %" PRIu64 "+%u "
		      "is allocated already",
		      i, first, got);
	/* Cut short only by an allocated slot or the end of the file. */
	if (got < want && first + got < m->total)
		check(m->used[first + got],
		      "run %" PRIu64
		      "+%u of %u stops before free slot %" PRIu64,
		      first, got, want, first + got);
	/* Next-fit: a run at the cursor long enough is taken first. */
	ahead = free_run_at(m, m->cursor, want);
	if (ahead == want)
		check(first == m->cursor && got == want,
		      "run %" PRIu64 "+%u, though %u slots were free at the "
		      "cursor %" PRIu64,
		      first, got, want, m->cursor);

	for (uint64_t i = first; i < first + got; i++)
		m->used[i] = true;
	m->nr_used += got;
	m->cursor = (first + got) % m->total;
	m->runs[m->nr_runs++] = (struct held){first, got};
}

/* Free a random live run: whole, or a random piece of it, which leaves
 * the rest of the run live in one or two pieces. */
static void model_free(struct shr_slots *s, struct model *m, uint64_t *rng)
{
	size_t k = (size_t)zt_below(rng, m->nr_runs);
	struct held run = m->runs[k];
	uint64_t off = 0, n = run.n;

	if (run.n > 1 && zt_chance(rng, 30)) {
		off = zt_below(rng, run.n);
		n = zt_range(rng, 1, run.n - off);
	}
	shr_slots_free(s, run.first + off, (unsigned int)n);
	for (uint64_t i = run.first + off; i < run.first + off + n; i++)
		m->used[i] = false;
	m->nr_used -= n;

	m->runs[k] = m->runs[--m->nr_runs];
	if (off)
		m->runs[m->nr_runs++] =
			(struct held){run.first, (unsigned int)off};
	if (off + n < run.n)
		m->runs[m->nr_runs++] = (struct held){
			run.first + off + n, (unsigned int)(run.n - off - n)};
}

static void run_model(uint64_t total, uint64_t seed)
{
	struct model m = {.total = total};
	struct shr_slots *s = new_slots(total);
	/* The load rises from a fifth to past full and falls back, so that
	 * the allocator works through every degree of fragmentation and
	 * meets -ENOSPC on the way. */
	const uint64_t wave = 40000;
	const uint64_t every = ZP_MAX(nr_steps / 16, (uint64_t)1);
	uint64_t rng = seed;

	m.used = calloc(total, sizeof(*m.used));
	m.runs = calloc(total, sizeof(*m.runs));
	assert_non_null(m.used);
	assert_non_null(m.runs);
	for (uint64_t step = 0; step < nr_steps; step++) {
		uint64_t phase = step % wave;
		uint64_t tri = phase < wave / 2 ? phase : wave - phase;
		uint64_t target = total / 5 + tri * total * 2 / wave;
		bool grow = m.nr_used < target;

		ctx.step = step;
		if (!m.nr_runs || zt_chance(&rng, grow ? 75 : 25))
			model_alloc(s, &m, &rng);
		else
			model_free(s, &m, &rng);
		check_eq(shr_slots_used(s), m.nr_used);
		check_eq(shr_slots_total(s), total);
		if (step % every == 0)
			for (uint64_t i = 0; i < total; i++)
				if (shr_slots_is_used(s, i) != m.used[i])
					fail_msg("slot %" PRIu64 ": allocator "
						 "says %d, model %d",
						 i, !m.used[i], m.used[i]);
	}
	while (m.nr_runs)
		model_free(s, &m, &rng);
	check_eq(shr_slots_used(s), 0);
	free(m.runs);
	free(m.used);
	shr_slots_destroy(s);
}

static void test_model_small(void **state)
{
	(void)state;
	ctx.phase = "model, file inside the window";
	run_model(4999, zt_mix64(base_seed + 1));
	ctx.passed = true;
}

static void test_model_large(void **state)
{
	(void)state;
	ctx.phase = "model, file past the window";
	/* Three times the allocator's window, so that the window's bounds
	 * and the search beyond it are taken. */
	run_model(3 * 65536 + 17, zt_mix64(base_seed + 2));
	ctx.passed = true;
}

/* ------------------------------------------------------------------------ */
/* Threads                                                                  */
/* ------------------------------------------------------------------------ */

struct worker {
	pthread_t thread;
	unsigned int id; /* 1-based: owner 0 means free */
	uint64_t rng;
	struct shr_slots *s;
	_Atomic unsigned int *owner; /* per slot */
	pthread_barrier_t *start;
	atomic_bool *failed;
	struct held runs[THREAD_RUNS];
	size_t nr_runs;
	uint64_t allocs, frees, enospc;
	char error[256]; /* the first thing that went wrong */
};

static void worker_fail(struct worker *w, const char *what, uint64_t slot,
			unsigned int other)
{
	if (!w->error[0])
		snprintf(w->error, sizeof(w->error),
			 "worker %u: slot %" PRIu64 ": %s (owner %u)", w->id,
			 slot, what, other);
	atomic_store(w->failed, true);
}

/* Give run k back: release its slots in owner[] first, so that no other
 * worker can be handed one while it still shows as ours. */
static void worker_free(struct worker *w, size_t k)
{
	struct held run = w->runs[k];
	unsigned int part = run.n;

	for (uint64_t i = run.first; i < run.first + run.n; i++) {
		unsigned int o = atomic_load_explicit(&w->owner[i],
						      memory_order_relaxed);

		if (o != w->id)
			worker_fail(w, "taken from its owner", i, o);
		atomic_store_explicit(&w->owner[i], 0, memory_order_release);
	}
	/* Sometimes in two calls, as blocks of a batch die one by one. */
	if (run.n > 1 && zt_chance(&w->rng, 30))
		part = (unsigned int)zt_range(&w->rng, 1, run.n - 1);
	shr_slots_free(w->s, run.first, part);
	if (part < run.n)
		shr_slots_free(w->s, run.first + part, run.n - part);
	w->runs[k] = w->runs[--w->nr_runs];
	w->frees++;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(w->start);
	for (uint64_t it = 0; it < nr_iters && !atomic_load(w->failed); it++) {
		unsigned int want;
		uint64_t first;
		unsigned int got;
		int ret;

		if (w->nr_runs &&
		    (w->nr_runs == THREAD_RUNS || zt_chance(&w->rng, 45))) {
			worker_free(w, (size_t)zt_below(&w->rng, w->nr_runs));
			continue;
		}
		want = (unsigned int)zt_range(&w->rng, 1, THREAD_WANT);
		ret = shr_slots_alloc(w->s, want, &first, &got);
		if (ret == -ENOSPC) {
			w->enospc++;
			continue;
		}
		if (ret || got < 1 || got > want || first >= THREAD_SLOTS ||
		    got > THREAD_SLOTS - first) {
			worker_fail(w, "bad run", first, (unsigned int)ret);
			break;
		}
		for (uint64_t i = first; i < first + got; i++) {
			unsigned int o = 0;

			if (!atomic_compare_exchange_strong_explicit(
				    &w->owner[i], &o, w->id,
				    memory_order_acquire, memory_order_relaxed))
				worker_fail(w, "handed out twice", i, o);
		}
		w->runs[w->nr_runs++] = (struct held){first, got};
		w->allocs++;
	}
	return NULL;
}

static void test_threads(void **state)
{
	static struct worker workers[NR_THREADS];
	_Atomic unsigned int *owner;
	pthread_barrier_t start;
	atomic_bool failed = false;
	struct shr_slots *s;
	uint64_t held = 0;

	(void)state;
	ctx.phase = "threads";
	s = new_slots(THREAD_SLOTS);
	owner = calloc(THREAD_SLOTS, sizeof(*owner));
	assert_non_null(owner);
	assert_int_equal(pthread_barrier_init(&start, NULL, NR_THREADS), 0);
	for (unsigned int i = 0; i < NR_THREADS; i++) {
		struct worker *w = &workers[i];

		memset(w, 0, sizeof(*w));
		w->id = i + 1;
		w->rng = zt_mix64(base_seed + 100 + i);
		w->s = s;
		w->owner = owner;
		w->start = &start;
		w->failed = &failed;
		assert_int_equal(
			pthread_create(&w->thread, NULL, worker_main, w), 0);
	}
	for (unsigned int i = 0; i < NR_THREADS; i++)
		assert_int_equal(pthread_join(workers[i].thread, NULL), 0);
	pthread_barrier_destroy(&start);

	for (unsigned int i = 0; i < NR_THREADS; i++) {
		struct worker *w = &workers[i];

		if (w->error[0])
			fail_msg("%s", w->error);
		print_message("# worker %u: %" PRIu64 " allocations, %" PRIu64
			      " frees, %" PRIu64 " -ENOSPC\n",
			      w->id, w->allocs, w->frees, w->enospc);
		check(w->allocs > nr_iters / 4, "worker %u allocated little",
		      w->id);
		for (size_t k = 0; k < w->nr_runs; k++)
			held += w->runs[k].n;
	}
	check_eq(shr_slots_used(s), held);
	for (uint64_t i = 0; i < THREAD_SLOTS; i++)
		check_eq(shr_slots_is_used(s, i), owner[i] != 0);
	for (unsigned int i = 0; i < NR_THREADS; i++)
		while (workers[i].nr_runs)
			worker_free(&workers[i], 0);
	check_eq(shr_slots_used(s), 0);
	free(owner);
	shr_slots_destroy(s);
	ctx.passed = true;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sequential, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wrap_around, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefer_full_run, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hole_of_one, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_far, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_model_small, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_model_large, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};

	base_seed = zt_env_u64("test-slots", "ZP_TEST_SEED", DEFAULT_SEED);
	nr_steps = zt_env_u64("test-slots", "ZP_TEST_STEPS", DEFAULT_STEPS);
	nr_iters = zt_env_u64("test-slots", "ZP_TEST_ITERS", DEFAULT_ITERS);
	zt_report_setup("test-slots", where_fields, rerun_fields);
	print_message("test-slots: ZP_TEST_SEED=0x%" PRIx64
		      " ZP_TEST_STEPS=%" PRIu64 " ZP_TEST_ITERS=%" PRIu64 "\n",
		      base_seed, nr_steps, nr_iters);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
