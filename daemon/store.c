/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store.c - volumes, their block index, and the data path between a FUSE
 * request and the pool.
 *
 * A volume is nr_blocks blocks of 4 KiB. Its index is an array of one
 * struct zpd_entry per block in an anonymous mapping of the whole size,
 * reserved at start (MAP_NORESERVE) and faulted in only where entries are
 * written: a never-written block's entry is zero and reads as zeros, and
 * reading it maps at most the shared zero page. The daemon locks its
 * memory with MCL_ONFAULT, so the index is locked as it grows, never all at
 * once; but a volume that becomes swap has all of its index made resident
 * first (zpd_volume_lock_index): a swap-out must never wait for an index
 * page, which only reclaim, that is swap-out, could provide.
 *
 * A block is in one of three forms: nothing (zeros), a same-filled word
 * (no pool memory), or a pool object (compressed or raw, with the tag of
 * the algorithm that made it). Writes of whole blocks are compressed and
 * stored before the block's lock is taken; the lock only covers swapping
 * the entry, and the old object is freed after it. A partial write reads
 * the block, merges and stores it under the lock, so concurrent writers
 * to one block never tear it. Reads decompress under the lock, which keeps
 * the object alive until they are done.
 *
 * Early writes (one whole block, see internal.h) are the exception: their
 * reply goes out before they are compressed, so they take a raw-size pool
 * object and the block's lock first and compress under it; the raw object
 * holds the block if the compressed copy finds no memory.
 *
 * lock ordering: volume->stripes[blk % ZPD_STRIPES], then pool locks.
 * Only one stripe is held at a time. store->workers_lock is a leaf. An
 * early write holds its stripe across the reply to the writer: a write(2)
 * to /dev/fuse that completes the request and neither allocates memory
 * nor waits for any other request, so it cannot wait on the stripe.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <syslog.h>

#include "daemon/internal.h"
#include "zp-assert.h"

#define stat_add(v, field, n)                                                   \
	__atomic_fetch_add(&(v)->stats.field, (uint64_t)(n), __ATOMIC_RELAXED)
#define stat_sub(v, field, n)                                                   \
	__atomic_fetch_sub(&(v)->stats.field, (uint64_t)(n), __ATOMIC_RELAXED)

/* ---------------------------------------------------------------------------
 * Entries
 * ------------------------------------------------------------------------ */

void zpd_entry_account(struct zpd_volume *v, const struct zpd_entry *e,
		       int sign)
{
	uint64_t one = 1, len = e->len;

	if (e->flags & ZPD_E_SAME) {
		if (sign > 0)
			stat_add(v, blocks_same, one);
		else
			stat_sub(v, blocks_same, one);
	} else if (e->flags & ZPD_E_DISK) {
		if (sign > 0)
			stat_add(v, blocks_disk, one);
		else
			stat_sub(v, blocks_disk, one);
	} else if (e->flags & ZPD_E_POOL) {
		bool raw = (e->tag >> COMP_TAG_LEVEL_BITS) == COMP_RAW;

		if (sign > 0) {
			if (raw)
				stat_add(v, blocks_raw, one);
			else
				stat_add(v, blocks_compressed, one);
			stat_add(v, stored_bytes, len);
		} else {
			if (raw)
				stat_sub(v, blocks_raw, one);
			else
				stat_sub(v, blocks_compressed, one);
			stat_sub(v, stored_bytes, len);
		}
	}
}

/* Free the object or disk slot of an entry that left the index. No lock
 * needed: nobody can reach it any more. */
static void free_entry(struct zpd_volume *v, const struct zpd_entry *e)
{
	if (e->flags & ZPD_E_POOL)
		zp_pool_free(v->store->pool, e->val);
	else if (e->flags & ZPD_E_DISK)
		zpd_wb_release(v->store, e);
}

/* Make e hold the pool object h. */
static void pool_entry(struct zpd_store *store, struct zpd_entry *e,
		       zp_handle_t h, unsigned int len, uint16_t tag)
{
	e->flags = ZPD_E_POOL;
	e->val = h;
	e->len = (uint16_t)len;
	e->tag = tag;
	/* The LRU list the block goes on is where its bytes are, which
	 * is not the preferred node when that one was full. */
	e->node = (uint8_t)zp_pool_obj_node(store->pool, h);
}

/*
 * Turn one page into a new entry: compress it and, unless it is
 * same-filled, copy it into a fresh pool object, or into the backing store
 * while the pool is full or when the pool gets no memory (its nodes at
 * their low watermark: the machine is short of memory, and the disk is
 * the block's place). The entry is not in the index yet, so no lock is
 * needed. -ENOSPC when neither the pool nor the disk has room.
 */
