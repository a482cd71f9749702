/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-writeback.c - the pool limit, the LRU lists and writeback to the
 * backing store (daemon/writeback.c), through the store's data path as the
 * FUSE callbacks use it, without FUSE.
 *
 * Every block written here carries a stamp: its first word is
 * (block << 32 | version), so that any reader can tell which write of
 * which block it sees, and the rest is made from the stamp (corpus pages,
 * random bytes or the stamp word repeated, which the store keeps as a
 * same-filled word), so that the whole block can be checked.
 *
 * The tests:
 *   limit        without a backing store the limit refuses stores with
 *                ENOSPC once hit and accepts them again below the accept
 *                threshold; what was stored stays readable
 *   bypass       with one, stores past the limit go straight to disk and
 *                read back; a full backing store refuses them
 *   writeback    blocks move to disk and back: reads, overwrites and
 *                discards of on-disk blocks, slots freed, the pool's pages
 *                drop (compaction), counters agree with the index
 *   chance       the second chance: referenced blocks are rotated once,
 *                the oldest unreferenced block goes first
 *   idle         an idle pass marks, the next writes back what was not
 *                touched in between
 *   nomem        a pool that gets no memory (a made-up node with room
 *                for little more than its cache) sends the blocks to the
 *                backing store, counted, all read back
 *   node-target  a node past max_node_size is written back below it by
 *                the shrinker thread, with the pool far from its limit
 *   node-fallback  two made-up nodes, node 0 nearly full: a volume bound
 *                to node 0 spills onto node 1 (preferred's fallback);
 *                then a volume bound to node 1 takes node 1 past
 *                max_node_size, and the shrinker writes back only node
 *                1's list: the first volume loses to disk no more blocks
 *                than it had on node 1, node 0 keeps its blocks and
 *                pages, nodeN.written_back says so
 *   full         a backing store that fills up during writeback leaves
 *                the rest in the pool, counted, nothing lost
 *   idle-thread  the shrinker thread's passes every idle_seconds write
 *                back what nobody touches, not a block read all along
 *   zspage       whole-zspage victims: the oldest block's zspage mates
 *                go with it and the zspage frees itself, no compaction
 *   stress       writers (whole, early and partial writes), readers,
 *                discards, a reader of every block, the shrinker thread
 *                with a tiny limit and explicit writebacks, all at once on
 *                one volume for a fixed number of operations; every read
 *                checked against the model (the owner's exactly, others'
 *                for a version no older than what was published before
 *                the read), then the index walked against the counters;
 *                once with each way of picking victims (stress_zspage)
 *
 * After each test the index is walked: each pool block is on the LRU list
 * of its object's node, no other block is on one, no block is left marked
 * for writeback, and the counters, LRU lengths and slots in use match.
 *
 * Environment:
 *   ZP_TEST_SEED   seed (decimal or 0x...), printed when a test fails
 *   ZP_TEST_OPS    operations per thread of the stress test
 *   ZPOOLD_CORPUS  where the corpus is (see tests/corpus.h)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compress/compress.h"
#include "daemon/internal.h"
#include "pool/pool.h"
#include "tests/corpus.h"
#include "tests/check.h"
#include "tests/testlib.h"

#define BLOCK ZPD_BLOCK_SIZE
#define KiB   ((uint64_t)1 << 10)
#define MiB   ((uint64_t)1 << 20)

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif

/* A few seconds in a plain build; sanitizers are several times slower. */
#ifdef SANITIZED
#define DEFAULT_OPS 10000
#else
#define DEFAULT_OPS 30000
#endif

#define RESERVE (1 * MiB)

static struct zp_corpus corpus;
static uint64_t seed = 1;
static uint64_t nr_ops = DEFAULT_OPS;

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
	{"ZP_TEST_OPS", ZT_FIELD_U64, &nr_ops},
	{NULL},
};

/* ------------------------------------------------------------------------ */
/* Fixture                                                                  */
/* ------------------------------------------------------------------------ */

struct fixture {
	struct zpd_config cfg;
	struct zpd_store *store;
	struct zp_node_sim *sim; /* made-up nodes, or NULL */
	char dir[64];
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
	/* Pressure events would write back blocks of their own choosing
	 * (the kernel sends some right after a trigger is armed). */
	f->cfg.psi_stall_ms = 0;
	/* /var/tmp: a real disk, which takes O_DIRECT as the daemon's
	 * backing store would. */
	snprintf(f->dir, sizeof(f->dir), "/var/tmp/zt-writeback.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (!f->passed)
		zt_report_failure();
	zpd_store_destroy(f->store);
	if (f->sim)
		zp_node_sim_destroy(f->sim);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	memset(&where, 0, sizeof(where));
	return 0;
}

/* One volume of nr_blocks; a backing store of backing_blocks slots (0:
 * none); the pool limited to limit_pages. */
static struct zpd_volume *fx_store(struct fixture *f, uint64_t nr_blocks,
				   uint64_t backing_blocks,
				   uint64_t limit_pages)
{
	struct zpd_volume_conf *vc = &f->cfg.volumes[0];
	char err[ZPD_ERR_MAX];
	int ret;

	memset(vc, 0, sizeof(*vc));
	snprintf(vc->name, sizeof(vc->name), "v");
	vc->size = nr_blocks * BLOCK;
	vc->node = -1;
	vc->store = ZPD_STORE_POOL;
	f->cfg.nr_volumes = 1;
	f->cfg.max_pool_size = limit_pages * ZP_PAGE_SIZE;
	if (backing_blocks) {
		snprintf(f->cfg.wb_file, sizeof(f->cfg.wb_file), "%s/backing",
			 f->dir);
		f->cfg.wb_size = backing_blocks * SHR_SLOT_SIZE;
	}
	err[0] = '\0';
	ret = zpd_store_create(&f->cfg, 8, &f->store, err, sizeof(err));
	if (ret)
		fail_msg("cannot create the store: %s (%s)", err,
			 strerror(-ret));
	return f->store->volumes[0];
}

/* The stores of f made from now on take nr made-up nodes of the pages in
 * caps[] (0: unlimited). */
static void fx_sim(struct fixture *f, int nr, const size_t *caps)
{
	assert_int_equal(zp_node_sim_create(nr, caps, &f->sim), 0);
	f->cfg.node_ops = &zp_node_sim_ops;
	f->cfg.node_ctx = f->sim;
}

static struct zpd_worker *worker(struct zpd_store *store)
{
	struct zpd_worker *w = zpd_worker_get(store);

