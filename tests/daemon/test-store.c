/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-store.c - the daemon's store layer (daemon/store.c, daemon/node.c)
 * without FUSE: volumes made from a configuration, written, read and
 * discarded directly, as the FUSE callbacks do.
 *
 * Most tests keep a model of the volume: a plain copy of its bytes, and per
 * block whether it has an entry in the index and which compressor setting
 * made it. After a run the volume is read back whole and compared with the
 * copy, and the index is walked entry by entry: every block the model says
 * was written must have the form (same-filled word, raw or compressed pool
 * object of exactly the length and tag) that compressing the model's block
 * with the same setting gives, every other entry must be empty, and the
 * volume's counters and the pool's object count must agree with the walk.
 *
 * The tests:
 *   unwritten   a never-written GiB reads as zeros and costs nothing: no
 *               pool pages, no resident index, no growth of the process
 *   edges       writes, reads and discards at every alignment edge
 *   random      random operations of every size and offset on 64 MiB,
 *               with corpus, random, zero and same-filled contents
 *   discard     whole blocks free their objects and pages, edges are
 *               zeroed, never-written ranges cost nothing
 *   end         reads, writes and discards at and across the end
 *   compressor  the setting changes between writes; old blocks read back
 *   nodes       node_hint volume, requester and worker, the pid cache
 *   null        a volume that keeps nothing
 *   corrupt     a pool object that does not decode: -EIO, counted
 *   early       writes answered before they are compressed: which go,
 *               readers of the block wait, the raw-size object goes back
 *   workers     one worker per thread, given back when the thread exits
 *   concurrent  writers and readers on the same 8 blocks
 * The random and concurrent tests send every other write through the early
 * path where it qualifies (one whole block), as op_write would.
 * Not covered: the pool running out of memory, which the real node layer
 * cannot be made to do on demand (so neither is an early write keeping its
 * block raw for want of memory).
 *
 * The concurrency test writes stamps: every 8-byte word a writer puts down
 * names the writer, the write's sequence number and the word's own
 * position, so that a block read back tells which write each of its words
 * came from. The writes of each thread are laid out in advance, so a
 * reader can check that a word came from a write that covered it, that no
 * two whole-block writes are visible in one block (one of them would have
 * overwritten the other completely: a torn block), and that no word holds a
 * write its own thread has visibly overwritten since.
 *
 * Environment:
 *   ZP_TEST_SEED   seed of the random operations (decimal or 0x...),
 *                  printed when a test fails
 *   ZP_TEST_STEPS  operations of the random model test (default 8000;
 *                  fewer in sanitizer builds)
 *   ZP_TEST_ITERS  writes per writer thread of the concurrency test
 *                  (default 25000; fewer in sanitizer builds)
 *   ZPOOLD_CORPUS  where the corpus is (see tests/corpus.h)
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
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "compress/compress.h"
#include "daemon/internal.h"
#include "pool/pool.h"
#include "tests/corpus.h"
#include "tests/check.h"
#include "tests/testlib.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BLOCK	      ZPD_BLOCK_SIZE
#define KiB	      ((uint64_t)1 << 10)
#define MiB	      ((uint64_t)1 << 20)
#define GiB	      ((uint64_t)1 << 30)

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

/* ThreadSanitizer makes the data path about fifteen times slower,
 * AddressSanitizer (with the pool's validators) about three times. The
 * defaults keep the program to about 7 s on two cores in a plain build and
 * under 25 s in sanitizer builds. */
#define DEFAULT_SEED 1
#if defined(TSAN_BUILD)
#define DEFAULT_STEPS 1500
#define DEFAULT_ITERS 8000
/* ThreadSanitizer checks every byte read: a quarter of the volume. */
#define UNWRITTEN_READ (256 * MiB)
#elif defined(ASAN_BUILD)
#define DEFAULT_STEPS  6000
#define DEFAULT_ITERS  15000
#define UNWRITTEN_READ GiB
#else
#define DEFAULT_STEPS  8000
#define DEFAULT_ITERS  25000
#define UNWRITTEN_READ GiB
#endif

/* Small, so that the pool's cache stays out of the page counts. */
#define RESERVE (1 * MiB)
/* Largest single read or write of the random tests: a FUSE request of the
 * default max_write is 1 MiB, but smaller ones cover more offsets. */
#define MAX_IO (256 * KiB)
/* Reading a never-written GiB may map page tables and the zero page, not
 * data: far less than the 4 MiB its index would take if it were dirtied. */
#define RSS_SLACK (2 * MiB)

static struct zp_corpus corpus;
static uint64_t seed = DEFAULT_SEED;
static uint64_t nr_steps = DEFAULT_STEPS;
static uint64_t nr_iters = DEFAULT_ITERS;

/* Where a failing test was, for the messages; main thread only. */
static struct {
	const char *test;
	const char *phase;
	uint64_t step;
} where;

static const struct zt_field where_fields[] = {
	{"test", ZT_FIELD_STR, &where.test},
	{"phase", ZT_FIELD_STR, &where.phase},
	{"step", ZT_FIELD_U64, &where.step},
	{NULL},
};
static const struct zt_field rerun_fields[] = {
	{"ZP_TEST_SEED", ZT_FIELD_HEX, &seed},
	{"ZP_TEST_STEPS", ZT_FIELD_U64, &nr_steps},
	{"ZP_TEST_ITERS", ZT_FIELD_U64, &nr_iters},
	{NULL},
};

/* A seed of its own for each test, so that one test's draws do not shift
 * when another changes. */
static uint64_t test_seed(const char *name)
{
	uint64_t h = seed;

	for (const char *p = name; *p; p++)
		h = zt_mix64(h ^ (unsigned char)*p);
	return h;
}

static uint64_t rss_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lu %lu", &size, &resident), 2);
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/*
 * Resident bytes of the mappings that overlap [addr, addr + len), from
 * /proc/self/smaps. A page that only maps the shared zero page (what
 * reading a never-written part of an anonymous mapping gives) does not
 * count. Unlike the process's RSS this is blind to sanitizer shadow, which
 * ThreadSanitizer writes for every byte read.
 */
static uint64_t mapping_rss(const void *addr, size_t len)
{
	uintptr_t lo = (uintptr_t)addr, hi = lo + len;
	unsigned long start, end;
	uint64_t total = 0, kb;
	bool inside = false;
	char line[512];
	FILE *f = fopen("/proc/self/smaps", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			inside = start < hi && lo < end;
		else if (inside &&
			 sscanf(line, "Rss: %" SCNu64 " kB", &kb) == 1)
			total += kb * KiB;
	}
	fclose(f);
	return total;
}

/* Whether the process's RSS says anything about our memory: ThreadSanitizer
 * makes shadow for every byte the program reads. */
#if defined(TSAN_BUILD)
#define RSS_MEANINGFUL 0
#else
#define RSS_MEANINGFUL 1
#endif

static struct zp_pool_stats pool_stats(struct zpd_store *store)
{
	struct zp_pool_stats ps;

	zp_pool_stats(store->pool, &ps);
	return ps;
}

static struct zpd_volume_stats vol_stats(const struct zpd_volume *v)
{
	struct zpd_volume_stats s;

	zpd_volume_stats(v, &s);
	return s;
}

/* After doing what to never-written blocks of v: neither v's index nor the
 * process grew (from idx0 and rss0) and the pool holds nothing more than
 * pages0. The sizes measured go to *idx1 and *rss1. */
static void check_cost_nothing(struct zpd_store *store, struct zpd_volume *v,
			       const char *what, uint64_t idx0, uint64_t rss0,
			       uint64_t pages0, uint64_t *idx1, uint64_t *rss1)
{
	*rss1 = rss_bytes();
	*idx1 = mapping_rss(v->index, v->index_bytes);
	if (*idx1 > idx0)
		fail_msg("%s never-written blocks made %" PRIu64
			 " KiB of the block index resident",
			 what, (*idx1 - idx0) / KiB);
	if (RSS_MEANINGFUL && *rss1 > rss0 + RSS_SLACK)
		fail_msg("%s a never-written GiB made the process grow by "
			 "%" PRIu64 " KiB",
			 what, (*rss1 - rss0) / KiB);
	check_eq(zp_pool_total_pages(store->pool), pages0);
	check_eq(pool_stats(store).objects, 0);
}

/* ------------------------------------------------------------------------ */
/* Fixture                                                                  */
/* ------------------------------------------------------------------------ */

#define FX_MAX_MEM 16

struct fixture {
	struct zpd_config cfg;
	struct zpd_store *store;
	struct comp_ctx *ctx; /* the test's own, to predict forms */
	void *mem[FX_MAX_MEM];
	pid_t child;
	bool affinity_saved;
	cpu_set_t affinity;
	bool passed;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	zpd_config_defaults(&f->cfg);
	f->cfg.reserve = RESERVE;
	f->cfg.node_hint = ZPD_HINT_WORKER;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (!f->passed)
		zt_report_failure();
	if (f->child > 0) {
		kill(f->child, SIGKILL);
		waitpid(f->child, NULL, 0);
	}
	if (f->affinity_saved)
		sched_setaffinity(0, sizeof(f->affinity), &f->affinity);
	zpd_store_destroy(f->store);
	comp_ctx_free(f->ctx);
	for (size_t i = 0; i < FX_MAX_MEM; i++)
		free(f->mem[i]);
	free(f);
	memset(&where, 0, sizeof(where));
	return 0;
}

static void *fx_alloc(struct fixture *f, size_t size, bool zero)
{
	void *p = NULL;

	if (posix_memalign(&p, BLOCK, size))
		fail_msg("out of memory for %zu bytes", size);
	/* Touched now, so that it is resident before any measurement. */
	memset(p, zero ? 0 : 0xa5, size);
	if (zt_keep(f->mem, FX_MAX_MEM, p))
		return p;
	free(p);
	fail_msg("fixture holds too many buffers");
	return NULL;
}

static void fx_volume(struct fixture *f, const char *name, uint64_t size,
		      int node, enum zpd_store_kind kind)
{
	struct zpd_volume_conf *vc;

	assert_true(f->cfg.nr_volumes < ZPD_MAX_VOLUMES);
	vc = &f->cfg.volumes[f->cfg.nr_volumes++];
	memset(vc, 0, sizeof(*vc));
	snprintf(vc->name, sizeof(vc->name), "%s", name);
	vc->size = size;
	vc->node = node;
	vc->store = kind;
	snprintf(vc->origin, sizeof(vc->origin), "test-store");
}

static struct zpd_store *fx_store(struct fixture *f, unsigned int workers)
{
	char err[ZPD_ERR_MAX];
	int ret;

	err[0] = '\0';
	ret = zpd_store_create(&f->cfg, workers, &f->store, err, sizeof(err));
	if (ret)
		fail_msg("cannot create the store: %s (%s; may this process "
			 "lock memory? run as root)",
			 err, strerror(-ret));
	assert_non_null(f->store);
	assert_int_equal(f->store->nr_volumes, f->cfg.nr_volumes);
	f->ctx =
		comp_ctx_new((unsigned)zp_pool_huge_class_size(f->store->pool));
	assert_non_null(f->ctx);
	return f->store;
}

static struct zpd_volume *fx_vol(struct fixture *f, const char *name)
{
	struct zpd_volume *v = zpd_store_volume(f->store, name);

	if (!v)
		fail_msg("no volume '%s' in the store", name);
	return v;
}

static struct zpd_worker *fx_worker(struct fixture *f)
{
	struct zpd_worker *w = zpd_worker_get(f->store);

	assert_non_null(w);
	/* A thread keeps its worker. */
	assert_ptr_equal(zpd_worker_get(f->store), w);
	return w;
}

/* ------------------------------------------------------------------------ */
/* The model of a volume                                                    */
/* ------------------------------------------------------------------------ */

#define MAX_SPECS 8

struct model {
	struct fixture *f;
	struct zpd_volume *v;
	struct zpd_worker *w;
	uint64_t size, nr_blocks;
	unsigned char *data;	/* the volume's bytes */
	unsigned char *present; /* per block: has an entry in the index */
	unsigned char *spec;	/* per block: specs[] that made the entry */
	struct comp_spec specs[MAX_SPECS];
	unsigned int nr_specs, cur_spec;
	/* What the volume's counters must say. */
	struct zpd_volume_stats expect;
	unsigned char *buf; /* MAX_IO + 64, for reads */
};

