/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * writeback.c - the pool's limit, the LRU lists of the blocks in the pool,
 * and the shrinker that moves the least recently used ones to the backing
 * store.
 *
 * The limit. The pool may hold limit_pages pages (max_pool_size, or
 * max_pool_percent of RAM). A store that finds it there sets store->full
 * and wakes the shrinker; while full is set, stores bypass the pool: their
 * blocks go straight to the backing store. When there is none (or it is
 * full) they go to the pool while it is below its limit, and fail with
 * ENOSPC while it is at it. full is cleared once the pool is below
 * accept_pages (accept_threshold_percent of the limit), so that the pool
 * does not flap around its limit one store at a time (zswap's hysteresis).
 *
 * The lists. A block whose data is a pool object is on the list of the
 * object's node (store->lru[node]), newest first; every other block is on
 * none. A store marks its block referenced (entry->age); the shrinker
 * takes the oldest block of a list, and if it is referenced clears the
 * mark and moves it to the newest end instead (the second chance).
 *
 * A writeback batch runs in three steps, holding only wb->lock throughout:
 *
 *  1. isolate: under the list's lock, take up to batch_pages victims off
 *     the list (entry->lru = 0) and note their references;
 *  2. copy: for each victim, under its stripe lock, check that the entry
 *     is still an unlisted pool block, copy its object into the batch
 *     buffer as it is (compressed; the slot format keeps len and tag, so
 *     reading it back needs no other record), and set ZPD_E_WB;
 *  3. after the slots are allocated and written (a few large writes, the
 *     allocator favours runs): for each victim, under its stripe again,
 *     find the entry anew through the index, and only if it still has
 *     ZPD_E_WB, the same handle and this copy's ticket (kept in the
 *     entry's unused links) turn it into a disk entry and free the
 *     object. Any write or discard of the block in between made a new
 *     entry, without ZPD_E_WB: the newest data wins, and the slot just
 *     written is freed instead. A failed write clears ZPD_E_WB and puts the
 *     block back on its list: it stays in the pool, nothing is lost.
 *
 * The slots are allocated and written by a writer thread (zpoold-wbio)
 * while the caller gathers the next batch into the second buffer, so that
 * the copying and committing overlap the disk's work; a batch is committed
 * once the next one is on its way.
 *
 * Nothing is held across the disk write but wb->lock; a victim is never
 * touched through a pointer kept from an earlier step, only through its
 * volume's index under its stripe lock (the zswap use-after-free).
 *
 * Writing back frees object bytes, not pool pages: a zspage keeps its
 * pages until its last object goes. Two ways to make the pool's memory
 * drop (victims = ...):
 *   lru     victims strictly by age; after each batch the shrinker
 *           compacts the node it wrote from;
 *   zspage  the oldest block, and with it every block whose object shares
 *           its zspage (the pool keeps each object's block as its owner),
 *           so the zspage empties and frees its pages by itself, as the
 *           2014 zsmalloc shrinker did; younger blocks go to disk too.
 * bench/writeback-bench.sh measures both; the README has the figures.
 *
 * The shrinker thread wakes when a store hits the limit or a node passes
 * its target (an eventfd), on memory pressure (a PSI trigger on
 * /proc/pressure/memory), and for idle writeback every idle_seconds: an
 * idle pass walks each list once, writing back the blocks still marked
 * idle from the previous pass and marking the others (any access clears
 * the mark), so a block goes to disk after idle_seconds to twice that
 * without access.
 *
 * lock ordering: wb->lock -> stripe lock -> LRU list lock, pool locks,
 * slot allocator lock; wb->io_lock is a leaf (the writer thread takes the
 * slot allocator's lock with nothing held). Isolating takes a list's lock alone. A zspage's
 * owners are read under the victim's stripe, which keeps its object (and
 * so the zspage) alive.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "daemon/internal.h"
#include "zp-assert.h"

#define wb_stat_add(store, field, n)                                            \
	__atomic_fetch_add(&(store)->stats.field, (uint64_t)(n),              \
			   __ATOMIC_RELAXED)

/* The block part of a reference (zpd_block_ref()). */
#define REF_BLOCK_BITS 40
/* How long the shrinker waits before trying a failing disk again. */
#define RETRY_MS 1000

struct victim {
	struct zpd_volume *v;
	uint64_t blk;
	zp_handle_t h;  /* the object copied */
	uint64_t ticket; /* this copy's, in the entry while it is out */
	uint64_t addr;  /* where it went on disk */
	int err;        /* 0: written */
};

/* A batch: its victims and their objects, one slot each, in order. */
struct wb_batch {
	unsigned char *buf;      /* batch_pages slots, aligned */
	struct victim *victims;  /* batch_pages */
	unsigned int n;          /* victims gathered */
	int nid;
	enum zpd_wb_mode mode;
	int ret;                 /* of writing it: 0 or the first error */
	uint64_t seq;            /* its place in the writer's queue, from 1 */
};

struct zpd_wb {
	/* One writeback at a time: the batches are shared. */
	pthread_mutex_t lock;
	unsigned int batch_pages;
	struct wb_batch batch[2]; /* protected by lock */
	uint64_t *mates;          /* batch_pages, protected by lock */
	uint64_t tickets;         /* copies made; protected by lock */

	/* The writer thread writes one batch while the next is gathered. */
	pthread_t writer;
	bool writer_started;
	pthread_mutex_t io_lock;
	pthread_cond_t io_cond;
	/* Batches are written in the order they are submitted; at most the
	 * two there are. protected by io_lock */
	struct wb_batch *io_queue[2];
	uint64_t io_submitted, io_written;
	bool io_stop;
	/* A burst of disk errors is logged once, when it starts. */
	atomic_bool write_failing, read_failing;

	/* The shrinker thread */
	pthread_t thread;
	bool started;
	int wake_fd;                  /* eventfd */
	atomic_bool wake_pending;     /* a wake-up is in wake_fd */
	atomic_bool stop;
	struct shr_psi *psi;          /* NULL: no pressure trigger */
	unsigned int psi_shrink_percent;
	atomic_uint idle_seconds;     /* changes at run time */
};

/* ---------------------------------------------------------------------------
 * The lists
 * ------------------------------------------------------------------------ */

static struct zpd_entry *entry_of(struct zpd_store *store, uint64_t ref,
				  struct zpd_volume **v, uint64_t *blk)
{
	unsigned int id = (unsigned int)(ref >> REF_BLOCK_BITS) - 1;

	zp_assert(id < ZPD_MAX_VOLUMES && store->volumes[id]);
	*v = store->volumes[id];
	*blk = ref & ((1ull << REF_BLOCK_BITS) - 1);
	zp_assert(*blk < (*v)->nr_blocks);
	return &(*v)->index[*blk];
}

static struct shr_lru_link *link_of(void *ctx, uint64_t ref)
{
	struct zpd_volume *v;
	uint64_t blk;

	return &entry_of(ctx, ref, &v, &blk)->link;
}

static uint8_t lru_of(const struct zpd_entry *e)
{
	return __atomic_load_n(&e->lru, __ATOMIC_RELAXED);
}

static void set_lru(struct zpd_entry *e, uint8_t lru)
{
	__atomic_store_n(&e->lru, lru, __ATOMIC_RELAXED);
}

void zpd_lru_update(struct zpd_volume *v, uint64_t blk)
{
	struct zpd_store *store = v->store;
	struct zpd_entry *e = &v->index[blk];
	uint64_t ref = zpd_block_ref(v, blk);
	uint8_t want = (e->flags & ZPD_E_POOL) ? (uint8_t)(e->node + 1) : 0;
	uint8_t cur = lru_of(e);

	/* Only the shrinker changes lru without the stripe, and only to
	 * take the entry off (it then finds the new data when it copies). */
	if (cur == want)
		return;
	if (cur) {
		struct shr_lru *l = &store->lru[cur - 1];

		shr_lru_lock(l);
		if (lru_of(e) == cur) {
			shr_lru_remove(l, ref);
			set_lru(e, 0);
		}
		shr_lru_unlock(l);
	}
	if (want) {
		struct shr_lru *l = &store->lru[want - 1];

		shr_lru_lock(l);
		shr_lru_push(l, ref);
		set_lru(e, want);
		shr_lru_unlock(l);
	}
}

/* ---------------------------------------------------------------------------
 * The limit
 * ------------------------------------------------------------------------ */

static void wake_shrinker(struct zpd_store *store)
{
	struct zpd_wb *wb = store->wb;
	uint64_t one = 1;

	if (!wb->started || atomic_exchange(&wb->wake_pending, true))
		return;
	if (write(wb->wake_fd, &one, sizeof(one)) < 0) {
		/* An eventfd write only fails when the counter is full,
		 * which means a wake-up is pending anyway. */
	}
}

bool zpd_pool_full(struct zpd_store *store)
{
	uint64_t pages = zp_pool_total_pages(store->pool);

	if (pages >= store->limit_pages) {
		wb_stat_add(store, pool_limit_hit, 1);
		if (!atomic_load_explicit(&store->full, memory_order_relaxed))
			atomic_store(&store->full, true);
		wake_shrinker(store);
		return true;
	}
	if (!atomic_load_explicit(&store->full, memory_order_relaxed))
		return false;
	if (pages < store->accept_pages) {
		atomic_store(&store->full, false);
		return false;
	}
	return true;
}

bool zpd_pool_below_limit(struct zpd_store *store)
{
	return zp_pool_total_pages(store->pool) < store->limit_pages;
}

void zpd_store_refused(struct zpd_store *store)
{
	wb_stat_add(store, nospc_stores, 1);
}

void zpd_store_nomem_stored(struct zpd_store *store)
{
	wb_stat_add(store, nomem_stores, 1);
}

void zpd_node_stored(struct zpd_store *store, int nid)
{
	if (store->node_limit_pages &&
	    zp_pool_node_pages(store->pool, nid) >= store->node_limit_pages)
		wake_shrinker(store);
}

/* ---------------------------------------------------------------------------
 * The backing store
 * ------------------------------------------------------------------------ */

/* Log the first of a burst of disk errors, and the end of the burst. */
static void disk_error(struct zpd_store *store, atomic_bool *failing,
		       const char *what, int err)
{
	const char *path = shr_backing_path(store->backing);
	bool writing = failing == &store->wb->write_failing;

	if (atomic_exchange(failing, true))
		return;
	if (writing && err == -ENOSPC)
		zpd_log(LOG_ERR,
			"backing store '%s' is full; the blocks stay in the "
			"pool (logged once until there is room again)",
			path);
	else
		zpd_log(LOG_ERR,
			"%s backing store '%s' failed: %s; %s (logged once "
			"until it works again)",
			what, path, strerror(-err),
			writing ? "the blocks stay in the pool"
				: "the reads fail with EIO");
}

static void disk_ok(struct zpd_store *store, atomic_bool *failing,
		    const char *what)
{
	if (atomic_load_explicit(failing, memory_order_relaxed) &&
	    atomic_exchange(failing, false))
		zpd_log(LOG_NOTICE, "%s backing store '%s' works again", what,
			shr_backing_path(store->backing));
}

int zpd_wb_store(struct zpd_store *store, struct zpd_worker *w,
		 const void *data, unsigned int len, uint16_t tag,
		 struct zpd_entry *e)
{
	uint64_t slot;
	unsigned int got;
	int ret;

	if (!store->backing || shr_slots_alloc(store->slots, 1, &slot, &got))
		return -ENOSPC;
	memcpy(w->disk, data, len);
	memset(w->disk + len, 0, SHR_SLOT_SIZE - len);
	ret = shr_backing_write(store->backing, slot, w->disk, 1);
	wb_stat_add(store, wb_writes, 1);
	if (ret) {
		shr_slots_free(store->slots, slot, 1);
		wb_stat_add(store, writeback_failures, 1);
		disk_error(store, &store->wb->write_failing, "writing to", ret);
		return -EIO;
	}
	disk_ok(store, &store->wb->write_failing, "writing to");
	e->flags = ZPD_E_DISK;
	e->val = slot * SHR_SLOT_SIZE;
	e->len = (uint16_t)len;
	e->tag = tag;
	wb_stat_add(store, bypassed_stores, 1);
	return 0;
}

int zpd_wb_load(struct zpd_store *store, struct zpd_worker *w,
		const struct zpd_entry *e, void *dst)
{
	uint64_t slot = e->val / SHR_SLOT_SIZE;
	unsigned int off = (unsigned int)(e->val % SHR_SLOT_SIZE);
	int ret;

	ret = shr_backing_read(store->backing, slot, w->disk);
	wb_stat_add(store, wb_reads, 1);
	if (ret) {
		wb_stat_add(store, wb_read_errors, 1);
		disk_error(store, &store->wb->read_failing, "reading from",
			   ret);
		return -EIO;
	}
	disk_ok(store, &store->wb->read_failing, "reading from");
	if (comp_decompress(w->comp, e->tag, w->disk + off, e->len, dst))
		return -EIO;
	return 0;
}

void zpd_wb_release(struct zpd_store *store, const struct zpd_entry *e)
{
	shr_slots_free(store->slots, e->val / SHR_SLOT_SIZE, 1);
}

/* ---------------------------------------------------------------------------
 * Writeback
 * ------------------------------------------------------------------------ */

/*
 * Take up to want victims off node nid's list into vic[], oldest first,
 * looking at no more than *budget entries (each look counts). Referenced
 * entries get their second chance; in an idle pass, entries not yet marked
 * idle get the mark instead. Returns the victims, their volume and block
 * set.
 */
static unsigned int isolate(struct zpd_store *store, int nid,
			    unsigned int want, enum zpd_wb_mode mode,
			    uint64_t *budget,
			    struct victim *vic)
{
	struct shr_lru *l = &store->lru[nid];
	uint64_t rotations = 0;
	unsigned int n = 0;

	shr_lru_lock(l);
	while (n < want && *budget) {
		uint64_t ref = shr_lru_oldest(l);
		struct zpd_entry *e;
		uint8_t age;

		if (!ref)
			break;
		(*budget)--;
		e = entry_of(store, ref, &vic[n].v, &vic[n].blk);
		age = __atomic_load_n(&e->age, __ATOMIC_RELAXED);
		if (mode == ZPD_WB_MARKED && !(age & ZPD_AGE_MARK)) {
			shr_lru_rotate(l, ref);
			continue;
		}
		if (mode == ZPD_WB_IDLE && !(age & ZPD_AGE_IDLE)) {
			__atomic_fetch_or(&e->age, ZPD_AGE_IDLE,
					  __ATOMIC_RELAXED);
			shr_lru_rotate(l, ref);
			continue;
		}
		if (mode == ZPD_WB_LRU && (age & ZPD_AGE_REF)) {
			__atomic_fetch_and(&e->age, (uint8_t)~ZPD_AGE_REF,
					   __ATOMIC_RELAXED);
			shr_lru_rotate(l, ref);
			rotations++;
			continue;
		}
		shr_lru_remove(l, ref);
		set_lru(e, 0);
		n++;
	}
	shr_lru_unlock(l);
	if (rotations)
		wb_stat_add(store, referenced_rotations, rotations);
	return n;
}

/* Take block ref off node nid's list into *vic, whatever its age; false
 * if it is not on that list (moved, rewritten, taken already). */
static bool isolate_ref(struct zpd_store *store, int nid, uint64_t ref,
			struct victim *vic)
{
	struct shr_lru *l = &store->lru[nid];
	struct zpd_entry *e = entry_of(store, ref, &vic->v, &vic->blk);
	bool taken = false;

	shr_lru_lock(l);
	if (lru_of(e) == nid + 1) {
		shr_lru_remove(l, ref);
		set_lru(e, 0);
		taken = true;
	}
	shr_lru_unlock(l);
	return taken;
}

/*
 * Step 2 for one victim: if it is still an unlisted pool block, copy its
 * object into dst (a slot of a batch) and mark it for writeback. With mates,
 * also note the blocks whose objects share its zspage (at most max, into
 * *nr_mates). false when the victim changed since it was isolated.
 */
static bool copy_victim(struct zpd_store *store, struct victim *vic,
			unsigned char *dst, uint64_t *mates, size_t max,
			size_t *nr_mates)
{
	struct zpd_entry *e = &vic->v->index[vic->blk];
	const void *src;

	pthread_mutex_lock(zpd_stripe(vic->v, vic->blk));
	/* Rewritten or discarded since it was isolated: a newer entry, or
	 * none, and nothing to write back. */
	if (!(e->flags & ZPD_E_POOL) || (e->flags & ZPD_E_WB) || lru_of(e)) {
		pthread_mutex_unlock(zpd_stripe(vic->v, vic->blk));
		wb_stat_add(store, stale_writebacks, 1);
		return false;
	}
	src = zp_pool_read_begin(store->pool, e->val);
	memcpy(dst, src, e->len);
	zp_pool_read_end(store->pool, e->val);
	memset(dst + e->len, 0, SHR_SLOT_SIZE - e->len);
	e->flags |= ZPD_E_WB;
	vic->h = e->val;
	/* Off its list, the entry's links are free to name this copy: the
	 * handle alone could name another, when the block was rewritten
	 * into a reused handle and taken again for a later batch. */
	vic->ticket = ++store->wb->tickets;
	e->link.next = vic->ticket;
	/* The stripe keeps the object, and so the zspage, alive. */
	if (mates)
		*nr_mates = zp_pool_zspage_owners(store->pool, e->val, mates,
						  max);
	pthread_mutex_unlock(zpd_stripe(vic->v, vic->blk));
	return true;
}

/* Gather a batch of up to want victims from node nid into b (isolated
 * and copied); whole zspages may take more, up to batch_pages. Returns
 * how many. */
static unsigned int gather(struct zpd_store *store, struct wb_batch *b,
			   int nid, unsigned int want, enum zpd_wb_mode mode,
			   uint64_t *budget)
{
	struct zpd_wb *wb = store->wb;
	struct victim *vic = b->victims;
	unsigned int i, n, k = 0;

#define SLOT(k) (b->buf + (size_t)(k) * SHR_SLOT_SIZE)
	b->nid = nid;
	b->mode = mode;
	if (store->victims == ZPD_VICTIMS_LRU || mode != ZPD_WB_LRU) {
		n = isolate(store, nid, want, mode, budget, vic);
		for (i = 0; i < n; i++) {
			struct victim one = vic[i];

			if (copy_victim(store, &one, SLOT(k), NULL, 0, NULL))
				vic[k++] = one;
		}
		return b->n = k;
	}
	/* Whole zspages: the oldest block, then those sharing its zspage. */
	while (k < want &&
	       isolate(store, nid, 1, ZPD_WB_LRU, budget, &vic[k])) {
		uint64_t self = zpd_block_ref(vic[k].v, vic[k].blk);
		size_t nr_mates = 0;

		if (!copy_victim(store, &vic[k], SLOT(k), wb->mates,
				 wb->batch_pages, &nr_mates))
			continue;
		k++;
		/* Past want if need be, to empty the zspage. */
		for (i = 0; i < nr_mates && k < wb->batch_pages; i++) {
			if (wb->mates[i] == self ||
			    !isolate_ref(store, nid, wb->mates[i], &vic[k]))
				continue;
			if (copy_victim(store, &vic[k], SLOT(k), NULL, 0, NULL))
				k++;
		}
	}
#undef SLOT
	return b->n = k;
}

/* Write a batch's victims to runs of free slots. Sets each victim's addr
 * or err; returns the first error, 0 if none. */
static int write_batch(struct zpd_store *store, struct wb_batch *b)
{
	unsigned int i = 0, j, got, n = b->n;
	uint64_t first;
	int ret, first_err = 0;

	while (i < n) {
		ret = shr_slots_alloc(store->slots, n - i, &first, &got);
		if (ret) {
			first = 0;
			got = n - i;
		} else {
			ret = shr_backing_write(store->backing, first,
						b->buf + (size_t)i *
								 SHR_SLOT_SIZE,
						got);
			wb_stat_add(store, wb_writes, 1);
			if (ret)
				shr_slots_free(store->slots, first, got);
		}
		for (j = 0; j < got; j++) {
			b->victims[i + j].err = ret;
			b->victims[i + j].addr = (first + j) * SHR_SLOT_SIZE;
		}
		if (ret && !first_err)
			first_err = ret;
		i += got;
	}
	return first_err;
}

/* Step 3: make the written victims disk entries, put the others back.
 * Returns the blocks written back. */
static unsigned int commit_victims(struct zpd_store *store,
				   struct wb_batch *b)
{
	unsigned int i, done = 0, failed = 0;

	for (i = 0; i < b->n; i++) {
		struct victim *vic = &b->victims[i];
		struct zpd_entry *e = &vic->v->index[vic->blk];
		bool current;

		pthread_mutex_lock(zpd_stripe(vic->v, vic->blk));
		current = (e->flags & ZPD_E_WB) && e->val == vic->h &&
			  e->link.next == vic->ticket;
		if (current && !vic->err) {
			zpd_entry_account(vic->v, e, -1);
			e->flags = ZPD_E_DISK;
			e->val = vic->addr;
			e->link.next = 0;
			zpd_entry_account(vic->v, e, 1);
		} else if (current) {
			/* Still in the pool: back on its list, at the
			 * newest end, which gives the disk a rest. */
			e->flags &= (uint8_t)~ZPD_E_WB;
			zpd_lru_update(vic->v, vic->blk);
		}
		pthread_mutex_unlock(zpd_stripe(vic->v, vic->blk));

		if (vic->err) {
			failed++;
		} else if (current) {
			zp_pool_free(store->pool, vic->h);
			done++;
		} else {
			shr_slots_free(store->slots,
				       vic->addr / SHR_SLOT_SIZE, 1);
			wb_stat_add(store, stale_writebacks, 1);
		}
	}
	if (failed)
		wb_stat_add(store, writeback_failures, failed);
	wb_stat_add(store, written_back_pages, done);
	/* A batch's victims all come from its node's list. */
	atomic_fetch_add_explicit(&store->node_written_back[b->nid], done,
				  memory_order_relaxed);
	return done;
}

/*
 * The end of a written batch: commit, compact, count. Returns the blocks
 * written back, or -errno when the disk refused all of them.
 */
static long finish_batch(struct zpd_store *store, struct wb_batch *b)
{
	uint64_t before = zp_pool_total_pages(store->pool), after;
	unsigned int done;

	if (b->ret)
		disk_error(store, &store->wb->write_failing, "writing to",
			   b->ret);
	done = commit_victims(store, b);
	wb_stat_add(store, writeback_batches, 1);
	if (done && !b->ret)
		disk_ok(store, &store->wb->write_failing, "writing to");
	/* Whole zspages free themselves; scattered objects leave holes that
	 * only compaction turns into free pages. */
	if (done && (store->victims == ZPD_VICTIMS_LRU || b->mode != ZPD_WB_LRU))
		wb_stat_add(store, compacted_pages,
			    zp_pool_compact(store->pool, b->nid));
	/* Stores may add pages meanwhile: a lower bound. */
	after = zp_pool_total_pages(store->pool);
	if (after < before)
		wb_stat_add(store, wb_freed_pages, before - after);
	if (b->mode != ZPD_WB_LRU)
		wb_stat_add(store, idle_written_back, done);
	if (!done && b->ret)
		return b->ret;
	return done;
}

/* ---------------------------------------------------------------------------
 * The writer thread and the pipeline: batch k + 1 is gathered while batch
 * k is written, and queued behind it; batch k is committed while k + 1 is
 * written. So copying and committing (CPU) overlap the writes (the disk)
 * instead of taking turns, with two batch buffers.
 * ------------------------------------------------------------------------ */

static void *writer_main(void *arg)
{
	struct zpd_store *store = arg;
	struct zpd_wb *wb = store->wb;

	zpd_thread_prefault();
	pthread_mutex_lock(&wb->io_lock);
	for (;;) {
		struct wb_batch *b;

		if (wb->io_stop)
			break;
		if (wb->io_written == wb->io_submitted) {
			pthread_cond_wait(&wb->io_cond, &wb->io_lock);
			continue;
		}
		/* The next in order: the one whose seq follows. */
		b = wb->io_queue[(wb->io_written + 1) % 2];
		pthread_mutex_unlock(&wb->io_lock);
		b->ret = write_batch(store, b);
		pthread_mutex_lock(&wb->io_lock);
		wb->io_written++;
		pthread_cond_broadcast(&wb->io_cond);
	}
	pthread_mutex_unlock(&wb->io_lock);
	return NULL;
}

static void submit_batch(struct zpd_wb *wb, struct wb_batch *b)
{
	pthread_mutex_lock(&wb->io_lock);
	zp_assert(wb->io_submitted - wb->io_written < 2);
	b->seq = ++wb->io_submitted;
	wb->io_queue[b->seq % 2] = b;
	pthread_cond_broadcast(&wb->io_cond);
	pthread_mutex_unlock(&wb->io_lock);
}

static void wait_written(struct zpd_wb *wb, const struct wb_batch *b)
{
	pthread_mutex_lock(&wb->io_lock);
	while (wb->io_written < b->seq)
		pthread_cond_wait(&wb->io_cond, &wb->io_lock);
	pthread_mutex_unlock(&wb->io_lock);
}

/* A run of batches through the pipeline, and what they came to. */
struct pipeline {
	struct wb_batch *inflight; /* submitted, not finished */
	unsigned int next;         /* the batch to gather into next */
	uint64_t done;             /* blocks written back */
	long err;                  /* the last batch's error, if it failed */
};

/* Finish the batch in flight, if any. false if it failed. */
static bool pipe_drain(struct zpd_store *store, struct pipeline *p)
{
	long ret;

	if (!p->inflight)
		return true;
	wait_written(store->wb, p->inflight);
	ret = finish_batch(store, p->inflight);
	p->inflight = NULL;
	if (ret < 0) {
		p->err = ret;
		return false;
	}
	p->done += (uint64_t)ret;
	return true;
}

/*
 * Gather a batch from node nid and queue it behind the one in flight,
 * then finish that one. false when there was nothing to gather or the
 * previous batch failed (then stop: the disk wants a rest).
 */
static bool pipe_batch(struct zpd_store *store, struct pipeline *p, int nid,
		       unsigned int want, enum zpd_wb_mode mode,
		       uint64_t *budget)
{
	struct wb_batch *b = &store->wb->batch[p->next];
	unsigned int n = gather(store, b, nid, want, mode, budget);
	bool ok;

	if (n)
		submit_batch(store->wb, b);
	ok = pipe_drain(store, p);
	if (!n)
		return false;
	p->inflight = b;
	p->next ^= 1;
	return ok;
}

static long pipe_end(struct zpd_store *store, struct pipeline *p)
{
	pipe_drain(store, p);
	return p->done ? (long)p->done : p->err;
}

/* The node whose list holds the most blocks, -1 if all are empty. */
static int fullest_node(struct zpd_store *store)
{
	uint64_t most = 0;
	int nid, best = -1;

	for (nid = 0; nid < store->nr_nodes; nid++) {
		uint64_t len = shr_lru_len(&store->lru[nid]);

		if (len > most) {
			most = len;
			best = nid;
		}
	}
	return best;
}

/* Write back up to pages blocks from node nid (-1: fullest first). A
 * batch in flight counts as written for choosing the next. */
static long writeback_pages(struct zpd_store *store, int nid, uint64_t pages)
{
	struct zpd_wb *wb = store->wb;
	struct pipeline p = { 0 };
	uint64_t sent = 0;

	while (sent < pages) {
		int node = nid >= 0 ? nid : fullest_node(store);
		unsigned int want = (unsigned int)ZP_MIN(
			(uint64_t)wb->batch_pages, pages - sent);
		/* Enough looks to give every block its second chance and
		 * still find want victims. */
		uint64_t budget;

		if (node < 0)
			break;
		budget = shr_lru_len(&store->lru[node]) + want;
		if (!pipe_batch(store, &p, node, want, ZPD_WB_LRU, &budget))
			break;
		sent += p.inflight->n;
	}
	return pipe_end(store, &p);
}

/* One idle pass over node only's list, or every list (only < 0): see
 * the top of the file. */
static long writeback_idle(struct zpd_store *store, int only, uint64_t pages,
			   enum zpd_wb_mode mode)
{
	struct zpd_wb *wb = store->wb;
	struct pipeline p = { 0 };
	uint64_t sent = 0;
	int nid;

	for (nid = 0; nid < store->nr_nodes && sent < pages; nid++) {
		uint64_t budget = shr_lru_len(&store->lru[nid]);

		if (only >= 0 && nid != only)
			continue;

		while (budget && sent < pages) {
			unsigned int want = (unsigned int)ZP_MIN(
				(uint64_t)wb->batch_pages, pages - sent);

			uint64_t looked = budget;

			if (!pipe_batch(store, &p, nid, want, mode, &budget)) {
				/* A failed disk, or an empty list; a batch
				 * of blocks only marked goes on. */
				if (p.err || budget == looked)
					break;
				continue;
			}
			sent += p.inflight->n;
		}
	}
	return pipe_end(store, &p);
}

void zpd_wb_quiesce(struct zpd_store *store)
{
	pthread_mutex_lock(&store->wb->lock);
	pthread_mutex_unlock(&store->wb->lock);
}

long zpd_writeback(struct zpd_store *store, int nid, uint64_t pages,
		   enum zpd_wb_mode mode)
{
	struct zpd_wb *wb = store->wb;
	long ret;

	if (!store->backing)
		return -ENOSPC;
	if (nid >= store->nr_nodes)
		return -EINVAL;
	pthread_mutex_lock(&wb->lock);
	ret = mode == ZPD_WB_LRU ? writeback_pages(store, nid, pages)
				 : writeback_idle(store, nid, pages, mode);
	pthread_mutex_unlock(&wb->lock);
	return ret;
}

/* Entries marked per hold of a list's lock, so that stores wait little. */
#define MARK_CHUNK 4096

uint64_t zpd_wb_mark(struct zpd_store *store)
{
	struct zpd_wb *wb = store->wb;
	uint64_t marked = 0;

	/* The shrinker's passes rotate the lists too: not meanwhile. */
	pthread_mutex_lock(&wb->lock);
	for (int nid = 0; nid < store->nr_nodes; nid++) {
		struct shr_lru *l = &store->lru[nid];
		uint64_t left = shr_lru_len(l);

		while (left) {
			shr_lru_lock(l);
			for (unsigned int i = 0; i < MARK_CHUNK && left;
			     i++, left--) {
				uint64_t ref = shr_lru_oldest(l), blk;
				struct zpd_volume *v;

				if (!ref) {
					left = 0;
					break;
				}
				__atomic_fetch_or(&entry_of(store, ref, &v,
							    &blk)->age,
						  ZPD_AGE_MARK,
						  __ATOMIC_RELAXED);
				shr_lru_rotate(l, ref);
				marked++;
			}
			shr_lru_unlock(l);
		}
	}
	pthread_mutex_unlock(&wb->lock);
	return marked;
}

/* ---------------------------------------------------------------------------
 * The shrinker thread
 * ------------------------------------------------------------------------ */

/* Blocks in the pool, but for a batch being written back: the lists'. */
static uint64_t pool_blocks(struct zpd_store *store)
{
	uint64_t n = 0;

	for (int nid = 0; nid < store->nr_nodes; nid++)
		n += shr_lru_len(&store->lru[nid]);
	return n;
}

/* Bring the pool below its accept threshold once the limit was hit.
 * false when the disk refused. */
static bool shrink_to_limit(struct zpd_store *store)
{
	for (;;) {
		uint64_t pages = zp_pool_total_pages(store->pool);
		bool full = atomic_load(&store->full);
		long ret;

		if (pages < store->accept_pages) {
			if (full)
				atomic_store(&store->full, false);
			return true;
		}
		if (!full && pages < store->limit_pages)
			return true;
		ret = zpd_writeback(store, -1, store->wb->batch_pages,
				    ZPD_WB_LRU);
		if (ret <= 0)
			return ret == 0;
	}
}

/* Bring each node past its target below the target's accept threshold. */
static bool shrink_nodes(struct zpd_store *store)
{
	int nid;

	if (!store->node_limit_pages)
		return true;
	for (nid = 0; nid < store->nr_nodes; nid++) {
		if (zp_pool_node_pages(store->pool, nid) <
		    store->node_limit_pages)
			continue;
		while (zp_pool_node_pages(store->pool, nid) >=
		       store->node_accept_pages) {
			long ret = zpd_writeback(store, nid,
						 store->wb->batch_pages,
						 ZPD_WB_LRU);

			if (ret < 0)
				return false;
			if (ret == 0)
				break;
		}
	}
	return true;
}

static void *shrinker_main(void *arg)
{
	struct zpd_store *store = arg;
	struct zpd_wb *wb = store->wb;
	uint64_t idle_ms = 0, next_idle = 0;
	bool retry = false;
	zpd_thread_prefault();

	while (!atomic_load(&wb->stop)) {
		struct pollfd fds[2] = {
			{ .fd = wb->wake_fd, .events = POLLIN },
			{ .fd = wb->psi ? shr_psi_fd(wb->psi) : -1,
			  .events = POLLPRI },
		};
		int timeout = -1;
		uint64_t now, count;

		/* The period may change at run time: a new one starts
		 * counting now. */
		if (atomic_load(&wb->idle_seconds) * 1000ull != idle_ms) {
			idle_ms = atomic_load(&wb->idle_seconds) * 1000ull;
			next_idle = idle_ms ? zpd_now_ms() + idle_ms : 0;
		}
		if (next_idle) {
			now = zpd_now_ms();
			timeout = next_idle > now ? (int)(next_idle - now) : 0;
		}
		if (retry && (timeout < 0 || timeout > RETRY_MS))
			timeout = RETRY_MS;
		if (poll(fds, 2, timeout) < 0 && errno != EINTR)
			break;
		if (atomic_load(&wb->stop))
			break;
		if (fds[0].revents & POLLIN) {
			/* Drained before the flag is cleared: a wake-up
			 * between the two finds the flag set and the work
			 * about to be done; one after it writes anew. */
			if (read(wb->wake_fd, &count, sizeof(count)) < 0) {
				/* Nothing pending after all: fine. */
			}
			atomic_store(&wb->wake_pending, false);
		}
		if (fds[1].revents & (POLLERR | POLLNVAL)) {
			/* The trigger is gone (its cgroup went away): poll
			 * would report it again at once, forever. */
			zpd_log(LOG_WARNING, "memory pressure trigger gone; "
					     "writeback on pressure is off");
			shr_psi_close(wb->psi);
			wb->psi = NULL;
		} else if (fds[1].revents & POLLPRI) {
			shr_psi_ack(wb->psi);
			wb_stat_add(store, psi_events, 1);
			zpd_writeback(store, -1,
				      ZP_MAX(pool_blocks(store) *
						     wb->psi_shrink_percent / 100,
					     1),
				      ZPD_WB_LRU);
		}
		retry = !shrink_to_limit(store);
		retry |= !shrink_nodes(store);
		if (next_idle && zpd_now_ms() >= next_idle) {
			zpd_writeback(store, -1, UINT64_MAX, ZPD_WB_IDLE);
			next_idle = zpd_now_ms() + idle_ms;
		}
	}
	return NULL;
}

int zpd_shrinker_start(struct zpd_store *store, const struct zpd_config *cfg,
		       char *err, size_t errlen)
{
	struct zpd_wb *wb = store->wb;
	int ret;

	wb->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wb->wake_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot start the shrinker: %s",
			 strerror(-ret));
		return ret;
	}
	atomic_store(&wb->idle_seconds,
		     store->backing ? cfg->idle_seconds : 0);
	wb->psi_shrink_percent = cfg->psi_shrink_percent;
	if (store->backing && cfg->psi_stall_ms) {
		char msg[ZPD_ERR_MAX];

		/* Pressure only helps by writing back; a kernel without
		 * PSI still gets the limit. */
		if (shr_psi_open(NULL, cfg->psi_stall_ms, cfg->psi_window_ms,
				 &wb->psi, msg, sizeof(msg)))
			zpd_log(LOG_WARNING,
				"%s; writeback on memory pressure is off",
				msg);
	}
	atomic_store(&wb->stop, false);
	ret = pthread_create(&wb->thread, NULL, shrinker_main, store);
	if (ret) {
		snprintf(err, errlen, "cannot start the shrinker: %s",
			 strerror(ret));
		shr_psi_close(wb->psi);
		wb->psi = NULL;
		close(wb->wake_fd);
		return -ret;
	}
	pthread_setname_np(wb->thread, "zpoold-shrink");
	wb->started = true;
	return 0;
}

