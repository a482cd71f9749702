/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pool.h - the zpoold memory pool: a zsmalloc-style allocator for compressed
 * objects of 1 byte to 4 KiB, with NUMA node preference.
 *
 * Objects live in size classes (16-byte steps from 32 B to 4 KiB, merged where
 * two sizes would pack identically). A class carves its objects out of
 * zspages: runs of 1..16 contiguous pages, so objects may cross page
 * boundaries. Each class takes the chain that wastes the least, counting
 * the tail its objects leave unused and, per page of chain, 1/128 of the
 * zspage for the half-empty zspage each class keeps (class.c). An object is reached through an
 * indirect handle, which lets compaction move it without the owner noticing.
 *
 * Memory comes from the operating system in large chunks per NUMA node, is
 * locked (never swappable) and is handed back page by page when zspages die.
 *
 * Every function here is safe to call from several threads at once unless it
 * says otherwise. A thread may hold at most one object between
 * zp_pool_read_begin() and zp_pool_read_end() at a time.
 */
#ifndef ZP_POOL_H
#define ZP_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The pool works in 4 KiB pages whatever the machine's page size says. */
#define ZP_PAGE_SHIFT 12
#define ZP_PAGE_SIZE (1u << ZP_PAGE_SHIFT)

/* Smallest class: a free slot must hold a free-list link, and below 32 B the
 * per-object metadata outweighs the data (zsmalloc's ZS_MIN_ALLOC_SIZE). */
#define ZP_MIN_ALLOC 32u
#define ZP_MAX_ALLOC ZP_PAGE_SIZE
/* PAGE_SIZE >> 8: 255 class sizes, fine enough that rounding wastes under 1%
 * of an average compressed page (zsmalloc's ZS_SIZE_CLASS_DELTA). */
#define ZP_CLASS_DELTA 16u
#define ZP_NR_SIZES ((ZP_MAX_ALLOC - ZP_MIN_ALLOC) / ZP_CLASS_DELTA + 1)

/* Longest zspage. 16 is zsmalloc's upper bound: beyond it the last partly
 * filled zspage of each class costs more than the tail waste it saves. */
#define ZP_MAX_ZSPAGE_PAGES 16u
#define ZP_DEFAULT_ZSPAGE_PAGES 8u
#define ZP_MIN_ZSPAGE_PAGES 1u

/* Fullness groups: empty, then 10% steps of used objects, then full. */
enum zp_fullness {
	ZP_FULLNESS_EMPTY,
	ZP_FULLNESS_0,  /* 1 object .. under 10% */
	ZP_FULLNESS_10,
	ZP_FULLNESS_20,
	ZP_FULLNESS_30,
	ZP_FULLNESS_40,
	ZP_FULLNESS_50,
	ZP_FULLNESS_60,
	ZP_FULLNESS_70,
	ZP_FULLNESS_80,
	ZP_FULLNESS_90, /* 90% .. one object short of full */
	ZP_FULLNESS_FULL,
	ZP_NR_FULLNESS
};

/* Upper bound on shards: beyond it more shards only cost metadata. */
#define ZP_MAX_SHARDS 16

/* Upper bound on node ids the pool accepts (libnuma's usual maximum). */
#define ZP_MAX_NODES 64

/* A handle names one object for its whole life. 0 is never a valid handle. */
typedef uint64_t zp_handle_t;

/* Where new zspages come from. */
enum zp_numa_policy {
	/* Reuse a partly free zspage on the preferred node, then one on any node,
	 * then a new zspage on the preferred node, then other nodes by distance
	 * (the kernel's zs_malloc(..., nid) semantics). */
	ZP_NUMA_PREFERRED,
	/* Each node is its own partition: never place or reuse across nodes. */
	ZP_NUMA_STRICT,
	/* Ignore the caller's node; use the calling thread's current node, then
	 * behave as preferred. */
	ZP_NUMA_LOCAL,
	/* Reuse partly free zspages anywhere; spread new zspages round-robin. */
	ZP_NUMA_INTERLEAVE,
	ZP_NUMA_NR_POLICIES
};

/**
 * zp_numa_policy_name() - the policy's configuration name ("preferred", ...).
 * Returns NULL for a value out of range.
 */
const char *zp_numa_policy_name(enum zp_numa_policy policy);

/**
 * zp_numa_policy_parse() - look a policy up by name.
 * Returns 0, or -EINVAL for an unknown name.
 */
