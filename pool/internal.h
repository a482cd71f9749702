/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * internal.h - the pool's internal structures, grouped by the file that
 * defines their functions.
 *
 * The objects and their handles:
 *
 *   handle (64 bits)  = class instance << 32 | handle index (1-based, in it)
 *                       (an instance is one shard of a size class)
 *   handle entry      = the class's handle table slot for that index:
 *                       zspage id | slot | size - 1 | allocated tag
 *   zspage descriptor = the class's zspage table slot for that id: where the
 *                       zspage's pages are, its free list and, per object
 *                       slot, the handle index that owns it (the reverse map
 *                       compaction needs to find the handle of an object)
 *
 * Objects carry no header: all metadata lives outside the zspages, so a
 * zspage holds nothing but data and the tables stay small (12 bytes and a
 * share of a descriptor per object).
 *
 * lock ordering:
 *   pool->compact_lock      (one compaction at a time)
 *     class->migrate        (rwlock: readers pin objects, compaction writes)
 *       class->lock         (zspages, fullness lists, tables, counters)
 * and, with no class lock held:
 *   stash->lock             (a shard's stash of zspage pages; alone)
 *   node->lock              (chunks, page bitmaps, the node's cache)
 *     stash->lock           (validation only)
 *     sim->lock             (simulated topology, inside the node layer)
 * A thread holds at most one class lock at a time; malloc takes another
 * shard's only with trylock, after dropping its own.
 */
#ifndef ZP_POOL_INTERNAL_H
#define ZP_POOL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "pool.h"
#include "zp-assert.h"
#include "zp-compiler.h"
#include "zp-list.h"

/*
 * Class and node locks guard critical sections of a few dozen instructions:
 * a waiter spins a little before it sleeps, instead of paying a futex round
 * trip for a lock that is about to be free.
 */
/* A condition variable timed by CLOCK_MONOTONIC (zp_deadline()). */
static inline void zp_cond_init(pthread_cond_t *c)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(c, &attr);
	pthread_condattr_destroy(&attr);
}

/* ms from now on CLOCK_MONOTONIC, for zp_cond_init()'s variables. */
static inline void zp_deadline(struct timespec *ts, unsigned int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static inline void zp_mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t attr;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(m, &attr);
	pthread_mutexattr_destroy(&attr);
}

/* Milliseconds on a clock that is cheap to read (vDSO, coarse). */
static inline uint64_t zp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------ */
/* prim.c - the only file that talks to the kernel about memory              */
/* ------------------------------------------------------------------------ */

/* Map len bytes of anonymous memory that the kernel locks as it is faulted
 * in and never backs with transparent huge pages (pages are returned one by
 * one). Returns 0 or -errno. */
int prim_map(size_t len, void **addr);
/* Zeroed, locked memory for the pool's own structures, whole pages; NULL
 * when it cannot be had. */
void *prim_meta_alloc(size_t len);
void prim_meta_free(void *p, size_t len);
/* Map len bytes without locking them: a reservation whose pages are locked
 * with prim_lock() before they are first touched. 0 or -errno. */
int prim_reserve(size_t len, void **addr);
/* Fault in and lock a range. 0 or -errno. */
int prim_lock(void *addr, size_t len);
void prim_unmap(void *addr, size_t len);
/* Fault in (and so lock) every page of the range. 0 or -ENOMEM. */
int prim_populate(void *addr, size_t len);
/* Give the range's pages back to the system; the range stays mapped and
 * locked-on-fault, so memory faulted in again later is locked too. */
void prim_release(void *addr, size_t len);
/* Bind a mapped, untouched range to a node. 0 or -errno. */
int prim_bind(void *addr, size_t len, int node, bool strict);
/* The node each page lives on (move_pages); 0 or -errno. */
int prim_query_nodes(void *const *pages, size_t n, int *status);

/* ------------------------------------------------------------------------ */
/* table.c - arrays of fixed-size entries with stable addresses             */
/* ------------------------------------------------------------------------ */

/*
 * A table hands out entries by 1-based index, lowest index first, so that the
 * segments at the top empty out and go back to the system. Entries never
 * move: a reader holding a live index may use its entry without the lock.
 * All other calls need the owner's lock (class->lock).
 */
struct zp_tseg {
	char *mem;          /* NULL: not mapped */
	struct zp_chunk *chunk; /* t->background: the pages' chunk */
	uint32_t used;      /* entries handed out */
	uint32_t free_head; /* first free entry, local index + 1; 0: none */
};

#define ZP_TABLE_SPARES 2

struct zp_table {
	uint32_t esize;       /* bytes per entry, a multiple of 8 */
	uint32_t seg_shift;   /* log2 of entries per segment */
	uint32_t nr_segs_max;
	uint32_t lowest_room; /* no segment below this one has a free entry */
	uint32_t nr_segs_seen; /* segments below this were mapped once */
	uint32_t dir_locked;  /* directory entries below this are locked */
	uint32_t nr_mapped;   /* segments mapped now */
	uint32_t nr_empty;    /* mapped segments with no entry in use */
	uint32_t empty_low;   /* fewest empty segments this interval */
	uint32_t delay_ms;    /* keep empty segments this long */
	uint64_t interval_start; /* ms */
	uint64_t in_use;      /* entries handed out */
	struct zp_tseg *segs; /* nr_segs_max, mapped on demand */
	struct zp_pool *pool; /* asked whether memory may grow; NULL: always */
	/* cfg.refill_in_background: segments mapped and faulted in ahead by
	 * table_refill(), which also locks the directory ahead, so that
	 * allocation makes no system call; and empty segments are kept
	 * (as spares, or mapped) until table_trim(). */
	bool background;
	uint32_t nr_spare;
	void *spare[ZP_TABLE_SPARES];
};

/* Segments are one page, or the power of two that holds one entry: every
 * class in use costs a segment of each table, and the one empty segment a
 * table keeps for churn at a boundary should cost little. */
#define ZP_TABLE_SEG_BYTES ZP_PAGE_SIZE
/* Directory length: 2^18 segments bound a class at 128 M handles. The
 * directory is a reservation locked page by page as it is used. */
#define ZP_TABLE_MAX_SEGS (1u << 18)

int table_init(struct zp_table *t, struct zp_pool *pool, size_t esize,
	       unsigned int delay_ms);
/* Unmap every empty segment but the lowest now. */
void table_trim(struct zp_table *t);
/* Map and fault in spare segments, and lock the directory ahead, for a
 * table of a pool with cfg.refill_in_background; lock is the owner's, held
 * only around the table's fields. 0 or -ENOMEM. */
int table_refill(struct zp_table *t, pthread_mutex_t *lock);
void table_destroy(struct zp_table *t);
/* 0 and the index, or -ENOMEM. -EAGAIN: a table of a pool with
 * cfg.refill_in_background ran out of the room made ahead; the refill
 * thread is asked for more, to be waited for without the owner's lock
 * (pool_wait_pass()). The entry's first 8 bytes are undefined. */
int table_alloc(struct zp_table *t, uint32_t *idx);
void table_free(struct zp_table *t, uint32_t idx);
/* Resident bytes of the table: mapped segments and the touched directory. */
size_t table_resident_bytes(const struct zp_table *t);
int table_for_each_mapping(const struct zp_table *t,
			   int (*fn)(void *addr, size_t len, void *arg),
			   void *arg);

static inline void *table_entry(const struct zp_table *t, uint32_t idx)
{
	uint32_t i = idx - 1;
	const struct zp_tseg *seg;

	zp_assert(idx != 0 && (i >> t->seg_shift) < t->nr_segs_max);
	seg = &t->segs[i >> t->seg_shift];
	zp_assert(seg->mem != NULL);
	return seg->mem + (size_t)(i & ((1u << t->seg_shift) - 1)) * t->esize;
}

/* ------------------------------------------------------------------------ */
/* class.c - size classes                                                   */
/* ------------------------------------------------------------------------ */

/* Per class and node: the zspages of the class on that node. */
struct zp_class_node {
	struct zp_list lists[ZP_NR_FULLNESS]; /* by fullness group */
	uint32_t nonempty;   /* bit g set: lists[g] is not empty */
	uint64_t objs_used;  /* live objects */
	uint64_t objs_alloc; /* slots in live zspages */
	uint64_t zspages;
} zp_cacheline_aligned; /* shards of a class sit side by side */

struct zp_class {
	pthread_mutex_t lock;
	pthread_rwlock_t migrate;

	/* Constant after creation. */
	uint32_t size;             /* slot size in bytes */
	uint32_t min_size;         /* smallest object size served */
	uint16_t objs_per_zspage;
	uint8_t pages_per_zspage;
	bool huge;
	uint16_t id;               /* index in pool->classes, in handles */
	uint16_t class_id;         /* distinct size class */
	uint16_t shard;

	/* Bit n: the class's zspages on node n have a zspage's worth of free
	 * slots or more (compaction would free one). Written under lock, read
	 * without it as a hint by mallocs of other shards. */
	atomic_uint_fast64_t roomy_nodes;

	/* protected by lock */
	struct zp_table handles;   /* 8-byte handle entries, each followed
				    * by its owner's word with cfg.owners */
	struct zp_table zspages;   /* zspage descriptors */
	struct zp_class_node *cn;  /* pool->nr_nodes */
	uint64_t bytes_requested;  /* sum of live object sizes */
	uint64_t malloc_calls;
	uint64_t free_calls;
	uint64_t zspages_created;
	uint64_t zspages_freed;
	uint64_t pages_compacted;
	uint64_t objects_moved;
} zp_cacheline_aligned;

/* Pages of the zspage chain that wastes the least for this size. */
unsigned int class_chain_pages(unsigned int size, unsigned int max_pages);
/* Build the merged classes of a pool. 0 or -errno. */
int classes_init(struct zp_pool *pool);
void classes_destroy(struct zp_pool *pool);

/* ------------------------------------------------------------------------ */
/* zspage.c - zspages, their object slots and fullness groups               */
/* ------------------------------------------------------------------------ */

struct zp_chunk;

/* A reverse-map value: slot free, with the next free slot + 1 below. */
#define ZSP_FREE_BIT 0x80000000u

struct zp_zspage {
	char *base;             /* first byte of the zspage's pages */
	struct zp_chunk *chunk; /* where the pages came from */
	struct zp_list link;    /* in class->cn[node].lists[group] */
	uint32_t id;            /* index in class->zspages */
	uint16_t inuse;         /* live objects */
	uint16_t free_head;     /* first free slot + 1; 0: full */
	uint8_t group;          /* enum zp_fullness */
	uint8_t node;
	/* per slot: owning handle index, or ZSP_FREE_BIT | next free + 1 */
	uint32_t rmap[];
};

/* Handle entry layout, see the top of this file. */
#define HE_ALLOCATED 1ull
#define HE_SIZE_SHIFT 1
#define HE_SIZE_BITS 12 /* size - 1: 0..4095 */
#define HE_SLOT_SHIFT (HE_SIZE_SHIFT + HE_SIZE_BITS)
#define HE_SLOT_BITS 12 /* at most 16 pages of 32-byte slots: 2048 */
#define HE_ZSPAGE_SHIFT (HE_SLOT_SHIFT + HE_SLOT_BITS)

static inline uint64_t he_encode(uint32_t zspage_id, uint32_t slot,
				 uint32_t size)
{
	return (uint64_t)zspage_id << HE_ZSPAGE_SHIFT |
	       (uint64_t)slot << HE_SLOT_SHIFT |
	       (uint64_t)(size - 1) << HE_SIZE_SHIFT | HE_ALLOCATED;
}
static inline uint32_t he_zspage(uint64_t he)
{
	return (uint32_t)(he >> HE_ZSPAGE_SHIFT);
}
static inline uint32_t he_slot(uint64_t he)
{
	return (uint32_t)(he >> HE_SLOT_SHIFT) & ((1u << HE_SLOT_BITS) - 1);
}
static inline uint32_t he_size(uint64_t he)
{
	return ((uint32_t)(he >> HE_SIZE_SHIFT) & ((1u << HE_SIZE_BITS) - 1)) +
	       1;
}

#define HANDLE_CLASS_SHIFT 32

static inline unsigned int handle_class(zp_handle_t h)
{
	return (unsigned int)(h >> HANDLE_CLASS_SHIFT);
}
static inline uint32_t handle_index(zp_handle_t h)
{
	return (uint32_t)h;
}

static inline struct zp_zspage *zspage_get(const struct zp_class *class,
					   uint32_t id)
{
	return table_entry(&class->zspages, id);
}

static inline char *zspage_obj(const struct zp_class *class,
			       const struct zp_zspage *zsp, uint32_t slot)
{
	return zsp->base + (size_t)slot * class->size;
}

static inline enum zp_fullness fullness_of(const struct zp_class *class,
					   unsigned int inuse)
{
	if (inuse == 0)
		return ZP_FULLNESS_EMPTY;
	if (inuse == class->objs_per_zspage)
		return ZP_FULLNESS_FULL;
	return (enum zp_fullness)(ZP_FULLNESS_0 +
				  inuse * 10 / class->objs_per_zspage);
}

/* Bits of the partly used groups in zp_class_node.nonempty. */
#define PARTIAL_GROUPS_MASK                                                      \
	(((1u << ZP_FULLNESS_FULL) - 1) & ~(1u << ZP_FULLNESS_EMPTY))

/* Caller holds class->lock for all of these. */
int zspage_create(struct zp_class *class, int node, struct zp_chunk *chunk,
		  char *base, struct zp_zspage **out);
void zspage_destroy(struct zp_class *class, struct zp_zspage *zsp);
void zspage_insert(struct zp_class *class, struct zp_zspage *zsp);
void zspage_remove(struct zp_class *class, struct zp_zspage *zsp);
/* Move the zspage to the group its use says; it must be on a list. */
void zspage_fix_fullness(struct zp_class *class, struct zp_zspage *zsp);
/* Fullest (or, least full) partly used zspage of the class on a node. */
struct zp_zspage *zspage_fullest(struct zp_class *class, int node);
struct zp_zspage *zspage_least_full(struct zp_class *class, int node);
uint32_t zspage_obj_alloc(struct zp_class *class, struct zp_zspage *zsp,
			  uint32_t handle_idx);
void zspage_obj_free(struct zp_class *class, struct zp_zspage *zsp,
		     uint32_t slot);

/*
 * A zspage on its way out: its pages go back to the node once the class
 * lock is dropped. zspage_retire() (class->lock held, the zspage off its
 * list and empty) destroys it; zspage_release() (no class lock) returns the
 * pages. Between the two the zspage is in transition.
 */
struct zp_dead_zspage {
	struct zp_chunk *chunk; /* NULL: nothing to release */
	char *base;
};
void zspage_retire(struct zp_pool *pool, struct zp_class *class,
		   struct zp_zspage *zsp, struct zp_dead_zspage *dead);
void zspage_release(struct zp_pool *pool, struct zp_class *class,
		    struct zp_dead_zspage *dead);

/* validate.c: check one live zspage against its class (aborts if wrong).
 * Caller holds class->lock. */
void zspage_validate(struct zp_class *class, struct zp_zspage *zsp);
#if ZP_DEBUG >= 3
#define zspage_check(class, zsp) zspage_validate(class, zsp)
#else
#define zspage_check(class, zsp) ((void)0)
#endif

/* ------------------------------------------------------------------------ */
/* node.c - pages from chunks, per node                                     */
/* ------------------------------------------------------------------------ */

struct zp_chunk {
	struct zp_list link; /* in node->chunks */
	uint32_t idx;        /* in node->chunk_table */
	char *base;
	uint32_t nr_pages;
	uint32_t used_pages;   /* in zspages or being returned */
	uint32_t cached_pages; /* free but resident */
	int node;
	uint64_t bits[];       /* used bitmap, then resident bitmap */
};

/* Runs of pages a shard keeps per zspage length, in front of node->lock. */
#define ZP_STASH_RUNS 4

struct zp_stashed {
	struct zp_chunk *chunk;
	char *base;
};

struct zp_stash {
	pthread_mutex_t lock;
	uint32_t nr[ZP_MAX_ZSPAGE_PAGES + 1];       /* protected by lock */
	struct zp_stashed runs[ZP_MAX_ZSPAGE_PAGES + 1][ZP_STASH_RUNS];
	uint64_t pages;                             /* protected by lock */
	/* New zspages this shard placed on the node (for it or as fallback);
	 * atomic only so that statistics may read them. */
	atomic_uint_fast64_t preferred_zspages;
	atomic_uint_fast64_t fallback_zspages;
} zp_cacheline_aligned;

struct zp_node {
	pthread_mutex_t lock;
	int id;
	int nr_fallback;
	int fallback[ZP_MAX_NODES]; /* other nodes, nearest first */
	/* protected by lock */
	struct zp_list chunks;      /* oldest first: allocation packs them */
	struct zp_table chunk_table; /* chunk headers */
	uint64_t nr_chunks;
	uint64_t cached_pages;      /* in the bitmaps; stashes hold more */
	uint64_t releasing;         /* pages being returned, still marked used */
	uint64_t cache_low;         /* fewest cached pages this interval */
	uint64_t interval_start;    /* ms, CLOCK_MONOTONIC_COARSE */
	uint64_t pages_released;
	uint64_t charge_fail;
	uint64_t low_refusals;
	uint64_t refilled_pages;
	uint64_t filling;           /* pages being faulted in, marked used */
	uint64_t meta_pages;        /* lent to tables (node_alloc_meta) */
	uint64_t refill_waits;
	uint64_t refill_timeouts;
	uint64_t refills_ended;     /* node_refill() calls that ended */
	/* The lowest level an allocation waiting for a refill asked for
	 * (ZP_NR_ROOM_LEVELS: none waits), and the waiters' wake-up. */
	unsigned int refill_level;
	pthread_cond_t refilled;
	struct zp_stash *stashes;   /* pool->nr_shards */
	/* Counted on both paths, so atomic. */
	atomic_uint_fast64_t pages; /* in zspages */
	atomic_uint_fast64_t pages_max;
	atomic_uint_fast64_t low_zspages;
	atomic_uint_fast64_t next_check; /* ms: when cached pages may be due */
} zp_cacheline_aligned;

int nodes_init(struct zp_pool *pool);
void nodes_destroy(struct zp_pool *pool);
/* Pages for one zspage on node; preferred: the node is the one the request
 * asked for (counted apart from fallbacks); fresh pages only while the node
 * has room at level. No class lock may be held: this may map and fault in
 * memory. 0 or -ENOMEM (the node has no room). */
int node_alloc_pages(struct zp_pool *pool, int node, unsigned int npages,
		     bool preferred, enum zp_room_level level, unsigned int shard,
		     struct zp_chunk **chunk, char **base);
/* cfg.refill_in_background: npages of the node's cache for a table's
 * segment (not counted as zspage pages), and back. Called under a class
 * lock, so it never waits for the refill thread (which takes class locks):
 * 0, -EAGAIN when the cache lacks the pages but a refill may bring them
 * (the refill thread is asked), or -ENOMEM. */
int node_alloc_meta(struct zp_pool *pool, int nid, unsigned int npages,
		    struct zp_chunk **chunk, char **base);
void node_free_meta(struct zp_pool *pool, struct zp_chunk *c, char *base,
		    unsigned int npages);
/* Whether a refill of the node that made no progress for a while is only
 * slow (the refill thread starved of CPU time) rather than stuck in reclaim:
 * the node still has room above its low watermark, where faults do not
 * reclaim, and the wait (waited_ms so far) is short of REFILL_WAIT_SLOW
 * times cfg.refill_wait_ms. Waits go on while it is. */
#define REFILL_WAIT_SLOW 10
bool node_refill_starved(struct zp_pool *pool, int nid, uint64_t waited_ms);
/* Fault the nodes' caches back up to their floor where there is room;
 * pages added. */
uint64_t nodes_refill(struct zp_pool *pool);
/* Give a dead zspage's pages back to the node's cache, and return to the
 * system what the cache has held unused for too long. */
void node_free_pages(struct zp_pool *pool, struct zp_chunk *chunk,
		     char *base, unsigned int npages, unsigned int shard);
/* Pages held in the node's stashes. */
uint64_t node_stashed_pages(struct zp_pool *pool, struct zp_node *node);
/* New zspages placed on the node for a request that preferred it, or (not
 * preferred) as a fallback, summed over the shards. */
uint64_t node_placed(struct zp_pool *pool, struct zp_node *node,
		     bool preferred);
/* Return every cached page above the floor now; pages released. */
uint64_t nodes_trim(struct zp_pool *pool);
int nodes_for_each_mapping(struct zp_pool *pool,
			   int (*fn)(void *addr, size_t len, void *arg),
			   void *arg);

/* ------------------------------------------------------------------------ */
/* pool.c                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * A zspage is "in transition" between taking its pages and appearing in its
 * class, and between leaving its class and returning its pages; validation
 * compares class and node page counts only when none is. Counted per shard,
 * so that shards share no cache line on this path.
 */
struct zp_shard {
	atomic_uint_fast64_t transitions;   /* begun so far */
	atomic_uint_fast64_t in_transition; /* begun and not ended */
} zp_cacheline_aligned;

struct zp_pool {
	struct zp_pool_config cfg;
	const struct zp_node_ops *ops;
	void *ctx;
	int nr_nodes;

	/*
	 * Each distinct size class exists once per shard, so that threads on
	 * different CPUs allocate under different locks from different cache
	 * lines. classes[] holds class_id * nr_shards + shard.
	 */
	unsigned int nr_classes;            /* distinct size classes */
	unsigned int nr_shards;
	unsigned int nr_instances;          /* initialized */
	unsigned int nr_all_instances;      /* allocated */
	struct zp_class *classes;           /* ascending size, then shard */
	struct zp_class_node *class_nodes;  /* nr_all_instances * nr_nodes */
	uint8_t size_class[ZP_NR_SIZES];    /* size index -> class id */
	uint32_t huge_class_size;

	struct zp_node *nodes;
	int nr_nodes_ready;                 /* nodes initialized */

	atomic_uint interleave_next;
	atomic_uint_fast64_t pages;         /* pages in zspages */
	atomic_uint_fast64_t pages_max;
	struct zp_shard *shards;            /* nr_shards */
	atomic_uint_fast64_t malloc_fail;

	pthread_mutex_t compact_lock;
	uint64_t compact_runs;              /* protected by compact_lock */

	/* cfg.refill_in_background: the refill thread's wake-up. */
	pthread_mutex_t refill_lock;
	pthread_cond_t refill_cond;
	bool refill_wanted;                 /* protected by refill_lock */
	atomic_bool refill_signalled;       /* refill_wanted, read unlocked */
	/* Passes of zp_pool_refill() ended, and the refill_done broadcast at
	 * the end of each; refill_progress counts pages faulted in and
	 * directory pages locked by it, as they come. */
	uint64_t refill_passes;             /* protected by refill_lock */
	pthread_cond_t refill_done;
	atomic_uint_fast64_t refill_progress;
	/* Allocations that found a table with no room made ahead, waited for a
	 * pass of the refill thread without the class lock and tried again. */
	atomic_uint_fast64_t table_waits;
};

/* Tell the refill thread a node's cache runs low (any thread, any lock). */
void pool_want_refill(struct zp_pool *pool);
/* Ask for a pass of zp_pool_refill() and wait, holding no pool lock, until
 * one ends; 0, or -ENOMEM when it made no progress for cfg.refill_wait_ms. */
int pool_wait_pass(struct zp_pool *pool);

/* The policy of new zspages: it changes at run time (zp_pool_set_policy()),
 * read without a lock. */

/* The calling thread's node, as the node layer says, or 0 when it names
 * none the pool has. */
static inline int pool_current_node(struct zp_pool *pool)
{
	int nid = pool->ops->current_node(pool->ctx);

	return nid < 0 || nid >= pool->nr_nodes ? 0 : nid;
}

static inline enum zp_numa_policy pool_policy(struct zp_pool *pool)
{
	return __atomic_load_n(&pool->cfg.policy, __ATOMIC_RELAXED);
}

/* Account npages entering (positive) or leaving zspages. */
void pool_account_pages(struct zp_pool *pool, int64_t npages);

/* Add delta to a gauge and raise its high-water mark. */
static inline void gauge_add(atomic_uint_fast64_t *value,
			     atomic_uint_fast64_t *max, int64_t delta)
{
	uint64_t now = atomic_fetch_add(value, (uint64_t)delta) + (uint64_t)delta;
	uint64_t old = atomic_load(max);

	while (delta > 0 && now > old &&
	       !atomic_compare_exchange_weak(max, &old, now))
		;
}

/* A gauge's high-water mark as a reader should see it: the mark follows the
 * value a moment later. */
static inline uint64_t gauge_max(atomic_uint_fast64_t *value,
				 atomic_uint_fast64_t *max)
{
	uint64_t v = atomic_load(value), m = atomic_load(max);

	return ZP_MAX(v, m);
}

/* In this order: whoever sees the new transitions count also sees the
 * transition in progress. */
static inline void transition_begin(struct zp_pool *pool, unsigned int shard)
{
	atomic_fetch_add(&pool->shards[shard].in_transition, 1);
	atomic_fetch_add(&pool->shards[shard].transitions, 1);
}

static inline void transition_end(struct zp_pool *pool, unsigned int shard)
{
	atomic_fetch_sub(&pool->shards[shard].in_transition, 1);
}

static inline struct zp_class *handle_to_class(struct zp_pool *pool,
					       zp_handle_t h)
{
	unsigned int id = handle_class(h);

	zp_assert(h != 0 && id < pool->nr_instances);
	return &pool->classes[id];
}

static inline struct zp_class *pool_class(struct zp_pool *pool,
					  unsigned int class_id,
					  unsigned int shard)
{
	return &pool->classes[class_id * pool->nr_shards + shard];
}

static inline uint64_t *handle_entry(struct zp_class *class, zp_handle_t h)
{
	return table_entry(&class->handles, handle_index(h));
}

#endif /* ZP_POOL_INTERNAL_H */