static int make_entry(struct zpd_volume *v, struct zpd_worker *w,
		      const void *page, int nid, struct zpd_entry *e)
{
	struct zpd_store *store = v->store;
	struct comp_result res;
	zp_handle_t h;
	bool tried_disk = false;
	int ret;

	ret = comp_compress(w->comp, zpd_store_compressor(store), page, &res);
	zp_assert(ret == 0); /* the spec was checked when it was set */
	memset(e, 0, sizeof(*e));
	e->node = (uint8_t)(nid < 0 ? 0 : nid);
	if (res.kind == COMP_KIND_SAME) {
		e->flags = ZPD_E_SAME;
		e->val = res.word;
		return 0;
	}
	if (zpd_pool_full(store)) {
		ret = zpd_wb_store(store, w, res.data, res.len, res.tag, e);
		if (ret == 0)
			return 0;
		tried_disk = true;
		/* A disk that failed leaves the pool, over its limit, as
		 * the block's only home; a full one leaves whatever room
		 * the pool has below its limit (the accept threshold is
		 * not worth a failed write). */
		if (ret == -ENOSPC && !zpd_pool_below_limit(store)) {
			zpd_store_refused(store);
			return ret;
		}
	}
	ret = zp_pool_malloc(store->pool, res.len, nid < 0 ? 0 : nid, &h);
	if (ret == -ENOMEM && !tried_disk &&
	    zpd_wb_store(store, w, res.data, res.len, res.tag, e) == 0) {
		zpd_store_nomem_stored(store);
		return 0;
	}
	if (ret) {
		zpd_store_refused(store);
		return ret == -ENOMEM ? -ENOSPC : ret;
	}
	zp_pool_write(store->pool, h, res.data, res.len);
	pool_entry(store, e, h, res.len, res.tag);
	zpd_node_stored(store, e->node);
	return 0;
}

/* Rebuild a block into dst (4 KiB). Caller holds the block's stripe. */
static int load_block_locked(struct zpd_volume *v, struct zpd_worker *w,
			     const struct zpd_entry *e, void *dst)
{
	struct zp_pool *pool = v->store->pool;
	const void *src;
	int ret;

	if (e->flags & ZPD_E_SAME) {
		comp_page_fill(dst, e->val);
		return 0;
	}
	if (e->flags & ZPD_E_DISK)
		return zpd_wb_load(v->store, w, e, dst);
	if (!(e->flags & ZPD_E_POOL)) {
		memset(dst, 0, ZPD_BLOCK_SIZE);
		return 0;
	}
	src = zp_pool_read_begin(pool, e->val);
	ret = comp_decompress(w->comp, e->tag, src, e->len, dst);
	zp_pool_read_end(pool, e->val);
	return ret ? -EIO : 0;
}

/* Mark an entry referenced (and not idle) without dirtying an index page
 * for nothing. */
static void touch_entry(struct zpd_entry *e)
{
	if (__atomic_load_n(&e->age, __ATOMIC_RELAXED) != ZPD_AGE_REF)
		__atomic_store_n(&e->age, ZPD_AGE_REF, __ATOMIC_RELAXED);
}

/* The data of an index entry (caller holds its stripe), without the age
 * and LRU fields, which others change meanwhile. */
static struct zpd_entry data_of(const struct zpd_entry *slot)
{
	return (struct zpd_entry){ .val = slot->val, .len = slot->len,
				   .tag = slot->tag, .flags = slot->flags,
				   .node = slot->node };
}

/* Copy the data of e into the index entry slot: everything but the age
 * and LRU fields. */
static void set_data(struct zpd_entry *slot, const struct zpd_entry *e)
{
	slot->val = e->val;
	slot->len = e->len;
	slot->tag = e->tag;
	slot->flags = e->flags;
	slot->node = e->node;
}

/* ---------------------------------------------------------------------------
 * Data path
 * ------------------------------------------------------------------------ */

/* Read part [boff, boff + n) of block blk into dst. */
static int read_block(struct zpd_volume *v, struct zpd_worker *w, uint64_t blk,
		      unsigned int boff, unsigned int n, void *dst)
{
	pthread_mutex_t *lock = zpd_stripe(v, blk);
	struct zpd_entry *e = &v->index[blk];
	int ret;

	if (v->kind == ZPD_STORE_NULL) {
		memset(dst, 0, n);
		return 0;
	}
	pthread_mutex_lock(lock);
	if (!(e->flags & ZPD_E_FORM)) {
		pthread_mutex_unlock(lock);
		memset(dst, 0, n);
		return 0;
	}
	if (n == ZPD_BLOCK_SIZE) {
		ret = load_block_locked(v, w, e, dst);
	} else {
		ret = load_block_locked(v, w, e, w->page);
		if (!ret)
			memcpy(dst, w->page + boff, n);
	}
	touch_entry(e);
	pthread_mutex_unlock(lock);
	return ret;
}

