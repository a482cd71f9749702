/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * internal.h - what the files of daemon/ share, grouped by the file that
 * defines it.
 *
 * config.c   the configuration file, command-line overrides, key table
 * store.c    volumes, their block index and the data path
 * writeback.c the pool limit, LRU lists, backing store, shrinker thread
 * node.c     which NUMA node a request belongs to
 * fuse.c     the FUSE low-level front end
 * safety.c   what keeps a swap daemon alive under memory pressure
 * notify.c   logging and sd_notify
 * main.c     start-up and shutdown
 *
 * lock ordering: the shrinker's writeback lock, then a volume's block
 * stripe lock, then an LRU list's lock (shrinker/lru.h), the pool's own
 * locks (pool.h) and the slot allocator's (shrinker/slots.h). No daemon
 * lock is held across a FUSE reply but an early write's stripe.
 */
#ifndef ZPD_INTERNAL_H
#define ZPD_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "compress/compress.h"
#include "pool/pool.h"
#include "shrinker/shrinker.h"
#include "zp-compiler.h"
#include "zp-proto.h"

/* ---------------------------------------------------------------------------
 * config.c
 *
 * The file is INI-style:
 *
 *   # comment (also ';'), blank lines ignored
 *   [daemon]
 *   mountpoint = /run/zpoold/volumes
 *   [pool]
 *   compressor = lz4
 *   [volume swap0]
 *   size = 4G
 *   node = 0
 *
 * Sections: [daemon], [pool], [writeback], and one [volume NAME] per volume. Keys and
 * section names are case-sensitive, values are trimmed of blanks, and a
 * value may be quoted with "..." to keep blanks. Every key is described
 * once, in the table in config.c, which also prints `zpoold --help-config`.
 *
 * Errors name where the bad setting came from and what is wrong with it:
 *   /etc/zpoold.conf:12: [volume swap0] size: bad size '12Q' (...)
 *   command line: -o pool.compressor=lzo: unknown compressor 'lzo' (...)
 * ------------------------------------------------------------------------ */

/* Room for an error message that quotes a path. */
#define ZPD_ERR_MAX (PATH_MAX + 1024)

/* sysconfdir/zpoold.conf, where `make install` puts it (/etc/zpoold.conf
 * for ./configure --sysconfdir=/etc). */
#ifndef ZPD_SYSCONFDIR
#define ZPD_SYSCONFDIR "/etc"
#endif
#define ZPD_DEFAULT_CONFIG ZPD_SYSCONFDIR "/zpoold.conf"
#define ZPD_DEFAULT_MOUNTPOINT "/run/zpoold/volumes"

/* A volume name is a file name at the mount point: letters, digits, '-',
 * '_' and '.', not starting with '.', at most this long. */
#define ZPD_VOLUME_NAME_MAX 63
/* More volumes than a swap setup needs, few enough for fixed arrays. */
#define ZPD_MAX_VOLUMES 64
/* Volume sizes: at least one block, at most 16 TiB (the block index of
 * such a volume is 64 GiB of address space, reserved, touched only where
 * blocks are written). */
#define ZPD_VOLUME_MIN_SIZE 4096ull
#define ZPD_VOLUME_MAX_SIZE (1ull << 44)

/* Where the node of a write comes from. */
enum zpd_node_hint {
	/* The volume's `node` if set, else as ZPD_HINT_REQUESTER. */
	ZPD_HINT_VOLUME,
	/* The node of the CPU the requesting task last ran on, from the
	 * request's pid; the worker's node when that cannot be read. */
	ZPD_HINT_REQUESTER,
	/* The node of the CPU the worker thread runs on. */
	ZPD_HINT_WORKER,
	NR_ZPD_HINTS
};

/* How the shrinker picks the blocks of a batch. */
enum zpd_victims {
	/* The least recently used blocks (with the second chance), then
	 * compaction of the node they left, to free their pages. */
	ZPD_VICTIMS_LRU,
	/* The least recently used block and every other block whose object
	 * shares its zspage, so that the zspage empties and frees its
	 * pages without compaction (the 2014 zsmalloc shrinker). */
	ZPD_VICTIMS_ZSPAGE,
	NR_ZPD_VICTIMS
};

/* What a volume stores. null keeps nothing (reads return zeros): the cost
 * of the FUSE front end alone, for benchmarks. */
enum zpd_store_kind {
	ZPD_STORE_POOL,
	ZPD_STORE_NULL,
	NR_ZPD_STORES
};

struct zpd_volume_conf {
	char name[ZPD_VOLUME_NAME_MAX + 1];
	uint64_t size; /* bytes, a multiple of 4096 */
	int node;      /* -1: not bound */
	enum zpd_store_kind store;
	/* Where the [volume] section started, for later messages. */
	char origin[PATH_MAX + 32];
};

