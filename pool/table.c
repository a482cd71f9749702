/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * table.c - arrays of fixed-size entries with stable addresses, for handle
 * entries and zspage descriptors.
 *
 * Layout: a directory of ZP_TABLE_MAX_SEGS segment records, reserved once and
 * locked page by page as far as it is used, and segments of 2^seg_shift
 * entries each (a page, or more for entries larger than half a page), mapped when first needed and unmapped when empty. Index
 * i (1-based) lives in segment (i-1) >> seg_shift. Free entries of a mapped
 * segment form a list threaded through their first 8 bytes, stored shifted
 * left by one so that bit 0 of a free entry is clear: the handle code tags
 * live entries with bit 0 and so recognizes a dead handle.
 *
 * Allocation takes the lowest segment with room, so live entries gather at
 * the bottom and segments at the top drain and go back to the system: empty
 * segments but the lowest are unmapped once they have stayed empty for
 * delay_ms (at once if 0), so that a table that grows and shrinks in a cycle
 * does not map and unmap segments on every turn.
 *
 * In a pool with cfg.refill_in_background a table makes no system call on
 * the allocation path: its segments are pages of the nodes' caches, its
 * directory is locked ahead by table_refill(), and the nodes' chunk tables
 * keep spare segments made there.
 *
 * lock ordering: the owner's lock (class->lock) covers every call here but
 * table_entry() on a live index.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "track.h"

static size_t seg_bytes(const struct zp_table *t)
{
	return (size_t)t->esize << t->seg_shift;
}

static uint32_t per_seg(const struct zp_table *t)
{
	return 1u << t->seg_shift;
}

static int dir_lock(struct zp_table *t, uint32_t s);

int table_init(struct zp_table *t, struct zp_pool *pool, size_t esize,
	       unsigned int delay_ms)
{
	void *dir;
	int ret;

	memset(t, 0, sizeof(*t));
	t->esize = (uint32_t)ZP_ALIGN_UP(esize, (size_t)8);
	while (((size_t)t->esize << (t->seg_shift + 1)) <= ZP_TABLE_SEG_BYTES)
		t->seg_shift++;
	t->nr_segs_max = ZP_TABLE_MAX_SEGS;
	t->delay_ms = delay_ms;
	t->pool = pool;
	t->background = pool && pool->cfg.refill_in_background;
	t->interval_start = zp_now_ms();
	ret = prim_reserve(t->nr_segs_max * sizeof(struct zp_tseg), &dir);
	if (ret)
		return ret;
	t->segs = dir;
	/* The I/O path locks no directory page of a background table: the
	 * first one now, the next ones by table_refill(). */
	if (t->background) {
		ret = dir_lock(t, 0);
		if (ret) {
			prim_unmap(t->segs, t->nr_segs_max * sizeof(struct zp_tseg));
			t->segs = NULL;
			return ret;
		}
	}
	return 0;
}

void table_destroy(struct zp_table *t)
{
	if (!t->segs)
		return;
	/* A background table's segments are pages of chunks, which go
	 * with their nodes. */
	for (uint32_t s = 0; !t->background && s < t->nr_segs_seen; s++)
		if (t->segs[s].mem)
			prim_unmap(t->segs[s].mem, seg_bytes(t));
	while (t->nr_spare)
		prim_unmap(t->spare[--t->nr_spare], seg_bytes(t));
	prim_unmap(t->segs, t->nr_segs_max * sizeof(struct zp_tseg));
	memset(t, 0, sizeof(*t));
}

/* Lock the directory up to and including record s before it is touched. */
static int dir_lock(struct zp_table *t, uint32_t s)
{
	const uint32_t per_page = ZP_PAGE_SIZE / sizeof(struct zp_tseg);
	uint32_t upto;
	int ret;

	if (s < t->dir_locked)
		return 0;
	upto = ZP_ALIGN_UP(s + 1, per_page);
	ret = prim_lock(&t->segs[t->dir_locked],
			(upto - t->dir_locked) * sizeof(struct zp_tseg));
	if (ret)
		return ret;
	t->dir_locked = upto;
	return 0;
}

static unsigned int seg_pages(const struct zp_table *t)
{
	return (unsigned int)ZP_DIV_ROUND_UP(seg_bytes(t), (size_t)ZP_PAGE_SIZE);
}

/*
 * A table of a pool with cfg.refill_in_background takes its segments from
 * the nodes' caches (node_alloc_meta()): resident, locked pages, no system
 * call, on the caller's node first. Its directory is locked ahead by
 * table_refill().
 */