/* Put e in block blk's entry, drop the block's stripe (held by the caller)
 * and free the entry's old object. */
static void replace_unlock(struct zpd_volume *v, uint64_t blk,
			   const struct zpd_entry *e)
{
	struct zpd_entry *slot = &v->index[blk];
	struct zpd_entry old = data_of(slot);

	set_data(slot, e);
	touch_entry(slot);
	zpd_lru_update(v, blk);
	if ((e->flags & ZPD_E_POOL) && v->store->victims == ZPD_VICTIMS_ZSPAGE)
		zp_pool_set_owner(v->store->pool, e->val,
				  zpd_block_ref(v, blk));
	/* Counted under the lock, so that the entry's next writer cannot
	 * count it out before it was counted in. */
	zpd_entry_account(v, e, 1);
	zpd_entry_account(v, &old, -1);
	pthread_mutex_unlock(zpd_stripe(v, blk));
	free_entry(v, &old);
}

/*
 * Write part [boff, boff + n) of block blk from src; src NULL writes
 * zeros. A whole block is prepared outside the lock; a part is merged with
 * the old contents under it.
 */
static int write_block(struct zpd_volume *v, struct zpd_worker *w,
		       uint64_t blk, unsigned int boff, unsigned int n,
		       const void *src, int nid)
{
	pthread_mutex_t *lock = zpd_stripe(v, blk);
	struct zpd_entry *slot = &v->index[blk];
	struct zpd_entry e;
	int ret;

	if (v->kind == ZPD_STORE_NULL)
		return 0;
	if (n == ZPD_BLOCK_SIZE && src) {
		ret = make_entry(v, w, src, nid, &e);
		if (ret)
			return ret;
		pthread_mutex_lock(lock);
	} else {
		pthread_mutex_lock(lock);
		/* Zeroing part of a block that holds nothing changes
		 * nothing, and must not fault in an index page. */
		if (!src && !(slot->flags & ZPD_E_FORM)) {
			pthread_mutex_unlock(lock);
			return 0;
		}
		ret = load_block_locked(v, w, slot, w->page);
		if (ret)
			goto unlock;
		if (src)
			memcpy(w->page + boff, src, n);
		else
			memset(w->page + boff, 0, n);
		ret = make_entry(v, w, w->page, nid, &e);
		if (ret)
			goto unlock;
		stat_add(v, partial_writes, 1);
	}
	replace_unlock(v, blk, &e);
	return 0;

unlock:
	pthread_mutex_unlock(lock);
	return ret;
}

/* Forget block blk. */
static void drop_block(struct zpd_volume *v, uint64_t blk)
{
	pthread_mutex_t *lock = zpd_stripe(v, blk);
	struct zpd_entry *slot = &v->index[blk];
	struct zpd_entry old;

	if (v->kind == ZPD_STORE_NULL)
		return;
	pthread_mutex_lock(lock);
	old = data_of(slot);
	/* Leave a never-written entry untouched: clearing it would fault in
	 * an index page to store zeros. */
	if (old.flags & ZPD_E_FORM) {
		static const struct zpd_entry none;

		set_data(slot, &none);
		zpd_lru_update(v, blk);
		zpd_entry_account(v, &old, -1);
	}
	pthread_mutex_unlock(lock);
	free_entry(v, &old);
}

/* The part of the block at pos that [pos, pos + left) covers: its offset
 * in the block (*boff) and length. */
static unsigned int block_span(uint64_t pos, uint64_t left, unsigned int *boff)
{
	*boff = pos & (ZPD_BLOCK_SIZE - 1);
	return (unsigned int)ZP_MIN((uint64_t)(ZPD_BLOCK_SIZE - *boff), left);
}

/* Clip [off, off + len) to the volume: the length that lies inside. */
static uint64_t clip(const struct zpd_volume *v, uint64_t off, uint64_t len)
{
	if (off >= v->size)
		return 0;
	return ZP_MIN(len, v->size - off);
}

ssize_t zpd_volume_read(struct zpd_volume *v, struct zpd_worker *w, void *buf,
			size_t len, uint64_t off)
{
	unsigned char *dst = buf;
	uint64_t n = clip(v, off, len), done = 0;

	stat_add(v, reads, 1);
	while (done < n) {
		uint64_t pos = off + done;
		unsigned int boff;
		unsigned int chunk = block_span(pos, n - done, &boff);
		int ret = read_block(v, w, pos >> ZPD_BLOCK_SHIFT, boff, chunk,
				     dst + done);

		if (ret) {
			stat_add(v, read_errors, 1);
			return ret;
		}
		done += chunk;
	}
	stat_add(v, bytes_read, done);
	return (ssize_t)done;
}

