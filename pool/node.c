/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * node.c - pages for zspages, per NUMA node.
 *
 * Each node maps memory from the system in chunks (pool->cfg.chunk_bytes,
 * 4 MiB by default) bound to that node, and cuts zspages out of them. A
 * chunk keeps two bitmaps: pages in a zspage (used) and pages faulted in
 * (resident). A page is charged to its node in the node layer while it is
 * resident.
 *
 * When a zspage dies its pages stay resident and locked, in the node's cache.
 * The cache never drops below cfg.cache_pages (filled at creation); pages
 * above that go back to the system (prim_release) once they have gone unused
 * for cfg.release_delay_ms, or at once when that is 0, or on
 * zp_pool_trim(). So a pool that churns keeps reusing its pages without a
 * system call per zspage, and a pool that shrinks gives memory back within
 * two or three delays, at its next operations. A chunk with neither used nor
 * cached pages is unmapped. Allocation looks for a run of cached pages first,
 * then any free run, oldest chunk first, so live zspages gather in old
 * chunks, and releases take the newest chunks first, so those drain.
 *
 * Fresh pages (not resident yet) come only from a node with room
 * (ops->room, enum zp_room_level): a zspage that would need them from a
 * node short of memory is refused there, and the pool asks the next node,
 * or at a lower level. Cached pages need no room: they are the reserve the
 * pool lives on when memory runs short, and zp_pool_refill() (node_refill)
 * faults in the cache back up to its floor while the node has room.
 *
 * In front of the node's lock, each shard keeps a small stash per zspage
 * length of runs that zspages of that length just gave up (ZP_STASH_RUNS
 * each): the next zspage of the same length on that shard takes one back
 * without touching the node's lock or bitmaps, so CPUs that create and
 * destroy zspages at a high rate do not queue on one lock. Stashed pages stay
 * marked used in the bitmaps and count as cached; zp_pool_trim() empties
 * the stashes.
 *
 * lock ordering: node->lock is taken with no class lock held; the node
 * layer's own locks nest inside it. A stash lock is taken alone, or inside
 * node->lock by validation.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

static unsigned int chunk_words(const struct zp_chunk *c)
{
	return ZP_DIV_ROUND_UP(c->nr_pages, 64u);
}

static uint64_t *used_bits(struct zp_chunk *c)
{
	return c->bits;
}

static uint64_t *resident_bits(struct zp_chunk *c)
{
	return c->bits + chunk_words(c);
}

static bool test_bit(const uint64_t *map, unsigned int i)
{
	return map[i / 64] >> (i % 64) & 1;
}

static void set_bits(uint64_t *map, unsigned int start, unsigned int n,
		     bool on)
{
	for (unsigned int i = start; i < start + n; i++) {
		if (on)
			map[i / 64] |= 1ull << (i % 64);
		else
			map[i / 64] &= ~(1ull << (i % 64));
	}
}

/* First bit in [from, to) equal to value, or to. A word at a time. */
static unsigned int find_bit(const uint64_t *map, unsigned int from,
			     unsigned int to, bool value)
{
	while (from < to) {
		uint64_t w = value ? map[from / 64] : ~map[from / 64];

		w &= ~0ull << (from % 64);
		if (w) {
			unsigned int i = from - from % 64 + (unsigned int)__builtin_ctzll(w);

			return i < to ? i : to;
		}
		from = from - from % 64 + 64;
	}
	return to;
}

/* First run of n free pages in the chunk (all resident too if
 * resident_only), or -1. */
static long chunk_find_run(struct zp_chunk *c, unsigned int n,
			   bool resident_only)
{
	const uint64_t *used = used_bits(c), *res = resident_bits(c);
	unsigned int i = 0, j;

	for (;;) {
		i = find_bit(used, i, c->nr_pages, false);
		if (i + n > c->nr_pages)
			return -1;
		j = find_bit(used, i, i + n, true);
		if (j == i + n && resident_only)
			j = find_bit(res, i, i + n, false);
		if (j == i + n)
			return i;
		i = j + 1;
	}
}

static size_t chunk_header_size(const struct zp_pool *pool)
{
	unsigned int nr_pages = (unsigned int)(pool->cfg.chunk_bytes / ZP_PAGE_SIZE);

	return sizeof(struct zp_chunk) +
	       2 * ZP_DIV_ROUND_UP(nr_pages, 64u) * sizeof(uint64_t);
}

/* Map a chunk for the node. Caller holds node->lock. */
static struct zp_chunk *chunk_new(struct zp_pool *pool, struct zp_node *node)
{
	struct zp_chunk *c;
	uint32_t idx;
	void *mem;