static int seg_take_pages(struct zp_table *t, struct zp_tseg *seg, void **mem)
{
	struct zp_pool *pool = t->pool;
	const int first = pool_current_node(pool);
	int ret = -ENOMEM;
	char *base;

	for (int i = 0; i < pool->nr_nodes; i++) {
		int nid = (first + i) % pool->nr_nodes;
		int r = node_alloc_meta(pool, nid, seg_pages(t), &seg->chunk,
					&base);

		if (r == 0) {
			/* Free pool pages are poisoned for the sanitizers. */
			track_alloc(base, seg_bytes(t));
			*mem = base;
			return 0;
		}
		if (r == -EAGAIN)
			ret = r;
	}
	return ret;
}

/* Map segment s and thread its free list in index order. */
static int seg_map(struct zp_table *t, uint32_t s)
{
	struct zp_tseg *seg = &t->segs[s];
	void *mem;
	int ret;

	if (t->background) {
		if (s >= t->dir_locked) {
			pool_want_refill(t->pool);
			return -EAGAIN;
		}
		ret = seg_take_pages(t, seg, &mem);
		if (ret)
			return ret;
		goto ready;
	}
	if (s < t->dir_locked && t->nr_spare) {
		/* Made ahead by table_refill(): no system call, no fault. */
		mem = t->spare[--t->nr_spare];
		goto ready;
	}
	ret = dir_lock(t, s);
	if (ret)
		return ret;
	ret = prim_map(seg_bytes(t), &mem);
	if (ret)
		return ret;
	ret = prim_populate(mem, seg_bytes(t));
	if (ret) {
		prim_unmap(mem, seg_bytes(t));
		return ret;
	}
ready:
	for (uint32_t i = 0; i < per_seg(t); i++) {
		uint64_t next = (uint64_t)(i + 1 < per_seg(t) ? i + 2 : 0)
				<< 1;

		memcpy((char *)mem + (size_t)i * t->esize, &next, sizeof(next));
	}
	seg->mem = mem;
	seg->used = 0;
	seg->free_head = 1;
	t->nr_mapped++;
	t->nr_empty++;
	if (s >= t->nr_segs_seen)
		t->nr_segs_seen = s + 1;
	return 0;
}

static void seg_unmap(struct zp_table *t, uint32_t s)
{
	struct zp_tseg *seg = &t->segs[s];

	if (t->background) {
		track_free(seg->mem, (size_t)seg_pages(t) * ZP_PAGE_SIZE);
		node_free_meta(t->pool, seg->chunk, seg->mem, seg_pages(t));
	}
	else
		prim_unmap(seg->mem, seg_bytes(t));
	seg->mem = NULL;
	seg->chunk = NULL;
	seg->free_head = 0;
	t->nr_mapped--;
	t->nr_empty--;
}

/* Unmap up to n empty segments, the highest first, keeping the lowest one:
 * allocation comes back to it first. */
static void unmap_empty(struct zp_table *t, uint32_t n)
{
	for (uint32_t s = t->nr_segs_seen; n && t->nr_empty > 1 && s-- > 0;) {
		if (t->segs[s].mem && t->segs[s].used == 0) {
			seg_unmap(t, s);
			n--;
		}
	}
	if (t->nr_empty < t->empty_low)
		t->empty_low = t->nr_empty;
}

/*
 * Empty segments beyond one go back to the system once they have stayed
 * empty for a whole interval of delay_ms (the interval's low-water mark of
 * empty segments counts them); checked when a segment is mapped or empties.
 */
static void release_idle(struct zp_table *t)
{
	uint64_t now;

	if (t->delay_ms == 0) {
		unmap_empty(t, UINT32_MAX);
		return;
	}
	now = zp_now_ms();
	if (now - t->interval_start < t->delay_ms)
		return;
	if (t->empty_low > 1)
		unmap_empty(t, t->empty_low - 1);
	t->interval_start = now;
	t->empty_low = t->nr_empty;
}

void table_trim(struct zp_table *t)
{
	unmap_empty(t, UINT32_MAX);
	t->empty_low = t->nr_empty;
}