ssize_t zpd_volume_write(struct zpd_volume *v, struct zpd_worker *w,
			 const void *buf, size_t len, uint64_t off, int nid)
{
	const unsigned char *src = buf;
	uint64_t n = clip(v, off, len), done = 0;

	stat_add(v, writes, 1);
	if (len && !n)
		return -ENOSPC;
	while (done < n) {
		uint64_t pos = off + done;
		unsigned int boff;
		unsigned int chunk = block_span(pos, n - done, &boff);
		int ret = write_block(v, w, pos >> ZPD_BLOCK_SHIFT, boff, chunk,
				      src + done, nid);

		if (ret) {
			stat_add(v, write_errors, 1);
			stat_add(v, bytes_written, done);
			/* What was written stays written; say so if anything
			 * was, as write(2) does. */
			return done ? (ssize_t)done : ret;
		}
		done += chunk;
	}
	stat_add(v, bytes_written, done);
	return (ssize_t)done;
}

bool zpd_volume_write_early(struct zpd_volume *v, uint64_t off, size_t len,
			    int nid, struct zpd_early_write *ew)
{
	zp_handle_t raw;

	if (v->kind != ZPD_STORE_POOL || len != ZPD_BLOCK_SIZE ||
	    (off & (ZPD_BLOCK_SIZE - 1)) || off >= v->size)
		return false;
	/* A full pool has no room for the raw copy, and the block goes
	 * to disk anyway. */
	if (atomic_load_explicit(&v->store->full, memory_order_relaxed))
		return false;
	/* A home for the block as it is, whatever compressing it brings:
	 * once the writer has its reply, the data must not be lost. */
	if (zp_pool_malloc(v->store->pool, ZPD_BLOCK_SIZE, nid < 0 ? 0 : nid,
			   &raw))
		return false;
	ew->v = v;
	ew->blk = off >> ZPD_BLOCK_SHIFT;
	ew->raw = raw;
	ew->nid = nid;
	stat_add(v, writes, 1);
	pthread_mutex_lock(zpd_stripe(v, ew->blk));
	return true;
}

void zpd_volume_write_finish(struct zpd_early_write *ew, struct zpd_worker *w,
			     const void *src)
{
	struct zpd_volume *v = ew->v;
	struct zp_pool *pool = v->store->pool;
	struct zpd_entry e;

	if (make_entry(v, w, src, ew->nid, &e) == 0) {
		zp_pool_free(pool, ew->raw);
	} else {
		/* No memory for the compressed copy: keep the block raw. */
		zp_pool_write(pool, ew->raw, src, ZPD_BLOCK_SIZE);
		memset(&e, 0, sizeof(e));
		pool_entry(v->store, &e, ew->raw, ZPD_BLOCK_SIZE, COMP_TAG_RAW);
	}
	replace_unlock(v, ew->blk, &e);
	stat_add(v, bytes_written, ZPD_BLOCK_SIZE);
}

int zpd_volume_discard(struct zpd_volume *v, struct zpd_worker *w,
		       uint64_t off, uint64_t len, int nid)
{
	uint64_t n = clip(v, off, len), end = off + n, pos = off;

	stat_add(v, discards, 1);
	while (pos < end) {
		unsigned int boff;
		unsigned int chunk = block_span(pos, end - pos, &boff);

		if (chunk == ZPD_BLOCK_SIZE) {
			drop_block(v, pos >> ZPD_BLOCK_SHIFT);
		} else {
			int ret = write_block(v, w, pos >> ZPD_BLOCK_SHIFT,
					      boff, chunk, NULL, nid);
			if (ret)
				return ret;
		}
		pos += chunk;
	}
	return 0;
}

void zpd_volume_stats(const struct zpd_volume *v, struct zpd_volume_stats *out)
{
#define ZPD_STAT_LOAD(name, kind, desc)                                         \
	out->name = __atomic_load_n(&v->stats.name, __ATOMIC_RELAXED);
	ZPD_VOLUME_STAT_FIELDS(ZPD_STAT_LOAD)
#undef ZPD_STAT_LOAD
}

/* ---------------------------------------------------------------------------
 * Maintenance
 * ------------------------------------------------------------------------ */

/* Compact once the pool's pages hold this much more than its objects need:
 * an eighth of the pool, and at least a chunk's worth so that a small pool
 * is not compacted for a few pages. */