void zpd_shrinker_stop(struct zpd_store *store)
{
	struct zpd_wb *wb = store->wb;
	uint64_t one = 1;

	if (!wb || !wb->started)
		return;
	atomic_store(&wb->stop, true);
	if (write(wb->wake_fd, &one, sizeof(one)) < 0) {
		/* The counter is full: the thread wakes anyway. */
	}
	pthread_join(wb->thread, NULL);
	wb->started = false;
	shr_psi_close(wb->psi);
	wb->psi = NULL;
	close(wb->wake_fd);
}

/* ---------------------------------------------------------------------------
 * Set-up
 * ------------------------------------------------------------------------ */

/* The pool's limit in pages: the size if given, else the percentage of
 * RAM. */
static uint64_t limit_pages(const struct zpd_config *cfg)
{
	uint64_t bytes = cfg->max_pool_size;

	if (!bytes) {
		long ram = sysconf(_SC_PHYS_PAGES);

		bytes = (uint64_t)(ram > 0 ? ram : 0) * (uint64_t)ZP_PAGE_SIZE /
			100 * cfg->max_pool_percent;
	}
	return ZP_MAX(bytes >> ZP_PAGE_SHIFT, 1);
}

void zpd_wb_set_limits(struct zpd_store *store, const struct zpd_config *cfg)
{
	uint64_t limit = limit_pages(cfg);
	uint64_t node = cfg->max_node_size >> ZP_PAGE_SHIFT;

	store->limit_pages = limit;
	store->accept_pages = limit * cfg->accept_threshold_percent / 100;
	store->node_limit_pages = node;
	store->node_accept_pages = node * cfg->accept_threshold_percent / 100;
	/* Over the new limit: the shrinker brings the pool down (and stores
	 * bypass it meanwhile). */
	if (zp_pool_total_pages(store->pool) >= limit)
		atomic_store(&store->full, true);
	if (store->wb)
		wake_shrinker(store);
}