int zp_numa_policy_parse(const char *name, enum zp_numa_policy *policy);

/* ------------------------------------------------------------------------ */
/* The node layer: where chunks of memory come from.                       */
/* ------------------------------------------------------------------------ */

/*
 * How short of memory a node may be when the pool faults in fresh pages
 * there. A process that serves swap must not fault in memory the kernel
 * can only find by reclaim: its own reclaim may not write to swap (it is an
 * I/O flusher), the OOM killer does not act for such allocations, and the
 * fault would wait forever on the swap-outs that wait on the process.
 */
enum zp_room_level {
	/* Above the low watermark, plus the pool's node_reserve_bytes: where
	 * new zspages go by choice, as the kernel's own fallback from a
	 * preferred node starts at the low watermark. */
	ZP_ROOM_LOW,
	/* Above the min watermark with a margin: the kernel hands out the
	 * pages without reclaim. Below it the pool takes no fresh pages. */
	ZP_ROOM_MIN,
	ZP_NR_ROOM_LEVELS
};

/*
 * Operations the pool uses to place memory on nodes. The real layer
 * (zp_node_numa_ops) uses libnuma and the kernel's memory policy; the
 * simulated one (zp_node_sim_ops) lets tests run the allocator against a
 * topology of several nodes with capacity limits on any machine.
 */
struct zp_node_ops {
	const char *name;
	/* Number of nodes; node ids are 0 .. nr_nodes-1. At most ZP_MAX_NODES. */
	int (*nr_nodes)(void *ctx);
	/* Node the calling thread runs on now. */
	int (*current_node)(void *ctx);
	/* CPU the calling thread runs on now (picks its shard). */
	int (*current_cpu)(void *ctx);
	/* Relative distance from node a to node b (10 for a == b, as ACPI SLIT);
	 * orders the fallback list. */
	int (*distance)(void *ctx, int a, int b);
	/* Account npages about to be populated on node. -ENOMEM when the node
	 * has no room for them: the pool then tries the next node or fails. */
	int (*charge)(void *ctx, int node, size_t npages);
	/* Whether npages fresh pages can come from node now without taking
	 * its free memory below the level (enum zp_room_level; reserve_pages
	 * on top of the low watermark). Asked before pages are faulted in,
	 * not for pages the pool already holds. NULL: always. */
	bool (*room)(void *ctx, int node, size_t npages, size_t reserve_pages,
		     enum zp_room_level level);
	/* Return npages charged earlier. */
	void (*uncharge)(void *ctx, int node, size_t npages);
	/* Place a freshly mapped chunk on node before any page is touched.
	 * strict: the memory must not come from another node. 0 or -errno. */
	int (*bind)(void *ctx, void *addr, size_t len, int node, bool strict);
	/* For each of n page addresses, the node its memory lives on now, or a
	 * negative errno (-ENOENT: not resident). 0 or -errno for the call. */
	int (*query)(void *ctx, void *const *pages, size_t n, int *status);
};

/* The machine's topology through libnuma; ctx is unused (NULL). */
extern const struct zp_node_ops zp_node_numa_ops;

/* A simulated topology: ctx is a struct zp_node_sim. */
struct zp_node_sim;
extern const struct zp_node_ops zp_node_sim_ops;

/**
 * zp_node_sim_create() - a simulated topology of nr_nodes nodes.
 * @capacity_pages: per node, how many pages it can hold (0 = unlimited);
 *                  NULL for unlimited everywhere.
 * Distances: 10 to itself, 20 + 10 * |a - b| to others.
 * Returns 0 or -errno.
 */
int zp_node_sim_create(int nr_nodes, const size_t *capacity_pages,
		       struct zp_node_sim **sim);
void zp_node_sim_destroy(struct zp_node_sim *sim);
/** Set the calling thread's simulated current node (default 0). */
void zp_node_sim_set_current(struct zp_node_sim *sim, int node);
/** Set the calling thread's simulated CPU (default: the real one); -1 goes
 * back to the real one. */
void zp_node_sim_set_cpu(struct zp_node_sim *sim, int cpu);
/** Change a node's capacity at run time (0 = unlimited). */
void zp_node_sim_set_capacity(struct zp_node_sim *sim, int node,
			      size_t capacity_pages);