struct zpd_config {
	/* [daemon] */
	char mountpoint[PATH_MAX];
	unsigned int threads;     /* FUSE worker threads, 1..256; default 4 */
	unsigned int poll_us;     /* poll for requests before sleeping */
	bool splice;              /* splice request and reply data */
	unsigned int max_write;   /* bytes, 4 KiB..1 MiB, power of two */
	enum zpd_node_hint node_hint;
	unsigned int node_cache_ms; /* how long a pid's node is trusted */
	int oom_score_adj;        /* -1000..1000, default -1000 */
	bool swapoff_on_stop;     /* swapoff our volumes on SIGTERM */
	uint64_t reserve;         /* bytes of pool memory kept ready */
	int log_level;            /* syslog priority: 3 err .. 7 debug */
	char control_socket[PATH_MAX]; /* "" for none */
	char control_group[33];   /* "" for the daemon's own */
	unsigned int control_timeout; /* seconds */

	/* [pool] */
	struct comp_spec compressor;
	enum zp_numa_policy policy;
	unsigned int max_zspage_pages;
	uint64_t chunk_bytes;
	unsigned int release_delay_ms;
	unsigned int shards;
	unsigned int max_pool_percent;    /* of RAM, 1..100 */
	uint64_t max_pool_size;           /* bytes; 0: max_pool_percent */
	unsigned int accept_threshold_percent; /* of the limit, 0..100 */
	uint64_t max_node_size;           /* bytes per node; 0: no target */
	uint64_t node_reserve;            /* bytes above the low watermark */

	/* [writeback] */
	char wb_file[PATH_MAX];           /* "" for none */
	uint64_t wb_size;
	unsigned int wb_batch_pages;
	enum zpd_victims wb_victims;
	unsigned int idle_seconds;        /* 0: no idle writeback */
	unsigned int psi_stall_ms;        /* 0: no pressure trigger */
	unsigned int psi_window_ms;
	unsigned int psi_shrink_percent;

	/* [volume NAME] */
	unsigned int nr_volumes;
	struct zpd_volume_conf volumes[ZPD_MAX_VOLUMES];

	/* Not from the file: the pool's node layer and its context (NULL:
	 * the machine's), for tests on a made-up topology. */
	const struct zp_node_ops *node_ops;
	void *node_ctx;
};

/* The defaults: no volumes, every key at its documented default. */
void zpd_config_defaults(struct zpd_config *cfg);

/*
 * Read a configuration file into cfg (on top of what cfg holds). Returns 0,
 * or -errno with a message in err: -ENOENT when the file does not exist
 * (the caller decides whether that matters), -EINVAL for a bad line, key
 * or value (the message names the file, line, section and key).
 */
int zpd_config_load(struct zpd_config *cfg, const char *path, char *err,
		    size_t errlen);

/* Apply one "section.key=value" as zpd_config_set() does, with messages
 * that start with origin instead of the command line's. */
int zpd_config_assign(struct zpd_config *cfg, const char *assignment,
		      const char *origin, char *err, size_t errlen);

/* The value of "section.key" (not a volume's) as the file format writes
 * it, into buf. 0 or -ENOENT for an unknown key. */
int zpd_config_get(const struct zpd_config *cfg, const char *name, char *buf,
		   size_t len);

/* Parse configuration text as if it were a file named origin. */
int zpd_config_parse(struct zpd_config *cfg, const char *text,
		     const char *origin, char *err, size_t errlen);

/*
 * Apply one "section.key=value" override from the command line
 * ("daemon.threads=8", "pool.compressor=zstd:3", "volume.swap0.size=1G";
 * a volume named for the first time is created). Errors as above, with
 * the origin "command line".
 */
int zpd_config_set(struct zpd_config *cfg, const char *assignment, char *err,
		   size_t errlen);

/* Checks that need the whole configuration (two volumes with one name, a
 * node beyond the machine's, ...). 0 or -EINVAL with a message. */
int zpd_config_check(const struct zpd_config *cfg, int nr_nodes, char *err,
		     size_t errlen);

/* Print every key: section, name, default and meaning (--help-config). */
void zpd_config_help(FILE *out);

/* Print the configuration in the file format, every key with its value. */
void zpd_config_dump(const struct zpd_config *cfg, FILE *out);

/* Parse a size with an optional K, M, G, T suffix (powers of 1024; "B",
 * "KiB", "k" accepted). 0 or -EINVAL. */
int zpd_parse_size(const char *text, uint64_t *out);

/* ---------------------------------------------------------------------------
 * store.c
 *
 * A volume is a fixed-size array of 4 KiB blocks. Its block index has one
 * 16-byte entry per block in an anonymous mapping reserved at start and
 * touched only where blocks are written, so a never-written block costs
 * nothing and reads as zeros. Blocks are guarded by a table of stripe
 * locks (block number modulo ZPD_STRIPES).
 * ------------------------------------------------------------------------ */

#define ZPD_BLOCK_SHIFT 12
#define ZPD_BLOCK_SIZE (1u << ZPD_BLOCK_SHIFT)

/* Enough stripes that two workers rarely meet on one, few enough that a
 * volume's table stays small (1024 mutexes are 40 KiB). */
#define ZPD_STRIPES 1024u

/* Entry flags. An entry with no form flag has never been written (or was
 * discarded) and reads as zeros. */