	if (table_alloc(&node->chunk_table, &idx) != 0)
		return NULL;
	c = table_entry(&node->chunk_table, idx);
	memset(c, 0, chunk_header_size(pool));
	c->idx = idx;
	if (prim_map(pool->cfg.chunk_bytes, &mem) != 0)
		goto err_free;
	if (pool->ops->bind &&
	    pool->ops->bind(pool->ctx, mem, pool->cfg.chunk_bytes, node->id,
			    pool_policy(pool) == ZP_NUMA_STRICT) != 0)
		goto err_unmap;
	c->base = mem;
	c->nr_pages = (uint32_t)(pool->cfg.chunk_bytes / ZP_PAGE_SIZE);
	c->node = node->id;
	zp_list_add_tail(&node->chunks, &c->link);
	node->nr_chunks++;
	return c;

err_unmap:
	prim_unmap(mem, pool->cfg.chunk_bytes);
err_free:
	table_free(&node->chunk_table, idx);
	return NULL;
}

/* Caller holds node->lock; the chunk has no used or cached page. */
static void chunk_delete(struct zp_node *node, struct zp_chunk *c)
{
	zp_assert(c->used_pages == 0 && c->cached_pages == 0);
	zp_list_del(&c->link);
	node->nr_chunks--;
	prim_unmap(c->base, (size_t)c->nr_pages * ZP_PAGE_SIZE);
	table_free(&node->chunk_table, c->idx);
}

/*
 * Make pages [start, start+n) of the chunk resident, charging those that were
 * not. Caller holds node->lock. 0 or -ENOMEM.
 */
static int chunk_populate(struct zp_pool *pool, struct zp_node *node,
			  struct zp_chunk *c, unsigned int start,
			  unsigned int n)
{
	unsigned int fresh = 0;
	int ret;

	for (unsigned int i = start; i < start + n; i++)
		fresh += !test_bit(resident_bits(c), i);
	if (!fresh)
		return 0;
	ret = pool->ops->charge(pool->ctx, node->id, fresh);
	if (ret) {
		node->charge_fail++;
		return -ENOMEM;
	}
	ret = prim_populate(c->base + (size_t)start * ZP_PAGE_SIZE,
			    (size_t)n * ZP_PAGE_SIZE);
	if (ret) {
		pool->ops->uncharge(pool->ctx, node->id, fresh);
		node->charge_fail++;
		return -ENOMEM;
	}
	set_bits(resident_bits(c), start, n, true);
	return 0;
}

/*
 * How many cached pages to give back now. Caller holds node->lock.
 *
 * Pages above the floor (cfg.cache_pages) that stayed unused for a whole
 * interval of cfg.release_delay_ms go: the low-water mark of the cache over
 * the interval says how many were never needed. A pool that churns keeps
 * what it reuses; one that shrank and stays small gives it all back.
 */
static uint64_t node_due(struct zp_pool *pool, struct zp_node *node,
			 bool now_all)
{
	const uint64_t floor = pool->cfg.cache_pages;
	uint64_t t, due = 0;

	if (now_all || pool->cfg.release_delay_ms == 0)
		return node->cached_pages > floor ? node->cached_pages - floor : 0;
	t = zp_now_ms();
	if (t - node->interval_start < pool->cfg.release_delay_ms)
		return 0;
	if (node->cache_low > floor)
		due = node->cache_low - floor;
	node->interval_start = t;
	atomic_store_explicit(&node->next_check, t + pool->cfg.release_delay_ms,
			      memory_order_relaxed);
	node->cache_low = node->cached_pages - due;
	return due;
}

/* A run of cached pages on its way back to the system. */
struct release_run {
	struct zp_chunk *c;
	unsigned int start, n;
};
#define RELEASE_BATCH 32

/*
 * Take up to want cached pages, newest chunks first (old chunks hold the
 * live zspages), in at most RELEASE_BATCH runs. The pages are marked used so
 * that nobody allocates them while they are released without the lock.
 * Caller holds node->lock. Returns the number of runs.
 */
static unsigned int take_cached(struct zp_node *node, uint64_t want,
				struct release_run *runs)
{
	unsigned int nr = 0;
	struct zp_list *pos;