static void model_init(struct model *m, struct fixture *f, struct zpd_volume *v)
{
	memset(m, 0, sizeof(*m));
	m->f = f;
	m->v = v;
	m->w = fx_worker(f);
	m->size = v->size;
	m->nr_blocks = v->nr_blocks;
	check_eq(m->nr_blocks * BLOCK, m->size);
	m->data = fx_alloc(f, m->size, true);
	m->present = fx_alloc(f, m->nr_blocks, true);
	m->spec = fx_alloc(f, m->nr_blocks, true);
	m->buf = fx_alloc(f, MAX_IO + 64, false);
	m->specs[0] = zpd_store_compressor(f->store);
	m->nr_specs = 1;
}

/* Switch the store to spec, remembering it for the blocks made from now. */
static void model_set_spec(struct model *m, struct comp_spec spec)
{
	struct comp_spec now;
	unsigned int i;

	zpd_store_set_compressor(m->f->store, spec);
	now = zpd_store_compressor(m->f->store);
	assert_int_equal(now.backend, spec.backend);
	assert_int_equal(now.level, spec.level);
	for (i = 0; i < m->nr_specs; i++)
		if (m->specs[i].backend == spec.backend &&
		    m->specs[i].level == spec.level)
			break;
	if (i == m->nr_specs) {
		assert_true(m->nr_specs < MAX_SPECS);
		m->specs[m->nr_specs++] = spec;
	}
	m->cur_spec = i;
}

static uint64_t clip(const struct model *m, uint64_t off, uint64_t len)
{
	if (off >= m->size)
		return 0;
	return len < m->size - off ? len : m->size - off;
}

/* Blocks [off, off + n) touches, each fully covered or not. */
static void model_touch(struct model *m, uint64_t off, uint64_t n, bool discard)
{
	uint64_t first = off / BLOCK, last = (off + n - 1) / BLOCK;

	for (uint64_t b = first; b <= last; b++) {
		bool whole = b * BLOCK >= off && (b + 1) * BLOCK <= off + n;

		if (discard && whole) {
			m->present[b] = 0;
			continue;
		}
		/* Zeroing part of a block that holds nothing leaves it so. */
		if (discard && !m->present[b])
			continue;
		m->present[b] = 1;
		m->spec[b] = (unsigned char)m->cur_spec;
		if (!whole)
			m->expect.partial_writes++;
	}
}

static const char *show_range(char *s, size_t size, uint64_t off, uint64_t len)
{
	snprintf(s, size,
		 "[%" PRIu64 " (block %" PRIu64 " + %" PRIu64 "), +%" PRIu64
		 ")",
		 off, off / BLOCK, off % BLOCK, len);
	return s;
}

/* Compare what the volume gave for [off, off + n) with the model. */
static void model_compare(const struct model *m, const unsigned char *got,
			  uint64_t off, uint64_t n, const char *what)
{
	const unsigned char *want = m->data + off;
	char r[128];

	if (!memcmp(got, want, n))
		return;
	for (uint64_t i = 0; i < n; i++)
		if (got[i] != want[i])
			fail_msg("%s %s: byte %" PRIu64 " (block %" PRIu64
				 " + %" PRIu64 ") is 0x%02x, not 0x%02x",
				 what, show_range(r, sizeof(r), off, n),
				 off + i, (off + i) / BLOCK, (off + i) % BLOCK,
				 got[i], want[i]);
}

/* Write as op_write does: with early set, a write of one whole block takes
 * the early path (answered before it is compressed) where it can. */
static ssize_t store_write(struct zpd_volume *v, struct zpd_worker *w,
			   const void *src, uint64_t len, uint64_t off,
			   bool early)
{
	struct zpd_early_write ew;

	if (early && zpd_volume_write_early(v, off, len, 0, &ew)) {
		zpd_volume_write_finish(&ew, w, src);
		return (ssize_t)len;
	}
	return zpd_volume_write(v, w, src, len, off, 0);
}

static void do_write(struct model *m, const void *src, uint64_t len,
		     uint64_t off)
{
	uint64_t n = clip(m, off, len);
	ssize_t want = len && !n ? -ENOSPC : (ssize_t)n;
	/* Every other write may go the early way. */
	ssize_t got = store_write(m->v, m->w, src, len, off,
				  m->expect.writes & 1);
	char r[128];

	m->expect.writes++;
	if (got != want)
		fail_msg("write %s of a %" PRIu64 "-byte volume returned %zd, "
			 "not %zd",
			 show_range(r, sizeof(r), off, len), m->size, got,
			 want);
	if (n) {
		memcpy(m->data + off, src, n);
		model_touch(m, off, n, false);
		m->expect.bytes_written += n;
	}
}

static void do_read(struct model *m, uint64_t len, uint64_t off)
{
	uint64_t n = clip(m, off, len);
	ssize_t got;
	char r[128];

	assert_true(len <= MAX_IO);
	memset(m->buf, 0xee, len + 64);
	got = zpd_volume_read(m->v, m->w, m->buf, len, off);
	m->expect.reads++;
	m->expect.bytes_read += n;
	if (got != (ssize_t)n)
		fail_msg("read %s of a %" PRIu64 "-byte volume returned %zd, "
			 "not %" PRIu64,
			 show_range(r, sizeof(r), off, len), m->size, got, n);
	model_compare(m, m->buf, off, n, "read");
	for (uint64_t i = n; i < len + 64; i++)
		if (m->buf[i] != 0xee)
			fail_msg("read %s returned %" PRIu64 " bytes but wrote "
				 "byte %" PRIu64 " of the buffer",
				 show_range(r, sizeof(r), off, len), n, i);
}

static void do_discard(struct model *m, uint64_t len, uint64_t off)
{
	uint64_t n = clip(m, off, len);
	int ret = zpd_volume_discard(m->v, m->w, off, len, 0);
	char r[128];

	m->expect.discards++;
	if (ret)
		fail_msg("discard %s returned %d",
			 show_range(r, sizeof(r), off, len), ret);
	if (n) {
		memset(m->data + off, 0, n);
		model_touch(m, off, n, true);
	}
}

/* Read the whole volume back in max-size requests. */
static void verify_all(struct model *m)
{
	for (uint64_t off = 0; off < m->size; off += MAX_IO)
		do_read(m, MAX_IO < m->size - off ? MAX_IO : m->size - off,
			off);
}

/*
 * Walk the index against the model and the counters; returns the number of
 * pool objects the volume holds.
 */
static uint64_t check_index(struct model *m)
{
	struct zp_pool *pool = m->f->store->pool;
	struct zpd_volume_stats s = vol_stats(m->v), e = m->expect;
	uint64_t objects = 0;

	e.blocks_same = e.blocks_raw = e.blocks_compressed = 0;
	e.stored_bytes = 0;
	for (uint64_t b = 0; b < m->nr_blocks; b++) {
		const struct zpd_entry *ent = &m->v->index[b];
		unsigned int form = ent->flags & ZPD_E_FORM;
		struct comp_result res;

		if (!m->present[b]) {
			if (form)
				fail_msg("block %" PRIu64 " was never written "
					 "or was discarded, but its entry has "
					 "flags 0x%x",
					 b, ent->flags);
			continue;
		}
		assert_int_equal(comp_compress(m->f->ctx, m->specs[m->spec[b]],
					       m->data + b * BLOCK, &res),
				 0);
		if (res.kind == COMP_KIND_SAME) {
			if (form != ZPD_E_SAME || ent->val != res.word)
				fail_msg("block %" PRIu64 " is same-filled "
					 "with %#" PRIx64 " but its entry has "
					 "flags 0x%x, val %#" PRIx64,
					 b, res.word, ent->flags, ent->val);
			e.blocks_same++;
			continue;
		}
		if (form != ZPD_E_POOL || ent->len != res.len ||
		    ent->tag != res.tag)
			fail_msg("block %" PRIu64 " compresses to %s %u bytes "
				 "with tag %#x but its entry has flags 0x%x, "
				 "len %u, tag %#x",
				 b,
				 res.kind == COMP_KIND_RAW ? "raw"
							   : "compressed",
				 res.len, res.tag, ent->flags, ent->len,
				 ent->tag);
		check_eq(zp_pool_obj_size(pool, ent->val), ent->len);
		check_eq(ent->node, 0);
		if (res.kind == COMP_KIND_RAW)
			e.blocks_raw++;
		else
			e.blocks_compressed++;
		e.stored_bytes += ent->len;
		objects++;
	}
	/* Whatever lies past the last block in the index's last page is
	 * never touched. */
	for (uint64_t i = m->nr_blocks * sizeof(struct zpd_entry);
	     i < m->v->index_bytes; i++)
		if (((const unsigned char *)m->v->index)[i])
			fail_msg("byte %" PRIu64 " of the index, past the "
				 "entry of the last block, is not zero",
				 i);
#define CHECK_STAT(name, kind, desc) check_eq(s.name, e.name);
	ZPD_VOLUME_STAT_FIELDS(CHECK_STAT)
#undef CHECK_STAT
	return objects;
}

/* check_index() for the only volume holding pool objects. */
static void check_index_pool(struct model *m)
{
	uint64_t objects = check_index(m);

	check_eq(pool_stats(m->f->store).objects, objects);
}

/* ------------------------------------------------------------------------ */
/* Contents                                                                 */
/* ------------------------------------------------------------------------ */

enum fill {
	FILL_CORPUS, /* bytes of the corpus: mostly compressed, some same */
	FILL_RANDOM, /* stored raw */
	FILL_ZERO,
	FILL_SAME, /* a repeated word, aligned to the volume */
	NR_FILLS
};

/* Make len bytes meant for offset off of a volume. */
static void fill(uint64_t *rng, enum fill kind, unsigned char *buf,
		 uint64_t len, uint64_t off)
{
	uint64_t bytes = corpus.nr_pages * ZP_CORPUS_PAGE, start, word;

	switch (kind) {
	case FILL_CORPUS:
		assert_true(len <= bytes);
		/* Whole blocks get whole corpus pages, so that their forms
		 * are those of the corpus. */
		if (off % BLOCK == 0)
			start = zt_below(rng, corpus.nr_pages) * BLOCK;
		else
			start = zt_below(rng, bytes);
		if (start + len > bytes)
			start = (bytes - len) & ~(uint64_t)(BLOCK - 1);
		memcpy(buf, corpus.data + start, len);
		break;
	case FILL_RANDOM:
		zt_pattern(buf, zt_rand(rng), 0, len);
		break;
	case FILL_ZERO:
		memset(buf, 0, len);
		break;
	default:
		word = zt_chance(rng, 50) ? ~0ull : zt_rand(rng);
		for (uint64_t i = 0; i < len; i++)
			buf[i] = (unsigned char)(word >> (8 * ((off + i) % 8)));
		break;
	}
}

static enum fill pick_fill(uint64_t *rng)
{
	uint64_t r = zt_below(rng, 100);

	if (r < 55)
		return FILL_CORPUS;
	if (r < 75)
		return FILL_RANDOM;
	if (r < 87)
		return FILL_ZERO;
	return FILL_SAME;
}

/* ------------------------------------------------------------------------ */
/* Never-written blocks                                                     */
/* ------------------------------------------------------------------------ */

