/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-rss.c - the pool's resident memory, measured on the whole process,
 * and its locking.
 *
 * 1 GiB of objects must make the process grow by about that much, and
 * freeing them must give it back: the pool returns the pages of dead
 * zspages to the system and keeps only its small cache. Every page the pool
 * maps must stay locked, those it reuses after giving them back included,
 * because a swap daemon whose own memory is swapped out waits on itself.
 *
 * The pool keeps the pages of dead zspages cached for a while
 * (release_delay_ms) before it returns them; zp_pool_trim() returns them at
 * once. The phases: 1 GiB allocated; all but one object in 512 freed, so
 * that most zspages die while nearly every chunk lives on and only
 * page-by-page return can shrink the process, then trimmed; 256 MiB
 * allocated into those returned pages; everything freed and trimmed;
 * 256 MiB allocated again and freed, and this time the memory must come
 * back by itself within a few release delays of the next operations; the
 * pool destroyed, after which neither resident nor locked memory may remain.
 *
 * Locking is read from /proc/self/smaps: every mapping that overlaps a range
 * the pool reports (zp_pool_for_each_mapping) must be marked locked ("lo" in
 * VmFlags) with all its resident memory counted as locked. Reserved address
 * space without access (---p) holds no memory and is exempt.
 *
 * The test measures the whole process, so it runs in plain builds only:
 * sanitizers keep shadow memory and quarantines of their own.
 *
 * Environment:
 *   ZP_TEST_SEED  seed of the object sizes (decimal or 0x...), printed when a
 *                 test fails
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
#include "tests/testlib.h"
#include "zp-compiler.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#define DEFAULT_SEED 0x7a706f6f6c640003ull /* "zpoold" 3 */

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)

#define FIRST_BYTES  GIB
#define SECOND_BYTES (256 * MIB)
#define MIN_SIZE     64u
#define MAX_SIZE     4096u
/* The objects must show in the resident size: at least 90% of their bytes
 * (the pool adds its waste and tables on top). */
#define GROWTH_PERCENT 90
/* What may stay resident after everything is freed: the node caches, the
 * handle and zspage tables' first segments, allocator state. 5% of the
 * first phase, but never less than 8 MiB. */
#define SLACK_BYTES ZP_MAX(FIRST_BYTES / 20, 8 * MIB)
/* One object in this many survives the partial free: a few per 4 MiB chunk
 * (about 2,000 objects), so that chunks stay while most zspages die. */
#define KEEP_EVERY 512
/* Waits for the delayed release: the pool promises the memory within about
 * two delays of its next operations; one more for a loaded machine. */
#define RELEASE_ROUNDS	  3
#define RELEASE_MARGIN_MS 100
/* After destroy only the test's own allocations remain. */
#define DESTROY_SLACK_BYTES (8 * MIB)

static uint64_t seed = DEFAULT_SEED;

static struct {
	const char *phase;
	bool passed;
} ctx;

/* Async-signal-safe: no stdio. */
static void report_abort(int sig)
{
	char buf[256];
	size_t n = 0;

	zt_put_str(buf, &n, sizeof(buf), "test-rss: aborted: ");
	zt_put_str(buf, &n, sizeof(buf), ctx.phase ? ctx.phase : "(none)");
	zt_put_str(buf, &n, sizeof(buf), "; rerun with ZP_TEST_SEED=0x");
	zt_put_num(buf, &n, sizeof(buf), seed, 16);
	zt_put_str(buf, &n, sizeof(buf), "\n");
	zt_die_with(sig, buf, n);
}

#define check(c, fmt, ...)                                      \
	do {                                                    \
		if (!(c))                                       \
			fail_msg("%s: %s: " fmt, ctx.phase, #c, \
				 ##__VA_ARGS__);                \
	} while (0)

#define check_eq(a, b)                                                    \
	do {                                                              \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);          \
		if (a_ != b_)                                             \
			fail_msg("%s: %s == %s: %" PRIu64 " != %" PRIu64, \
				 ctx.phase, #a, #b, a_, b_);              \
	} while (0)

/* ------------------------------------------------------------------------ */
/* /proc                                                                    */
/* ------------------------------------------------------------------------ */

/* A "Name:   123 kB" line of /proc/self/status, in bytes. */
static uint64_t status_bytes(const char *name)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t len = strlen(name);
	uint64_t kib = UINT64_MAX;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;

		if (strncmp(line, name, len) == 0 && line[len] == ':' &&
		    sscanf(line + len + 1, "%llu", &v) == 1) {
			kib = v;
			break;
		}
	}
	fclose(f);
	check(kib != UINT64_MAX, "no %s in /proc/self/status", name);
	return kib * KIB;
}