	for (pos = node->chunks.prev; pos != &node->chunks && want && nr < RELEASE_BATCH;
	     pos = pos->prev) {
		struct zp_chunk *c = zp_list_entry(pos, struct zp_chunk, link);
		unsigned int i = 0;

		while (c->cached_pages && want && nr < RELEASE_BATCH) {
			unsigned int end;

			/* Cached: resident and not used. */
			for (;;) {
				i = find_bit(resident_bits(c), i, c->nr_pages, true);
				if (i == c->nr_pages || !test_bit(used_bits(c), i))
					break;
				i = find_bit(used_bits(c), i, c->nr_pages, false);
			}
			if (i == c->nr_pages)
				break;
			end = ZP_MIN(find_bit(used_bits(c), i, c->nr_pages, true),
				     find_bit(resident_bits(c), i, c->nr_pages, false));
			end = (unsigned int)ZP_MIN((uint64_t)end, i + want);
			set_bits(used_bits(c), i, end - i, true);
			c->used_pages += end - i;
			c->cached_pages -= end - i;
			node->cached_pages -= end - i;
			node->releasing += end - i;
			want -= end - i;
			runs[nr++] = (struct release_run){c, i, end - i};
			i = end;
		}
	}
	if (node->cached_pages < node->cache_low)
		node->cache_low = node->cached_pages;
	return nr;
}

/* Give want cached pages of the node back to the system. Called without
 * node->lock. Returns the pages released. */
static uint64_t node_release(struct zp_pool *pool, struct zp_node *node,
			     uint64_t want, bool trim)
{
	/* Unmapping a chunk takes the process's mmap_lock for writing, which
	 * waits for every page fault in progress: with
	 * cfg.refill_in_background the I/O path leaves an empty chunk to
	 * zp_pool_trim(). */
	const bool unmap = trim || !pool->cfg.refill_in_background;

	/* Giving pages back is madvise(2), which takes the mmap_lock too:
	 * with cfg.refill_in_background only zp_pool_trim() does it. */
	if (!trim && pool->cfg.refill_in_background)
		return 0;
	struct release_run runs[RELEASE_BATCH];
	uint64_t done = 0;

	while (want > done) {
		unsigned int nr;
		uint64_t pages = 0;

		pthread_mutex_lock(&node->lock);
		nr = take_cached(node, want - done, runs);
		pthread_mutex_unlock(&node->lock);
		if (!nr)
			break;
		for (unsigned int r = 0; r < nr; r++) {
			prim_release(runs[r].c->base + (size_t)runs[r].start * ZP_PAGE_SIZE,
				     (size_t)runs[r].n * ZP_PAGE_SIZE);
			pages += runs[r].n;
		}
		pool->ops->uncharge(pool->ctx, node->id, pages);
		pthread_mutex_lock(&node->lock);
		for (unsigned int r = 0; r < nr; r++) {
			struct zp_chunk *c = runs[r].c;

			set_bits(used_bits(c), runs[r].start, runs[r].n, false);
			set_bits(resident_bits(c), runs[r].start, runs[r].n, false);
			c->used_pages -= runs[r].n;
			node->releasing -= runs[r].n;
			if (unmap && c->used_pages == 0 && c->cached_pages == 0)
				chunk_delete(node, c);
		}
		node->pages_released += pages;
		pthread_mutex_unlock(&node->lock);
		done += pages;
	}
	return done;
}

/* Count a zspage's pages in (npages > 0) or out of the node. */
static void node_account(struct zp_pool *pool, struct zp_node *node,
			 int64_t npages)
{
	gauge_add(&node->pages, &node->pages_max, npages);
	pool_account_pages(pool, npages);
}

uint64_t node_placed(struct zp_pool *pool, struct zp_node *node,
		     bool preferred)
{
	uint64_t n = 0;

	for (unsigned int sh = 0; sh < pool->nr_shards; sh++)
		n += atomic_load(preferred ? &node->stashes[sh].preferred_zspages :
					     &node->stashes[sh].fallback_zspages);
	return n;
}

/*
 * Whether fresh pages may come from the node at this level; a refusal is
 * counted (low_refusals at ZP_ROOM_LOW, charge_fail below). Caller holds
 * node->lock.
 */
static bool node_room(struct zp_pool *pool, struct zp_node *node,
		      unsigned int fresh, enum zp_room_level level)
{
	if (!fresh || !pool->ops->room ||
	    pool->ops->room(pool->ctx, node->id, fresh,
			    pool->cfg.node_reserve_bytes / ZP_PAGE_SIZE, level))
		return true;
	if (level == ZP_ROOM_LOW)
		node->low_refusals++;
	else
		node->charge_fail++;
	return false;
}

/* A cached run of npages on the node, or -1. Caller holds node->lock. */
static long node_find_cached(struct zp_node *node, unsigned int npages,
			     struct zp_chunk **chunk)
{
	struct zp_list *pos;
	long start;

	if (node->cached_pages < npages)
		return -1;
	zp_list_for_each(pos, &node->chunks) {
		struct zp_chunk *c = zp_list_entry(pos, struct zp_chunk, link);

		if (c->cached_pages >= npages &&
		    (start = chunk_find_run(c, npages, true)) >= 0) {
			*chunk = c;
			return start;
		}
	}
	return -1;
}