#define COMPACT_WASTE_SHIFT 3
#define COMPACT_WASTE_MIN (4ull << 20)

void zpd_store_compact_idle(struct zpd_store *store)
{
	struct zp_pool_stats st;
	uint64_t held, waste;

	zp_pool_stats(store->pool, &st);
	held = (uint64_t)st.pages * ZP_PAGE_SIZE;
	waste = held > st.bytes_used ? held - st.bytes_used : 0;
	if (waste > COMPACT_WASTE_MIN &&
	    waste > held >> COMPACT_WASTE_SHIFT)
		zp_pool_compact(store->pool, -1);
}

/* ---------------------------------------------------------------------------
 * The refill thread
 *
 * The FUSE workers never fault in fresh pool memory: a page fault that
 * finds the machine short of memory would wait on reclaim, and reclaim on
 * the swap-outs the workers serve. New zspages take the pool's cache of
 * resident pages (the reserve, per node), and this thread (zpoold-refill)
 * faults the cache back in as it empties; a worker that finds its node's
 * cache empty waits for it a little (the pool's refill_wait_ms) and then
 * tries the next node. The thread is no I/O flusher: its faults may reclaim
 * like anyone's, swap out through the workers, and, when nothing else
 * helps, wake the OOM killer, which leaves the daemon alone. The workers
 * take no page fault and make no call that takes the process's mmap_lock
 * for writing (mmap, munmap, mlock, brk), so a fault of this thread that
 * waits in reclaim, holding that lock for reading, holds up no swap-out:
 * trimming, which unmaps, runs here too. Compaction, which neither maps nor
 * unmaps in this mode, does not: it would hold up the refills.
 * ------------------------------------------------------------------------ */

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif
#ifndef PR_GET_IO_FLUSHER
#define PR_GET_IO_FLUSHER 58
#endif

static void *refill_main(void *arg)
{
	struct zpd_store *store = arg;

	zpd_thread_prefault();
	if (prctl(PR_GET_IO_FLUSHER, 0, 0, 0, 0) == 1 &&
	    prctl(PR_SET_IO_FLUSHER, 0, 0, 0, 0) != 0)
		zpd_log(LOG_WARNING,
			"the pool's refill thread stays an I/O flusher: %s",
			strerror(errno));
	uint64_t last = 0;

	while (!atomic_load(&store->refill_stop)) {
		uint64_t now;

		zp_pool_refill_wait(store->pool, 1000);
		if (atomic_load(&store->refill_stop))
			break;
		zp_pool_refill(store->pool);
		/* Pages freed by discards and compaction go back to the
		 * system even when no later allocation comes to notice they
		 * are idle. That unmaps, and is done here: the mmap_lock's
		 * writer is then this thread, whose faults cannot leave it
		 * queued in front of anyone. */
		now = zpd_now_ms();
		if (now - last >= 1000) {
			zp_pool_trim(store->pool);
			last = now;
		}
	}
	return NULL;
}

static int refill_start(struct zpd_store *store, char *err, size_t errlen)
{
	int ret = pthread_create(&store->refill_thread, NULL, refill_main,
				 store);

	if (ret) {
		snprintf(err, errlen, "cannot start the refill thread: %s",
			 strerror(ret));
		return -ret;
	}
	pthread_setname_np(store->refill_thread, "zpoold-refill");
	store->refill_running = true;
	return 0;
}

static void refill_stop(struct zpd_store *store)
{
	if (!store->refill_running)
		return;
	atomic_store(&store->refill_stop, true);
	zp_pool_refill_wake(store->pool);
	pthread_join(store->refill_thread, NULL);
	store->refill_running = false;
}

/* ---------------------------------------------------------------------------
 * Compressor setting
 * ------------------------------------------------------------------------ */

static uint32_t pack_spec(struct comp_spec spec)
{
	return (uint32_t)spec.backend << 16 | (uint16_t)(int16_t)spec.level;
}

struct comp_spec zpd_store_compressor(const struct zpd_store *store)
{
	uint32_t v = atomic_load_explicit(&store->compressor,
					  memory_order_relaxed);

	return (struct comp_spec){ .backend = (int)(v >> 16),
				   .level = (int16_t)(v & 0xffff) };
}

void zpd_store_set_compressor(struct zpd_store *store, struct comp_spec spec)
{
	zp_assert(comp_spec_valid(spec));
	atomic_store_explicit(&store->compressor, pack_spec(spec),
			      memory_order_relaxed);
}

/* ---------------------------------------------------------------------------
 * Workers
 * ------------------------------------------------------------------------ */