struct range {
	uintptr_t start, end;
};

struct ranges {
	struct range *r;
	size_t nr, cap;
};

static int add_range(void *addr, size_t len, void *arg)
{
	struct ranges *rs = arg;

	if (rs->nr == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 256;
		struct range *r = realloc(rs->r, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		rs->r = r;
		rs->cap = cap;
	}
	rs->r[rs->nr++] =
		(struct range){(uintptr_t)addr, (uintptr_t)addr + len};
	return 0;
}

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static bool overlaps(const struct ranges *rs, uintptr_t start, uintptr_t end)
{
	size_t lo = 0, hi = rs->nr;

	/* First range that ends after start; ranges do not overlap each
	 * other, so ends ascend with starts. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (rs->r[mid].end <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < rs->nr && rs->r[lo].start < end;
}

struct lock_report {
	size_t vmas;
	uint64_t rss, locked; /* bytes, over the pool's mappings */
	bool bad;
	char why[512]; /* the first mapping that is not locked */
};

struct vma {
	uintptr_t start, end;
	char perms[8];
	uint64_t rss_kib, locked_kib;
	bool have_rss, have_locked;
};

static void finish_vma(const struct ranges *rs, const struct vma *v,
		       const char *flags, struct lock_report *rep)
{
	bool lo = false, noaccess = strncmp(v->perms, "---", 3) == 0;
	char copy[256];
	size_t len = strnlen(flags, sizeof(copy) - 1);

	if (!overlaps(rs, v->start, v->end))
		return;
	memcpy(copy, flags, len);
	copy[len] = '\0';
	for (char *save, *tok = strtok_r(copy, " \t\n", &save); tok;
	     tok = strtok_r(NULL, " \t\n", &save))
		lo |= strcmp(tok, "lo") == 0;
	rep->vmas++;
	rep->rss += v->rss_kib * KIB;
	rep->locked += v->locked_kib * KIB;
	if (rep->bad)
		return;
	if (!v->have_rss || !v->have_locked || v->locked_kib != v->rss_kib ||
	    (!lo && !noaccess)) {
		rep->bad = true;
		snprintf(rep->why, sizeof(rep->why),
			 "mapping %#lx-%#lx %s: Rss %" PRIu64
			 " kB, Locked %" PRIu64 " kB, VmFlags:%.200s",
			 (unsigned long)v->start, (unsigned long)v->end,
			 v->perms, v->rss_kib, v->locked_kib, flags);
	}
}

/*
 * Every mapping of /proc/self/smaps that overlaps one of the pool's ranges
 * must be locked, all of its resident memory with it, and together they
 * must hold at least the pool's pages.
 */
static void check_locked(struct zp_pool *pool, struct lock_report *rep)
{
	struct ranges rs = {0};
	struct vma v = {0};
	bool in_vma = false;
	char line[1024];
	FILE *f;
	size_t pages = zp_pool_total_pages(pool);
	int ret;

	memset(rep, 0, sizeof(*rep));
	ret = zp_pool_for_each_mapping(pool, add_range, &rs);
	check(ret == 0, "for_each_mapping returned %d", ret);
	check(rs.nr > 0, "the pool reports no mapping");
	qsort(rs.r, rs.nr, sizeof(*rs.r), cmp_range);
	for (size_t i = 1; i < rs.nr; i++)
		check(rs.r[i].start >= rs.r[i - 1].end,
		      "pool ranges %#lx-%#lx and %#lx-%#lx overlap",
		      (unsigned long)rs.r[i - 1].start,
		      (unsigned long)rs.r[i - 1].end,
		      (unsigned long)rs.r[i].start, (unsigned long)rs.r[i].end);

	f = fopen("/proc/self/smaps", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end;
		char perms[8];
		unsigned long long kib;

		if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) == 3) {
			memset(&v, 0, sizeof(v));
			v.start = start;
			v.end = end;
			snprintf(v.perms, sizeof(v.perms), "%s", perms);
			in_vma = true;
		} else if (!in_vma) {
			continue;
		} else if (sscanf(line, "Rss: %llu kB", &kib) == 1) {
			v.rss_kib = kib;
			v.have_rss = true;
		} else if (sscanf(line, "Locked: %llu kB", &kib) == 1) {
			v.locked_kib = kib;
			v.have_locked = true;
		} else if (strncmp(line, "VmFlags:", 8) == 0) {
			/* the last field of a mapping */
			finish_vma(&rs, &v, line + 8, rep);
			in_vma = false;
		}
	}
	fclose(f);
	free(rs.r);

	check(!rep->bad, "pool memory that can be swapped out: %s", rep->why);
	check(rep->vmas > 0, "no mapping of smaps overlaps the pool's ranges");
	check(rep->rss >= (uint64_t)pages * ZP_PAGE_SIZE,
	      "the pool's mappings hold %" PRIu64 " kB, its zspages %zu pages",
	      rep->rss / KIB, pages);
}