bool node_refill_starved(struct zp_pool *pool, int nid, uint64_t waited_ms)
{
	/* (A question for no pages: nothing is granted.) */
	return waited_ms < (uint64_t)pool->cfg.refill_wait_ms * REFILL_WAIT_SLOW &&
	       (!pool->ops->room ||
		pool->ops->room(pool->ctx, nid, 0,
				pool->cfg.node_reserve_bytes / ZP_PAGE_SIZE,
				ZP_ROOM_LOW));
}

/*
 * cfg.refill_in_background, the node's cache without a run of npages: if
 * the node has room at level, ask the refill thread and wait for it while
 * it makes progress, or is only slow (node_refill_starved()). 0 with a
 * cached run in *chunk and *start, or -ENOMEM. Caller holds node->lock
 * (given up while it waits).
 */
static int node_wait_refill(struct zp_pool *pool, struct zp_node *node,
			    unsigned int npages, enum zp_room_level level,
			    struct zp_chunk **chunk, long *start)
{
	struct timespec deadline;

	const uint64_t began = zp_now_ms();
	const uint64_t ended = node->refills_ended;

	if (!node_room(pool, node, npages, level))
		return -ENOMEM;
	node->refill_waits++;
	zp_deadline(&deadline, pool->cfg.refill_wait_ms);
	for (;;) {
		uint64_t seen = node->refilled_pages;

		if (node->refill_level > (unsigned int)level)
			node->refill_level = (unsigned int)level;
		pool_want_refill(pool);
		if (pthread_cond_timedwait(&node->refilled, &node->lock,
					   &deadline) == ETIMEDOUT &&
		    node->refilled_pages == seen) {
			*start = node_find_cached(node, npages, chunk);
			if (*start >= 0)
				return 0;
			/* A refill that ended and brought nothing is not
			 * waited for again; one that has not come yet, or
			 * is still faulting, may only be short of CPU. */
			if (level == ZP_ROOM_LOW && node->refills_ended == ended &&
			    node_refill_starved(pool, node->id,
						zp_now_ms() - began)) {
				zp_deadline(&deadline, pool->cfg.refill_wait_ms);
				continue;
			}
			node->refill_timeouts++;
			return -ENOMEM;
		}
		*start = node_find_cached(node, npages, chunk);
		if (*start >= 0)
			return 0;
		/* The refill goes on: so does the wait. */
		if (node->refilled_pages != seen)
			zp_deadline(&deadline, pool->cfg.refill_wait_ms);
		/* The refill ended without pages for us: no room after all. */
		if (node->refill_level == ZP_NR_ROOM_LEVELS &&
		    !node_room(pool, node, npages, level))
			return -ENOMEM;
	}
}

/* Pages for a zspage from the node's chunks. With cfg.refill_in_background
 * and nothing cached, !wait gives -EAGAIN where a refill may help. */
static int node_alloc_slow(struct zp_pool *pool, struct zp_node *node,
			   unsigned int npages, enum zp_room_level level,
			   bool wait, struct zp_chunk **chunk, char **base)
{
	struct zp_chunk *c = NULL;
	struct zp_list *pos;
	unsigned int cached = 0;
	uint64_t due = 0;
	long start = -1;
	int ret;

	pthread_mutex_lock(&node->lock);
	start = node_find_cached(node, npages, &c);
	if (start < 0 && pool->cfg.refill_in_background && !wait) {
		ret = -ENOMEM;
		if (node_room(pool, node, npages, level)) {
			pool_want_refill(pool);
			ret = -EAGAIN;
		}
		goto out;
	}
	if (start < 0 && pool->cfg.refill_in_background) {
		ret = node_wait_refill(pool, node, npages, level, &c, &start);
		if (ret)
			goto out;
	}
	if (start < 0) {
		zp_list_for_each(pos, &node->chunks) {
			c = zp_list_entry(pos, struct zp_chunk, link);
			if (c->nr_pages - c->used_pages >= npages &&
			    (start = chunk_find_run(c, npages, false)) >= 0)
				break;
		}
	}
	if (start < 0) {
		if (!node_room(pool, node, npages, level)) {
			ret = -ENOMEM;
			goto out;
		}
		c = chunk_new(pool, node);
		if (!c) {
			node->charge_fail++;
			ret = -ENOMEM;
			goto out;
		}
		start = 0;
	} else {
		for (unsigned int i = (unsigned int)start; i < start + npages; i++)
			cached += test_bit(resident_bits(c), i);
		if (!node_room(pool, node, npages - cached, level)) {
			ret = -ENOMEM;
			goto out;
		}
	}
	ret = chunk_populate(pool, node, c, (unsigned int)start, npages);
	if (ret) {
		if (c->used_pages == 0 && c->cached_pages == 0)
			chunk_delete(node, c);
		goto out;
	}
	set_bits(used_bits(c), (unsigned int)start, npages, true);
	c->used_pages += npages;
	c->cached_pages -= cached;
	node->cached_pages -= cached;
	if (node->cached_pages < node->cache_low)
		node->cache_low = node->cached_pages;
	if (pool->cfg.refill_in_background &&
	    node->cached_pages < pool->cfg.cache_pages / 2)
		pool_want_refill(pool);
	due = node_due(pool, node, false);
	*chunk = c;
	*base = c->base + (size_t)start * ZP_PAGE_SIZE;
out:
	pthread_mutex_unlock(&node->lock);
	if (due)
		node_release(pool, node, due, false);
	return ret;
}