static void worker_free(struct zpd_worker *w)
{
	if (!w)
		return;
	comp_ctx_free(w->comp);
	free(w->buf);
	free(w->disk);
	free(w);
}

static struct zpd_worker *worker_new(struct zpd_store *store, size_t buf_size)
{
	struct zpd_worker *w;

	if (posix_memalign((void **)&w, ZP_CACHELINE, sizeof(*w)))
		return NULL;
	memset(w, 0, sizeof(*w));
	w->store = store;
	w->comp = comp_ctx_new((unsigned)zp_pool_huge_class_size(store->pool));
	w->buf_size = buf_size;
	if (posix_memalign((void **)&w->buf, ZPD_BLOCK_SIZE, buf_size))
		w->buf = NULL;
	if (posix_memalign((void **)&w->disk, SHR_SLOT_SIZE, SHR_SLOT_SIZE))
		w->disk = NULL;
	if (!w->comp || !w->buf || !w->disk) {
		worker_free(w);
		return NULL;
	}
	/* Touch the buffers now: their pages must not be faulted in on the
	 * I/O path, when memory may be short. */
	memset(w->buf, 0, buf_size);
	memset(w->disk, 0, SHR_SLOT_SIZE);
	return w;
}

/* A thread that had a worker exits: the worker goes back on the list. */
static void worker_put(void *p)
{
	struct zpd_worker *w = p;
	struct zpd_store *store = w->store;

	pthread_mutex_lock(&store->workers_lock);
	w->next = store->free_workers;
	store->free_workers = w;
	pthread_mutex_unlock(&store->workers_lock);
}

struct zpd_worker *zpd_worker_get(struct zpd_store *store)
{
	struct zpd_worker *w = pthread_getspecific(store->worker_key);

	if (w)
		return w;
	pthread_mutex_lock(&store->workers_lock);
	w = store->free_workers;
	if (w)
		store->free_workers = w->next;
	pthread_mutex_unlock(&store->workers_lock);
	if (w)
		pthread_setspecific(store->worker_key, w);
	return w;
}

/* ---------------------------------------------------------------------------
 * Volumes and the store
 * ------------------------------------------------------------------------ */

/* Volumes go away with the store, whose pool destroy frees every object at
 * once: walking the index here would fault in page tables for all of it. */
static void volume_free(struct zpd_volume *v)
{
	if (!v)
		return;
	if (v->index && v->index != MAP_FAILED)
		munmap(v->index, v->index_bytes);
	if (v->stripes) {
		for (unsigned int i = 0; i < ZPD_STRIPES; i++)
			pthread_mutex_destroy(&v->stripes[i]);
		free(v->stripes);
	}
	free(v);
}

static int volume_new(struct zpd_store *store,
		      const struct zpd_volume_conf *vc, unsigned int id,
		      struct zpd_volume **out, char *err, size_t errlen)
{
	struct zpd_volume *v = calloc(1, sizeof(*v));
	unsigned int i;

	if (!v)
		goto nomem;
	v->store = store;
	snprintf(v->name, sizeof(v->name), "%s", vc->name);
	v->size = vc->size;
	v->nr_blocks = vc->size >> ZPD_BLOCK_SHIFT;
	v->node = vc->node;
	v->kind = vc->store;
	v->id = id;
	/* Inode 1 is the mount point's root; the slot's generation tells
	 * this volume from the ones the slot held before. */
	v->ino = 2 + id + (uint64_t)store->generation[id] * ZPD_MAX_VOLUMES;
	v->index_bytes = ZP_ALIGN_UP(v->nr_blocks * sizeof(struct zpd_entry),
				     (uint64_t)ZPD_BLOCK_SIZE);
	v->index = mmap(NULL, v->index_bytes, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (v->index == MAP_FAILED) {
		snprintf(err, errlen,
			 "cannot reserve the block index of volume '%s' "
			 "(%zu bytes): %s",
			 vc->name, v->index_bytes, strerror(errno));
		volume_free(v);
		return -ENOMEM;
	}
	v->stripes = calloc(ZPD_STRIPES, sizeof(*v->stripes));
	if (!v->stripes)
		goto nomem_free;
	for (i = 0; i < ZPD_STRIPES; i++)
		pthread_mutex_init(&v->stripes[i], NULL);
	*out = v;
	return 0;

nomem_free:
	volume_free(v);
nomem:
	snprintf(err, errlen, "cannot set up volume '%s': %s", vc->name,
		 strerror(ENOMEM));
	return -ENOMEM;
}

static void store_cpu_nodes(struct zpd_store *store)
{
	unsigned int cpu;

	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		store->cpu_node[cpu] = zpd_cpu_node(cpu);
}

int zpd_store_create(const struct zpd_config *cfg, unsigned int nr_workers,
		     struct zpd_store **out, char *err, size_t errlen)
{
	struct zp_pool_config pc;
	struct zpd_store *store;
	unsigned int i;
	int ret;