/** Pages charged on a node right now. */
size_t zp_node_sim_charged(struct zp_node_sim *sim, int node);
/**
 * zp_node_sim_set_low() - pretend the last pages of a node's capacity are
 * below its low watermark: room() at ZP_ROOM_LOW says no once fewer than
 * pages + the reserve are left; ZP_ROOM_MIN still has room up to the
 * capacity. No effect on a node without capacity.
 */
void zp_node_sim_set_low(struct zp_node_sim *sim, int node, size_t pages);

/* ------------------------------------------------------------------------ */
/* Pools                                                                    */
/* ------------------------------------------------------------------------ */

struct zp_pool;

struct zp_pool_config {
	enum zp_numa_policy policy;   /* default ZP_NUMA_PREFERRED */
	/* Longest zspage in pages, ZP_MIN_ZSPAGE_PAGES..ZP_MAX_ZSPAGE_PAGES;
	 * default ZP_DEFAULT_ZSPAGE_PAGES. Sets the huge-class threshold. */
	unsigned int max_zspage_pages;
	/* Bytes mapped from the system at a time per node; a multiple of
	 * ZP_MAX_ZSPAGE_PAGES pages. Default 4 MiB. */
	size_t chunk_bytes;
	/* Free pages each node always keeps resident and locked for reuse (the
	 * floor of its cache), filled when the pool is created so that a pool
	 * that cannot lock memory fails at once and the first allocations need
	 * no system call. Default 256. */
	unsigned int cache_pages;
	/* Free pages above the floor go back to the system once they have gone
	 * unused this long (checked when the node next allocates or frees a
	 * zspage, or on zp_pool_trim()); 0 returns them at once. Default 1000. */
	unsigned int release_delay_ms;
	/* Shards: each size class exists this many times, and a thread
	 * allocates from its CPU's, so that threads on different CPUs rarely
	 * share a lock or a cache line. A thread that finds no room in its own
	 * shard fills another shard's zspages if that shard has a zspage's
	 * worth of free slots, so a class wastes at most about one zspage per
	 * shard and node more than with one shard. 1..ZP_MAX_SHARDS; 0 (the
	 * default): one per online CPU, at most ZP_MAX_SHARDS. */
	unsigned int shards;
	/* Free memory a node keeps above its low watermark for others: a new
	 * zspage goes to the next node (strict: is refused) rather than take
	 * it. A multiple of the page size; default 0 (the watermark alone). */
	size_t node_reserve_bytes;
	/* Fault in fresh pages only in zp_pool_refill(), never in an
	 * allocation: zspages take cached pages, and an allocation that finds
	 * its node's cache empty (and the node with room) asks for a refill
	 * and waits for it at most refill_wait_ms before it tries the next
	 * node. For a process that serves swap, whose allocating threads must
	 * not wait on reclaim: one thread of its own that may (not an I/O
	 * flusher) calls zp_pool_refill() whenever zp_pool_refill_wait()
	 * returns. Default off. */
	bool refill_in_background;
	/* How long an allocation waits for a refill; default 100 ms. */
	unsigned int refill_wait_ms;
	/* Keep a word per object for its user (zp_pool_set_owner()), so
	 * that zp_pool_zspage_owners() can say whose objects share a
	 * zspage: 8 bytes of metadata more per object. Default off. */
	bool owners;
	/* Node layer; NULL selects zp_node_numa_ops. */
	const struct zp_node_ops *node_ops;
	void *node_ctx;
};

/** Fill a configuration with the defaults. */
void zp_pool_config_init(struct zp_pool_config *cfg);

/**
 * zp_pool_create() - make a pool.
 * Returns 0, -EINVAL for a bad configuration, -ENOMEM, or the error of
 * mapping or locking the node caches (-EPERM or -EAGAIN when the process may
 * not lock memory).
 */
int zp_pool_create(const struct zp_pool_config *cfg, struct zp_pool **pool);

/** Free the pool and every object in it; outstanding handles die with it. */
void zp_pool_destroy(struct zp_pool *pool);

/**
 * zp_pool_malloc() - allocate an object of size bytes (1..ZP_MAX_ALLOC).
 * @nid: preferred node for a new zspage (see enum zp_numa_policy); a
 *       negative value means the calling thread's current node.
 * Returns 0 and the handle, -EINVAL for a bad size or node, or -ENOMEM when
 * no allowed node has room. The object's contents are undefined until written.
 */