/* Give a zspage's pages to the node's cache. */
static void node_free_slow(struct zp_pool *pool, struct zp_node *node,
			   struct zp_chunk *c, char *base, unsigned int npages)
{
	unsigned int start = (unsigned int)((base - c->base) / ZP_PAGE_SIZE);
	uint64_t due;

	pthread_mutex_lock(&node->lock);
	zp_assert_internal(start + npages <= c->nr_pages);
	set_bits(used_bits(c), start, npages, false);
	c->used_pages -= npages;
	c->cached_pages += npages;
	node->cached_pages += npages;
	due = node_due(pool, node, false);
	pthread_mutex_unlock(&node->lock);
	if (due)
		node_release(pool, node, due, false);
}

static void node_unstash(struct zp_pool *pool, struct zp_node *node);

/*
 * The stash paths skip node->lock, and with it the check for cached pages
 * that have gone unused for a delay: do that check here when it is due. At
 * the end of an interval the stashes also empty into the cache, where their
 * pages go back to the system after one more interval unused.
 */
static void node_tick(struct zp_pool *pool, struct zp_node *node)
{
	uint64_t due;

	if (zp_now_ms() < atomic_load_explicit(&node->next_check,
					       memory_order_relaxed))
		return;
	pthread_mutex_lock(&node->lock);
	due = node_due(pool, node, false);
	pthread_mutex_unlock(&node->lock);
	node_unstash(pool, node);
	if (due)
		node_release(pool, node, due, false);
}

/* Stashes only make sense where freed pages may wait. */
static bool use_stash(const struct zp_pool *pool)
{
	return pool->cfg.release_delay_ms != 0;
}

/* node_alloc_slow(), and once more after the stashes of every shard and
 * zspage length have emptied into the cache: a node is full only when they
 * hold nothing either. */
static int node_alloc_unstash(struct zp_pool *pool, struct zp_node *node,
			      unsigned int npages, enum zp_room_level level,
			      bool wait, struct zp_chunk **chunk, char **base)
{
	int ret = node_alloc_slow(pool, node, npages, level, wait, chunk, base);

	if (ret && node_stashed_pages(pool, node)) {
		node_unstash(pool, node);
		ret = node_alloc_slow(pool, node, npages, level, wait, chunk,
				      base);
	}
	return ret;
}

int node_alloc_pages(struct zp_pool *pool, int nid, unsigned int npages,
		     bool preferred, enum zp_room_level level, unsigned int shard,
		     struct zp_chunk **chunk, char **base)
{
	struct zp_node *node = &pool->nodes[nid];
	struct zp_stash *stash = &node->stashes[shard];
	int ret = 1;

	pthread_mutex_lock(&stash->lock);
	if (stash->nr[npages]) {
		struct zp_stashed *run = &stash->runs[npages][--stash->nr[npages]];

		*chunk = run->chunk;
		*base = run->base;
		stash->pages -= npages;
		ret = 0;
	}
	pthread_mutex_unlock(&stash->lock);
	if (ret == 0)
		node_tick(pool, node);
	else
		ret = node_alloc_unstash(pool, node, npages, level, true, chunk,
					 base);
	if (ret)
		return ret;
	atomic_fetch_add_explicit(preferred ? &stash->preferred_zspages :
					      &stash->fallback_zspages,
				  1, memory_order_relaxed);
	if (level == ZP_ROOM_MIN)
		atomic_fetch_add_explicit(&node->low_zspages, 1,
					  memory_order_relaxed);
	node_account(pool, node, npages);
	return 0;
}

int node_alloc_meta(struct zp_pool *pool, int nid, unsigned int npages,
		    struct zp_chunk **chunk, char **base)
{
	struct zp_node *node = &pool->nodes[nid];
	int ret;