void zpd_wb_set_idle(struct zpd_store *store, unsigned int seconds)
{
	atomic_store(&store->wb->idle_seconds, store->backing ? seconds : 0);
	wake_shrinker(store);
}

int zpd_wb_setup(struct zpd_store *store, const struct zpd_config *cfg,
		 char *err, size_t errlen)
{
	struct zpd_wb *wb;
	size_t buf_bytes;
	int i, nid, ret;

	for (nid = 0; nid < ZP_MAX_NODES; nid++)
		shr_lru_init(&store->lru[nid], link_of, store);
	zpd_wb_set_limits(store, cfg);

	wb = calloc(1, sizeof(*wb));
	if (!wb)
		goto nomem;
	store->wb = wb;
	pthread_mutex_init(&wb->lock, NULL);
	wb->wake_fd = -1;
	wb->batch_pages = cfg->wb_batch_pages;
	if (!cfg->wb_file[0])
		return 0;

	buf_bytes = (size_t)wb->batch_pages * SHR_SLOT_SIZE;
	for (i = 0; i < 2; i++) {
		struct wb_batch *b = &wb->batch[i];

		if (posix_memalign((void **)&b->buf, SHR_SLOT_SIZE, buf_bytes))
			goto nomem;
		/* Touched now, as every buffer of the I/O path. */
		memset(b->buf, 0, buf_bytes);
		b->victims = calloc(wb->batch_pages, sizeof(*b->victims));
		if (!b->victims)
			goto nomem;
	}
	wb->mates = calloc(wb->batch_pages, sizeof(*wb->mates));
	if (!wb->mates)
		goto nomem;
	store->victims = cfg->wb_victims;
	ret = shr_backing_open(cfg->wb_file, cfg->wb_size, &store->backing,
			       err, errlen);
	if (ret)
		return ret;
	ret = shr_slots_create(shr_backing_slots(store->backing),
			       &store->slots);
	if (ret) {
		snprintf(err, errlen,
			 "cannot set up the slots of backing store '%s': %s",
			 cfg->wb_file, strerror(-ret));
		return ret;
	}
	pthread_mutex_init(&wb->io_lock, NULL);
	pthread_cond_init(&wb->io_cond, NULL);
	ret = pthread_create(&wb->writer, NULL, writer_main, store);
	if (ret) {
		pthread_cond_destroy(&wb->io_cond);
		pthread_mutex_destroy(&wb->io_lock);
		snprintf(err, errlen, "cannot start the writeback thread: %s",
			 strerror(ret));
		return -ret;
	}
	pthread_setname_np(wb->writer, "zpoold-wbio");
	wb->writer_started = true;
	if (!shr_backing_direct(store->backing))
		zpd_log(LOG_NOTICE,
			"backing store '%s' does not take O_DIRECT; using it "
			"through the page cache",
			cfg->wb_file);
	return 0;

nomem:
	snprintf(err, errlen, "cannot set up writeback: %s", strerror(ENOMEM));
	return -ENOMEM;
}