static void test_unwritten(void **state)
{
	struct fixture *f = *state;
	struct zpd_volume *v;
	struct zpd_worker *w;
	struct zpd_volume_stats s;
	unsigned char *buf, *zero;
	uint64_t rng = test_seed("unwritten"), rss0, rss1, idx0, idx1;
	uint64_t reads = 0;
	uint64_t bytes = 0;
	size_t pages0;

	where.test = "unwritten";
	fx_volume(f, "big", GiB, -1, ZPD_STORE_POOL);
	fx_store(f, 1);
	v = fx_vol(f, "big");
	w = fx_worker(f);
	check_eq(v->nr_blocks, GiB / BLOCK);
	buf = fx_alloc(f, MiB + BLOCK, false);
	zero = fx_alloc(f, MiB + BLOCK, true);

	pages0 = zp_pool_total_pages(f->store->pool);
	check_eq(pool_stats(f->store).objects, 0);
	idx0 = mapping_rss(v->index, v->index_bytes);
	rss0 = rss_bytes();

	where.phase = "whole volume in 1 MiB reads";
	for (uint64_t off = 0; off < UNWRITTEN_READ; off += MiB) {
		memset(buf, 0xee, MiB);
		check_eq(zpd_volume_read(v, w, buf, MiB, off), MiB);
		reads++;
		bytes += MiB;
		if (memcmp(buf, zero, MiB))
			fail_msg("never-written bytes at %" PRIu64
				 " do not read as zeros",
				 off);
	}
	where.phase = "unaligned reads";
	for (uint64_t off = zt_below(&rng, BLOCK); off < 64 * MiB;) {
		uint64_t len = zt_range(&rng, 1, MiB + BLOCK);

		memset(buf, 0xee, len);
		check_eq(zpd_volume_read(v, w, buf, len, off), len);
		reads++;
		bytes += len;
		if (memcmp(buf, zero, len))
			fail_msg("never-written bytes at %" PRIu64
				 " do not read as zeros",
				 off);
		off += len + zt_below(&rng, 3 * BLOCK);
	}

	check_cost_nothing(f->store, v, "reading", idx0, rss0, pages0, &idx1, &rss1);
	s = vol_stats(v);
	check_eq(s.reads, reads);
	check_eq(s.bytes_read, bytes);
	check_eq(s.blocks_same, 0);
	check_eq(s.blocks_raw, 0);
	check_eq(s.blocks_compressed, 0);
	check_eq(s.stored_bytes, 0);
	check_eq(s.read_errors, 0);
	print_message("# unwritten: read %" PRIu64 " MiB, RSS %+" PRId64
		      " KiB, index %" PRIu64 " KiB resident\n",
		      bytes / MiB, ((int64_t)rss1 - (int64_t)rss0) / 1024,
		      idx1 / KiB);
	f->passed = true;
}

/* ------------------------------------------------------------------------ */
/* Fixed offsets and sizes at every alignment edge                          */
/* ------------------------------------------------------------------------ */

static void test_edges(void **state)
{
	struct fixture *f = *state;
	const uint64_t size = MiB, E = size;
	const struct {
		uint64_t off, len;
	} cases[] = {
		{0, 1},
		{4095, 1},
		{4096, 1},
		{4095, 2},
		{0, 4096},
		{4096, 4096},
		{0, 4097},
		{4095, 4097},
		{777, 12345},
		{8191, 4098},
		{1, 8190},
		{12288, 3 * 4096},
		{5000, 100},
		{10 * 4096 - 1, 2 * 4096 + 2},
		{20 * 4096 + 8, 4096 - 16},
		{3, 65536},
		{40 * 4096, 65536},
		{100 * 4096 + 2048, 2048},
		{101 * 4096, 2048},
		{102 * 4096 + 1000, 3},
		{E - 1, 1},
		{E - 4097, 4097},
		{E - 12345, 12345},
		{E - 4096, 4096},
	};
	static const enum fill fills[] = {FILL_CORPUS, FILL_RANDOM,
					  FILL_SAME,   FILL_ZERO,
					  FILL_CORPUS, FILL_RANDOM};
	uint64_t rng = test_seed("edges");
	unsigned char *src;
	struct model m;

	where.test = "edges";
	fx_volume(f, "edges", size, -1, ZPD_STORE_POOL);
	fx_store(f, 1);
	model_init(&m, f, fx_vol(f, "edges"));
	src = fx_alloc(f, MAX_IO, false);

	for (size_t k = 0; k < ARRAY_SIZE(fills); k++) {
		for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
			where.phase = "write";
			where.step = k * ARRAY_SIZE(cases) + i;
			fill(&rng, fills[k], src, cases[i].len, cases[i].off);
			do_write(&m, src, cases[i].len, cases[i].off);
			where.phase = "read the same range";
			do_read(&m, cases[i].len, cases[i].off);
		}
		where.phase = "read every case's range";
		for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
			do_read(&m, cases[i].len, cases[i].off);
		where.phase = "whole volume";
		verify_all(&m);
		check_index_pool(&m);
	}
	/* Discards at the same edges, then whatever is left must still be
	 * there. */
	for (size_t i = 0; i < ARRAY_SIZE(cases); i += 3) {
		where.phase = "discard";
		where.step = i;
		do_discard(&m, cases[i].len, cases[i].off);
		do_read(&m,
			cases[i].len + 8192 < MAX_IO ? cases[i].len + 8192
						     : MAX_IO,
			cases[i].off >= 4096 ? cases[i].off - 4096 : 0);
	}
	where.phase = "whole volume after discards";
	verify_all(&m);
	check_index_pool(&m);
	f->passed = true;
}

/* ------------------------------------------------------------------------ */
/* Random operations against the model                                      */
/* ------------------------------------------------------------------------ */

/* An offset and length: whole blocks, small or large unaligned, or around
 * the end of the volume. */
static void pick_range(uint64_t *rng, const struct model *m, uint64_t *off,
		       uint64_t *len)
{
	switch (zt_below(rng, 8)) {
	case 0:
	case 1:
	case 2:
		*len = zt_range(rng, 1, MAX_IO / BLOCK) * BLOCK;
		*off = zt_below(rng, m->nr_blocks) * BLOCK;
		break;
	case 3:
	case 4:
		*len = zt_range(rng, 1, 2 * BLOCK + 1);
		*off = zt_below(rng, m->size);
		break;
	case 5:
	case 6:
		*len = zt_range(rng, 1, MAX_IO);
		*off = zt_below(rng, m->size);
		break;
	default:
		*len = zt_range(rng, 1, 3 * BLOCK);
		*off = m->size - 3 * BLOCK + zt_below(rng, 5 * BLOCK);
		break;
	}
}

static void test_random(void **state)
{
	struct fixture *f = *state;
	const uint64_t size = 64 * MiB;
	uint64_t rng = test_seed("random"), off, len;
	struct zpd_volume_stats s;
	struct zp_pool_stats ps;
	unsigned char *src;
	struct model m;

	where.test = "random";
	fx_volume(f, "rand", size, -1, ZPD_STORE_POOL);
	fx_store(f, 1);
	model_init(&m, f, fx_vol(f, "rand"));
	src = fx_alloc(f, MAX_IO, false);

	/* Every form at least once, whatever the number of steps. */
	where.phase = "one block of each form";
	for (uint64_t b = 0; b < 64; b++) {
		fill(&rng, FILL_CORPUS, src, BLOCK, b * BLOCK);
		do_write(&m, src, BLOCK, b * BLOCK);
	}
	fill(&rng, FILL_RANDOM, src, BLOCK, 0);
	do_write(&m, src, BLOCK, 64 * BLOCK);
	fill(&rng, FILL_ZERO, src, BLOCK, 0);
	do_write(&m, src, BLOCK, 65 * BLOCK);
	fill(&rng, FILL_SAME, src, BLOCK, 0);
	do_write(&m, src, BLOCK, 66 * BLOCK);

	for (uint64_t step = 0; step < nr_steps; step++) {
		uint64_t r = zt_below(&rng, 100);

		where.step = step;
		pick_range(&rng, &m, &off, &len);
		if (r < 55) {
			where.phase = "write";
			fill(&rng, pick_fill(&rng), src, len, off);
			do_write(&m, src, len, off);
		} else if (r < 90) {
			where.phase = "read";
			do_read(&m, len, off);
		} else {
			where.phase = "discard";
			do_discard(&m, len, off);
		}
		if ((step + 1) % 1000 == 0) {
			where.phase = "whole volume";
			verify_all(&m);
			check_index_pool(&m);
		}
	}
	where.phase = "whole volume at the end";
	verify_all(&m);
	check_index_pool(&m);
	s = vol_stats(m.v);
	print_message("# random: %" PRIu64 " steps: %" PRIu64 " same, %" PRIu64
		      " raw, %" PRIu64 " compressed blocks, %" PRIu64
		      " KiB stored, %" PRIu64 " partial writes\n",
		      nr_steps, s.blocks_same, s.blocks_raw,
		      s.blocks_compressed, s.stored_bytes / KiB,
		      s.partial_writes);
	assert_true(s.blocks_same > 0);
	assert_true(s.blocks_raw > 0);
	assert_true(s.blocks_compressed > 0);
	check_eq(s.write_errors, 0);

	/* Zeros over everything: every block same-filled, nothing in the
	 * pool. */
	where.phase = "zeros over everything";
	memset(src, 0, MAX_IO);
	for (off = 0; off < size; off += MAX_IO)
		do_write(&m, src, MAX_IO, off);
	check_index_pool(&m);
	s = vol_stats(m.v);
	check_eq(s.blocks_same, m.nr_blocks);
	check_eq(s.blocks_raw, 0);
	check_eq(s.blocks_compressed, 0);
	check_eq(s.stored_bytes, 0);
	ps = pool_stats(f->store);
	check_eq(ps.objects, 0);
	check_eq(ps.bytes_requested, 0);
	zp_pool_trim(f->store->pool);
	check_eq(zp_pool_total_pages(f->store->pool), 0);

	where.phase = "discard everything";
	do_discard(&m, size, 0);
	check_index_pool(&m);
	s = vol_stats(m.v);
	check_eq(s.blocks_same, 0);
	verify_all(&m);
	f->passed = true;
}

/* ------------------------------------------------------------------------ */
/* Discard                                                                  */
/* ------------------------------------------------------------------------ */

/* Pool objects and raw ones among blocks [first, last). */
static void count_objects(const struct zpd_volume *v, uint64_t first,
			  uint64_t last, uint64_t *objects, uint64_t *raw)
{
	*objects = *raw = 0;
	for (uint64_t b = first; b < last; b++) {
		const struct zpd_entry *e = &v->index[b];

		if (!(e->flags & ZPD_E_POOL))
			continue;
		(*objects)++;
		if ((e->tag >> COMP_TAG_LEVEL_BITS) == COMP_RAW)
			(*raw)++;
	}
}