int zp_pool_malloc(struct zp_pool *pool, size_t size, int nid,
		   zp_handle_t *handle);

/** Free an object. The handle must be live and not being read. */
void zp_pool_free(struct zp_pool *pool, zp_handle_t handle);

/**
 * zp_pool_set_owner() - remember owner (not 0) for the object, in a pool
 * made with cfg.owners. A new object's owner is 0 until set.
 */
void zp_pool_set_owner(struct zp_pool *pool, zp_handle_t handle,
		       uint64_t owner);

/**
 * zp_pool_zspage_owners() - the owners of the objects that share a zspage
 * with handle (its own included), for a user that frees whole zspages.
 * Objects whose owner is not set yet are left out. The handle must be live
 * for the duration of the call (the caller keeps it from being freed).
 * Returns the owners written into owners[], at most max.
 */
size_t zp_pool_zspage_owners(struct zp_pool *pool, zp_handle_t handle,
			     uint64_t *owners, size_t max);

/** The size the object was allocated with. */
size_t zp_pool_obj_size(struct zp_pool *pool, zp_handle_t handle);

/** The node the object's memory was placed on (the pool's view). */
int zp_pool_obj_node(struct zp_pool *pool, zp_handle_t handle);

/**
 * zp_pool_read_begin() - pin an object and return its address.
 * The object stays in place (compaction waits) until zp_pool_read_end().
 * Hold it briefly; at most one object per thread at a time.
 */
const void *zp_pool_read_begin(struct zp_pool *pool, zp_handle_t handle);
void zp_pool_read_end(struct zp_pool *pool, zp_handle_t handle);

/** Copy len bytes (at most the object's size) into the object. */
void zp_pool_write(struct zp_pool *pool, zp_handle_t handle, const void *src,
		   size_t len);

/**
 * zp_pool_compact() - move objects from the least used zspages of each class
 * into the most used ones on the same node and free the emptied zspages.
 * @nid: only this node, or -1 for all nodes.
 * Safe while other threads allocate, free and read. Returns pages freed.
 */
size_t zp_pool_compact(struct zp_pool *pool, int nid);

/**
 * zp_pool_trim() - return every free page above the cache floor to the
 * system now, on every node, without waiting for release_delay_ms. For
 * timers and memory-pressure handlers. Returns the pages released.
 */
size_t zp_pool_trim(struct zp_pool *pool);

/**
 * zp_pool_refill() - fault in free pages on every node whose cache holds
 * fewer than cfg.cache_pages, as far as the node has room (ZP_ROOM_LOW),
 * so that the reserve is there when memory next runs short. New zspages
 * take cached pages first, and a node short of memory gives the pool no
 * fresh ones: the cache is what the pool lives on then. For timers, not
 * for the I/O path. Returns the pages faulted in.
 */
size_t zp_pool_refill(struct zp_pool *pool);

/**
 * zp_pool_refill_wait() - for the refill thread of a pool with
 * cfg.refill_in_background: wait until a node's cache has fallen to half
 * its floor or an allocation waits for a refill, or timeout_ms have passed,
 * or zp_pool_refill_wake() was called. Returns true if a refill is wanted.
 */
bool zp_pool_refill_wait(struct zp_pool *pool, unsigned int timeout_ms);
/** zp_pool_refill_wake() - make zp_pool_refill_wait() return now. */
void zp_pool_refill_wake(struct zp_pool *pool);

/** Pages held in zspages, in total and on one node. */
size_t zp_pool_total_pages(struct zp_pool *pool);
size_t zp_pool_node_pages(struct zp_pool *pool, int nid);
int zp_pool_nr_nodes(struct zp_pool *pool);
/** Shards the pool was made with (cfg.shards, or the number it chose). */
unsigned int zp_pool_nr_shards(struct zp_pool *pool);

/**
 * zp_pool_set_policy() - change the NUMA policy of new zspages while the
 * pool is in use. Between preferred, local and interleave only: a strict
 * pool's chunks are bound to their nodes and the others' are not, so
 * -EPERM for a change to or from strict; -EINVAL for no policy.
 */
int zp_pool_set_policy(struct zp_pool *pool, enum zp_numa_policy policy);
enum zp_numa_policy zp_pool_policy(struct zp_pool *pool);

/** The smallest object size that goes to the huge class (one per page). */
size_t zp_pool_huge_class_size(struct zp_pool *pool);