void zpd_wb_teardown(struct zpd_store *store)
{
	struct zpd_wb *wb = store->wb;
	int nid;

	if (!wb)
		return;
	zpd_shrinker_stop(store);
	if (wb->writer_started) {
		pthread_mutex_lock(&wb->io_lock);
		wb->io_stop = true;
		pthread_cond_broadcast(&wb->io_cond);
		pthread_mutex_unlock(&wb->io_lock);
		pthread_join(wb->writer, NULL);
		pthread_cond_destroy(&wb->io_cond);
		pthread_mutex_destroy(&wb->io_lock);
	}
	shr_slots_destroy(store->slots);
	shr_backing_close(store->backing);
	for (nid = 0; nid < 2; nid++) { /* the two batches */
		free(wb->batch[nid].victims);
		free(wb->batch[nid].buf);
	}
	free(wb->mates);
	pthread_mutex_destroy(&wb->lock);
	free(wb);
	store->wb = NULL;
	for (nid = 0; nid < ZP_MAX_NODES; nid++)
		shr_lru_destroy(&store->lru[nid]);
}

void zpd_store_stats(const struct zpd_store *store,
		     struct zpd_store_stats *out)
{
#define ZPD_STAT_LOAD(name, desc)                                               \
	out->name = __atomic_load_n(&store->stats.name, __ATOMIC_RELAXED);
	ZPD_STORE_STAT_FIELDS(ZPD_STAT_LOAD)
#undef ZPD_STAT_LOAD
}