	assert_non_null(w);
	return w;
}

static struct zpd_store_stats sstats(struct zpd_store *store)
{
	struct zpd_store_stats s;

	zpd_store_stats(store, &s);
	return s;
}

static struct zpd_volume_stats vstats(struct zpd_volume *v)
{
	struct zpd_volume_stats s;

	zpd_volume_stats(v, &s);
	return s;
}

/* ------------------------------------------------------------------------ */
/* Stamped blocks                                                           */
/* ------------------------------------------------------------------------ */

static uint64_t stamp_word(uint64_t blk, uint64_t ver)
{
	return blk << 32 | (ver & 0xffffffffu);
}

/* Block blk's contents at version ver (ver 0: zeros, never written). */
static void make_block(uint64_t blk, uint64_t ver, unsigned char *buf)
{
	uint64_t w = stamp_word(blk, ver), h = zt_mix64(w ^ seed);
	unsigned int i;

	if (!ver) {
		memset(buf, 0, BLOCK);
		return;
	}
	switch (h % 8) {
	case 0: /* same-filled */
		for (i = 0; i < BLOCK; i += 8)
			memcpy(buf + i, &w, 8);
		return;
	case 1: /* incompressible: a raw pool object */
		zt_pattern(buf, h, 0, BLOCK);
		break;
	default: /* swap-like */
		memcpy(buf, zp_corpus_page(&corpus, (h >> 8) % corpus.nr_pages),
		       BLOCK);
		break;
	}
	memcpy(buf, &w, 8);
}

static void check_block(uint64_t blk, uint64_t ver, const unsigned char *got)
{
	unsigned char want[BLOCK];
	uint64_t w;

	make_block(blk, ver, want);
	if (!memcmp(want, got, BLOCK))
		return;
	memcpy(&w, got, 8);
	fail_msg("block %" PRIu64 " should hold version %" PRIu64
		 " but starts with stamp of block %" PRIu64 " version %" PRIu64,
		 blk, ver, w >> 32, w & 0xffffffffu);
}

static void write_ver(struct zpd_volume *v, struct zpd_worker *w,
		      uint64_t blk, uint64_t ver)
{
	unsigned char buf[BLOCK];
	ssize_t n;

	make_block(blk, ver, buf);
	n = zpd_volume_write(v, w, buf, BLOCK, blk * BLOCK, 0);
	if (n != BLOCK)
		fail_msg("write of block %" PRIu64 " version %" PRIu64
			 ": %zd (%s)",
			 blk, ver, n, n < 0 ? strerror((int)-n) : "short");
}

static void read_check(struct zpd_volume *v, struct zpd_worker *w,
		       uint64_t blk, uint64_t ver)
{
	unsigned char buf[BLOCK];
	ssize_t n = zpd_volume_read(v, w, buf, BLOCK, blk * BLOCK);

	if (n != BLOCK)
		fail_msg("read of block %" PRIu64 ": %zd (%s)", blk, n,
			 n < 0 ? strerror((int)-n) : "short");
	check_block(blk, ver, buf);
}

static unsigned int form_of(struct zpd_volume *v, uint64_t blk)
{
	unsigned int form;

	pthread_mutex_lock(zpd_stripe(v, blk));
	form = v->index[blk].flags & ZPD_E_FORM;
	pthread_mutex_unlock(zpd_stripe(v, blk));
	return form;
}

/* ------------------------------------------------------------------------ */
/* The index against the lists and counters (nothing may run meanwhile)     */
/* ------------------------------------------------------------------------ */

static void check_consistent(struct zpd_store *store, struct zpd_volume *v)
{
	uint64_t on_list[ZP_MAX_NODES] = {0}, pool = 0, disk = 0, bytes = 0;
	struct zpd_volume_stats vs = vstats(v);
	struct zp_pool_stats ps;
	int nid;

	where.phase = "consistency";
	for (uint64_t b = 0; b < v->nr_blocks; b++) {
		const struct zpd_entry *e = &v->index[b];

		if (e->flags & ZPD_E_WB)
			fail_msg("block %" PRIu64 " still marked for writeback",
				 b);
		if (e->flags & ZPD_E_POOL) {
			if (e->lru != e->node + 1)
				fail_msg("pool block %" PRIu64 " of node %u "
					 "is on list %d",
					 b, e->node, e->lru - 1);
			check_eq(zp_pool_obj_node(store->pool, e->val),
				 e->node);
			on_list[e->node]++;
			pool++;
			bytes += e->len;
		} else if (e->lru) {
			fail_msg("block %" PRIu64 " with flags %#x is on list "
				 "%d",
				 b, e->flags, e->lru - 1);
		}
		if (e->flags & ZPD_E_DISK) {
			assert_true(shr_slots_is_used(
				store->slots, e->val / SHR_SLOT_SIZE));
			disk++;
		}
	}
	for (nid = 0; nid < store->nr_nodes; nid++)
		check_eq(shr_lru_len(&store->lru[nid]), on_list[nid]);
	check_eq(vs.blocks_raw + vs.blocks_compressed, pool);
	check_eq(vs.stored_bytes, bytes);
	check_eq(vs.blocks_disk, disk);
	check_eq(store->slots ? shr_slots_used(store->slots) : 0, disk);
	zp_pool_stats(store->pool, &ps);
	check_eq(ps.objects, pool);
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                    */
/* ------------------------------------------------------------------------ */

/* The first version from min on whose contents take pool room (are not
 * same-filled). */
static uint64_t pool_ver(uint64_t blk, uint64_t min)
{
	uint64_t ver = min;

	while (zt_mix64(stamp_word(blk, ver) ^ seed) % 8 == 0)
		ver++;
	return ver;
}

/* Write blocks 0..n-1 with contents that take pool room; their versions
 * in ver[]. */
static void fill_pool_blocks(struct zpd_volume *v, struct zpd_worker *w,
			     uint64_t n, uint64_t *ver)
{
	for (uint64_t i = 0; i < n; i++) {
		ver[i] = pool_ver(i, ver[i] + 1);
		write_ver(v, w, i, ver[i]);
	}
}

static void test_limit(void **state)
{
	struct fixture *f = *state;
	struct zpd_volume *v;
	struct zpd_store *store;
	struct zpd_worker *w;
	unsigned char buf[BLOCK];
	uint64_t i, stored = 0, limit = 64, ver[256] = {0}, word = 0x5a5a;

	where.test = "limit";
	f->cfg.accept_threshold_percent = 50;
	v = fx_store(f, 1024, 0, limit);
	store = f->store;
	w = worker(store);

	/* Fill until refused. */
	for (i = 0; i < 4 * limit; i++) {
		ssize_t n;

		make_block(i, pool_ver(i, 1), buf);
		n = zpd_volume_write(v, w, buf, BLOCK, i * BLOCK, 0);
		if (n == -ENOSPC)
			break;
		check_eq(n, BLOCK);
		ver[i] = pool_ver(i, 1);
		stored = i + 1;
	}
	assert_true(i < 4 * limit);
	assert_true(zp_pool_total_pages(store->pool) >= limit);
	assert_true(atomic_load(&store->full));
	check_eq(sstats(store).nospc_stores, 1);
	assert_true(sstats(store).pool_limit_hit >= 1);
	check_eq(vstats(v).write_errors, 1);
	/* Same-filled blocks need no pool room: still accepted. */
	for (i = 0; i < BLOCK; i += 8)
		memcpy(buf + i, &word, 8);
	check_eq(zpd_volume_write(v, w, buf, BLOCK, 1000 * BLOCK, 0), BLOCK);
	/* Refused again while above the accept threshold. */
	make_block(stored, pool_ver(stored, 1), buf);
	check_eq(zpd_volume_write(v, w, buf, BLOCK, stored * BLOCK, 0),
		 -ENOSPC);
	for (i = 0; i < stored; i++)
		read_check(v, w, i, ver[i]);

	/* Below the threshold: accepted again. Each class in use keeps a
	 * zspage of up to 8 pages however few objects it holds, so all but
	 * one block go. */
	for (i = 1; i < stored; i++) {
		check_eq(zpd_volume_discard(v, w, i * BLOCK, BLOCK, 0), 0);
		ver[i] = 0;
	}
	zp_pool_compact(store->pool, -1);
	if (zp_pool_total_pages(store->pool) >= store->accept_pages)
		fail_msg("%zu pages left after discarding all blocks but one, "
			 "accept threshold %" PRIu64,
			 zp_pool_total_pages(store->pool), store->accept_pages);
	ver[1] = pool_ver(1, 1);
	write_ver(v, w, 1, ver[1]);
	assert_false(atomic_load(&store->full));
	for (i = 0; i < stored; i++)
		read_check(v, w, i, ver[i]);
	check_eq(zpd_volume_read(v, w, buf, BLOCK, 1000 * BLOCK), BLOCK);
	assert_true(comp_page_same_filled(buf, &i));
	check_eq(i, word);
	/* No backing store: writeback has nowhere to go. */
	check_eq(zpd_writeback(store, -1, 10, ZPD_WB_LRU), -ENOSPC);
	check_consistent(store, v);
	f->passed = true;
}

static void test_bypass(void **state)
{
	struct fixture *f = *state;
	uint64_t i, n = 4000, limit = 32;
	struct zpd_store_stats s;
	struct zpd_volume *v;
	struct zpd_worker *w;
	unsigned char buf[BLOCK];

	where.test = "bypass";
	v = fx_store(f, 1u << 20, 512, limit);
	w = worker(f->store);
	for (i = 0; i < 512; i++)
		write_ver(v, w, i, 1);
	s = sstats(f->store);
	assert_true(s.bypassed_stores > 0);
	check_eq(s.nospc_stores, 0);
	/* Pages a store allocates before it sees the limit: one zspage
	 * per class in use at most, well within 64 pages here. */
	assert_true(zp_pool_total_pages(f->store->pool) < limit + 64);
	assert_true(vstats(v).blocks_disk > 0);
	for (i = 0; i < 512; i++)
		read_check(v, w, i, 1);
	assert_true(sstats(f->store).wb_reads > 0);
	check_consistent(f->store, v);

	/* The disk fills up: refused, nothing written lost. */
	for (i = 512; i < n; i++) {
		ssize_t r;

		make_block(i, 1, buf);
		r = zpd_volume_write(v, w, buf, BLOCK, i * BLOCK, 0);
		if (r == -ENOSPC)
			break;
		check_eq(r, BLOCK);
	}
	assert_true(i < n);
	assert_true(sstats(f->store).nospc_stores > 0);
	check_eq(shr_slots_used(f->store->slots), 512);
	for (uint64_t j = 0; j < i; j++)
		read_check(v, w, j, 1);
	check_consistent(f->store, v);
	f->passed = true;
}

/* One made-up node with room for little more than its cache of resident
 * pages: the pool, far below its limit, soon gets no memory. */
static void test_nomem(void **state)
{
	struct fixture *f = *state;
	const size_t caps[1] = { RESERVE / ZP_PAGE_SIZE + 32 };
	uint64_t i, n = 2000;
	struct zpd_store_stats s;
	struct zpd_volume *v;
	struct zpd_worker *w;

	where.test = "nomem";
	fx_sim(f, 1, caps);
	v = fx_store(f, n, n, 1u << 20);
	w = worker(f->store);
	/* The cache holds RESERVE: far less than 2000 blocks. A store the
	 * node has no page for waits for the refill first (up to a second,
	 * as the made-up node is not below its low watermark): a few do. */
	for (i = 0; i < n && sstats(f->store).nomem_stores < 4; i++)
		write_ver(v, w, i, 1);
	n = i;
	s = sstats(f->store);
	assert_true(s.nomem_stores > 0);
	check_eq(s.bypassed_stores, s.nomem_stores);
	check_eq(s.pool_limit_hit, 0);
	check_eq(s.nospc_stores, 0);
	check_eq(vstats(v).blocks_disk, s.nomem_stores);
	assert_true(zp_pool_total_pages(f->store->pool) <= caps[0]);
	for (i = 0; i < n; i++)
		read_check(v, w, i, 1);
	assert_true(sstats(f->store).wb_reads > 0);
	check_consistent(f->store, v);
	f->passed = true;
}

static void test_writeback(void **state)
{
	struct fixture *f = *state;
	uint64_t i, n = 2000, before, after, on_disk = 0;
	uint64_t *ver = calloc(n, sizeof(*ver));
	unsigned char buf[BLOCK], want[BLOCK];
	struct zpd_volume *v;
	struct zpd_worker *w;

	where.test = "writeback";
	assert_non_null(ver);
	v = fx_store(f, n, 4096, 1u << 20);
	w = worker(f->store);
	for (i = 0; i < n; i++)
		write_ver(v, w, i, ver[i] = 1);
	before = zp_pool_total_pages(f->store->pool);
	check_eq(zpd_writeback(f->store, -1, n / 2, ZPD_WB_LRU), n / 2);
	after = zp_pool_total_pages(f->store->pool);
	check_eq(sstats(f->store).written_back_pages, n / 2);
	/* The pool's memory drops with what left it: it held about as many
	 * blocks of each kind in each half, so about half its pages go; at
	 * least a third must. */
	if (after > before - before / 3)
		fail_msg("pool pages %" PRIu64 " -> %" PRIu64
			 " after writing back half of its blocks",
			 before, after);
	assert_true(sstats(f->store).compacted_pages > 0);
	/* Whole batches into free runs: one write each. */
	assert_true(sstats(f->store).wb_writes <=
		    n / 2 / f->cfg.wb_batch_pages + 1);
	for (i = 0; i < n; i++)
		on_disk += form_of(v, i) == ZPD_E_DISK;
	/* Same-filled blocks are in no list, so some of the oldest half
	 * stays and younger ones go instead: count, do not locate. */
	check_eq(on_disk, n / 2);
	check_eq(vstats(v).blocks_disk, on_disk);
	check_consistent(f->store, v);

	/* Read back: the blocks stay on disk. */
	for (i = 0; i < n; i++)
		read_check(v, w, i, ver[i]);
	check_eq(sstats(f->store).wb_reads, on_disk);
	check_eq(vstats(v).blocks_disk, on_disk);
	/* Overwrites and discards of on-disk blocks free their slots. */
	for (i = 0; i < n; i++) {
		if (form_of(v, i) != ZPD_E_DISK)
			continue;
		if (i % 2) {
			write_ver(v, w, i, ++ver[i]);
		} else {
			check_eq(zpd_volume_discard(v, w, i * BLOCK, BLOCK, 0),
				 0);
			ver[i] = 0;
		}
	}
	check_eq(shr_slots_used(f->store->slots), 0);
	check_consistent(f->store, v);

	/* Everything to disk; a partial write onto an on-disk block merges
	 * with the disk copy and brings the block back into the pool. */
	assert_true(zpd_writeback(f->store, 0, n, ZPD_WB_LRU) > 0);
	check_eq(shr_lru_len(&f->store->lru[0]), 0);
	for (i = 0; i < n && form_of(v, i) != ZPD_E_DISK; i++)
		;
	assert_true(i < n);
	make_block(i, ver[i], want);
	memset(want + 100, 0x5a, 200);
	memset(buf, 0x5a, 200);
	check_eq(zpd_volume_write(v, w, buf, 200, i * BLOCK + 100, 0), 200);
	check_eq(zpd_volume_read(v, w, buf, BLOCK, i * BLOCK), BLOCK);
	if (memcmp(buf, want, BLOCK))
		fail_msg("block %" PRIu64 " after a partial write", i);
	check_eq(form_of(v, i), ZPD_E_POOL);
	for (i = i + 1; i < n; i++)
		read_check(v, w, i, ver[i]);
	check_consistent(f->store, v);
	free(ver);
	f->passed = true;
}

static void test_chance(void **state)
{
	struct fixture *f = *state;
	uint64_t i, ver[10] = {0};
	struct zpd_volume *v;
	struct zpd_worker *w;
	unsigned char buf[BLOCK];

	where.test = "chance";
	v = fx_store(f, 64, 64, 1u << 20);
	w = worker(f->store);
	fill_pool_blocks(v, w, 10, ver);
	/* Every stored block is referenced: one pass rotates them all, then
	 * the oldest goes. */
	check_eq(zpd_writeback(f->store, 0, 1, ZPD_WB_LRU), 1);
	check_eq(sstats(f->store).referenced_rotations, 10);
	check_eq(form_of(v, 0), ZPD_E_DISK);
	/* A read marks block 1 again: it is passed over once, 2 goes. */
	check_eq(zpd_volume_read(v, w, buf, BLOCK, 1 * BLOCK), BLOCK);
	check_eq(zpd_writeback(f->store, 0, 1, ZPD_WB_LRU), 1);
	check_eq(sstats(f->store).referenced_rotations, 11);
	check_eq(form_of(v, 1), ZPD_E_POOL);
	check_eq(form_of(v, 2), ZPD_E_DISK);
	/* A rewrite marks the block referenced: 3 is passed over while the
	 * next six go, 4 to 9; 1 was moved to the newest end and stays. */
	ver[3] = pool_ver(3, ver[3] + 1);
	write_ver(v, w, 3, ver[3]);
	check_eq(zpd_writeback(f->store, 0, 6, ZPD_WB_LRU), 6);
	check_eq(sstats(f->store).referenced_rotations, 12);
	for (i = 0; i < 10; i++)
		check_eq(form_of(v, i),
			 i == 1 || i == 3 ? ZPD_E_POOL : ZPD_E_DISK);
	check_eq(vstats(v).blocks_disk, 8);
	for (i = 0; i < 10; i++)
		read_check(v, w, i, ver[i]);
	check_consistent(f->store, v);
	f->passed = true;
}

static void test_idle(void **state)
{
	struct fixture *f = *state;
	uint64_t i, ver[10] = {0};
	struct zpd_volume *v;
	struct zpd_worker *w;
	unsigned char buf[BLOCK];

	where.test = "idle";
	v = fx_store(f, 64, 64, 1u << 20);
	w = worker(f->store);
	fill_pool_blocks(v, w, 10, ver);
	/* The first pass only marks. */
	check_eq(zpd_writeback(f->store, -1, UINT64_MAX, ZPD_WB_IDLE), 0);
	check_eq(vstats(v).blocks_disk, 0);
	/* Touched since: blocks 4 (read) and 7 (written). */
	check_eq(zpd_volume_read(v, w, buf, BLOCK, 4 * BLOCK), BLOCK);
	ver[7] = pool_ver(7, ver[7] + 1);
	write_ver(v, w, 7, ver[7]);
	check_eq(zpd_writeback(f->store, -1, UINT64_MAX, ZPD_WB_IDLE), 8);
	check_eq(sstats(f->store).idle_written_back, 8);
	for (i = 0; i < 10; i++)
		check_eq(form_of(v, i),
			 i == 4 || i == 7 ? ZPD_E_POOL : ZPD_E_DISK);
	/* Left alone once more: they go too. */
	check_eq(zpd_writeback(f->store, -1, UINT64_MAX, ZPD_WB_IDLE), 2);
	for (i = 0; i < 10; i++)
		read_check(v, w, i, ver[i]);
	check_consistent(f->store, v);
	f->passed = true;
}

/* zpoolctl writeback --idle: marks, then the blocks still marked go; the
 * marks are not the idle passes', and a pass of one does not count for
 * the other. */
static void test_marked(void **state)
{
	struct fixture *f = *state;
	uint64_t i, ver[10] = {0};
	struct zpd_volume *v;
	struct zpd_worker *w;
	unsigned char buf[BLOCK];

	where.test = "marked";
	v = fx_store(f, 64, 64, 1u << 20);
	w = worker(f->store);
	fill_pool_blocks(v, w, 10, ver);
	/* Nothing marked yet: nothing goes. */
	check_eq(zpd_writeback(f->store, -1, UINT64_MAX, ZPD_WB_MARKED), 0);
	check_eq(zpd_wb_mark(f->store), 10);
	/* An idle pass in between marks its own way, and goes first. */
	check_eq(zpd_writeback(f->store, -1, UINT64_MAX, ZPD_WB_IDLE), 0);
	/* Touched since the mark: block 2 read, block 5 written. */
	check_eq(zpd_volume_read(v, w, buf, BLOCK, 2 * BLOCK), BLOCK);
	ver[5] = pool_ver(5, ver[5] + 1);
	write_ver(v, w, 5, ver[5]);
	/* A budget: 3 of the 8. */
	check_eq(zpd_writeback(f->store, -1, 3, ZPD_WB_MARKED), 3);
	check_eq(zpd_writeback(f->store, -1, UINT64_MAX, ZPD_WB_MARKED), 5);
	check_eq(sstats(f->store).idle_written_back, 8);
	for (i = 0; i < 10; i++)
		check_eq(form_of(v, i),
			 i == 2 || i == 5 ? ZPD_E_POOL : ZPD_E_DISK);
	/* The two left were touched after the mark: they stay. */
	check_eq(zpd_writeback(f->store, -1, UINT64_MAX, ZPD_WB_MARKED), 0);
	for (i = 0; i < 10; i++)
		read_check(v, w, i, ver[i]);
	check_consistent(f->store, v);
	f->passed = true;
}

/* The limits change while the store runs (zpoolctl set): a limit below
 * what the pool holds makes it full, and stores bypass it to disk until
 * the shrinker brought it below the new accept threshold. */
static void test_set_limits(void **state)
{
	struct fixture *f = *state;
	uint64_t i, ver[64] = {0}, pages;
	struct zpd_volume *v;
	struct zpd_worker *w;
	char err[ZPD_ERR_MAX];

	where.test = "set_limits";
	v = fx_store(f, 64, 256, 1u << 20);
	w = worker(f->store);
	fill_pool_blocks(v, w, 64, ver);
	check_eq(f->store->limit_pages, 1u << 20);
	assert_false(atomic_load(&f->store->full));
	pages = zp_pool_total_pages(f->store->pool);
	assert_true(pages > 4);

	f->cfg.max_pool_size = (pages / 2) * ZP_PAGE_SIZE;
	f->cfg.accept_threshold_percent = 50;
	f->cfg.max_node_size = 8 * ZP_PAGE_SIZE;
	zpd_wb_set_limits(f->store, &f->cfg);
	check_eq(f->store->limit_pages, pages / 2);
	check_eq(f->store->accept_pages, pages / 2 * 50 / 100);
	check_eq(f->store->node_limit_pages, 8);
	check_eq(f->store->node_accept_pages, 4);
	assert_true(atomic_load(&f->store->full));
	/* Full: a store goes to disk. */
	ver[0] = pool_ver(0, ver[0] + 1);
	write_ver(v, w, 0, ver[0]);
	check_eq(form_of(v, 0), ZPD_E_DISK);
	/* The shrinker brings the pool down, with its thread, woken by
	 * the change. */
	assert_int_equal(zpd_shrinker_start(f->store, &f->cfg, err,
					    sizeof(err)),
			 0);
	zpd_wb_set_limits(f->store, &f->cfg);
	for (i = 0; i < 500 && atomic_load(&f->store->full); i++)
		usleep(10000);
	assert_false(atomic_load(&f->store->full));
	assert_true(zp_pool_total_pages(f->store->pool) <
		    f->store->accept_pages);
	zpd_shrinker_stop(f->store);
	for (i = 0; i < 64; i++)
		read_check(v, w, i, ver[i]);
	check_consistent(f->store, v);
	f->passed = true;
}

/* The shrinker thread's own idle passes, every idle_seconds: untouched
 * blocks reach the disk within two passes, a block read all along stays. */
static void test_idle_thread(void **state)
{
	struct fixture *f = *state;
	uint64_t i, ver[10] = {0};
	unsigned char buf[BLOCK];
	char err[ZPD_ERR_MAX];
	struct zpd_volume *v;
	struct zpd_worker *w;
	int ms;

	where.test = "idle-thread";
	f->cfg.idle_seconds = 1;
	v = fx_store(f, 64, 64, 1u << 20);
	w = worker(f->store);
	fill_pool_blocks(v, w, 10, ver);
	if (zpd_shrinker_start(f->store, &f->cfg, err, sizeof(err)))
		fail_msg("%s", err);
	for (ms = 0; ms < 5000 && vstats(v).blocks_disk < 9; ms += 100) {
		check_eq(zpd_volume_read(v, w, buf, BLOCK, 5 * BLOCK), BLOCK);
		usleep(100000);
	}
	zpd_shrinker_stop(f->store);
	check_eq(vstats(v).blocks_disk, 9);
	check_eq(form_of(v, 5), ZPD_E_POOL);
	check_eq(sstats(f->store).idle_written_back, 9);
	for (i = 0; i < 10; i++)
		read_check(v, w, i, ver[i]);
	check_consistent(f->store, v);
	f->passed = true;
}

static void test_zspage(void **state)
{
	struct fixture *f = *state;
	uint64_t i, n = 400, ver[400] = {0}, before, on_disk = 0;
	struct zpd_volume *v;
	struct zpd_worker *w;
	long ret;

	where.test = "zspage";
	f->cfg.wb_victims = ZPD_VICTIMS_ZSPAGE;
	v = fx_store(f, n, n, 1u << 20);
	w = worker(f->store);
	fill_pool_blocks(v, w, n, ver);
	before = zp_pool_total_pages(f->store->pool);
	/* One victim brings its zspage's other objects along, and their
	 * zspage empties without compaction (raw blocks have a zspage of
	 * their own, and come alone). */
	do {
		ret = zpd_writeback(f->store, 0, 1, ZPD_WB_LRU);
		assert_true(ret >= 1);
		on_disk += (uint64_t)ret;
	} while (ret == 1 && on_disk < n);
	assert_true(ret > 1);
	check_eq(vstats(v).blocks_disk, on_disk);
	check_eq(sstats(f->store).compacted_pages, 0);
	assert_true(zp_pool_total_pages(f->store->pool) < before);
	assert_true(sstats(f->store).wb_freed_pages > 0);
	/* Everything else, batch by batch. */
	check_eq(zpd_writeback(f->store, -1, n, ZPD_WB_LRU), n - on_disk);
	check_eq(zp_pool_total_pages(f->store->pool), 0);
	check_eq(sstats(f->store).compacted_pages, 0);
	for (i = 0; i < n; i++)
		read_check(v, w, i, ver[i]);
	check_consistent(f->store, v);
	f->passed = true;
}

/* A node past max_node_size wakes the shrinker, which writes back that
 * node's blocks until it is below the target's accept threshold; the pool
 * itself never hits its limit. */
static void test_node_target(void **state)
{
	struct fixture *f = *state;
	uint64_t i, n = 600, ver[600] = {0}, target = 64;
	char err[ZPD_ERR_MAX];
	struct zpd_volume *v;
	struct zpd_worker *w;
	int tries;

	where.test = "node-target";
	f->cfg.max_node_size = target * ZP_PAGE_SIZE;
	f->cfg.accept_threshold_percent = 50;
	v = fx_store(f, n, n, 1u << 20);
	check_eq(f->store->node_limit_pages, target);
	if (zpd_shrinker_start(f->store, &f->cfg, err, sizeof(err)))
		fail_msg("%s", err);
	w = worker(f->store);
	fill_pool_blocks(v, w, n, ver);
	for (tries = 0; tries < 400; tries++) { /* 20 s on a busy disk */
		if (zp_pool_node_pages(f->store->pool, 0) < target)
			break;
		usleep(50000);
	}
	zpd_shrinker_stop(f->store);
	if (zp_pool_node_pages(f->store->pool, 0) >= target)
		fail_msg("node 0 holds %zu pages, target %" PRIu64
			 "; %" PRIu64 " written back, %" PRIu64
			 " blocks listed, pool full %d",
			 zp_pool_node_pages(f->store->pool, 0), target,
			 sstats(f->store).written_back_pages,
			 shr_lru_len(&f->store->lru[0]),
			 (int)atomic_load(&f->store->full));
	assert_true(sstats(f->store).written_back_pages > 0);
	check_eq(sstats(f->store).bypassed_stores, 0);
	check_eq(sstats(f->store).pool_limit_hit, 0);
	for (i = 0; i < n; i++)
		read_check(v, w, i, ver[i]);
	check_consistent(f->store, v);
	f->passed = true;
}

static void test_node_fallback(void **state)
{
	struct fixture *f = *state;
	/* Node 0: its cache of resident pages and a few more. */
	const size_t caps[2] = { RESERVE / ZP_PAGE_SIZE + 64, 0 };
	const uint64_t na = 800, nb = 3000, target = 400;
	uint64_t i, lru0, pages0, a_node1, wb;
	uint64_t *ver_a = calloc(na, sizeof(*ver_a));
	uint64_t *ver_b = calloc(nb, sizeof(*ver_b));
	struct zpd_volume *a, *b;
	struct zpd_store *store;
	struct zpd_worker *w;
	char err[ZPD_ERR_MAX];
	int tries;

	where.test = "node-fallback";
	assert_non_null(ver_a);
	assert_non_null(ver_b);
	fx_sim(f, 2, caps);
	f->cfg.node_hint = ZPD_HINT_VOLUME;
	f->cfg.max_node_size = target * ZP_PAGE_SIZE;
	f->cfg.accept_threshold_percent = 50;
	f->cfg.max_pool_size = (1ull << 20) * ZP_PAGE_SIZE;
	snprintf(f->cfg.wb_file, sizeof(f->cfg.wb_file), "%s/backing", f->dir);
	f->cfg.wb_size = (na + nb) * SHR_SLOT_SIZE;
	for (i = 0; i < 2; i++) {
		struct zpd_volume_conf *vc = &f->cfg.volumes[i];

		memset(vc, 0, sizeof(*vc));
		snprintf(vc->name, sizeof(vc->name), "%s", i ? "b" : "a");
		vc->size = (i ? nb : na) * BLOCK;
		vc->node = (int)i;
		vc->store = ZPD_STORE_POOL;
	}
	f->cfg.nr_volumes = 2;
	err[0] = '\0';
	if (zpd_store_create(&f->cfg, 8, &f->store, err, sizeof(err)))
		fail_msg("cannot create the store: %s", err);
	store = f->store;
	check_eq(store->nr_nodes, 2);
	a = store->volumes[0];
	b = store->volumes[1];
	w = worker(store);

	where.phase = "volume a";
	fill_pool_blocks(a, w, na, ver_a);
	lru0 = shr_lru_len(&store->lru[0]);
	pages0 = zp_pool_node_pages(store->pool, 0);
	a_node1 = shr_lru_len(&store->lru[1]);
	check_eq(lru0 + a_node1, vstats(a).blocks_raw +
					 vstats(a).blocks_compressed);
	if (!a_node1 || pages0 >= target ||
	    zp_pool_node_pages(store->pool, 1) >= target)
		fail_msg("volume a: %" PRIu64 " blocks on node 0 (%zu pages), "
			 "%" PRIu64 " on node 1 (%zu pages), target %" PRIu64,
			 lru0, zp_pool_node_pages(store->pool, 0), a_node1,
			 zp_pool_node_pages(store->pool, 1), target);

	where.phase = "volume b";
	if (zpd_shrinker_start(store, &f->cfg, err, sizeof(err)))
		fail_msg("%s", err);
	fill_pool_blocks(b, w, nb, ver_b);
	for (tries = 0; tries < 400; tries++) { /* 20 s on a busy disk */
		if (zp_pool_node_pages(store->pool, 1) < target)
			break;
		usleep(50000);
	}
	zpd_shrinker_stop(store);
	wb = sstats(store).written_back_pages;
	if (zp_pool_node_pages(store->pool, 1) >= target)
		fail_msg("node 1 holds %zu pages, target %" PRIu64
			 "; %" PRIu64 " written back",
			 zp_pool_node_pages(store->pool, 1), target, wb);
	assert_true(wb > 0);
	check_eq(atomic_load(&store->node_written_back[1]), wb);
	check_eq(atomic_load(&store->node_written_back[0]), 0);
	check_eq(sstats(store).bypassed_stores, 0);
	check_eq(sstats(store).pool_limit_hit, 0);
	if (vstats(a).blocks_disk > a_node1)
		fail_msg("volume a lost %" PRIu64 " blocks to disk, but had "
			 "%" PRIu64 " on node 1",
			 vstats(a).blocks_disk, a_node1);
	/* Volume b's objects may fill free slots of node 0's zspages:
	 * node 0 may gain, not lose. */
	assert_true(shr_lru_len(&store->lru[0]) >= lru0);
	assert_true(zp_pool_node_pages(store->pool, 0) >= pages0);

	where.phase = "read back";
	for (i = 0; i < na; i++)
		read_check(a, w, i, ver_a[i]);
	for (i = 0; i < nb; i++)
		read_check(b, w, i, ver_b[i]);
	free(ver_a);
	free(ver_b);
	f->passed = true;
}

static void test_full(void **state)
{
	struct fixture *f = *state;
	uint64_t i, n = 100, ver[100] = {0};
	struct zpd_volume *v;
	struct zpd_worker *w;

	where.test = "full";
	v = fx_store(f, n, 40, 1u << 20);
	w = worker(f->store);
	fill_pool_blocks(v, w, n, ver);
	check_eq(zpd_writeback(f->store, -1, n, ZPD_WB_LRU), 40);
	check_eq(shr_slots_used(f->store->slots), 40);
	/* Now nothing fits: an error, the blocks stay in the pool. */
	check_eq(zpd_writeback(f->store, -1, n, ZPD_WB_LRU), -ENOSPC);
	assert_true(sstats(f->store).writeback_failures > 0);
	check_eq(vstats(v).blocks_disk, 40);
	for (i = 0; i < n; i++)
		read_check(v, w, i, ver[i]);
	check_consistent(f->store, v);
	f->passed = true;
}

/* ------------------------------------------------------------------------ */
/* Stress                                                                   */
/* ------------------------------------------------------------------------ */

#define ST_WRITERS 3
#define ST_BLOCKS 1024
/* Published with a version that zeroed the block (a discard). */
#define ST_ZEROS (1ull << 63)

struct st {
	struct zpd_volume *v;
	struct zpd_store *store;
	/* Latest complete version of each block, published by its owner
	 * after the write returned (0: zeros). */
	_Atomic uint64_t published[ST_BLOCKS];
	/* Set while the owner discards the block, before it publishes. */
	atomic_bool discarding[ST_BLOCKS];
	/* The owner's exact view: version, and whether a partial write
	 * changed the block since (then only the owner checks it). */
	uint64_t ver[ST_BLOCKS];
	unsigned char *model; /* ST_BLOCKS blocks, the owner's bytes */
	atomic_bool stop;
	atomic_int failed;
	char msg[256];
	pthread_mutex_t msg_lock;
};

struct st_thread {
	struct st *st;
	unsigned int id;
	uint64_t rng;
	pthread_t thread;
	uint64_t ops;
};

static void st_fail(struct st *st, const char *fmt, ...) zp_printf(2, 3);

static void st_fail(struct st *st, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&st->msg_lock);
	if (!atomic_exchange(&st->failed, 1)) {
		va_start(ap, fmt);
		vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&st->msg_lock);
	atomic_store(&st->stop, true);
}

static void *st_writer(void *arg)
{
	struct st_thread *t = arg;
	struct st *st = t->st;
	struct zpd_worker *w = zpd_worker_get(st->store);
	unsigned char buf[BLOCK];

	if (!w) {
		st_fail(st, "no worker for writer %u", t->id);
		return NULL;
	}
	for (; t->ops < nr_ops && !atomic_load(&st->stop); t->ops++) {
		uint64_t blk = zt_below(&t->rng, ST_BLOCKS / ST_WRITERS) *
				       ST_WRITERS +
			       t->id;
		unsigned char *model = st->model + blk * BLOCK;
		unsigned int op = (unsigned int)zt_below(&t->rng, 100);
		struct zpd_early_write ew;
		ssize_t n;

		if (blk >= ST_BLOCKS)
			continue;
		if (op < 40) { /* a whole block, half of them early */
			uint64_t ver = ++st->ver[blk];

			make_block(blk, ver, model);
			if (op < 20 && zpd_volume_write_early(st->v, blk * BLOCK,
							      BLOCK, 0, &ew)) {
				zpd_volume_write_finish(&ew, w, model);
				n = BLOCK;
			} else {
				n = zpd_volume_write(st->v, w, model, BLOCK,
						     blk * BLOCK, 0);
			}
			if (n != BLOCK)
				st_fail(st, "write of block %" PRIu64 ": %zd",
					blk, n);
			atomic_store(&st->published[blk], ver);
		} else if (op < 50) { /* the first bytes, stamp included */
			uint64_t ver = ++st->ver[blk];
			unsigned int len = (unsigned int)zt_range(&t->rng, 8,
								  BLOCK - 1);
			uint64_t stamp = stamp_word(blk, ver);

			zt_pattern(model, zt_rand(&t->rng), 0, len);
			memcpy(model, &stamp, 8);
			n = zpd_volume_write(st->v, w, model, len, blk * BLOCK,
					     0);
			if (n != (ssize_t)len)
				st_fail(st, "partial write of block %" PRIu64
					    ": %zd",
					blk, n);
			atomic_store(&st->published[blk], ver);
		} else if (op < 55) {
			uint64_t ver = ++st->ver[blk];

			memset(model, 0, BLOCK);
			atomic_store(&st->discarding[blk], true);
			if (zpd_volume_discard(st->v, w, blk * BLOCK, BLOCK, 0))
				st_fail(st, "discard of block %" PRIu64, blk);
			atomic_store(&st->published[blk], ver | ST_ZEROS);
			atomic_store(&st->discarding[blk], false);
		} else {
			n = zpd_volume_read(st->v, w, buf, BLOCK, blk * BLOCK);
			if (n != BLOCK)
				st_fail(st, "read of block %" PRIu64 ": %zd",
					blk, n);
			else if (memcmp(buf, model, BLOCK))
				st_fail(st,
					"block %" PRIu64 " (owner %u) read "
					"differs from version %" PRIu64,
					blk, t->id, st->ver[blk]);
		}
	}
	return NULL;
}

/* Reads any block: it must hold a version at least as new as the one
 * published before the read began (or zeros when that was a discard, or
 * one is under way). */
static void *st_reader(void *arg)
{
	struct st_thread *t = arg;
	struct st *st = t->st;
	struct zpd_worker *w = zpd_worker_get(st->store);
	unsigned char buf[BLOCK];

	if (!w) {
		st_fail(st, "no worker for the reader");
		return NULL;
	}
	while (!atomic_load(&st->stop)) {
		uint64_t blk = zt_below(&t->rng, ST_BLOCKS);
		uint64_t v0 = atomic_load(&st->published[blk]), v1, stamp;
		ssize_t n = zpd_volume_read(st->v, w, buf, BLOCK, blk * BLOCK);

		v1 = atomic_load(&st->published[blk]);
		t->ops++;
		if (n != BLOCK) {
			st_fail(st, "reader: block %" PRIu64 ": %zd", blk, n);
			break;
		}
		memcpy(&stamp, buf, 8);
		if (!stamp) {
			/* Right if the block held zeros when the read began,
			 * was changed while it ran, or is being discarded. */
			if (!v0 || (v0 & ST_ZEROS) || v0 != v1 ||
			    atomic_load(&st->discarding[blk]))
				continue;
			st_fail(st,
				"reader: block %" PRIu64 " reads as zeros, "
				"published version %" PRIu64,
				blk, v0);
			break;
		}
		v0 &= ~ST_ZEROS;
		v1 &= ~ST_ZEROS;
		if (stamp >> 32 != blk || (stamp & 0xffffffffu) < v0 ||
		    (stamp & 0xffffffffu) > v1 + 1)
			st_fail(st,
				"reader: block %" PRIu64 " holds stamp of "
				"block %" PRIu64 " version %" PRIu64
				", published %" PRIu64 "..%" PRIu64,
				blk, stamp >> 32, stamp & 0xffffffffu, v0, v1);
	}
	return NULL;
}

/* Explicit writebacks, idle passes included, racing the shrinker. */
static void *st_flusher(void *arg)
{
	struct st_thread *t = arg;
	struct st *st = t->st;

	while (!atomic_load(&st->stop)) {
		enum zpd_wb_mode mode = ZPD_WB_LRU;
		long r;

		/* Now and then an idle pass, or marks and a pass over
		 * the blocks untouched since. */
		if (zt_chance(&t->rng, 20))
			mode = zt_chance(&t->rng, 50) ? ZPD_WB_IDLE
						      : ZPD_WB_MARKED;
		if (mode == ZPD_WB_MARKED)
			zpd_wb_mark(st->store);
		r = zpd_writeback(st->store, -1, zt_range(&t->rng, 1, 64),
				  mode);

		if (r < 0 && r != -ENOSPC)
			st_fail(st, "writeback: %s", strerror((int)-r));
		t->ops++;
		usleep(200);
	}
	return NULL;
}

static void run_stress(struct fixture *f, enum zpd_victims victims)
{
	struct st_thread th[ST_WRITERS + 2];
	struct st *st = calloc(1, sizeof(*st));
	struct zpd_worker *w;
	struct zpd_store_stats s;
	char err[ZPD_ERR_MAX];
	uint64_t rng = zt_mix64(seed ^ 0x57), b;
	unsigned int i;

	assert_non_null(st);
	f->cfg.wb_victims = victims;
	st->model = calloc(ST_BLOCKS, BLOCK);
	assert_non_null(st->model);
	pthread_mutex_init(&st->msg_lock, NULL);
	f->cfg.accept_threshold_percent = 75;
	f->cfg.wb_batch_pages = 16;
	st->v = fx_store(f, ST_BLOCKS, 2 * ST_BLOCKS, 48);
	st->store = f->store;
	if (zpd_shrinker_start(f->store, &f->cfg, err, sizeof(err)))
		fail_msg("%s", err);

	where.phase = "run";
	for (i = 0; i < ST_WRITERS + 2; i++) {
		th[i] = (struct st_thread){ .st = st, .id = i,
					    .rng = zt_rand(&rng) };
		assert_int_equal(
			pthread_create(&th[i].thread, NULL,
				       i < ST_WRITERS ? st_writer
				       : i == ST_WRITERS ? st_reader
							 : st_flusher,
				       &th[i]),
			0);
	}
	for (i = 0; i < ST_WRITERS; i++)
		pthread_join(th[i].thread, NULL);
	atomic_store(&st->stop, true);
	for (i = ST_WRITERS; i < ST_WRITERS + 2; i++)
		pthread_join(th[i].thread, NULL);
	zpd_shrinker_stop(f->store);
	if (atomic_load(&st->failed))
		fail_msg("%s", st->msg);

	where.phase = "verify";
	w = worker(f->store);
	for (b = 0; b < ST_BLOCKS; b++) {
		unsigned char buf[BLOCK];

		check_eq(zpd_volume_read(st->v, w, buf, BLOCK, b * BLOCK),
			 BLOCK);
		if (memcmp(buf, st->model + b * BLOCK, BLOCK))
			fail_msg("block %" PRIu64 " differs from version %" PRIu64
				 " after the run",
				 b, st->ver[b]);
	}
	s = sstats(f->store);
	print_message("stress: %" PRIu64 " ops per writer, reader %" PRIu64
		      ", writebacks %" PRIu64 "; written back %" PRIu64
		      ", bypassed %" PRIu64 ", stale %" PRIu64
		      ", rotations %" PRIu64 ", disk reads %" PRIu64 "\n",
		      nr_ops, th[ST_WRITERS].ops, th[ST_WRITERS + 1].ops,
		      s.written_back_pages, s.bypassed_stores,
		      s.stale_writebacks, s.referenced_rotations, s.wb_reads);
	assert_true(s.written_back_pages > 0);
	assert_true(s.wb_reads > 0);
	check_consistent(f->store, st->v);
	pthread_mutex_destroy(&st->msg_lock);
	free(st->model);
	free(st);
	f->passed = true;
}

static void test_stress(void **state)
{
	where.test = "stress";
	run_stress(*state, ZPD_VICTIMS_LRU);
}

static void test_stress_zspage(void **state)
{
	where.test = "stress-zspage";
	run_stress(*state, ZPD_VICTIMS_ZSPAGE);
}

static int group_setup(void **state)
{
	return zp_corpus_setup(state, &corpus, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bypass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nomem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writeback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_chance, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_marked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_limits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_idle_thread, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_zspage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_target, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_node_fallback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stress, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stress_zspage, setup,
						teardown),
	};

	seed = zt_env_u64("test-writeback", "ZP_TEST_SEED", 1);
	nr_ops = zt_env_u64("test-writeback", "ZP_TEST_OPS", DEFAULT_OPS);
	zt_report_setup("test-writeback", where_fields, rerun_fields);
	print_message("test-writeback: ZP_TEST_SEED=0x%" PRIx64
		      " ZP_TEST_OPS=%" PRIu64 "\n",
		      seed, nr_ops);
	return cmocka_run_group_tests(tests, group_setup, zp_corpus_teardown);
}