/* ------------------------------------------------------------------------ */
/* Statistics                                                               */
/* ------------------------------------------------------------------------ */

enum zp_stat_kind {
	ZP_STAT_GAUGE,   /* a current value */
	ZP_STAT_COUNTER, /* grows until reset */
	ZP_STAT_MAX,     /* high-water mark */
	ZP_NR_STAT_KINDS
};

/*
 * Pool-wide statistics, X(name, kind, description). All are exact: they are
 * summed from per-class and per-node counters kept under those locks.
 */
#define ZP_POOL_STAT_FIELDS(X)                                                   \
	X(pages, ZP_STAT_GAUGE, "pages held in zspages")                          \
	X(pages_max, ZP_STAT_MAX, "most pages ever held in zspages")              \
	X(objects, ZP_STAT_GAUGE, "live objects")                                 \
	X(huge_objects, ZP_STAT_GAUGE, "live objects in the huge class")          \
	X(bytes_requested, ZP_STAT_GAUGE, "sum of the sizes of live objects")     \
	X(bytes_used, ZP_STAT_GAUGE, "sum of the class sizes of live objects")    \
	X(zspages, ZP_STAT_GAUGE, "live zspages")                                 \
	X(cached_pages, ZP_STAT_GAUGE, "free pages kept resident for reuse")      \
	X(pages_released, ZP_STAT_COUNTER, "free pages returned to the system")   \
	X(chunks, ZP_STAT_GAUGE, "chunks mapped from the system")                 \
	X(mapped_bytes, ZP_STAT_GAUGE, "bytes of chunks mapped")                  \
	X(metadata_bytes, ZP_STAT_GAUGE,                                          \
	  "resident bytes of handle and zspage tables and pool structures")       \
	X(malloc_calls, ZP_STAT_COUNTER, "successful allocations")               \
	X(free_calls, ZP_STAT_COUNTER, "frees")                                   \
	X(malloc_fail, ZP_STAT_COUNTER, "allocations refused for lack of memory") \
	X(table_waits, ZP_STAT_COUNTER,                                           \
	  "waits of allocations for the refill thread to give a table room")      \
	X(zspages_created, ZP_STAT_COUNTER, "zspages created")                    \
	X(zspages_freed, ZP_STAT_COUNTER, "zspages freed, compaction included")  \
	X(fallback_zspages, ZP_STAT_COUNTER,                                      \
	  "new zspages placed off the preferred node")                            \
	X(compact_runs, ZP_STAT_COUNTER, "calls of zp_pool_compact")              \
	X(pages_compacted, ZP_STAT_COUNTER, "pages freed by compaction")          \
	X(objects_moved, ZP_STAT_COUNTER, "objects moved by compaction")

/* Per node, X(name, kind, description). Exact. */
#define ZP_NODE_STAT_FIELDS(X)                                                   \
	X(pages, ZP_STAT_GAUGE, "pages of zspages on this node")                  \
	X(pages_max, ZP_STAT_MAX, "most pages of zspages ever on this node")      \
	X(zspages, ZP_STAT_GAUGE, "live zspages on this node")                    \
	X(cached_pages, ZP_STAT_GAUGE, "free pages kept resident on this node")   \
	X(table_pages, ZP_STAT_GAUGE,                                             \
	  "pages of this node's chunks lent to the handle and zspage tables")     \
	X(pages_released, ZP_STAT_COUNTER,                                        \
	  "free pages of this node returned to the system")                       \
	X(chunks, ZP_STAT_GAUGE, "chunks mapped for this node")                   \
	X(preferred_zspages, ZP_STAT_COUNTER,                                     \
	  "new zspages placed here because this node was preferred")              \
	X(fallback_zspages, ZP_STAT_COUNTER,                                      \
	  "new zspages placed here although another node was preferred")          \
	X(charge_fail, ZP_STAT_COUNTER, "times the node had no room for a zspage") \
	X(low_refusals, ZP_STAT_COUNTER,                                          \
	  "new zspages turned away: the node was at its low watermark and reserve") \
	X(low_zspages, ZP_STAT_COUNTER,                                           \
	  "new zspages placed here above the min watermark, no node having more") \
	X(refilled_pages, ZP_STAT_COUNTER,                                        \
	  "free pages faulted in ahead to keep the node's cache full")             \
	X(refill_waits, ZP_STAT_COUNTER,                                          \
	  "new zspages that waited for the node's cache to be refilled")          \
	X(refill_timeouts, ZP_STAT_COUNTER,                                       \
	  "new zspages that waited in vain and went to the next node")