enum {
	ZPD_E_SAME = 1u << 0, /* val is the repeated word */
	ZPD_E_POOL = 1u << 1, /* val is a pool handle, len bytes, tag */
	ZPD_E_DISK = 1u << 2, /* val is a byte address in the backing store
			       * (slot * SHR_SLOT_SIZE + offset in the slot,
			       * 0 while a slot holds one block), len bytes,
			       * tag */
	ZPD_E_WB = 1u << 3,   /* a pool entry being written back: set by the
			       * shrinker; a new entry (any write) has it
			       * clear, which tells the shrinker its copy is
			       * stale */
};
#define ZPD_E_FORM (ZPD_E_SAME | ZPD_E_POOL | ZPD_E_DISK)

/* Bits of an entry's age, for the shrinker's choice of victims. */
enum {
	ZPD_AGE_REF = 1u << 0,  /* read or written since the shrinker looked:
				 * earns a second chance */
	ZPD_AGE_IDLE = 1u << 1, /* untouched since the last idle pass */
	ZPD_AGE_MARK = 1u << 2, /* untouched since zpd_wb_mark() */
};

/*
 * One block. The data fields are protected by the block's stripe lock.
 * age is read and written with relaxed atomics by readers (under the
 * stripe) and the shrinker (under an LRU lock). lru and link belong to the
 * LRU lists: written under the lock of the list the entry is on (or goes
 * to), and a writer changing the entry's form also holds its stripe; lru
 * is read with relaxed atomics. While the shrinker writes an entry back
 * (ZPD_E_WB, on no list) link.next holds the ticket of its copy, under
 * the stripe lock.
 */
struct zpd_entry {
	uint64_t val;  /* pool handle, word or disk address, by form */
	uint16_t len;  /* stored bytes: 1..4096 for ZPD_E_POOL, ZPD_E_DISK */
	uint16_t tag;  /* comp_tag_t of the stored bytes */
	uint8_t flags; /* ZPD_E_* */
	uint8_t node;  /* node of the pool object; request node otherwise */
	uint8_t age;   /* ZPD_AGE_* */
	uint8_t lru;   /* LRU list the entry is on: node + 1, 0 for none */
	struct shr_lru_link link;
};
/* Twice a zram table entry: the LRU links are the other half. */
_Static_assert(sizeof(struct zpd_entry) == 32, "entry size");

/* Per-volume statistics, X(name, kind, description): counters, which
 * reset-stats zeroes, and gauges. Exact; updated with relaxed atomics
 * outside the stripe locks. */
#define ZPD_VOLUME_STAT_FIELDS(X)                                               \
	X(reads, ZP_STAT_COUNTER, "read requests")                             \
	X(writes, ZP_STAT_COUNTER, "write requests")                           \
	X(discards, ZP_STAT_COUNTER, "punch-hole and zero-range requests")     \
	X(bytes_read, ZP_STAT_COUNTER, "bytes read")                           \
	X(bytes_written, ZP_STAT_COUNTER, "bytes written")                     \
	X(blocks_same, ZP_STAT_GAUGE, "blocks held as a same-filled word")     \
	X(blocks_raw, ZP_STAT_GAUGE, "blocks held uncompressed in the pool")   \
	X(blocks_compressed, ZP_STAT_GAUGE,                                    \
	  "blocks held compressed in the pool")                                \
	X(blocks_disk, ZP_STAT_GAUGE, "blocks held in the backing store")      \
	X(stored_bytes, ZP_STAT_GAUGE,                                         \
	  "bytes of the pool objects of this volume")                          \
	X(partial_writes, ZP_STAT_COUNTER,                                     \
	  "block writes that merged with the old contents")                    \
	X(write_errors, ZP_STAT_COUNTER,                                       \
	  "writes that failed: no room in the pool or on disk, or a partial "  \
	  "write onto an unreadable block")                                    \
	X(read_errors, ZP_STAT_COUNTER,                                        \
	  "block reads that found a corrupt object or a disk error")

struct zpd_volume_stats {
#define ZPD_STAT_MEMBER(name, kind, desc) uint64_t name;
	ZPD_VOLUME_STAT_FIELDS(ZPD_STAT_MEMBER)
#undef ZPD_STAT_MEMBER
};

/* Store-wide counters of the pool limit and writeback, X(name,
 * description). Exact; updated with relaxed atomics. */
#define ZPD_STORE_STAT_FIELDS(X)                                                \
	X(pool_limit_hit, "block stores that found the pool at its limit")    \
	X(bypassed_stores, "blocks stored straight to disk: the pool was full " \
			   "or got no memory")                                 \
	X(nomem_stores, "of those, the blocks the pool got no memory for "    \
			"(its nodes short of free memory)")                    \
	X(nospc_stores, "block stores refused for lack of room: the pool at "  \
			"its limit and no backing store, or the backing "      \
			"store full as well; or no memory for the pool")       \
	X(written_back_pages, "blocks the shrinker moved from pool to disk")   \
	X(wb_writes, "write calls to the backing store")                       \
	X(wb_reads, "blocks read from the backing store")                      \
	X(wb_read_errors, "reads from the backing store that failed")          \
	X(writeback_failures, "blocks a failed disk write left in the pool "   \
			      "(or sent to it, for a bypassing store)")        \
	X(referenced_rotations, "referenced blocks given a second chance")     \
	X(writeback_batches, "batches the shrinker wrote")                     \
	X(stale_writebacks, "victims written, or about to be, while a newer "  \
			    "write or a discard changed them")                 \
	X(idle_written_back, "blocks written back for being idle")             \
	X(compacted_pages, "pool pages freed by compaction after writeback")   \
	X(wb_freed_pages, "pool pages freed by writeback batches (emptied "    \
			  "zspages, compaction included; a lower bound)")      \
	X(psi_events, "memory pressure events that woke the shrinker")