	ret = node_alloc_unstash(pool, node, npages, ZP_ROOM_LOW, false, chunk,
				 base);
	if (ret == 0) {
		pthread_mutex_lock(&node->lock);
		node->meta_pages += npages;
		pthread_mutex_unlock(&node->lock);
	}
	return ret;
}

void node_free_meta(struct zp_pool *pool, struct zp_chunk *c, char *base,
		    unsigned int npages)
{
	struct zp_node *node = &pool->nodes[c->node];

	pthread_mutex_lock(&node->lock);
	node->meta_pages -= npages;
	pthread_mutex_unlock(&node->lock);
	node_free_slow(pool, node, c, base, npages);
}

void node_free_pages(struct zp_pool *pool, struct zp_chunk *c, char *base,
		     unsigned int npages, unsigned int shard)
{
	struct zp_node *node = &pool->nodes[c->node];
	struct zp_stash *stash = &node->stashes[shard];
	bool stashed = false;

	node_account(pool, node, -(int64_t)npages);
	if (use_stash(pool)) {
		pthread_mutex_lock(&stash->lock);
		if (stash->nr[npages] < ZP_STASH_RUNS) {
			stash->runs[npages][stash->nr[npages]++] =
				(struct zp_stashed){c, base};
			stash->pages += npages;
			stashed = true;
		}
		pthread_mutex_unlock(&stash->lock);
	}
	if (stashed)
		node_tick(pool, node);
	else
		node_free_slow(pool, node, c, base, npages);
}

/* Empty the node's stashes into its cache. */
static void node_unstash(struct zp_pool *pool, struct zp_node *node)
{
	for (unsigned int sh = 0; sh < pool->nr_shards; sh++) {
		struct zp_stash *stash = &node->stashes[sh];

		for (unsigned int np = 1; np <= ZP_MAX_ZSPAGE_PAGES; np++) {
			for (;;) {
				struct zp_stashed run;

				pthread_mutex_lock(&stash->lock);
				if (!stash->nr[np]) {
					pthread_mutex_unlock(&stash->lock);
					break;
				}
				run = stash->runs[np][--stash->nr[np]];
				stash->pages -= np;
				pthread_mutex_unlock(&stash->lock);
				node_free_slow(pool, node, run.chunk, run.base, np);
			}
		}
	}
}

uint64_t node_stashed_pages(struct zp_pool *pool, struct zp_node *node)
{
	uint64_t pages = 0;

	for (unsigned int sh = 0; sh < pool->nr_shards; sh++) {
		struct zp_stash *stash = &node->stashes[sh];

		pthread_mutex_lock(&stash->lock);
		pages += stash->pages;
		pthread_mutex_unlock(&stash->lock);
	}
	return pages;
}

uint64_t nodes_trim(struct zp_pool *pool)
{
	uint64_t released = 0;

	for (int n = 0; n < pool->nr_nodes; n++) {
		struct zp_node *node = &pool->nodes[n];
		uint64_t due;

		/* Moving stashed runs to the cache changes what validation
		 * compares, as a dying zspage does. */
		transition_begin(pool, 0);
		node_unstash(pool, node);
		transition_end(pool, 0);
		pthread_mutex_lock(&node->lock);
		due = node_due(pool, node, true);
		pthread_mutex_unlock(&node->lock);
		if (due)
			released += node_release(pool, node, due, true);
		/* Chunks the I/O path emptied and left mapped. */
		if (pool->cfg.refill_in_background) {
			struct zp_list *pos, *tmp;

			pthread_mutex_lock(&node->lock);
			zp_list_for_each_safe(pos, tmp, &node->chunks) {
				struct zp_chunk *c = zp_list_entry(pos, struct zp_chunk, link);

				if (c->used_pages == 0 && c->cached_pages == 0)
					chunk_delete(node, c);
			}
			pthread_mutex_unlock(&node->lock);
		}
	}
	return released;
}

/* Fault in the node's cache so that it is there before the first request. */
static int node_fill_cache(struct zp_pool *pool, struct zp_node *node)
{
	unsigned int want = pool->cfg.cache_pages;
	unsigned int per_chunk = (unsigned int)(pool->cfg.chunk_bytes / ZP_PAGE_SIZE);
	int ret = 0;

	pthread_mutex_lock(&node->lock);
	while (node->cached_pages < want) {
		unsigned int n = ZP_MIN(want - (unsigned int)node->cached_pages,
					per_chunk);
		struct zp_chunk *c = chunk_new(pool, node);

		if (!c) {
			ret = -ENOMEM;
			break;
		}
		ret = chunk_populate(pool, node, c, 0, n);
		if (ret) {
			chunk_delete(node, c);
			break;
		}
		c->cached_pages = n;
		node->cached_pages += n;
	}
	node->cache_low = node->cached_pages;
	node->interval_start = zp_now_ms();
	atomic_store(&node->next_check,
		     node->interval_start + pool->cfg.release_delay_ms);
	pthread_mutex_unlock(&node->lock);
	return ret;
}