static void test_discard(void **state)
{
	struct fixture *f = *state;
	uint64_t rng = test_seed("discard"), objects, raw, pages0, pages1;
	uint64_t rss0, rss1, idx0, idx1;
	struct zpd_volume *fresh;
	struct zpd_volume_stats s;
	struct zp_pool_stats ps;
	unsigned char *src;
	struct model m;

	where.test = "discard";
	fx_volume(f, "disc", 16 * MiB, -1, ZPD_STORE_POOL);
	fx_volume(f, "fresh", GiB, -1, ZPD_STORE_POOL);
	fx_store(f, 1);
	model_init(&m, f, fx_vol(f, "disc"));
	fresh = fx_vol(f, "fresh");
	src = fx_alloc(f, MAX_IO, false);

	/* 1024 blocks: random (raw), corpus, zero and corpus in turn. */
	where.phase = "fill";
	for (uint64_t b = 0; b < 1024; b++) {
		static const enum fill turn[] = {FILL_RANDOM, FILL_CORPUS,
						 FILL_ZERO, FILL_CORPUS};

		fill(&rng, turn[b % 4], src, BLOCK, b * BLOCK);
		do_write(&m, src, BLOCK, b * BLOCK);
	}
	check_index_pool(&m);

	/* Whole blocks: their objects go, and with the raw ones (a page
	 * each) whole pages. */
	where.phase = "whole blocks";
	zp_pool_trim(f->store->pool);
	pages0 = zp_pool_total_pages(f->store->pool);
	ps = pool_stats(f->store);
	count_objects(m.v, 128, 640, &objects, &raw);
	assert_true(raw >= 100);
	do_discard(&m, 512 * BLOCK, 128 * BLOCK);
	check_eq(pool_stats(f->store).objects, ps.objects - objects);
	zp_pool_trim(f->store->pool);
	pages1 = zp_pool_total_pages(f->store->pool);
	if (pages1 + raw > pages0)
		fail_msg("discarding %" PRIu64 " objects, %" PRIu64
			 " of them raw, took the pool from %" PRIu64
			 " to %" PRIu64 " pages",
			 objects, raw, pages0, pages1);
	for (uint64_t b = 128; b < 640; b++)
		if (m.v->index[b].flags & ZPD_E_FORM)
			fail_msg("block %" PRIu64 " still has an entry after "
				 "its discard",
				 b);
	check_index_pool(&m);
	verify_all(&m);

	/* Partial edges: the parts outside the range stay, those inside
	 * read as zeros, the blocks in between go. */
	where.phase = "partial edges";
	do_discard(&m, (703 * BLOCK + 200) - (700 * BLOCK + 100),
		   700 * BLOCK + 100);
	assert_true(m.v->index[700].flags & ZPD_E_FORM);
	assert_false(m.v->index[701].flags & ZPD_E_FORM);
	assert_false(m.v->index[702].flags & ZPD_E_FORM);
	assert_true(m.v->index[703].flags & ZPD_E_FORM);
	do_discard(&m, 1, 800 * BLOCK + 4095);
	do_discard(&m, 4094, 801 * BLOCK + 1);
	do_discard(&m, BLOCK + 2, 803 * BLOCK - 1);
	for (uint64_t b = 698; b < 810; b++)
		do_read(&m, BLOCK, b * BLOCK);
	check_index_pool(&m);
	verify_all(&m);

	/* Everything: no object left, and the pages go back. */
	where.phase = "everything";
	do_discard(&m, m.size, 0);
	check_index_pool(&m);
	check_eq(pool_stats(f->store).objects, 0);
	zp_pool_trim(f->store->pool);
	check_eq(zp_pool_total_pages(f->store->pool), 0);
	s = vol_stats(m.v);
	check_eq(s.blocks_same + s.blocks_raw + s.blocks_compressed, 0);
	check_eq(s.stored_bytes, 0);

	/* Never-written ranges cost nothing: not in the pool, not in the
	 * index, not in resident memory. */
	where.phase = "never-written";
	pages0 = zp_pool_total_pages(f->store->pool);
	idx0 = mapping_rss(fresh->index, fresh->index_bytes);
	rss0 = rss_bytes();
	check_eq(zpd_volume_discard(fresh, m.w, 0, GiB, 0), 0);
	check_eq(zpd_volume_discard(fresh, m.w, 64 * MiB, 512 * MiB, 0), 0);
	check_eq(zpd_volume_discard(fresh, m.w, GiB - BLOCK, 10 * GiB, 0), 0);
	check_eq(zpd_volume_discard(fresh, m.w, 2 * GiB, BLOCK, 0), 0);
	check_cost_nothing(f->store, fresh, "discarding", idx0, rss0, pages0, &idx1,
			   &rss1);
	s = vol_stats(fresh);
	check_eq(s.discards, 4);
	check_eq(s.blocks_same + s.blocks_raw + s.blocks_compressed, 0);
	check_eq(s.partial_writes, 0);
	for (uint64_t b = 0; b < 4096; b++)
		if (fresh->index[b].flags)
			fail_msg("discarding never-written block %" PRIu64
				 " made an entry",
				 b);

	/* A range that starts and ends inside never-written blocks: the
	 * pool still holds nothing, and the edges read as zeros. */
	where.phase = "never-written, unaligned";
	check_eq(zpd_volume_discard(fresh, m.w, 12345, 64 * MiB, 0), 0);
	check_eq(pool_stats(f->store).objects, 0);
	check_eq(zp_pool_total_pages(f->store->pool), pages0);
	s = vol_stats(fresh);
	check_eq(s.blocks_raw + s.blocks_compressed, 0);
	check_eq(s.stored_bytes, 0);
	memset(src, 0xee, 3 * BLOCK);
	check_eq(zpd_volume_read(fresh, m.w, src, 2 * BLOCK, 2 * BLOCK),
		 2 * BLOCK);
	check_eq(zpd_volume_read(fresh, m.w, src + 2 * BLOCK, BLOCK,
				 (12345 + 64 * MiB) & ~(uint64_t)(BLOCK - 1)),
		 BLOCK);
	for (uint64_t i = 0; i < 3 * BLOCK; i++)
		if (src[i])
			fail_msg("byte %" PRIu64
				 " of a never-written edge block "
				 "reads as 0x%02x",
				 i, src[i]);
	/* Zeroing part of a block that holds nothing makes no entry. */
	check_eq(s.blocks_same, 0);
	check_eq(s.partial_writes, 0);
	f->passed = true;
}

/* ------------------------------------------------------------------------ */
/* The end of a volume                                                      */
/* ------------------------------------------------------------------------ */

static void test_end(void **state)
{
	struct fixture *f = *state;
	const uint64_t size = 16 * BLOCK;
	uint64_t rng = test_seed("end");
	struct zpd_volume *next;
	struct zpd_volume_stats s, zero = {0};
	unsigned char *src;
	struct model m;

	where.test = "end";
	fx_volume(f, "small", size, -1, ZPD_STORE_POOL);
	fx_volume(f, "next", size, -1, ZPD_STORE_POOL);
	fx_store(f, 1);
	model_init(&m, f, fx_vol(f, "small"));
	next = fx_vol(f, "next");
	src = fx_alloc(f, MAX_IO, false);

	where.phase = "fill";
	fill(&rng, FILL_RANDOM, src, size, 0);
	do_write(&m, src, size, 0);

	where.phase = "reads";
	do_read(&m, BLOCK, size);
	do_read(&m, 1, size);
	do_read(&m, 1, size + 1000);
	do_read(&m, BLOCK, UINT64_MAX - BLOCK + 1);
	do_read(&m, 1, size - 1);
	do_read(&m, BLOCK, size - 100);
	do_read(&m, size + 2 * BLOCK, 0);
	do_read(&m, 3 * BLOCK, size - 2 * BLOCK - 5);
	do_read(&m, 0, size);
	do_read(&m, 0, 0);

	where.phase = "writes";
	fill(&rng, FILL_CORPUS, src, 5 * BLOCK, 1);
	do_write(&m, src, BLOCK, size);
	do_write(&m, src, 1, size);
	do_write(&m, src, 1, size + 10 * BLOCK);
	do_write(&m, src, 5, UINT64_MAX - 10);
	do_write(&m, src, 300, size - 100);
	do_write(&m, src, 5 * BLOCK, size - 3 * BLOCK - 5);
	do_write(&m, src, 2 * BLOCK, size - 2 * BLOCK);
	do_write(&m, src, 1, size - 1);
	do_write(&m, src, 0, size);
	do_write(&m, src, 0, size + BLOCK);
	verify_all(&m);
	check_index_pool(&m);

	where.phase = "discards";
	do_discard(&m, 2 * BLOCK, size - BLOCK - 10);
	do_discard(&m, BLOCK, size + BLOCK);
	do_discard(&m, UINT64_MAX, size - 1);
	do_discard(&m, 10, UINT64_MAX - 5);
	verify_all(&m);
	check_index_pool(&m);
	check_eq(vol_stats(m.v).write_errors, 0);

	/* The neighbour volume saw nothing. */
	s = vol_stats(next);
	if (memcmp(&s, &zero, sizeof(s)))
		fail_msg("a volume nobody used has non-zero counters");
	for (uint64_t i = 0; i < next->index_bytes; i++)
		if (((const unsigned char *)next->index)[i])
			fail_msg("byte %" PRIu64 " of an unused volume's index "
				 "is not zero",
				 i);
	f->passed = true;
}

/* ------------------------------------------------------------------------ */
/* Compressor changes                                                       */
/* ------------------------------------------------------------------------ */

static void test_compressor(void **state)
{
	struct fixture *f = *state;
	static const char *const texts[] = {"lz4", "zstd:3", "lz4hc:4",
					    "lz4:8"};
	const uint64_t per_spec = 256;
	uint64_t rng = test_seed("compressor"), tags_seen = 0;
	struct comp_spec spec;
	comp_tag_t tags[ARRAY_SIZE(texts)];
	unsigned int nr_tags = 0;
	unsigned char *src;
	struct model m;
	char err[256];

	where.test = "compressor";
	fx_volume(f, "comp", 8 * MiB, -1, ZPD_STORE_POOL);
	fx_store(f, 1);
	model_init(&m, f, fx_vol(f, "comp"));
	src = fx_alloc(f, MAX_IO, false);

	for (size_t k = 0; k < ARRAY_SIZE(texts); k++) {
		uint64_t base = nr_tags * per_spec;

		if (comp_spec_parse(texts[k], &spec, err, sizeof(err))) {
			print_message("# compressor: skipping '%s': %s\n",
				      texts[k], err);
			continue;
		}
		where.phase = texts[k];
		model_set_spec(&m, spec);
		tags[nr_tags++] = comp_spec_tag(spec);
		/* Fresh blocks, 16 at a time. */
		for (uint64_t b = 0; b < per_spec; b += 16) {
			for (uint64_t i = 0; i < 16; i++) {
				size_t page = (size_t)((base + b + i) * 7 %
						       corpus.nr_pages);

				memcpy(src + i * BLOCK,
				       zp_corpus_page(&corpus, page), BLOCK);
			}
			do_write(&m, src, 16 * BLOCK, (base + b) * BLOCK);
		}
		/* Parts of blocks an earlier setting made: merged and
		 * stored with this one. */
		for (unsigned int i = 0; i < 32 && base; i++) {
			uint64_t off = zt_below(&rng, base * BLOCK);
			uint64_t len = zt_range(&rng, 1, 2 * BLOCK);

			fill(&rng, FILL_CORPUS, src, len, off);
			do_write(&m, src, len, off);
		}
		verify_all(&m);
		check_index_pool(&m);
	}
	assert_true(nr_tags >= 3);

	/* Reading does not depend on the setting. */
	where.phase = "back to the first";
	spec = m.specs[0];
	model_set_spec(&m, spec);
	verify_all(&m);
	check_index_pool(&m);

	/* The pool holds objects of every setting at once. */
	for (uint64_t b = 0; b < m.nr_blocks; b++) {
		const struct zpd_entry *e = &m.v->index[b];

		if (!(e->flags & ZPD_E_POOL))
			continue;
		for (unsigned int i = 0; i < nr_tags; i++)
			if (e->tag == tags[i])
				tags_seen |= 1ull << i;
	}
	check_eq(tags_seen, (1ull << nr_tags) - 1);
	f->passed = true;
}

/* ------------------------------------------------------------------------ */
/* Node resolution                                                          */
/* ------------------------------------------------------------------------ */

static const struct zpd_pid_cache *cached(const struct zpd_worker *w, pid_t pid)
{
	const struct zpd_pid_cache *best = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(w->pids); i++)
		if (w->pids[i].pid == pid &&
		    (!best || w->pids[i].until_ns > best->until_ns))
			best = &w->pids[i];
	return best;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	assert_int_equal(sched_setaffinity(0, sizeof(set), &set), 0);
	assert_int_equal(sched_getcpu(), cpu);
}

struct node_calls {
	struct zpd_store *store;
	struct zpd_worker *w;
	uint64_t counts[ZP_MAX_NODES];
};

static void expect_node(struct node_calls *nc, enum zpd_node_hint hint,
			const struct zpd_volume *v, pid_t pid, int want,
			const char *what)
{
	int got;

	nc->store->node_hint = hint;
	got = zpd_request_node(nc->store, nc->w, v, pid);
	if (got != want)
		fail_msg("%s: node %d, not %d", what, got, want);
	nc->counts[want]++;
	for (int n = 0; n < ZP_MAX_NODES; n++)
		check_eq(atomic_load(&nc->store->node_requests[n]),
			 nc->counts[n]);
}