/* ------------------------------------------------------------------------ */
/* The test                                                                 */
/* ------------------------------------------------------------------------ */

struct batch {
	zp_handle_t *handles;
	uint16_t *sizes;
	size_t nr;
	uint64_t bytes;
};

/* Sizes until they add up to target bytes. The arrays are written here,
 * before any measurement, so that their pages are already resident. */
static void plan_batch(struct batch *b, uint64_t *rng, uint64_t target)
{
	uint64_t probe = *rng, bytes = 0;
	size_t n = 0;

	while (bytes < target) {
		bytes += MIN_SIZE + zt_below(&probe, MAX_SIZE - MIN_SIZE + 1);
		n++;
	}
	b->handles = malloc(n * sizeof(*b->handles));
	b->sizes = malloc(n * sizeof(*b->sizes));
	assert_non_null(b->handles);
	assert_non_null(b->sizes);
	memset(b->handles, 0, n * sizeof(*b->handles));
	b->nr = n;
	b->bytes = 0;
	for (size_t i = 0; i < n; i++) {
		b->sizes[i] =
			(uint16_t)(MIN_SIZE +
				   zt_below(rng, MAX_SIZE - MIN_SIZE + 1));
		b->bytes += b->sizes[i];
	}
}

/* Allocate and write every object of the batch in full. */
static void fill_batch(struct zp_pool *pool, struct batch *b,
		       const unsigned char *pattern)
{
	for (size_t i = 0; i < b->nr; i++) {
		int ret = zp_pool_malloc(pool, b->sizes[i], -1, &b->handles[i]);

		check(ret == 0, "malloc(%u) of object %zu returned %d",
		      b->sizes[i], i, ret);
		zp_pool_write(pool, b->handles[i], pattern + i % MAX_SIZE,
			      b->sizes[i]);
	}
	/* A sample read back: the measured memory is really the objects. */
	for (size_t i = 0; i < b->nr; i += 997) {
		const void *p = zp_pool_read_begin(pool, b->handles[i]);
		int diff = memcmp(p, pattern + i % MAX_SIZE, b->sizes[i]);

		zp_pool_read_end(pool, b->handles[i]);
		check(diff == 0, "object %zu (%u B) reads back wrong", i,
		      b->sizes[i]);
	}
}

/* Free the objects whose index is a multiple of KEEP_EVERY (kept) or all the
 * others (!kept). */
static void free_some(struct zp_pool *pool, struct batch *b, bool kept)
{
	for (size_t i = 0; i < b->nr; i++)
		if ((i % KEEP_EVERY == 0) == kept)
			zp_pool_free(pool, b->handles[i]);
}

static void verify_kept(struct zp_pool *pool, const struct batch *b,
			const unsigned char *pattern)
{
	for (size_t i = 0; i < b->nr; i += KEEP_EVERY) {
		const void *p = zp_pool_read_begin(pool, b->handles[i]);
		int diff = memcmp(p, pattern + i % MAX_SIZE, b->sizes[i]);

		zp_pool_read_end(pool, b->handles[i]);
		check(diff == 0, "kept object %zu (%u B) reads back wrong", i,
		      b->sizes[i]);
	}
}

static double mib(uint64_t bytes)
{
	return (double)bytes / (double)MIB;
}

static void report_locked(struct zp_pool *pool)
{
	struct lock_report rep;

	check_locked(pool, &rep);
	print_message("  %zu mappings of the pool, all locked: Rss %.1f MiB, "
		      "Locked %.1f MiB\n",
		      rep.vmas, mib(rep.rss), mib(rep.locked));
}