	store = calloc(1, sizeof(*store));
	if (!store) {
		snprintf(err, errlen, "cannot set up the store: %s",
			 strerror(ENOMEM));
		return -ENOMEM;
	}
	pthread_mutex_init(&store->workers_lock, NULL);
	pthread_rwlock_init(&store->volumes_lock, NULL);
	ret = pthread_key_create(&store->worker_key, worker_put);
	if (ret) {
		snprintf(err, errlen, "cannot set up the store: %s",
			 strerror(ret));
		pthread_rwlock_destroy(&store->volumes_lock);
		pthread_mutex_destroy(&store->workers_lock);
		free(store);
		return -ret;
	}
	zpd_store_set_compressor(store, cfg->compressor);
	store->node_hint = cfg->node_hint;
	store->node_cache_ms = cfg->node_cache_ms;

	/* The library's defaults (refill_wait_ms among them) for what the
	 * configuration does not set. */
	zp_pool_config_init(&pc);
	pc.policy = cfg->policy;
	pc.max_zspage_pages = cfg->max_zspage_pages;
	pc.chunk_bytes = cfg->chunk_bytes;
	pc.release_delay_ms = cfg->release_delay_ms;
	pc.shards = cfg->shards;
	pc.cache_pages = (unsigned int)(cfg->reserve >> ZP_PAGE_SHIFT);
	pc.node_reserve_bytes = cfg->node_reserve;
	pc.refill_in_background = true;
	pc.node_ops = cfg->node_ops;
	pc.node_ctx = cfg->node_ctx;
	/* Whole-zspage victims need the blocks of a zspage's objects. */
	pc.owners = cfg->wb_file[0] && cfg->wb_victims == ZPD_VICTIMS_ZSPAGE;
	ret = zp_pool_create(&pc, &store->pool);
	if (ret) {
		snprintf(err, errlen, "cannot create the pool: %s",
			 strerror(-ret));
		goto fail;
	}
	store->nr_nodes = zp_pool_nr_nodes(store->pool);
	store_cpu_nodes(store);
	ret = refill_start(store, err, errlen);
	if (ret)
		goto fail;
	ret = zpd_wb_setup(store, cfg, err, errlen);
	if (ret)
		goto fail;

	for (i = 0; i < cfg->nr_volumes; i++) {
		ret = volume_new(store, &cfg->volumes[i], i,
				 &store->volumes[i], err, errlen);
		if (ret)
			goto fail;
		store->nr_volumes++;
	}
	for (i = 0; i < nr_workers; i++) {
		struct zpd_worker *w = worker_new(store, cfg->max_write);

		if (!w) {
			snprintf(err, errlen,
				 "cannot set up worker %u of %u: %s", i + 1,
				 nr_workers, strerror(ENOMEM));
			ret = -ENOMEM;
			goto fail;
		}
		w->next = store->free_workers;
		store->free_workers = w;
		w->all_next = store->all_workers;
		store->all_workers = w;
		store->nr_workers++;
	}
	*out = store;
	return 0;

fail:
	zpd_store_destroy(store);
	return ret;
}

void zpd_store_destroy(struct zpd_store *store)
{
	struct zpd_worker *w, *next;
	unsigned int i;

	if (!store)
		return;
	/* The shrinker walks the volumes: it goes first. */
	zpd_shrinker_stop(store);
	/* The calling thread's worker, if it took one, goes back first. */
	w = pthread_getspecific(store->worker_key);
	if (w) {
		pthread_setspecific(store->worker_key, NULL);
		worker_put(w);
	}
	for (w = store->free_workers; w; w = next) {
		next = w->next;
		worker_free(w);
	}
	for (i = 0; i < ZPD_MAX_VOLUMES; i++)
		volume_free(store->volumes[i]);
	zpd_wb_teardown(store);
	refill_stop(store);
	zp_pool_destroy(store->pool);
	pthread_key_delete(store->worker_key);
	pthread_rwlock_destroy(&store->volumes_lock);
	pthread_mutex_destroy(&store->workers_lock);
	free(store);
}

/* Any volume of that name, one being removed included. */
static struct zpd_volume *volume_named(struct zpd_store *store,
				       const char *name)
{
	for (unsigned int i = 0; i < ZPD_MAX_VOLUMES; i++)
		if (store->volumes[i] && !strcmp(store->volumes[i]->name, name))
			return store->volumes[i];
	return NULL;
}

struct zpd_volume *zpd_store_volume(struct zpd_store *store, const char *name)
{
	struct zpd_volume *v = volume_named(store, name);