struct zpd_store_stats {
#define ZPD_STAT_MEMBER(name, desc) uint64_t name;
	ZPD_STORE_STAT_FIELDS(ZPD_STAT_MEMBER)
#undef ZPD_STAT_MEMBER
};

/* FUSE requests, per worker, X(name, description). Exact. */
#define ZPD_FUSE_STAT_FIELDS(X)                                                 \
	X(lookups, "name lookups")                                             \
	X(getattrs, "attribute requests (getattr, setattr, statfs)")           \
	X(readdirs, "directory reads")                                         \
	X(opens, "opens of a volume")                                          \
	X(releases, "closes of a volume")                                      \
	X(reads, "read requests")                                              \
	X(writes, "write requests")                                            \
	X(early_writes, "one-block writes answered before they were "          \
			"compressed")                                          \
	X(fallocates, "fallocate requests (discards, zeroing)")                \
	X(errors, "requests answered with an error")                           \
	X(read_bytes, "bytes read")                                            \
	X(write_bytes, "bytes written")

struct zpd_fuse_stats {
#define ZPD_STAT_MEMBER(name, desc) uint64_t name;
	ZPD_FUSE_STAT_FIELDS(ZPD_STAT_MEMBER)
#undef ZPD_STAT_MEMBER
};

/* Per-thread working memory of the data path, made before any request. */
struct zpd_worker {
	struct comp_ctx *comp;
	unsigned char page[ZPD_BLOCK_SIZE] zp_cacheline_aligned;
	/* A slot of the backing store: O_DIRECT wants it aligned. */
	unsigned char *disk;
	/* Room for the largest read reply (the config's max_write). */
	unsigned char *buf;
	size_t buf_size;
	struct zpd_store *store;
	struct zpd_worker *next; /* on the store's free list */
	struct zpd_worker *all_next; /* on store->all_workers, fixed */
	/* FUSE requests this worker served; written by its thread with
	 * relaxed atomics, read by the statistics. */
	struct zpd_fuse_stats fuse;
	/* node.c: a few recent pids and the node each resolved to */
	struct zpd_pid_cache {
		pid_t pid;
		int node;
		uint64_t until_ns;
	} pids[8];
};

struct zpd_volume {
	char name[ZPD_VOLUME_NAME_MAX + 1];
	uint64_t size;      /* bytes */
	uint64_t nr_blocks;
	int node;           /* bound node or -1 */
	enum zpd_store_kind kind;
	struct zpd_entry *index;  /* nr_blocks entries, mapped lazily */
	size_t index_bytes;
	pthread_mutex_t *stripes; /* ZPD_STRIPES */
	struct zpd_volume_stats stats;
	struct zpd_store *store;
	uint64_t ino;       /* inode number at the mount point */
	unsigned int id;    /* position in store->volumes[] */
	/* Open files and requests in flight past their reply (early
	 * writes): a volume with users is not removed. */
	atomic_uint users;
	/* Being removed: no longer found by name or inode. Set under the
	 * write lock of store->volumes_lock. */
	bool removing;
};

struct zpd_store {
	struct zp_pool *pool;
	/* The thread that faults the pool's cache back in (store.c). */
	pthread_t refill_thread;
	bool refill_running;
	atomic_bool refill_stop;
	/* The algorithm new blocks get; changes at run time. Read with
	 * zpd_store_compressor(). */
	_Atomic uint32_t compressor; /* backend << 16 | (level & 0xffff) */
	/* The volumes, one slot each (NULL: free). Looking one up, and
	 * walking them, holds volumes_lock for reading; adding, marking for
	 * removal and freeing one holds it for writing. An open file keeps
	 * its volume (zpd_volume->users) without the lock. */
	pthread_rwlock_t volumes_lock;
	atomic_uint nr_volumes;
	struct zpd_volume *volumes[ZPD_MAX_VOLUMES];
	/* Volumes a slot has held: part of the inode, so that a stale inode
	 * of a removed volume never finds its successor. */
	uint32_t generation[ZPD_MAX_VOLUMES];
	/* Workers made at start; a thread takes one for its life. */
	pthread_key_t worker_key;
	pthread_mutex_t workers_lock;
	struct zpd_worker *free_workers; /* protected by workers_lock */
	struct zpd_worker *all_workers;  /* every worker, by all_next */
	unsigned int nr_workers;
	/* Requests per node their writes resolved to (node.c). */
	_Atomic uint64_t node_requests[ZP_MAX_NODES];
	/* Blocks written back from each node's LRU list (writeback.c). */
	_Atomic uint64_t node_written_back[ZP_MAX_NODES];
	int nr_nodes;
	enum zpd_node_hint node_hint;
	unsigned int node_cache_ms;
	int cpu_node[CPU_SETSIZE]; /* node of each CPU, 0 when unknown */