static void test_nodes(void **state)
{
	struct fixture *f = *state;
	struct zpd_volume *bound, *unbound;
	struct zpd_store *store;
	struct node_calls nc;
	const struct zpd_pid_cache *c;
	pid_t self = getpid(), gone = INT_MAX;
	int here, c0 = -1, c1 = -1;

	where.test = "nodes";
	fx_volume(f, "bound", MiB, 0, ZPD_STORE_POOL);
	fx_volume(f, "unbound", MiB, -1, ZPD_STORE_POOL);
	f->cfg.node_hint = ZPD_HINT_VOLUME;
	store = fx_store(f, 1);
	bound = fx_vol(f, "bound");
	unbound = fx_vol(f, "unbound");
	memset(&nc, 0, sizeof(nc));
	nc.store = store;
	nc.w = fx_worker(f);
	assert_int_equal(store->node_hint, ZPD_HINT_VOLUME);
	assert_true(store->nr_nodes >= 1);
	assert_int_equal(zpd_pid_cpu(gone), -1);

	/* The machine as it is, with this thread kept on one CPU so that
	 * the node of "the CPU we run on" stays put. */
	where.phase = "real";
	assert_int_equal(
		sched_getaffinity(0, sizeof(f->affinity), &f->affinity), 0);
	f->affinity_saved = true;
	for (int i = 0; i < CPU_SETSIZE; i++) {
		if (!CPU_ISSET(i, &f->affinity))
			continue;
		if (c0 < 0)
			c0 = i;
		else if (c1 < 0)
			c1 = i;
	}
	assert_true(c0 >= 0);
	pin(c0);
	here = zpd_cpu_node((unsigned)c0);
	check_eq(store->cpu_node[c0], here);
	if (here >= store->nr_nodes)
		here = 0;
	expect_node(&nc, ZPD_HINT_VOLUME, bound, self, 0, "bound volume");
	expect_node(&nc, ZPD_HINT_VOLUME, bound, 0, 0, "bound volume, pid 0");
	/* A bound volume never looks at the pid. */
	assert_null(cached(nc.w, self));
	expect_node(&nc, ZPD_HINT_REQUESTER, unbound, self, here,
		    "requester, ourselves");
	c = cached(nc.w, self);
	assert_non_null(c);
	check_eq(c->node, here);
	assert_true(c->until_ns > 0);
	expect_node(&nc, ZPD_HINT_REQUESTER, unbound, self, here,
		    "requester, ourselves, cached");
	expect_node(&nc, ZPD_HINT_REQUESTER, unbound, gone, here,
		    "requester that does not exist");
	assert_non_null(cached(nc.w, gone));
	expect_node(&nc, ZPD_HINT_REQUESTER, unbound, 0, here,
		    "requester pid 0");
	/* Pid 0 (the kernel's own requests) is never cached. */
	for (size_t i = 0; i < ARRAY_SIZE(nc.w->pids); i++)
		if (nc.w->pids[i].pid == 0)
			check_eq(nc.w->pids[i].until_ns, 0);
	expect_node(&nc, ZPD_HINT_VOLUME, unbound, self, here,
		    "unbound volume");
	expect_node(&nc, ZPD_HINT_WORKER, bound, self, here, "worker");

	/*
	 * Two nodes, made up: CPU c1 is on node 1, every other CPU on node
	 * 0, and a child process sleeps on c1 while we run on c0. Then
	 * requester, worker and volume hints each give a different answer,
	 * and the cache shows when it is used.
	 */
	where.phase = "made-up nodes";
	if (c1 < 0) {
		print_message("# nodes: one CPU allowed, no made-up nodes\n");
		f->passed = true;
		return;
	}
	store->nr_nodes = 2;
	for (int i = 0; i < CPU_SETSIZE; i++)
		store->cpu_node[i] = 0;
	store->cpu_node[c1] = 1;
	store->node_cache_ms = 10000;

	pin(c1);
	f->child = fork();
	assert_true(f->child >= 0);
	if (f->child == 0) {
		for (;;)
			pause();
	}
	pin(c0);
	for (int i = 0; i < 1000 && zpd_pid_cpu(f->child) != c1; i++)
		usleep(1000);
	assert_int_equal(zpd_pid_cpu(f->child), c1);
	memset(nc.w->pids, 0, sizeof(nc.w->pids));

	expect_node(&nc, ZPD_HINT_WORKER, unbound, f->child, 0, "worker on c0");
	pin(c1);
	expect_node(&nc, ZPD_HINT_WORKER, unbound, f->child, 1, "worker on c1");
	pin(c0);
	expect_node(&nc, ZPD_HINT_REQUESTER, unbound, f->child, 1,
		    "requester on c1");
	c = cached(nc.w, f->child);
	assert_non_null(c);
	check_eq(c->node, 1);
	expect_node(&nc, ZPD_HINT_REQUESTER, bound, gone, 0,
		    "requester that does not exist, worker on c0");
	expect_node(&nc, ZPD_HINT_VOLUME, bound, f->child, 0,
		    "bound volume, requester on c1");
	expect_node(&nc, ZPD_HINT_VOLUME, unbound, f->child, 1,
		    "unbound volume, requester on c1");
	expect_node(&nc, ZPD_HINT_VOLUME, unbound, 0, 0,
		    "unbound volume, pid 0, worker on c0");

	/* While the cache holds the child, its CPU is not looked up again:
	 * moving c1 to node 0 does not show. */
	store->cpu_node[c1] = 0;
	expect_node(&nc, ZPD_HINT_REQUESTER, unbound, f->child, 1,
		    "requester, cached");
	/* Once the entry has expired it is. */
	memset(nc.w->pids, 0, sizeof(nc.w->pids));
	store->node_cache_ms = 500;
	store->cpu_node[c1] = 1;
	expect_node(&nc, ZPD_HINT_REQUESTER, unbound, f->child, 1,
		    "requester, short cache");
	store->cpu_node[c1] = 0;
	expect_node(&nc, ZPD_HINT_REQUESTER, unbound, f->child, 1,
		    "requester, short cache, cached");
	usleep(600 * 1000);
	expect_node(&nc, ZPD_HINT_REQUESTER, unbound, f->child, 0,
		    "requester, short cache, expired");
	/* node_cache_ms = 0: every request looks. (The entry just made is
	 * good for 500 ms: the setting applies to entries made after it.) */
	memset(nc.w->pids, 0, sizeof(nc.w->pids));
	store->node_cache_ms = 0;
	store->cpu_node[c1] = 1;
	expect_node(&nc, ZPD_HINT_REQUESTER, unbound, f->child, 1,
		    "requester, no cache");
	store->cpu_node[c1] = 0;
	expect_node(&nc, ZPD_HINT_REQUESTER, unbound, f->child, 0,
		    "requester, no cache, moved");
	/* A node the store does not have falls back to 0. */
	store->cpu_node[c1] = 5;
	expect_node(&nc, ZPD_HINT_REQUESTER, unbound, f->child, 0,
		    "requester on a node beyond the store's");

	/* Put the machine back. */
	store->nr_nodes = zp_pool_nr_nodes(store->pool);
	for (int i = 0; i < CPU_SETSIZE; i++)
		store->cpu_node[i] = zpd_cpu_node((unsigned)i);
	f->passed = true;
}

/* ------------------------------------------------------------------------ */
/* A volume that keeps nothing                                              */
/* ------------------------------------------------------------------------ */

static void test_null(void **state)
{
	struct fixture *f = *state;
	uint64_t rng = test_seed("null"), written = 0, writes = 0;
	struct zpd_volume *v;
	struct zpd_worker *w;
	struct zpd_volume_stats s;
	unsigned char *src, *buf;
	size_t pages0;

	where.test = "null";
	fx_volume(f, "null", GiB, -1, ZPD_STORE_NULL);
	fx_store(f, 1);
	v = fx_vol(f, "null");
	w = fx_worker(f);
	assert_int_equal(v->kind, ZPD_STORE_NULL);
	src = fx_alloc(f, MAX_IO, false);
	buf = fx_alloc(f, MAX_IO, false);
	pages0 = zp_pool_total_pages(f->store->pool);

	for (unsigned int i = 0; i < 200; i++) {
		uint64_t len = zt_range(&rng, 1, MAX_IO);
		uint64_t off = i < 100 ? zt_below(&rng, 16 * MiB)
				       : zt_below(&rng, GiB);
		uint64_t n = len < GiB - off ? len : GiB - off;

		fill(&rng, i % 2 ? FILL_CORPUS : FILL_RANDOM, src, len, off);
		check_eq(zpd_volume_write(v, w, src, len, off, 0), n);
		writes++;
		written += n;
		memset(buf, 0xee, len);
		check_eq(zpd_volume_read(v, w, buf, len, off), n);
		for (uint64_t k = 0; k < n; k++)
			if (buf[k])
				fail_msg("byte %" PRIu64 " of a null volume "
					 "reads as 0x%02x",
					 off + k, buf[k]);
	}
	check_eq(zpd_volume_write(v, w, src, BLOCK, GiB - 100, 0), 100);
	check_eq(zpd_volume_write(v, w, src, BLOCK, GiB, 0), -ENOSPC);
	check_eq(zpd_volume_read(v, w, buf, BLOCK, GiB), 0);
	check_eq(zpd_volume_discard(v, w, 777, 8 * MiB, 0), 0);
	writes += 2;
	written += 100;

	s = vol_stats(v);
	check_eq(s.writes, writes);
	check_eq(s.bytes_written, written);
	check_eq(s.blocks_same + s.blocks_raw + s.blocks_compressed, 0);
	check_eq(s.stored_bytes, 0);
	check_eq(s.partial_writes, 0);
	check_eq(pool_stats(f->store).objects, 0);
	check_eq(zp_pool_total_pages(f->store->pool), pages0);
	for (uint64_t b = 0; b < 16 * MiB / BLOCK; b++)
		if (v->index[b].flags)
			fail_msg("block %" PRIu64 " of a null volume has an "
				 "entry",
				 b);
	f->passed = true;
}

/* ------------------------------------------------------------------------ */
/* Corrupt objects                                                          */
/* ------------------------------------------------------------------------ */

/* Overwrite the pool object of block blk with bytes no decoder accepts. */
static void corrupt_block(struct zpd_store *store, struct zpd_volume *v,
			  uint64_t blk)
{
	const struct zpd_entry *e = &v->index[blk];
	unsigned char junk[BLOCK];

	assert_true(e->flags & ZPD_E_POOL);
	assert_int_not_equal(e->tag >> COMP_TAG_LEVEL_BITS, COMP_RAW);
	memset(junk, 0xff, sizeof(junk));
	zp_pool_write(store->pool, e->val, junk, e->len);
}

static void test_corrupt(void **state)
{
	struct fixture *f = *state;
	struct zpd_volume_stats s;
	struct zpd_volume *v;
	struct zpd_worker *w;
	struct comp_spec spec;
	unsigned char *buf;
	size_t page = 0;

	where.test = "corrupt";
	fx_volume(f, "corrupt", MiB, -1, ZPD_STORE_POOL);
	fx_store(f, 1);
	v = fx_vol(f, "corrupt");
	w = fx_worker(f);
	buf = fx_alloc(f, 4 * BLOCK, false);
	spec = zpd_store_compressor(f->store);

	/* Blocks 0..3 from corpus pages that compress. */
	for (uint64_t b = 0; b < 4; b++) {
		struct comp_result res;

		for (;; page++) {
			const unsigned char *p = zp_corpus_page(&corpus, page);

			assert_true(page < corpus.nr_pages);
			assert_int_equal(comp_compress(f->ctx, spec, p, &res),
					 0);
			if (res.kind == COMP_KIND_COMPRESSED)
				break;
		}
		check_eq(zpd_volume_write(v, w, zp_corpus_page(&corpus, page++),
					  BLOCK, b * BLOCK, 0),
			 BLOCK);
	}
	corrupt_block(f->store, v, 1);
	corrupt_block(f->store, v, 3);

	/* Reads of a corrupt block fail, whole or in part, also when the
	 * request starts in a good block. */
	check_eq(zpd_volume_read(v, w, buf, BLOCK, 0), BLOCK);
	check_eq(zpd_volume_read(v, w, buf, BLOCK, BLOCK), -EIO);
	check_eq(zpd_volume_read(v, w, buf, 10, BLOCK + 100), -EIO);
	check_eq(zpd_volume_read(v, w, buf, 2 * BLOCK, 0), -EIO);
	s = vol_stats(v);
	check_eq(s.read_errors, 3);
	check_eq(s.reads, 4);
	check_eq(s.bytes_read, BLOCK);

	/* A partial write must merge with the old contents, which it cannot
	 * read: refused, and nothing before it in the request is lost. */
	memset(buf, 0x5a, 2 * BLOCK);
	check_eq(zpd_volume_write(v, w, buf, 100, BLOCK + 5, 0), -EIO);
	check_eq(zpd_volume_write(v, w, buf, BLOCK + 10, 2 * BLOCK, 0), BLOCK);
	s = vol_stats(v);
	check_eq(s.write_errors, 2);
	check_eq(zpd_volume_read(v, w, buf + 2 * BLOCK, BLOCK, 2 * BLOCK),
		 BLOCK);
	assert_memory_equal(buf + 2 * BLOCK, buf, BLOCK);

	/* A whole-block write or discard replaces the corrupt object. */
	check_eq(zpd_volume_write(v, w, zp_corpus_page(&corpus, 0), BLOCK,
				  BLOCK, 0),
		 BLOCK);
	check_eq(zpd_volume_read(v, w, buf, BLOCK, BLOCK), BLOCK);
	assert_memory_equal(buf, zp_corpus_page(&corpus, 0), BLOCK);
	check_eq(zpd_volume_discard(v, w, 3 * BLOCK + 1, 10, 0), -EIO);
	check_eq(zpd_volume_discard(v, w, 3 * BLOCK, BLOCK, 0), 0);
	check_eq(zpd_volume_read(v, w, buf, BLOCK, 3 * BLOCK), BLOCK);
	for (unsigned int i = 0; i < BLOCK; i++)
		if (buf[i])
			fail_msg("byte %u of a discarded block is 0x%02x", i,
				 buf[i]);
	s = vol_stats(v);
	check_eq(s.read_errors, 3);
	/* 0 and 1 compressed, 2 same-filled (0x5a), 3 discarded. */
	check_eq(s.blocks_raw + s.blocks_compressed, 2);
	check_eq(s.blocks_same, 1);
	check_eq(pool_stats(f->store).objects, 2);
	f->passed = true;
}