	return v && !v->removing ? v : NULL;
}

int zpd_store_add_volume(struct zpd_store *store,
			 const struct zpd_volume_conf *vc,
			 struct zpd_volume **out, char *err, size_t errlen)
{
	unsigned int id;
	int ret = 0;

	pthread_rwlock_wrlock(&store->volumes_lock);
	if (volume_named(store, vc->name)) {
		snprintf(err, errlen, "a volume named '%s' exists already%s",
			 vc->name,
			 zpd_store_volume(store, vc->name)
				 ? ""
				 : " (it is being removed)");
		ret = -EEXIST;
		goto out;
	}
	for (id = 0; id < ZPD_MAX_VOLUMES && store->volumes[id]; id++)
		;
	if (id == ZPD_MAX_VOLUMES) {
		snprintf(err, errlen, "cannot add volume '%s': there are %d "
				      "volumes, the most there may be",
			 vc->name, ZPD_MAX_VOLUMES);
		ret = -ENOSPC;
		goto out;
	}
	ret = volume_new(store, vc, id, &store->volumes[id], err, errlen);
	if (ret)
		goto out;
	store->nr_volumes++;
	*out = store->volumes[id];
out:
	pthread_rwlock_unlock(&store->volumes_lock);
	return ret;
}

/* Index pages looked at per mincore() call. */
#define DROP_CHUNK_PAGES 256u

/*
 * Only index pages that were ever touched can hold blocks: mincore()
 * tells them (the daemon's memory is locked, so a touched page stays
 * resident), and a large volume with few blocks costs what it holds, not
 * its size.
 */
void zpd_volume_drop_all(struct zpd_volume *v)
{
	const uint64_t per_page = ZPD_BLOCK_SIZE / sizeof(struct zpd_entry);
	uint64_t pages = v->index_bytes / ZPD_BLOCK_SIZE, p, i, blk;
	unsigned char vec[DROP_CHUNK_PAGES];

	for (p = 0; p < pages; p += DROP_CHUNK_PAGES) {
		uint64_t n = ZP_MIN(pages - p, (uint64_t)DROP_CHUNK_PAGES);

		/* Without the answer, look at every block of the chunk. */
		if (mincore((char *)v->index + p * ZPD_BLOCK_SIZE,
			    n * ZPD_BLOCK_SIZE, vec))
			memset(vec, 1, sizeof(vec));
		for (i = 0; i < n; i++) {
			if (!(vec[i] & 1))
				continue;
			for (blk = (p + i) * per_page;
			     blk < ZP_MIN((p + i + 1) * per_page, v->nr_blocks);
			     blk++)
				drop_block(v, blk);
		}
	}
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

int zpd_volume_lock_index(struct zpd_volume *v, char *err, size_t errlen)
{
	if (madvise(v->index, v->index_bytes, MADV_POPULATE_WRITE) == 0)
		return 0;
	snprintf(err, errlen,
		 "cannot make the block index of volume '%s' resident "
		 "(%.1f MiB): %s",
		 v->name, v->index_bytes / 1048576.0, strerror(errno));
	return -errno;
}

int zpd_store_remove_volume(struct zpd_store *store, const char *name,
			    char *err, size_t errlen)
{
	struct zpd_volume *v;
	unsigned int users;

	pthread_rwlock_wrlock(&store->volumes_lock);
	v = zpd_store_volume(store, name);
	if (!v) {
		pthread_rwlock_unlock(&store->volumes_lock);
		snprintf(err, errlen, "no volume named '%s'", name);
		return -ENOENT;
	}
	users = atomic_load(&v->users);
	if (users) {
		pthread_rwlock_unlock(&store->volumes_lock);
		snprintf(err, errlen,
			 "volume '%s' is in use (open %u time%s)", name, users,
			 users == 1 ? "" : "s");
		return -EBUSY;
	}
	/* From here on nobody finds it, so nobody opens it. */
	v->removing = true;
	pthread_rwlock_unlock(&store->volumes_lock);

	/* Its blocks go: pool objects, disk slots, LRU entries. */
	zpd_volume_drop_all(v);
	/* A writeback batch may have taken some of them before: the
	 * shrinker finishes its batches under its lock, and with no block
	 * left on a list it takes none of this volume's again. */
	zpd_wb_quiesce(store);
	pthread_rwlock_wrlock(&store->volumes_lock);
	store->volumes[v->id] = NULL;
	store->generation[v->id]++;
	store->nr_volumes--;
	pthread_rwlock_unlock(&store->volumes_lock);
	volume_free(v);
	return 0;
}