	/* writeback.c: the pool limit, the LRU lists and the backing store */
	struct shr_lru lru[ZP_MAX_NODES]; /* blocks in the pool, per node */
	/* The limits change at run time (zpd_wb_set_limits()). */
	_Atomic uint64_t limit_pages;  /* the pool's limit */
	_Atomic uint64_t accept_pages; /* stores go to the pool again below */
	_Atomic uint64_t node_limit_pages, node_accept_pages; /* 0: none */
	atomic_bool full;         /* the limit was hit, not yet accepting */
	enum zpd_victims victims;
	struct shr_backing *backing; /* NULL: none */
	struct shr_slots *slots;
	struct zpd_wb *wb;        /* writeback.c's own state */
	struct zpd_store_stats stats;
	/* stats.c: the compressors' counters at the last reset */
	struct comp_stats comp_base;
};

/* Make the store: the pool, the volumes of cfg and nr_workers workers. */
int zpd_store_create(const struct zpd_config *cfg, unsigned int nr_workers,
		     struct zpd_store **out, char *err, size_t errlen);
void zpd_store_destroy(struct zpd_store *store);

/* The live volume of that name, or NULL. Caller holds volumes_lock. */
struct zpd_volume *zpd_store_volume(struct zpd_store *store, const char *name);

/*
 * Add a volume while the daemon runs (the checks of the configuration
 * file are the caller's). 0, or -errno with a message: -EEXIST for a name
 * taken, -ENOSPC when ZPD_MAX_VOLUMES exist, -ENOMEM.
 */
int zpd_store_add_volume(struct zpd_store *store,
			 const struct zpd_volume_conf *vc,
			 struct zpd_volume **out, char *err, size_t errlen);

/*
 * Remove a volume and free its blocks. -ENOENT when there is none of that
 * name, -EBUSY (nothing changed) while it has users. The name is free
 * again when this returns 0.
 */
int zpd_store_remove_volume(struct zpd_store *store, const char *name,
			    char *err, size_t errlen);

/* Compact the pool when its pages hold much more than its objects need
 * (the main thread's timer, every second; the refill thread trims). */
void zpd_store_compact_idle(struct zpd_store *store);

/* The calling thread's worker, taken from the free list on first use and
 * given back when the thread exits; NULL if none is left. */
struct zpd_worker *zpd_worker_get(struct zpd_store *store);

struct comp_spec zpd_store_compressor(const struct zpd_store *store);
void zpd_store_set_compressor(struct zpd_store *store, struct comp_spec spec);

/*
 * Read len bytes at off into buf. Reads past the end stop there: the
 * number of bytes read (0 at or after the end), or -errno (-EIO for a
 * corrupt object).
 */
ssize_t zpd_volume_read(struct zpd_volume *v, struct zpd_worker *w, void *buf,
			size_t len, uint64_t off);

/*
 * Write len bytes at off on behalf of a request that resolved to node nid.
 * A write that starts at or after the end fails with -ENOSPC; one that
 * crosses it writes up to the end. Returns the bytes written or -errno:
 * -ENOSPC when the pool has no memory, -EIO when a partial block write
 * finds the old block corrupt. Blocks before the failing one stay written,
 * and their count is returned if there are any.
 */
ssize_t zpd_volume_write(struct zpd_volume *v, struct zpd_worker *w,
			 const void *buf, size_t len, uint64_t off, int nid);

/*
 * Early writes: a write of one whole block is answered before it is
 * compressed, so that the writer goes on while the daemon compresses.
 * zpd_volume_write_early() takes a raw-size pool object for the block (so
 * that the data has a home whatever happens next) and the block's lock,
 * and returns true; the caller then replies success to the writer and
 * calls zpd_volume_write_finish(), which compresses and stores the block
 * and drops the lock. Readers and writers of the block wait on the lock
 * meanwhile, so nobody sees the old contents after the reply. false (and
 * nothing taken) when the write is not one whole block inside the volume,
 * or the pool has no memory: then zpd_volume_write() serves it.
 */
struct zpd_early_write {
	struct zpd_volume *v;
	uint64_t blk;
	zp_handle_t raw;
	int nid;
};

bool zpd_volume_write_early(struct zpd_volume *v, uint64_t off, size_t len,
			    int nid, struct zpd_early_write *ew);
/* src: the block's 4 KiB, still where the request left it. */
void zpd_volume_write_finish(struct zpd_early_write *ew, struct zpd_worker *w,
			     const void *src);

/* Free the blocks in [off, off + len) (whole blocks; the parts of blocks
 * at either edge are zeroed). 0 or -errno (-EIO for a corrupt edge block,
 * -ENOSPC when zeroing an edge needs memory the pool lacks). */
int zpd_volume_discard(struct zpd_volume *v, struct zpd_worker *w,
		       uint64_t off, uint64_t len, int nid);

/* Free every block of a volume that nobody reads or writes meanwhile (a
 * volume being removed or made swap): it then reads as zeros. */
void zpd_volume_drop_all(struct zpd_volume *v);
/* Fault in and lock the volume's whole block index (before it becomes
 * swap). 0, or -errno with a message in err. */
int zpd_volume_lock_index(struct zpd_volume *v, char *err, size_t errlen);