/* ------------------------------------------------------------------------ */
/* Early writes                                                             */
/* ------------------------------------------------------------------------ */

struct early_reader {
	struct zpd_store *store;
	struct zpd_volume *v;
	uint64_t off;
	unsigned char buf[BLOCK];
	ssize_t ret;
	atomic_bool done;
};

static void *early_read(void *arg)
{
	struct early_reader *r = arg;
	struct zpd_worker *w = zpd_worker_get(r->store);

	r->ret = w ? zpd_volume_read(r->v, w, r->buf, BLOCK, r->off) : -ENOMEM;
	atomic_store(&r->done, true);
	return NULL;
}

/* Wait up to ms for a reader to finish. */
static bool early_wait(struct early_reader *r, unsigned int ms)
{
	for (unsigned int i = 0; i < ms && !atomic_load(&r->done); i++)
		usleep(1000);
	return atomic_load(&r->done);
}

static void test_early(void **state)
{
	struct fixture *f = *state;
	const uint64_t size = 64 * MiB;
	struct early_reader same_blk = {0}, other_blk = {0};
	struct zpd_early_write ew;
	struct zpd_volume *v, *nv;
	struct zpd_worker *w;
	struct zpd_volume_stats s;
	const unsigned char *page = zp_corpus_page(&corpus, 3);
	unsigned char *buf, same[BLOCK];
	pthread_t t1, t2;
	uint64_t objects;

	where.test = "early";
	fx_volume(f, "vol", size, -1, ZPD_STORE_POOL);
	fx_volume(f, "null", size, -1, ZPD_STORE_NULL);
	fx_store(f, 3);
	v = fx_vol(f, "vol");
	nv = fx_vol(f, "null");
	w = fx_worker(f);
	buf = fx_alloc(f, 2 * BLOCK, true);

	/* Only one whole block inside a pool volume goes early. */
	assert_false(zpd_volume_write_early(v, 0, BLOCK - 1, 0, &ew));
	assert_false(zpd_volume_write_early(v, 0, 2 * BLOCK, 0, &ew));
	assert_false(zpd_volume_write_early(v, 512, BLOCK, 0, &ew));
	assert_false(zpd_volume_write_early(v, size, BLOCK, 0, &ew));
	assert_false(zpd_volume_write_early(v, size + BLOCK, BLOCK, 0, &ew));
	assert_false(zpd_volume_write_early(nv, 0, BLOCK, 0, &ew));
	check_eq(pool_stats(f->store).objects, 0);
	check_eq(vol_stats(v).writes, 0);

	/* The last block, while a reader of it and one of another block
	 * run: the first waits for the block, the second does not. */
	assert_true(zpd_volume_write_early(v, size - BLOCK, BLOCK, 0, &ew));
	/* Until finished, the block's home is a raw-size object. */
	check_eq(pool_stats(f->store).objects, 1);
	same_blk = (struct early_reader){.store = f->store, .v = v,
					 .off = size - BLOCK};
	other_blk = (struct early_reader){.store = f->store, .v = v,
					  .off = size - 2 * BLOCK};
	assert_int_equal(pthread_create(&t1, NULL, early_read, &same_blk), 0);
	assert_int_equal(pthread_create(&t2, NULL, early_read, &other_blk), 0);
	if (!early_wait(&other_blk, 5000))
		fail_msg("a read of another block waited for an early write");
	if (early_wait(&same_blk, 100))
		fail_msg("a read of the block did not wait for its early "
			 "write to finish");
	zpd_volume_write_finish(&ew, w, page);
	assert_int_equal(pthread_join(t1, NULL), 0);
	assert_int_equal(pthread_join(t2, NULL), 0);
	check_eq(same_blk.ret, BLOCK);
	assert_memory_equal(same_blk.buf, page, BLOCK);
	check_eq(other_blk.ret, BLOCK);
	for (unsigned int i = 0; i < BLOCK; i++)
		if (other_blk.buf[i])
			fail_msg("an unwritten block read 0x%02x at byte %u",
				 other_blk.buf[i], i);

	/* Stored compressed: the raw-size object went back. */
	s = vol_stats(v);
	check_eq(s.writes, 1);
	check_eq(s.bytes_written, BLOCK);
	check_eq(s.blocks_compressed, 1);
	check_eq(s.blocks_raw + s.blocks_same, 0);
	objects = pool_stats(f->store).objects;
	check_eq(objects, 1);
	check_eq(s.stored_bytes, v->index[(size - BLOCK) / BLOCK].len);
	assert_true(v->index[(size - BLOCK) / BLOCK].len < BLOCK);

	/* Overwritten early with a same-filled page: no object left. */
	memset(same, 0x5a, sizeof(same));
	assert_true(zpd_volume_write_early(v, size - BLOCK, BLOCK, 0, &ew));
	zpd_volume_write_finish(&ew, w, same);
	s = vol_stats(v);
	check_eq(s.blocks_same, 1);
	check_eq(s.blocks_compressed + s.blocks_raw, 0);
	check_eq(s.stored_bytes, 0);
	check_eq(pool_stats(f->store).objects, 0);
	check_eq(zpd_volume_read(v, w, buf, 2 * BLOCK, size - 2 * BLOCK),
		 2 * BLOCK);
	assert_memory_equal(buf + BLOCK, same, BLOCK);

	/* And a normal partial write onto it merges with what it holds. */
	check_eq(zpd_volume_write(v, w, page, 100, size - BLOCK + 10, 0), 100);
	check_eq(zpd_volume_read(v, w, buf, BLOCK, size - BLOCK), BLOCK);
	assert_memory_equal(buf, same, 10);
	assert_memory_equal(buf + 10, page, 100);
	assert_memory_equal(buf + 110, same + 110, BLOCK - 110);
	f->passed = true;
}

/* ------------------------------------------------------------------------ */
/* Workers and the store itself                                             */
/* ------------------------------------------------------------------------ */

struct worker_probe {
	struct zpd_store *store;
	struct zpd_worker *got, *nested;
	bool nest;
};

/* Take a worker; with nest, have a second thread try while this one still
 * holds it. The worker goes back when the thread exits. */
static void *probe_worker(void *arg)
{
	struct worker_probe *p = arg;

	p->got = zpd_worker_get(p->store);
	if (p->nest) {
		struct worker_probe inner = {.store = p->store};
		pthread_t t;

		if (!pthread_create(&t, NULL, probe_worker, &inner)) {
			pthread_join(t, NULL);
			p->nested = inner.got;
		}
	}
	return NULL;
}

static struct worker_probe run_probe(struct zpd_store *store, bool nest)
{
	struct worker_probe p = {.store = store, .nest = nest};
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, probe_worker, &p), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	return p;
}

static void test_workers(void **state)
{
	struct fixture *f = *state;
	struct zpd_store *store, *bad = NULL;
	struct zpd_config cfg;
	struct zpd_worker *mine;
	struct worker_probe a, b;
	char err[ZPD_ERR_MAX];
	int ret;

	where.test = "workers";
	fx_volume(f, "first", MiB, -1, ZPD_STORE_POOL);
	fx_volume(f, "second", 2 * MiB, 0, ZPD_STORE_NULL);
	f->cfg.max_write = 128 * KiB;
	store = fx_store(f, 2);
	check_eq(store->nr_workers, 2);

	/* Volumes by name, in the order of the configuration. */
	assert_ptr_equal(zpd_store_volume(store, "first"), store->volumes[0]);
	assert_ptr_equal(zpd_store_volume(store, "second"), store->volumes[1]);
	assert_null(zpd_store_volume(store, "third"));
	assert_null(zpd_store_volume(store, "firs"));
	check_eq(store->volumes[0]->ino, 2);
	check_eq(store->volumes[1]->ino, 3);
	check_eq(store->volumes[1]->size, 2 * MiB);
	check_eq(store->volumes[1]->nr_blocks, 512);
	check_eq(store->volumes[1]->node, 0);
	assert_int_equal(store->volumes[1]->kind, ZPD_STORE_NULL);

	/* The main thread keeps one; a thread takes the other and, while it
	 * holds it, a third finds none. */
	mine = fx_worker(f);
	check_eq(mine->buf_size, 128 * KiB);
	assert_non_null(mine->buf);
	assert_non_null(mine->comp);
	assert_ptr_equal(mine->store, store);
	a = run_probe(store, true);
	assert_non_null(a.got);
	assert_ptr_not_equal(a.got, mine);
	assert_null(a.nested);
	/* Its thread has exited: the next thread gets that worker back. */
	b = run_probe(store, false);
	assert_ptr_equal(b.got, a.got);
	assert_ptr_equal(zpd_worker_get(store), mine);

	/* A pool the configuration cannot make: the store is not made, and
	 * the message says why. */
	cfg = f->cfg;
	cfg.max_zspage_pages = ZP_MAX_ZSPAGE_PAGES + 1;
	err[0] = '\0';
	ret = zpd_store_create(&cfg, 1, &bad, err, sizeof(err));
	assert_int_equal(ret, -EINVAL);
	assert_null(bad);
	if (strncmp(err, "cannot create the pool: ", 24))
		fail_msg("unexpected message '%s'", err);

	/* A store without workers hands none out. */
	cfg = f->cfg;
	ret = zpd_store_create(&cfg, 0, &bad, err, sizeof(err));
	assert_int_equal(ret, 0);
	assert_non_null(bad);
	a = run_probe(bad, false);
	zpd_store_destroy(bad);
	assert_null(a.got);
	f->passed = true;
}

/* ------------------------------------------------------------------------ */
/* Concurrent writers and readers on a few blocks                           */
/* ------------------------------------------------------------------------ */

#define CC_WRITERS 4
#define CC_READERS 2
#define CC_BASE	   CC_WRITERS /* "thread" of the contents before */
#define CC_SLOTS   8
#define CC_WORDS   (BLOCK / 8)
#define CC_SIZE	   (16 * MiB)

/* Blocks on stripes of their own and, 1024 apart, on shared stripes;
 * neighbours in pairs so that writes can span two of them. */
static const uint64_t cc_blocks[CC_SLOTS] = {0,	   1,	 2,    3,
					     1024, 1025, 2048, 2049};

/*
 * A stamp word: bits 0-8 its word in the block, 9-11 the block's slot,
 * 12-14 the thread, 15 the form, 16-47 the write's sequence number. Form 0
 * keeps 0x5a5a in the top 16 bits (blocks of them compress); form 1
 * scrambles the whole word with zt_mix64(), a bijection, over 0xa5a5 in
 * the top bits (blocks of them are stored raw).
 */