/*
 * Fault in free pages until the node's cache (stashes included) holds
 * cfg.cache_pages, while the node has room: at ZP_ROOM_LOW, or at the
 * level an allocation waiting for the refill asked for. The pages of a
 * run are marked used while they are faulted in without node->lock, so
 * that allocations go on meanwhile from what is cached, and waiters are
 * woken after each run. Returns the pages added.
 */
#define REFILL_RUN 64u
static uint64_t node_refill(struct zp_pool *pool, struct zp_node *node)
{
	const uint64_t want = pool->cfg.cache_pages;
	const unsigned int per_chunk = (unsigned int)(pool->cfg.chunk_bytes / ZP_PAGE_SIZE);
	uint64_t added = 0;

	pthread_mutex_lock(&node->lock);
	for (;;) {
		uint64_t have = node->cached_pages + node->filling;
		enum zp_room_level level = ZP_ROOM_LOW;
		struct zp_chunk *c = NULL;
		struct zp_list *pos;
		unsigned int start = 0, n = 0;
		int ret;

		pthread_mutex_unlock(&node->lock);
		have += node_stashed_pages(pool, node);
		pthread_mutex_lock(&node->lock);
		if (node->refill_level < ZP_NR_ROOM_LEVELS)
			level = (enum zp_room_level)node->refill_level;
		/* A full cache may still lack a run long enough for the
		 * zspage that waits: one more run for it. */
		if (have >= want && (node->refill_level == ZP_NR_ROOM_LEVELS ||
				     added))
			break;
		/* The first run of pages neither used nor resident. */
		zp_list_for_each(pos, &node->chunks) {
			struct zp_chunk *ch = zp_list_entry(pos, struct zp_chunk, link);
			unsigned int i = 0, end;

			if (ch->used_pages + ch->cached_pages == ch->nr_pages)
				continue;
			while (i < ch->nr_pages && (test_bit(used_bits(ch), i) ||
						    test_bit(resident_bits(ch), i)))
				i++;
			if (i == ch->nr_pages)
				continue;
			for (end = i; end < ch->nr_pages && end - i < REFILL_RUN &&
				      (have >= want || end - i < want - have) &&
				      !test_bit(used_bits(ch), end) &&
				      !test_bit(resident_bits(ch), end);
			     end++)
				;
			c = ch;
			start = i;
			n = end - i;
			break;
		}
		if (!c)
			n = (unsigned int)ZP_MIN(have >= want ? REFILL_RUN :
						 ZP_MIN(want - have, (uint64_t)REFILL_RUN),
						 (uint64_t)per_chunk);
		if (!node_room(pool, node, n, level))
			break;
		if (!c && !(c = chunk_new(pool, node)))
			break;
		/* Marked used and resident while it is being faulted in, as
		 * node_release() marks what it gives back. */
		set_bits(used_bits(c), start, n, true);
		set_bits(resident_bits(c), start, n, true);
		c->used_pages += n;
		node->filling += n;
		pthread_mutex_unlock(&node->lock);

		ret = pool->ops->charge(pool->ctx, node->id, n);
		if (ret == 0) {
			ret = prim_populate(c->base + (size_t)start * ZP_PAGE_SIZE,
					    (size_t)n * ZP_PAGE_SIZE);
			if (ret)
				pool->ops->uncharge(pool->ctx, node->id, n);
		}

		pthread_mutex_lock(&node->lock);
		set_bits(used_bits(c), start, n, false);
		c->used_pages -= n;
		node->filling -= n;
		if (ret) {
			set_bits(resident_bits(c), start, n, false);
			node->charge_fail++;
			if (c->used_pages == 0 && c->cached_pages == 0)
				chunk_delete(node, c);
			break;
		}
		c->cached_pages += n;
		node->cached_pages += n;
		node->refilled_pages += n;
		atomic_fetch_add(&pool->refill_progress, n);
		added += n;
		pthread_cond_broadcast(&node->refilled);
	}
	/* What could be done is done: waiters look for themselves. */
	node->refill_level = ZP_NR_ROOM_LEVELS;
	node->refills_ended++;
	pthread_cond_broadcast(&node->refilled);
	pthread_mutex_unlock(&node->lock);
	return added;
}