/* Per size class, X(name, kind, description). Exact. */
#define ZP_CLASS_STAT_FIELDS(X)                                                  \
	X(size, ZP_STAT_GAUGE, "object slot size in bytes")                       \
	X(pages_per_zspage, ZP_STAT_GAUGE, "pages in each zspage")                \
	X(objs_per_zspage, ZP_STAT_GAUGE, "object slots in each zspage")          \
	X(huge, ZP_STAT_GAUGE, "1 for the huge class")                            \
	X(objs_used, ZP_STAT_GAUGE, "live objects")                               \
	X(objs_allocated, ZP_STAT_GAUGE, "object slots in live zspages")          \
	X(zspages, ZP_STAT_GAUGE, "live zspages")                                 \
	X(pages_compacted, ZP_STAT_COUNTER, "pages freed by compacting this class")

#define ZP_STAT_FIELD(name, kind, desc) uint64_t name;
struct zp_pool_stats {
	ZP_POOL_STAT_FIELDS(ZP_STAT_FIELD)
};
struct zp_node_stats {
	ZP_NODE_STAT_FIELDS(ZP_STAT_FIELD)
};
struct zp_class_stats {
	ZP_CLASS_STAT_FIELDS(ZP_STAT_FIELD)
	uint64_t fullness[ZP_NR_FULLNESS]; /* zspages per fullness group */
	uint32_t min_size, max_size;       /* object sizes served (1..4096) */
};
#undef ZP_STAT_FIELD

/* A statistic's description, for printing them without naming each one. */
struct zp_stat_desc {
	const char *name;
	enum zp_stat_kind kind;
	const char *description;
	size_t offset; /* of the uint64_t in its stats struct */
};
extern const struct zp_stat_desc zp_pool_stat_desc[];
extern const size_t zp_pool_nr_stat_desc;
extern const struct zp_stat_desc zp_node_stat_desc[];
extern const size_t zp_node_nr_stat_desc;
extern const struct zp_stat_desc zp_class_stat_desc[];
extern const size_t zp_class_nr_stat_desc;

/** Fill in the pool-wide statistics. */
void zp_pool_stats(struct zp_pool *pool, struct zp_pool_stats *stats);

/** Number of distinct (merged) size classes; class ids are 0 .. n-1. */
unsigned int zp_pool_nr_classes(struct zp_pool *pool);

/** Statistics of one class. Returns 0 or -ENOENT past the last class. */
int zp_pool_class_stats(struct zp_pool *pool, unsigned int class_id,
			struct zp_class_stats *stats);

/** Statistics of one node. Returns 0 or -ENOENT for a node out of range. */
int zp_pool_node_stats(struct zp_pool *pool, int nid,
		       struct zp_node_stats *stats);

/**
 * zp_pool_node_resident() - ask the node layer where the pool's zspage pages
 * really are, so that misplacement shows.
 * @resident: nr_nodes entries, filled with resident pages per node.
 * @elsewhere: pages not resident or on no known node (may be NULL).
 * Walks every zspage: meant for status requests, not hot paths.
 * Returns 0 or -errno from the node layer.
 */
int zp_pool_node_resident(struct zp_pool *pool, uint64_t *resident,
			  uint64_t *elsewhere);

/** Zero the counters (ZP_STAT_COUNTER) and restart high-water marks. */
void zp_pool_reset_counters(struct zp_pool *pool);

/* ------------------------------------------------------------------------ */
/* Inspection, for tests and debug builds                                   */
/* ------------------------------------------------------------------------ */

/**
 * zp_pool_for_each_mapping() - call fn for every range the pool has mapped
 * from the system (object chunks and metadata tables). Stops at and returns
 * the first non-zero value fn returns.
 */
int zp_pool_for_each_mapping(struct zp_pool *pool,
			     int (*fn)(void *addr, size_t len, void *arg),
			     void *arg);

/**
 * zp_pool_validate() - walk every class, zspage, free list and fullness
 * group and check them against each other and the counters. Aborts with a
 * message on the first inconsistency. Takes every lock in turn.
 */
void zp_pool_validate(struct zp_pool *pool);

#endif /* ZP_POOL_H */