void zpd_volume_stats(const struct zpd_volume *v, struct zpd_volume_stats *out);

/* Count an entry entering (sign 1) or leaving (sign -1) the volume's
 * stats. Caller holds the entry's stripe. */
void zpd_entry_account(struct zpd_volume *v, const struct zpd_entry *e,
		       int sign);

/* The stripe lock of block blk. */
/* Milliseconds of CLOCK_MONOTONIC, for the daemon's threads' intervals. */
static inline uint64_t zpd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline pthread_mutex_t *zpd_stripe(struct zpd_volume *v, uint64_t blk)
{
	return &v->stripes[blk % ZPD_STRIPES];
}

/* ---------------------------------------------------------------------------
 * writeback.c
 *
 * The pool's limit, the LRU lists of the blocks in the pool (one per node,
 * the node the block's object lives on), the backing store and the
 * shrinker thread that moves the least recently used blocks there.
 *
 * A block in the pool is on the LRU list of its object's node; any other
 * block is on none. Stores mark the block referenced; the shrinker takes
 * victims from the oldest end, giving a referenced block a second chance
 * (the mark cleared, the block moved to the newest end) first.
 * ------------------------------------------------------------------------ */

/* Set up the limit, the lists and, if cfg names one, the backing store.
 * 0 or -errno with a message naming the file. Called by
 * zpd_store_create(). */
int zpd_wb_setup(struct zpd_store *store, const struct zpd_config *cfg,
		 char *err, size_t errlen);
void zpd_wb_teardown(struct zpd_store *store);

/* The reference of block blk of v on an LRU list. */
static inline uint64_t zpd_block_ref(const struct zpd_volume *v, uint64_t blk)
{
	return ((uint64_t)v->id + 1) << 40 | blk;
}

/* After block blk's entry got new data (caller holds its stripe): put it
 * on the list of its node if it is in the pool, take it off otherwise. */
void zpd_lru_update(struct zpd_volume *v, uint64_t blk);

/* Whether stores must stay out of the pool now: the limit was hit and the
 * pool has not shrunk below the accept threshold since. Counts the hit
 * and wakes the shrinker. */
bool zpd_pool_full(struct zpd_store *store);

/* Whether the pool is below its limit (it may still be full, above the
 * accept threshold). */
bool zpd_pool_below_limit(struct zpd_store *store);

/* Count a block store refused for lack of room (nospc_stores). */
void zpd_store_refused(struct zpd_store *store);

/* Count a block stored to disk because the pool got no memory for it
 * (nomem_stores). */
void zpd_store_nomem_stored(struct zpd_store *store);

/* A block was just stored on node nid: wake the shrinker if that node is
 * past its target (max_node_size). */
void zpd_node_stored(struct zpd_store *store, int nid);

/*
 * Store a compressed block (data, len bytes, tag) straight in the
 * backing store, for a store that found the pool full; fills e (form
 * ZPD_E_DISK). 0; -ENOSPC when there is no backing store or it is full
 * (the pool may then take the block if it is below its limit); -EIO when
 * the write failed (the block may then go to the pool).
 */
int zpd_wb_store(struct zpd_store *store, struct zpd_worker *w,
		 const void *data, unsigned int len, uint16_t tag,
		 struct zpd_entry *e);

/* Rebuild an on-disk block into dst (4 KiB). Caller holds its stripe.
 * 0, or -EIO for a disk error or data that does not decompress. */
int zpd_wb_load(struct zpd_store *store, struct zpd_worker *w,
		const struct zpd_entry *e, void *dst);

/* Give back the disk space of an entry that left the index. */
void zpd_wb_release(struct zpd_store *store, const struct zpd_entry *e);

/* Wait for a writeback in progress to end: afterwards no batch holds a
 * block taken from a list before the call. */
void zpd_wb_quiesce(struct zpd_store *store);

/* Which blocks zpd_writeback() takes. */
enum zpd_wb_mode {
	ZPD_WB_LRU,    /* the oldest, with the second chance */
	ZPD_WB_IDLE,   /* an idle pass: those untouched since the last one,
			* marking the others (see writeback.c) */
	ZPD_WB_MARKED, /* those untouched since zpd_wb_mark() */
};

/*
 * Write back up to pages blocks from node nid's list (-1: every node,
 * fullest first), in batches, chosen by mode. Returns the blocks written
 * back, or -errno when none could be (-ENOSPC: no backing store or it is
 * full; -EIO: the disk failed). With whole-zspage victims a batch may go
 * past pages to empty a zspage. One caller at a time runs; others wait.
 */
long zpd_writeback(struct zpd_store *store, int nid, uint64_t pages,
		   enum zpd_wb_mode mode);

/* Mark every block in the pool, for a later ZPD_WB_MARKED writeback that
 * takes those not read or written since. Returns how many. */
uint64_t zpd_wb_mark(struct zpd_store *store);

/* Apply cfg's limits (max_pool_percent, max_pool_size,
 * accept_threshold_percent, max_node_size) to a running store, waking the
 * shrinker if the pool is now over them. */
void zpd_wb_set_limits(struct zpd_store *store, const struct zpd_config *cfg);

/* Change idle writeback's period (0: off) of a running shrinker. */
void zpd_wb_set_idle(struct zpd_store *store, unsigned int seconds);