#define CC_LOW	((1ull << 48) - 1)
#define CC_TAG0 0x5a5aull
#define CC_TAG1 0xa5a5ull

struct cc_write {
	uint64_t first; /* word of the volume */
	uint32_t words;
	uint8_t form;
};

struct cc {
	struct zpd_store *store;
	struct zpd_volume *v;
	uint64_t iters;
	struct cc_write *writes[CC_WRITERS];
	_Atomic unsigned int writers_left;
	_Atomic bool failed;
	pthread_mutex_t lock;
	char err[512]; /* protected by lock */
	_Atomic uint64_t reads, torn_checks;
	/* The stats sampler's findings; read after it is joined. */
	uint64_t samples, impossible;
	struct zpd_volume_stats first_impossible;
};

struct cc_thread {
	struct cc *cc;
	unsigned int id;
	pthread_t thread;
	uint64_t rng;
};

static uint64_t inverse64(uint64_t a)
{
	uint64_t x = a; /* right to 3 bits for an odd a; Newton doubles it */

	for (int i = 0; i < 6; i++)
		x *= 2 - a * x;
	return x;
}

static uint64_t unxorshift(uint64_t y, unsigned int s)
{
	uint64_t x = y;

	for (unsigned int k = s; k < 64; k += s)
		x = y ^ (x >> s);
	return x;
}

static uint64_t inv_mul1, inv_mul2;

static uint64_t unmix64(uint64_t x)
{
	x = unxorshift(x, 31) * inv_mul2;
	x = unxorshift(x, 27) * inv_mul1;
	return unxorshift(x, 30);
}

static uint64_t cc_stamp(unsigned int widx, unsigned int slot, unsigned int t,
			 unsigned int form, uint64_t seq)
{
	uint64_t enc = widx | (uint64_t)slot << 9 | (uint64_t)t << 12 |
		       (uint64_t)form << 15 | seq << 16;

	return form ? zt_mix64(enc | CC_TAG1 << 48) : enc | CC_TAG0 << 48;
}

static int cc_slot(uint64_t blk)
{
	for (int i = 0; i < CC_SLOTS; i++)
		if (cc_blocks[i] == blk)
			return i;
	return -1;
}

static void cc_fail(struct cc *cc, const char *fmt, ...) zp_printf(2, 3);

static void cc_fail(struct cc *cc, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&cc->lock);
	if (!atomic_load(&cc->failed)) {
		va_start(ap, fmt);
		vsnprintf(cc->err, sizeof(cc->err), fmt, ap);
		va_end(ap);
		atomic_store(&cc->failed, true);
	}
	pthread_mutex_unlock(&cc->lock);
}

/* Write (thread t, seq)'s stamps into buf. */
static void cc_fill(const struct cc_write *wr, unsigned int t, uint64_t seq,
		    uint64_t *buf)
{
	for (uint32_t k = 0; k < wr->words; k++) {
		uint64_t word = wr->first + k;

		buf[k] = cc_stamp((unsigned)(word % CC_WORDS),
				  (unsigned)cc_slot(word / CC_WORDS), t,
				  wr->form, seq);
	}
}

struct cc_decoded {
	uint8_t t;
	uint32_t seq;
};

/* Whether enc is a stamp that may stand at word widx of slot. */
static bool cc_valid(const struct cc *cc, uint64_t enc, unsigned int slot,
		     unsigned int widx, unsigned int form)
{
	unsigned int t = (enc >> 12) & 7;
	uint64_t seq = enc >> 16, word = cc_blocks[slot] * CC_WORDS + widx;
	const struct cc_write *wr;

	if ((enc & 511) != widx || ((enc >> 9) & 7) != slot ||
	    ((enc >> 15) & 1) != form)
		return false;
	if (t == CC_BASE)
		return seq == 0 && form == 0;
	if (t > CC_BASE || seq >= cc->iters)
		return false;
	wr = &cc->writes[t][seq];
	return wr->form == form && wr->first <= word &&
	       word < wr->first + wr->words;
}

static bool cc_covers(const struct cc_write *wr, uint64_t first, uint64_t end)
{
	return wr->first < end && first < wr->first + wr->words;
}

static bool cc_whole(const struct cc *cc, const struct cc_decoded *d,
		     unsigned int slot)
{
	uint64_t first = cc_blocks[slot] * CC_WORDS;
	const struct cc_write *wr;

	if (d->t == CC_BASE)
		return true;
	wr = &cc->writes[d->t][d->seq];
	return wr->first <= first && first + CC_WORDS <= wr->first + wr->words;
}

/*
 * Check words [first, first + n) of the block in slot, one snapshot of
 * it. False (with the failure recorded) if they cannot have come from the
 * writes laid out.
 */
static bool cc_check(struct cc *cc, unsigned int slot, const uint64_t *words,
		     unsigned int first, unsigned int n, const char *who)
{
	struct cc_decoded d[CC_WORDS], whole = {0};
	int64_t maxseq[CC_BASE + 1];
	uint64_t base = cc_blocks[slot] * CC_WORDS;
	bool have_whole = false;
	unsigned int i, j;

	for (i = 0; i <= CC_BASE; i++)
		maxseq[i] = -1;
	for (i = 0; i < n; i++) {
		unsigned int widx = first + i;
		uint64_t w = words[i], u = unmix64(w), enc;

		if ((w >> 48) == CC_TAG0 &&
		    cc_valid(cc, w & CC_LOW, slot, widx, 0))
			enc = w & CC_LOW;
		else if ((u >> 48) == CC_TAG1 &&
			 cc_valid(cc, u & CC_LOW, slot, widx, 1))
			enc = u & CC_LOW;
		else {
			cc_fail(cc,
				"%s: block %" PRIu64 " word %u holds %#" PRIx64
				", which no write put there",
				who, cc_blocks[slot], widx, w);
			return false;
		}
		d[i].t = (enc >> 12) & 7;
		d[i].seq = (uint32_t)(enc >> 16);
		if ((int64_t)d[i].seq > maxseq[d[i].t])
			maxseq[d[i].t] = d[i].seq;
		if (!cc_whole(cc, &d[i], slot))
			continue;
		/* Each whole-block write replaced all of the block: two of
		 * them visible at once means one was torn. */
		if (have_whole &&
		    (whole.t != d[i].t || whole.seq != d[i].seq)) {
			cc_fail(cc,
				"%s: block %" PRIu64 " is torn: whole-block "
				"writes (thread %u, #%u) and (thread %u, #%u) "
				"are both visible (word %u)",
				who, cc_blocks[slot], whole.t, whole.seq,
				d[i].t, d[i].seq, widx);
			return false;
		}
		whole = d[i];
		have_whole = true;
	}
	/* A thread's writes land in order: a word still holding write s of
	 * thread t cannot be covered by a later write of t that is visible
	 * in this block. */
	for (i = 0; i < n; i = j) {
		unsigned int t = d[i].t;

		for (j = i + 1; j < n && d[j].t == t && d[j].seq == d[i].seq;
		     j++)
			;
		if (t == CC_BASE)
			continue;
		for (int64_t s = (int64_t)d[i].seq + 1; s <= maxseq[t]; s++) {
			if (!cc_covers(&cc->writes[t][s], base + first + i,
				       base + first + j))
				continue;
			cc_fail(cc,
				"%s: block %" PRIu64 " words %u..%u hold "
				"(thread %u, #%u) although (thread %u, "
				"#%" PRId64
				"), which covers them, is visible too",
				who, cc_blocks[slot], first + i, first + j - 1,
				t, d[i].seq, t, s);
			return false;
		}
	}
	atomic_fetch_add_explicit(&cc->torn_checks, 1, memory_order_relaxed);
	return true;
}

static void *cc_writer(void *arg)
{
	struct cc_thread *th = arg;
	struct cc *cc = th->cc;
	struct zpd_worker *w = zpd_worker_get(cc->store);
	uint64_t *buf = malloc(2 * BLOCK);

	if (!w || !buf) {
		cc_fail(cc, "writer %u: no worker or no memory", th->id);
		goto out;
	}
	for (uint64_t s = 0; s < cc->iters && !atomic_load(&cc->failed); s++) {
		const struct cc_write *wr = &cc->writes[th->id][s];
		ssize_t ret;

		cc_fill(wr, th->id, s, buf);
		ret = store_write(cc->v, w, buf, wr->words * 8ull,
				  wr->first * 8, s & 1);
		if (ret != (ssize_t)wr->words * 8) {
			cc_fail(cc,
				"writer %u: write #%" PRIu64 " returned %zd",
				th->id, s, ret);
			break;
		}
		if (zt_chance(&th->rng, 5))
			sched_yield();
	}
out:
	free(buf);
	atomic_fetch_sub(&cc->writers_left, 1);
	return NULL;
}

static void *cc_reader(void *arg)
{
	struct cc_thread *th = arg;
	struct cc *cc = th->cc;
	struct zpd_worker *w = zpd_worker_get(cc->store);
	uint64_t *buf = malloc(2 * BLOCK);
	char who[32];
	bool last = false;

	snprintf(who, sizeof(who), "reader %u", th->id);
	if (!w || !buf) {
		cc_fail(cc, "%s: no worker or no memory", who);
		free(buf);
		return NULL;
	}
	/* At least one pass after the writers are done. */
	while (!last && !atomic_load(&cc->failed)) {
		unsigned int slot = (unsigned)zt_below(&th->rng, CC_SLOTS);
		uint64_t r = zt_below(&th->rng, 10), off, len;
		unsigned int first = 0, n = CC_WORDS;
		ssize_t ret;

		last = atomic_load(&cc->writers_left) == 0;
		if (r < 2 && cc_slot(cc_blocks[slot] + 1) >= 0) {
			/* Two neighbours in one request: one snapshot
			 * each. */
			len = 2 * BLOCK;
		} else if (r < 4) {
			first = (unsigned)zt_below(&th->rng, CC_WORDS);
			n = (unsigned)zt_range(&th->rng, 1, CC_WORDS - first);
			len = n * 8ull;
		} else {
			len = BLOCK;
		}
		off = cc_blocks[slot] * BLOCK + first * 8ull;
		ret = zpd_volume_read(cc->v, w, buf, len, off);
		if (ret != (ssize_t)len) {
			cc_fail(cc,
				"%s: read of %" PRIu64 " bytes returned %zd",
				who, len, ret);
			break;
		}
		if (!cc_check(cc, slot, buf, first, n, who))
			break;
		if (len == 2 * BLOCK &&
		    !cc_check(cc, (unsigned)cc_slot(cc_blocks[slot] + 1),
			      buf + CC_WORDS, 0, CC_WORDS, who))
			break;
		atomic_fetch_add_explicit(&cc->reads, 1, memory_order_relaxed);
	}
	free(buf);
	return NULL;
}

/*
 * Read the volume's counters while the writers run. Each of the CC_SLOTS
 * blocks is in one form at any time; a reader that takes the counters one
 * by one may count a block that changes form meanwhile in two or three of
 * them, but never below zero.
 */
static void *cc_sampler(void *arg)
{
	struct cc *cc = arg;

	while (atomic_load(&cc->writers_left) && !atomic_load(&cc->failed)) {
		struct zpd_volume_stats s;
		uint64_t blocks;

		zpd_volume_stats(cc->v, &s);
		cc->samples++;
		blocks = s.blocks_same + s.blocks_raw + s.blocks_compressed;
		if ((int64_t)s.blocks_same < 0 || (int64_t)s.blocks_raw < 0 ||
		    (int64_t)s.blocks_compressed < 0 ||
		    (int64_t)s.stored_bytes < 0 || blocks > 3 * CC_SLOTS ||
		    s.stored_bytes > 3ull * CC_SLOTS * BLOCK) {
			if (!cc->impossible++)
				cc->first_impossible = s;
		}
		/* Leave the CPUs to the writers and readers. */
		sched_yield();
	}
	return NULL;
}

/* Volumes added and removed while the store runs: names, slots, inodes,
 * the blocks of a removed volume freed (pool objects, disk slots none
 * here), users keeping a volume, the limit of ZPD_MAX_VOLUMES. */