/* Allocate a batch and check that the process grew by its size. */
static void grow(struct zp_pool *pool, struct batch *b,
		 const unsigned char *pattern)
{
	uint64_t before = status_bytes("VmRSS"), after, vmlck, pages;

	fill_batch(pool, b, pattern);
	after = status_bytes("VmRSS");
	vmlck = status_bytes("VmLck");
	pages = zp_pool_total_pages(pool);
	print_message("%s: %zu objects, %.1f MiB; pool %" PRIu64
		      " pages (%.1f MiB); VmRSS %.1f -> %.1f MiB (+%.1f); "
		      "VmLck %.1f MiB\n",
		      ctx.phase, b->nr, mib(b->bytes), pages,
		      mib(pages * ZP_PAGE_SIZE), mib(before), mib(after),
		      mib(after - before), mib(vmlck));
	check(after >= before &&
		      after - before >= b->bytes * GROWTH_PERCENT / 100,
	      "VmRSS grew by %.1f MiB for %.1f MiB of objects",
	      mib(after - before), mib(b->bytes));
	check(vmlck > 0 && vmlck >= pages * ZP_PAGE_SIZE,
	      "VmLck %.1f MiB for %.1f MiB of pool pages", mib(vmlck),
	      mib(pages * ZP_PAGE_SIZE));
	report_locked(pool);
}

/* Return the cached pages now: the cache must end at its floor. */
static void trim(struct zp_pool *pool, const struct zp_pool_config *cfg)
{
	struct zp_pool_stats before, after;
	size_t released;

	zp_pool_stats(pool, &before);
	released = zp_pool_trim(pool);
	zp_pool_stats(pool, &after);
	print_message("%s: trim returned %zu pages (%.1f MiB)\n", ctx.phase,
		      released, mib((uint64_t)released * ZP_PAGE_SIZE));
	check(released > 0,
	      "trim returned nothing with %" PRIu64 " pages cached",
	      before.cached_pages);
	check_eq(after.pages_released - before.pages_released, released);
	check_eq(after.cached_pages,
		 (uint64_t)cfg->cache_pages * (uint64_t)zp_pool_nr_nodes(pool));
}