/* Start and stop the shrinker thread (limit, pressure, idle and per-node
 * targets). 0 or -errno with a message. */
int zpd_shrinker_start(struct zpd_store *store, const struct zpd_config *cfg,
		       char *err, size_t errlen);
void zpd_shrinker_stop(struct zpd_store *store);

/* The store-wide counters (a snapshot). */
void zpd_store_stats(const struct zpd_store *store,
		     struct zpd_store_stats *out);

/* Every statistic of the store, pool, nodes and volumes: fn(name, value,
 * arg) for each, names like "written_back_pages", "pool.pages",
 * "node0.lru_length", "swap0.blocks_disk". */
void zpd_stats_walk(struct zpd_store *store,
		    void (*fn)(const char *name, uint64_t value, void *arg),
		    void *arg);

/* Zero every counter (reset-stats); gauges keep their values. Called by
 * the thread that walks the statistics. */
void zpd_stats_reset(struct zpd_store *store);

/* ---------------------------------------------------------------------------
 * node.c
 * ------------------------------------------------------------------------ */

/* The node of a CPU (0 when unknown or without NUMA). */
int zpd_cpu_node(unsigned int cpu);

/* The CPU pid last ran on (field 39 of /proc/PID/stat), or -1. */
int zpd_pid_cpu(pid_t pid);

/* The node a request of pid for volume v belongs to (cfg's node_hint);
 * counts it in store->node_requests. */
int zpd_request_node(struct zpd_store *store, struct zpd_worker *w,
		     const struct zpd_volume *v, pid_t pid);

/* ---------------------------------------------------------------------------
 * notify.c
 *
 * Messages go to stderr, one line each, prefixed "<N>" with their syslog
 * priority when stderr is the journal (systemd sets JOURNAL_STREAM), else
 * with "zpoold: " and, below notice, the level's name.
 * ------------------------------------------------------------------------ */

/* Messages above this priority (numerically) are dropped. */
void zpd_log_set_level(int priority);
void zpd_log(int priority, const char *fmt, ...) zp_printf(2, 3);

/* sd_notify(3) when NOTIFY_SOCKET is set; a no-op otherwise. */
void zpd_notify_ready(const char *status);
void zpd_notify_status(const char *status);
void zpd_notify_stopping(void);
/* The watchdog interval systemd asked for, in microseconds; 0 if none. */
uint64_t zpd_watchdog_usec(void);
void zpd_notify_watchdog(void);

/* ---------------------------------------------------------------------------
 * safety.c
 * ------------------------------------------------------------------------ */

/* Lock all memory (current and future, as it is faulted in), mark the
 * process an I/O flusher, set oom_score_adj. Failures to lock are fatal
 * (-errno, message in err); the others are logged warnings. */
int zpd_safety_setup(const struct zpd_config *cfg, char *err, size_t errlen);
/* Fault in every private writable mapping of the daemon that is not a
 * sparse reservation (MAP_NORESERVE), once everything is set up. */
int zpd_prefault_self(void);
/* The same, if the heap has grown since: for a timer of the main thread. */
void zpd_prefault_again(void);
/* Fault in the calling thread's stack; each thread calls it as it starts. */
void zpd_thread_prefault(void);

/* Make directory path and its missing parents (mode 0755). 0 or -errno
 * with a message naming the directory that could not be made. */
int zpd_make_dirs(const char *path, char *err, size_t errlen);

/* The /dev/loopN devices whose backing file is path, as a NUL-separated
 * list in buf; returns how many. */
int zpd_loops_of(const char *path, char *buf, size_t len);

/* Whether a device (e.g. "/dev/loop3") is active swap in /proc/swaps. */
bool zpd_is_swap(const char *dev);

/* If mountpoint holds FUSE mounts whose daemon is gone ("Transport
 * endpoint is not connected"), detach them. 1 if any was cleaned up, 0 if
 * there was none, -EBUSY if a live file system is mounted there, another
 * -errno if a stale one could not be detached. */
int zpd_clean_stale_mount(const char *mountpoint);

/* ---------------------------------------------------------------------------
 * control.c
 *
 * The control socket (common/zp-proto.h), served by the main thread's
 * libev loop, and a job thread for commands that take long.
 * ------------------------------------------------------------------------ */

struct ev_loop;
struct zpd_control;
struct zpd_fuse;

/* What the commands work on. */
struct zpd_ctl_env {
	struct zpd_store *store;
	struct zpd_config *cfg; /* the running configuration */
	struct zpd_fuse *fuse;
	int nr_nodes;           /* of the machine */
};

/* A reply being built: records, or an error message. */
struct zpd_reply {
	char *buf; /* "name value\n" records */
	size_t len, cap;
	bool oom;  /* a record did not fit in memory */
	char msg[1024]; /* the message of an error reply */
	double later;   /* ZPD_CMD_LATER: seconds until the next stage */
};

/* Add a record "name value" (the value formatted, kept on its line). */
void zpd_reply_add(struct zpd_reply *r, const char *name, const char *fmt,
		   ...) zp_printf(3, 4);