static void test_add_remove(void **state)
{
	struct fixture *f = *state;
	struct zpd_volume_conf vc = { .node = -1, .store = ZPD_STORE_POOL };
	struct zpd_volume *v, *again, *many[ZPD_MAX_VOLUMES];
	struct zpd_worker *w;
	unsigned char *src, *dst;
	char err[ZPD_ERR_MAX];
	uint64_t objects0, ino;
	unsigned int i, n;

	where.test = "add_remove";
	fx_volume(f, "first", MiB, -1, ZPD_STORE_POOL);
	fx_store(f, 1);
	w = fx_worker(f);
	src = fx_alloc(f, 64 * BLOCK, false);
	dst = fx_alloc(f, 64 * BLOCK, true);
	objects0 = pool_stats(f->store).objects;

	snprintf(vc.name, sizeof(vc.name), "added");
	vc.size = 4 * MiB;
	assert_int_equal(zpd_store_add_volume(f->store, &vc, &v, err,
					      sizeof(err)),
			 0);
	check_eq(f->store->nr_volumes, 2);
	assert_ptr_equal(zpd_store_volume(f->store, "added"), v);
	check_eq(v->id, 1);
	check_eq(v->ino, 3);
	ino = v->ino;
	for (i = 0; i < 64; i++)
		memcpy(src + (size_t)i * BLOCK, zp_corpus_page(&corpus, 100 + i),
		       BLOCK);
	check_eq(zpd_volume_write(v, w, src, 64 * BLOCK, 0, 0), 64 * BLOCK);
	assert_true(pool_stats(f->store).objects > objects0);

	/* A name taken, by a live volume or one added twice. */
	assert_int_equal(zpd_store_add_volume(f->store, &vc, &again, err,
					      sizeof(err)),
			 -EEXIST);
	assert_has(err, "'added' exists already");
	snprintf(vc.name, sizeof(vc.name), "first");
	assert_int_equal(zpd_store_add_volume(f->store, &vc, &again, err,
					      sizeof(err)),
			 -EEXIST);

	/* In use: refused, nothing changes. */
	atomic_fetch_add(&v->users, 1);
	assert_int_equal(zpd_store_remove_volume(f->store, "added", err,
						 sizeof(err)),
			 -EBUSY);
	assert_has(err, "in use");
	check_eq(zpd_volume_read(v, w, dst, 64 * BLOCK, 0), 64 * BLOCK);
	assert_memory_equal(src, dst, 64 * BLOCK);
	atomic_fetch_sub(&v->users, 1);

	/* Removed: its objects freed, its name and slot free again. */
	assert_int_equal(zpd_store_remove_volume(f->store, "added", err,
						 sizeof(err)),
			 0);
	check_eq(pool_stats(f->store).objects, objects0);
	check_eq(f->store->nr_volumes, 1);
	assert_null(zpd_store_volume(f->store, "added"));
	assert_null(f->store->volumes[1]);
	assert_int_equal(zpd_store_remove_volume(f->store, "added", err,
						 sizeof(err)),
			 -ENOENT);
	assert_has(err, "no volume named 'added'");

	/* The slot again, with a new inode and nothing in it. */
	snprintf(vc.name, sizeof(vc.name), "added");
	assert_int_equal(zpd_store_add_volume(f->store, &vc, &v, err,
					      sizeof(err)),
			 0);
	check_eq(v->id, 1);
	assert_true(v->ino != ino);
	check_eq((v->ino - 2) % ZPD_MAX_VOLUMES, 1);
	check_eq(zpd_volume_read(v, w, dst, 64 * BLOCK, 0), 64 * BLOCK);
	for (i = 0; i < 64 * BLOCK; i++)
		if (dst[i])
			fail_msg("byte %u of the new volume is not zero", i);

	/* Every slot, then one more. */
	vc.size = BLOCK;
	for (n = 0; f->store->nr_volumes < ZPD_MAX_VOLUMES; n++) {
		snprintf(vc.name, sizeof(vc.name), "many%u", n);
		assert_int_equal(zpd_store_add_volume(f->store, &vc, &many[n],
						      err, sizeof(err)),
				 0);
	}
	snprintf(vc.name, sizeof(vc.name), "one-more");
	assert_int_equal(zpd_store_add_volume(f->store, &vc, &again, err,
					      sizeof(err)),
			 -ENOSPC);
	assert_has(err, "64 volumes");
	for (i = 0; i < n; i++) {
		char name[ZPD_VOLUME_NAME_MAX + 1];

		snprintf(name, sizeof(name), "many%u", i);
		assert_int_equal(zpd_store_remove_volume(f->store, name, err,
							 sizeof(err)),
				 0);
	}
	check_eq(f->store->nr_volumes, 2);
	f->passed = true;
}

/* Lay out the writes of each thread: whole blocks and parts of one or two
 * neighbouring blocks, word-aligned, in either form. */
static void cc_plan(struct cc *cc, struct fixture *f)
{
	for (unsigned int t = 0; t < CC_WRITERS; t++) {
		uint64_t rng = zt_mix64(test_seed("concurrent") + t);

		cc->writes[t] =
			fx_alloc(f, cc->iters * sizeof(struct cc_write), true);
		for (uint64_t s = 0; s < cc->iters; s++) {
			struct cc_write *wr = &cc->writes[t][s];
			unsigned int slot = (unsigned)zt_below(&rng, CC_SLOTS);
			uint64_t blk = cc_blocks[slot], room, start;

			wr->form = zt_chance(&rng, 50);
			if (zt_chance(&rng, 50)) {
				wr->first = blk * CC_WORDS;
				wr->words = CC_WORDS;
				continue;
			}
			room = cc_slot(blk + 1) >= 0 ? 2 * CC_WORDS : CC_WORDS;
			start = zt_below(&rng, CC_WORDS);
			wr->first = blk * CC_WORDS + start;
			wr->words = (uint32_t)zt_range(
				&rng, 1,
				room - start < 700 ? room - start : 700);
		}
	}
}

static void test_concurrent(void **state)
{
	struct fixture *f = *state;
	struct cc_thread th[CC_WRITERS + CC_READERS];
	pthread_t sampler;
	struct cc_write base = {0, CC_WORDS, 0};
	struct zpd_volume_stats s;
	struct zpd_worker *w;
	uint64_t *buf, objects = 0, stored = 0, blocks = 0;
	struct cc cc;

	where.test = "concurrent";
	fx_volume(f, "cc", CC_SIZE, -1, ZPD_STORE_POOL);
	fx_store(f, CC_WRITERS + CC_READERS + 1);
	memset(&cc, 0, sizeof(cc));
	cc.store = f->store;
	cc.v = fx_vol(f, "cc");
	cc.iters = nr_iters ? nr_iters : 1;
	assert_true(cc.iters < (1ull << 32));
	pthread_mutex_init(&cc.lock, NULL);
	cc_plan(&cc, f);
	w = fx_worker(f);
	buf = fx_alloc(f, 2 * BLOCK, false);

	/* Every block starts with a stamp of its own. */
	where.phase = "initial contents";
	for (unsigned int slot = 0; slot < CC_SLOTS; slot++) {
		base.first = cc_blocks[slot] * CC_WORDS;
		cc_fill(&base, CC_BASE, 0, buf);
		check_eq(zpd_volume_write(cc.v, w, buf, BLOCK,
					  cc_blocks[slot] * BLOCK, 0),
			 BLOCK);
	}

	where.phase = "threads";
	atomic_store(&cc.writers_left, CC_WRITERS);
	for (unsigned int i = 0; i < CC_WRITERS + CC_READERS; i++) {
		th[i].cc = &cc;
		th[i].id = i < CC_WRITERS ? i : i - CC_WRITERS;
		th[i].rng = zt_mix64(test_seed("concurrent threads") + i);
		assert_int_equal(
			pthread_create(&th[i].thread, NULL,
				       i < CC_WRITERS ? cc_writer : cc_reader,
				       &th[i]),
			0);
	}
	assert_int_equal(pthread_create(&sampler, NULL, cc_sampler, &cc), 0);
	for (unsigned int i = 0; i < CC_WRITERS + CC_READERS; i++)
		pthread_join(th[i].thread, NULL);
	pthread_join(sampler, NULL);
	pthread_mutex_destroy(&cc.lock);
	if (atomic_load(&cc.failed))
		fail_msg("%s", cc.err);

	where.phase = "after";
	for (unsigned int slot = 0; slot < CC_SLOTS; slot++) {
		check_eq(zpd_volume_read(cc.v, w, buf, BLOCK,
					 cc_blocks[slot] * BLOCK),
			 BLOCK);
		if (!cc_check(&cc, slot, buf, 0, CC_WORDS, "main"))
			fail_msg("%s", cc.err);
	}
	for (uint64_t b = 0; b < cc.v->nr_blocks; b++) {
		const struct zpd_entry *e = &cc.v->index[b];

		if (!(e->flags & ZPD_E_FORM))
			continue;
		if (cc_slot(b) < 0)
			fail_msg("block %" PRIu64 " was never written but has "
				 "an entry",
				 b);
		blocks++;
		if (e->flags & ZPD_E_POOL) {
			objects++;
			stored += e->len;
			check_eq(zp_pool_obj_size(f->store->pool, e->val),
				 e->len);
		}
	}
	s = vol_stats(cc.v);
	check_eq(blocks, CC_SLOTS);
	check_eq(s.blocks_same + s.blocks_raw + s.blocks_compressed, CC_SLOTS);
	check_eq(s.blocks_raw + s.blocks_compressed, objects);
	check_eq(s.stored_bytes, stored);
	check_eq(pool_stats(f->store).objects, objects);
	check_eq(s.writes, CC_SLOTS + CC_WRITERS * cc.iters);
	check_eq(s.write_errors, 0);
	check_eq(s.read_errors, 0);
	assert_true(atomic_load(&cc.reads) > 0);
	print_message("# concurrent: %u writers x %" PRIu64 " writes, %" PRIu64
		      " reads checked, %" PRIu64 " partial block writes\n",
		      CC_WRITERS, cc.iters, atomic_load(&cc.reads),
		      s.partial_writes);
	/* Counters sampled while writers run must always describe some
	 * state of the volume: never below zero, never above its blocks. */
	if (cc.impossible) {
		const struct zpd_volume_stats *b = &cc.first_impossible;

		print_message(
			"# concurrent: %" PRIu64 " of %" PRIu64
			" counter samples impossible, first: same %" PRId64
			" raw %" PRId64 " compressed %" PRId64
			" stored %" PRId64 "\n",
			cc.impossible, cc.samples, (int64_t)b->blocks_same,
			(int64_t)b->blocks_raw, (int64_t)b->blocks_compressed,
			(int64_t)b->stored_bytes);
		fail_msg("the volume's counters went below zero or above "
			 "what %u blocks can hold while writers ran",
			 CC_SLOTS);
	}
	f->passed = true;
}

/* ------------------------------------------------------------------------ */

static int group_setup(void **state)
{
	return zp_corpus_setup(state, &corpus, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unwritten, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compressor, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_nodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_early, setup, teardown),
		cmocka_unit_test_setup_teardown(test_workers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_remove, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup,
						teardown),
	};

	seed = zt_env_u64("test-store", "ZP_TEST_SEED", DEFAULT_SEED);
	nr_steps = zt_env_u64("test-store", "ZP_TEST_STEPS", DEFAULT_STEPS);
	nr_iters = zt_env_u64("test-store", "ZP_TEST_ITERS", DEFAULT_ITERS);
	inv_mul1 = inverse64(0xbf58476d1ce4e5b9ull);
	inv_mul2 = inverse64(0x94d049bb133111ebull);
	for (uint64_t x = 0; x < 1000; x++)
		if (unmix64(zt_mix64(x * ZT_GOLDEN_GAMMA)) !=
		    x * ZT_GOLDEN_GAMMA) {
			fprintf(stderr, "test-store: unmix64 is no inverse\n");
			return 1;
		}
	zt_report_setup("test-store", where_fields, rerun_fields);
	print_message("test-store: ZP_TEST_SEED=0x%" PRIx64
		      " ZP_TEST_STEPS=%" PRIu64 " ZP_TEST_ITERS=%" PRIu64 "\n",
		      seed, nr_steps, nr_iters);
	return cmocka_run_group_tests(tests, group_setup, zp_corpus_teardown);
}