uint64_t nodes_refill(struct zp_pool *pool)
{
	uint64_t added = 0;

	for (int n = 0; n < pool->nr_nodes; n++) {
		struct zp_node *node = &pool->nodes[n];

		if (pool->cfg.refill_in_background)
			table_refill(&node->chunk_table, &node->lock);
		added += node_refill(pool, node);
	}
	return added;
}

/* Other nodes of the topology by distance from node, then by id. */
static void node_order_fallback(struct zp_pool *pool, struct zp_node *node)
{
	node->nr_fallback = 0;
	for (int n = 0; n < pool->nr_nodes; n++) {
		int d, i;

		if (n == node->id)
			continue;
		d = pool->ops->distance(pool->ctx, node->id, n);
		for (i = node->nr_fallback; i > 0; i--) {
			int prev = node->fallback[i - 1];

			if (pool->ops->distance(pool->ctx, node->id, prev) <= d)
				break;
			node->fallback[i] = prev;
		}
		node->fallback[i] = n;
		node->nr_fallback++;
	}
}

int nodes_init(struct zp_pool *pool)
{
	int ret;

	pool->nodes = prim_meta_alloc(pool->nr_nodes * sizeof(struct zp_node));
	if (!pool->nodes)
		return -ENOMEM;
	for (int n = 0; n < pool->nr_nodes; n++) {
		struct zp_node *node = &pool->nodes[n];

		zp_mutex_init(&node->lock);
		zp_cond_init(&node->refilled);
		node->refill_level = ZP_NR_ROOM_LEVELS;
		node->id = n;
		node->stashes = prim_meta_alloc(pool->nr_shards *
						sizeof(struct zp_stash));
		if (!node->stashes) {
			pool->nr_nodes_ready = n;
			nodes_destroy(pool);
			return -ENOMEM;
		}
		for (unsigned int sh = 0; sh < pool->nr_shards; sh++)
			zp_mutex_init(&node->stashes[sh].lock);
		zp_list_init(&node->chunks);
		node_order_fallback(pool, node);
		ret = table_init(&node->chunk_table, pool,
				 chunk_header_size(pool), 0);
		/* Chunks are made by the refill thread, under node->lock: its
		 * table keeps spare segments (table_refill()) instead of
		 * taking pages of the node's own cache. */
		node->chunk_table.background = false;
		if (ret) {
			pool->nr_nodes_ready = n;
			nodes_destroy(pool);
			return ret;
		}
	}
	pool->nr_nodes_ready = pool->nr_nodes;
	for (int n = 0; n < pool->nr_nodes; n++) {
		ret = node_fill_cache(pool, &pool->nodes[n]);
		if (ret) {
			nodes_destroy(pool);
			return ret;
		}
	}
	return 0;
}

void nodes_destroy(struct zp_pool *pool)
{
	if (!pool->nodes)
		return;
	for (int n = 0; n < pool->nr_nodes_ready; n++) {
		struct zp_node *node = &pool->nodes[n];
		struct zp_list *pos, *tmp;
		uint64_t resident = 0;

		zp_list_for_each_safe(pos, tmp, &node->chunks) {
			struct zp_chunk *c = zp_list_entry(pos, struct zp_chunk, link);

			for (unsigned int i = 0; i < c->nr_pages; i++)
				resident += test_bit(resident_bits(c), i);
			c->used_pages = 0;
			c->cached_pages = 0;
			chunk_delete(node, c);
		}
		if (resident)
			pool->ops->uncharge(pool->ctx, n, resident);
		table_destroy(&node->chunk_table);
		for (unsigned int sh = 0; sh < pool->nr_shards; sh++)
			pthread_mutex_destroy(&node->stashes[sh].lock);
		prim_meta_free(node->stashes,
			       pool->nr_shards * sizeof(struct zp_stash));
		pthread_mutex_destroy(&node->lock);
		pthread_cond_destroy(&node->refilled);
	}
	prim_meta_free(pool->nodes, pool->nr_nodes * sizeof(struct zp_node));
	pool->nodes = NULL;
}

int nodes_for_each_mapping(struct zp_pool *pool,
			   int (*fn)(void *addr, size_t len, void *arg),
			   void *arg)
{
	int ret = 0;

	for (int n = 0; !ret && n < pool->nr_nodes; n++) {
		struct zp_node *node = &pool->nodes[n];
		struct zp_list *pos;

		pthread_mutex_lock(&node->lock);
		zp_list_for_each(pos, &node->chunks) {
			struct zp_chunk *c = zp_list_entry(pos, struct zp_chunk, link);

			ret = fn(c->base, (size_t)c->nr_pages * ZP_PAGE_SIZE, arg);
			if (ret)
				break;
		}
		pthread_mutex_unlock(&node->lock);
	}
	return ret;
}