void zpd_reply_u64(struct zpd_reply *r, const char *name, uint64_t value);
/* Set the message of an error reply; returns code. */
int zpd_reply_error(struct zpd_reply *r, enum zp_proto_error code,
		    const char *fmt, ...) zp_printf(3, 4);
void zpd_reply_free(struct zpd_reply *r);

/* Listen at cfg->control_socket (nothing when it is empty) on loop. 0 or
 * -errno with a message. */
int zpd_control_start(struct ev_loop *loop, struct zpd_ctl_env *env,
		      struct zpd_control **out, char *err, size_t errlen);
/* Close every connection and the socket; waits for a job in progress. */
void zpd_control_stop(struct zpd_control *ctl);

/* ---------------------------------------------------------------------------
 * commands.c
 *
 * What each command of the protocol does.
 * ------------------------------------------------------------------------ */

/* zpd_command_run() wants to run again, stage + 1, after r->later
 * seconds. */
#define ZPD_CMD_LATER (-1)

/* Whether the command may take long: it then runs in the job thread. */
bool zpd_command_slow(const struct zp_request *req);

/* Run a parsed and permitted request (stage 0, then the next stages it
 * asks for): 0 with the reply's records in r, an error code (enum
 * zp_proto_error) with its message in r, or ZPD_CMD_LATER. */
int zpd_command_run(struct zpd_ctl_env *env, const struct zp_request *req,
		    unsigned int stage, struct zpd_reply *r);

/* ---------------------------------------------------------------------------
 * swapdev.c
 *
 * A volume as swap: the swap area's header, loop devices, swapon and
 * swapoff. Messages name the device or file and say what to do.
 * ------------------------------------------------------------------------ */

/* Bytes of the longest loop device path ("/dev/loop1048575"). */
#define ZPD_DEV_MAX 32

/*
 * Fill page (4096 bytes) with the header of a version 1 swap area for a
 * device of size bytes, as mkswap(8) writes it: every page after the
 * first usable, a random UUID, label (at most 16 bytes; NULL or "" for
 * none). -EINVAL (message in err) when size holds fewer than 10 pages or
 * more than the header can count.
 */
int zpd_swap_header(void *page, uint64_t size, const char *label, char *err,
		    size_t errlen);

/*
 * Attach the file at path to a free loop device (LOOP_CONFIGURE:
 * read-write, direct I/O when dio, not autoclear); its path ("/dev/loopN")
 * goes to dev (ZPD_DEV_MAX bytes). 0 or -errno with a message.
 */
int zpd_loopdev_attach(const char *path, bool dio, char *dev, char *err,
		       size_t errlen);

/* Detach a loop device. 0 or -errno with a message (-EBUSY when it is
 * swap or mounted). */
int zpd_loopdev_detach(const char *dev, char *err, size_t errlen);

/* swapon(2) on dev: priority 0..32767, or -1 for the kernel's choice;
 * discard asks for discards of freed swap pages. 0 or -errno with a
 * message. */
int zpd_swap_on(const char *dev, int priority, bool discard, char *err,
		size_t errlen);

/* swapoff(2) on dev (its pages come back in first). 0 or -errno with a
 * message. */
int zpd_swap_off(const char *dev, char *err, size_t errlen);

/* The priority of dev in /proc/swaps, or INT_MIN when it is not swap. */
int zpd_swap_priority(const char *dev);

/* ---------------------------------------------------------------------------
 * fuse.c
 * ------------------------------------------------------------------------ */

struct zpd_fuse;

/* Mount the store's volumes at cfg->mountpoint. */
int zpd_fuse_start(struct zpd_store *store, const struct zpd_config *cfg,
		   struct zpd_fuse **out, char *err, size_t errlen);
/* Serve requests with cfg->threads workers until zpd_fuse_stop(); runs in
 * its own thread. */
int zpd_fuse_run(struct zpd_fuse *f);
/* Make zpd_fuse_run() return and unmount. */
void zpd_fuse_stop(struct zpd_fuse *f);
/* Make the kernel forget what it cached under name at the mount point
 * (a volume removed or added). Call it holding no daemon lock: the
 * kernel may wait for requests in progress in the directory. */
void zpd_fuse_forget(struct zpd_fuse *f, const char *name);
void zpd_fuse_destroy(struct zpd_fuse *f);

/* ---------------------------------------------------------------------------
 * loop.c
 * ------------------------------------------------------------------------ */

struct fuse_session;
struct zpd_loop;

/* The name of every worker thread (15 characters at most). */
#define ZPD_WORKER_NAME "zpoold-io"

/* A loop serving se's requests with threads workers; the thread waiting
 * for the next request polls for up to poll_us microseconds before it
 * sleeps. Makes se's descriptor non-blocking. */
int zpd_loop_new(struct fuse_session *se, unsigned int threads,
		 unsigned int poll_us, struct zpd_loop **out);
/* Serve requests until zpd_loop_stop() or until the file system is
 * unmounted; the calling thread is one of the workers. 0 or -errno. */
int zpd_loop_run(struct zpd_loop *l);
/* Make zpd_loop_run() return once the requests in progress are served. */
void zpd_loop_stop(struct zpd_loop *l);
void zpd_loop_free(struct zpd_loop *l);

#endif /* ZPD_INTERNAL_H */