int table_refill(struct zp_table *t, pthread_mutex_t *lock)
{
	const uint32_t per_page = ZP_PAGE_SIZE / sizeof(struct zp_tseg);
	void *mem[ZP_TABLE_SPARES];
	uint32_t want, from, upto, n = 0;
	int ret = 0;

	pthread_mutex_lock(lock);
	/* Only tables in use: a class never used costs nothing. Background
	 * tables take their segments from the nodes' caches: for them only
	 * the directory. */
	if (!t->nr_segs_seen && !t->background) {
		pthread_mutex_unlock(lock);
		return 0;
	}
	want = t->background ? 0 : ZP_TABLE_SPARES - t->nr_spare;
	from = t->dir_locked;
	/* Records for the segments seen, the spares and a quarter page more. */
	upto = ZP_MIN(ZP_ALIGN_UP(t->nr_segs_seen + ZP_TABLE_SPARES + per_page / 4,
				  per_page),
		      t->nr_segs_max);
	pthread_mutex_unlock(lock);

	/* Records at and above dir_locked are above nr_segs_seen, which no
	 * one else reads or writes: they are locked here without the lock. */
	if (upto > from) {
		ret = prim_lock(&t->segs[from], (upto - from) * sizeof(struct zp_tseg));
		if (ret == 0) {
			pthread_mutex_lock(lock);
			if (t->dir_locked < upto)
				t->dir_locked = upto;
			pthread_mutex_unlock(lock);
			if (t->pool)
				atomic_fetch_add(&t->pool->refill_progress, 1);
		}
	}
	while (ret == 0 && n < want) {
		ret = prim_map(seg_bytes(t), &mem[n]);
		if (ret)
			break;
		ret = prim_populate(mem[n], seg_bytes(t));
		if (ret) {
			prim_unmap(mem[n], seg_bytes(t));
			break;
		}
		n++;
	}
	pthread_mutex_lock(lock);
	while (n && t->nr_spare < ZP_TABLE_SPARES)
		t->spare[t->nr_spare++] = mem[--n];
	pthread_mutex_unlock(lock);
	while (n)
		prim_unmap(mem[--n], seg_bytes(t));
	return ret;
}

int table_alloc(struct zp_table *t, uint32_t *idx)
{
	struct zp_tseg *seg = NULL;
	uint32_t s, local;
	uint64_t next;
	char *e;
	int ret;

	/* Directory records above nr_segs_seen were never written: reading
	 * one would fault in a page (and a page table) of the reservation,
	 * which is not to happen before dir_lock() has locked it. */
	for (s = t->lowest_room; s < t->nr_segs_seen; s++) {
		seg = &t->segs[s];
		if (!seg->mem || seg->free_head)
			break;
	}
	if (s == t->nr_segs_max)
		return -ENOMEM;
	t->lowest_room = s;
	seg = &t->segs[s];
	if (s == t->nr_segs_seen || !seg->mem) {
		ret = seg_map(t, s);
		if (ret)
			return ret == -EAGAIN ? ret : -ENOMEM;
		release_idle(t);
	}
	local = seg->free_head - 1;
	e = seg->mem + (size_t)local * t->esize;
	memcpy(&next, e, sizeof(next));
	seg->free_head = (uint32_t)(next >> 1);
	if (seg->used++ == 0 && --t->nr_empty < t->empty_low)
		t->empty_low = t->nr_empty;
	t->in_use++;
	*idx = (s << t->seg_shift) + local + 1;
	return 0;
}

void table_free(struct zp_table *t, uint32_t idx)
{
	uint32_t i = idx - 1;
	uint32_t s = i >> t->seg_shift;
	uint32_t local = i & (per_seg(t) - 1);
	struct zp_tseg *seg = &t->segs[s];
	uint64_t next = (uint64_t)seg->free_head << 1;

	zp_assert(idx != 0 && s < t->nr_segs_seen && seg->mem && seg->used);
	memcpy(seg->mem + (size_t)local * t->esize, &next, sizeof(next));
	seg->free_head = local + 1;
	t->in_use--;
	if (s < t->lowest_room)
		t->lowest_room = s;
	if (--seg->used == 0) {
		t->nr_empty++;
		release_idle(t);
	}
}

size_t table_resident_bytes(const struct zp_table *t)
{
	size_t dir = (size_t)t->dir_locked * sizeof(struct zp_tseg);

	return dir + (t->nr_mapped + t->nr_spare) *
			     ZP_ALIGN_UP(seg_bytes(t), (size_t)ZP_PAGE_SIZE);
}

int table_for_each_mapping(const struct zp_table *t,
			   int (*fn)(void *addr, size_t len, void *arg),
			   void *arg)
{
	int ret;

	if (!t->segs)
		return 0;
	if (t->dir_locked)
		ret = fn(t->segs, t->dir_locked * sizeof(struct zp_tseg), arg);
	else
		ret = 0;
	/* (A background table's segments lie in chunks, which the nodes
	 * report.) */
	for (uint32_t s = 0; !ret && !t->background && s < t->nr_segs_seen; s++)
		if (t->segs[s].mem)
			ret = fn(t->segs[s].mem, seg_bytes(t), arg);
	for (uint32_t i = 0; !ret && i < t->nr_spare; i++)
		ret = fn(t->spare[i], seg_bytes(t), arg);
	return ret;
}