static void pause_ms(unsigned int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* No trim: pages unused for release_delay_ms go back when the node next
 * allocates or frees a zspage, so wait and make it do that, a few times. */
static void wait_for_release(struct zp_pool *pool,
			     const struct zp_pool_config *cfg,
			     uint64_t rss_created)
{
	for (int round = 1; round <= RELEASE_ROUNDS; round++) {
		zp_handle_t h;
		uint64_t rss;
		int ret;

		pause_ms(cfg->release_delay_ms + RELEASE_MARGIN_MS);
		/* A huge object has a zspage of its own. */
		ret = zp_pool_malloc(pool, ZP_MAX_ALLOC, -1, &h);
		check(ret == 0, "malloc returned %d", ret);
		zp_pool_free(pool, h);
		rss = status_bytes("VmRSS");
		print_message(
			"%s: %u ms later, VmRSS %.1f MiB\n", ctx.phase,
			round * (cfg->release_delay_ms + RELEASE_MARGIN_MS),
			mib(rss));
		if (rss <= rss_created + SLACK_BYTES)
			break;
	}
}

/* With every object freed: no page in zspages, and the process back to
 * about its size after the pool was created. */
static void check_empty(struct zp_pool *pool, uint64_t rss_created)
{
	uint64_t rss;

	check_eq(zp_pool_total_pages(pool), 0);
	rss = status_bytes("VmRSS");
	print_message("%s: VmRSS %.1f MiB (%+.1f from after create), VmLck "
		      "%.1f MiB\n",
		      ctx.phase, mib(rss), mib(rss) - mib(rss_created),
		      mib(status_bytes("VmLck")));
	check(rss <= rss_created + SLACK_BYTES,
	      "VmRSS %.1f MiB with no object, %.1f after create (allowed "
	      "%.1f more)",
	      mib(rss), mib(rss_created), mib(SLACK_BYTES));
	report_locked(pool);
}

static void test_rss_and_locking(void **state)
{
	struct batch first = {0}, second = {0}, third = {0};
	struct zp_pool_config cfg;
	struct zp_pool_stats stats;
	struct zp_pool *pool;
	uint64_t rng = seed;
	uint64_t rss_start, rss_created, rss, pages, vmlck_start, vmlck;
	unsigned char *pattern;
	int ret;

	(void)state;
	if (SANITIZED) {
		print_message("sanitizer build: resident memory is not the "
			      "pool's alone, skipped\n");
		ctx.passed = true;
		skip();
	}

	ctx.phase = "setup";
	pattern = malloc(2 * MAX_SIZE);
	assert_non_null(pattern);
	for (size_t i = 0; i < 2 * MAX_SIZE; i++)
		pattern[i] = (unsigned char)zt_rand(&rng);
	plan_batch(&first, &rng, FIRST_BYTES);
	plan_batch(&second, &rng, SECOND_BYTES);
	plan_batch(&third, &rng, SECOND_BYTES);

	rss_start = status_bytes("VmRSS");
	vmlck_start = status_bytes("VmLck");
	zp_pool_config_init(&cfg);
	ret = zp_pool_create(&cfg, &pool);
	check(ret == 0, "create returned %d%s", ret,
	      ret == -EPERM || ret == -EAGAIN || ret == -ENOMEM ?
		      " (may this process lock memory? run as root)" : "");
	rss_created = status_bytes("VmRSS");
	print_message("VmRSS %.1f MiB before create, %.1f after\n",
		      mib(rss_start), mib(rss_created));

	ctx.phase = "1 GiB allocated";
	grow(pool, &first, pattern);
	pages = zp_pool_total_pages(pool);
	check(pages * ZP_PAGE_SIZE >= first.bytes,
	      "%" PRIu64 " pages hold %" PRIu64 " bytes of objects", pages,
	      first.bytes);

	/* Most zspages die but nearly every chunk keeps a live one: only
	 * returning pages one zspage at a time gives the memory back. */
	ctx.phase = "all but a few freed";
	free_some(pool, &first, false);
	verify_kept(pool, &first, pattern);
	trim(pool, &cfg);
	pages = zp_pool_total_pages(pool);
	rss = status_bytes("VmRSS");
	zp_pool_stats(pool, &stats);
	print_message("%s: %" PRIu64 " objects kept in %" PRIu64
		      " pages, %" PRIu64 " chunks mapped; VmRSS %.1f MiB\n",
		      ctx.phase, stats.objects, pages, stats.chunks, mib(rss));
	check(rss <= rss_created + pages * ZP_PAGE_SIZE + SLACK_BYTES,
	      "VmRSS %.1f MiB with %.1f MiB in zspages, %.1f after create "
	      "(allowed %.1f more)",
	      mib(rss), mib(pages * ZP_PAGE_SIZE), mib(rss_created),
	      mib(SLACK_BYTES));
	report_locked(pool);

	/* The pages just given back are faulted in again: still locked. */
	ctx.phase = "256 MiB into returned pages";
	grow(pool, &second, pattern);
	verify_kept(pool, &first, pattern);

	ctx.phase = "all freed";
	free_some(pool, &first, true);
	free_some(pool, &second, false);
	free_some(pool, &second, true);
	trim(pool, &cfg);
	check_empty(pool, rss_created);

	ctx.phase = "256 MiB after all was freed";
	grow(pool, &third, pattern);

	ctx.phase = "all freed again, no trim";
	free_some(pool, &third, false);
	free_some(pool, &third, true);
	wait_for_release(pool, &cfg, rss_created);
	check_empty(pool, rss_created);
	zp_pool_validate(pool);

	ctx.phase = "destroyed";
	zp_pool_destroy(pool);
	rss = status_bytes("VmRSS");
	vmlck = status_bytes("VmLck");
	print_message("%s: VmRSS %.1f MiB (%+.1f from before create), VmLck "
		      "%.1f MiB (%.1f before create)\n",
		      ctx.phase, mib(rss), mib(rss) - mib(rss_start),
		      mib(vmlck), mib(vmlck_start));
	check(rss <= rss_start + DESTROY_SLACK_BYTES,
	      "VmRSS %.1f MiB after destroy, %.1f before create", mib(rss),
	      mib(rss_start));
	/* Every range the pool locked is unmapped with it. */
	check(vmlck <= vmlck_start,
	      "VmLck %.1f MiB after destroy, %.1f before create", mib(vmlck),
	      mib(vmlck_start));

	free(first.handles);
	free(first.sizes);
	free(second.handles);
	free(second.sizes);
	free(third.handles);
	free(third.sizes);
	free(pattern);
	ctx.passed = true;
}

static int setup(void **state)
{
	(void)state;
	memset(&ctx, 0, sizeof(ctx));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (!ctx.passed)
		print_error("test-rss: failed: %s; rerun with "
			    "ZP_TEST_SEED=0x%" PRIx64 "\n",
			    ctx.phase ? ctx.phase : "(none)", seed);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rss_and_locking, setup,
						teardown),
	};

	seed = zt_env_u64("test-rss", "ZP_TEST_SEED", DEFAULT_SEED);
	signal(SIGABRT, report_abort);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
