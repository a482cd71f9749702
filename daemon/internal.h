/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * internal.h - what the files of daemon/ share, grouped by the file that
 * defines it.
 *
 * config.c   the configuration file, command-line overrides, key table
 * store.c    volumes, their block index and the data path
 * node.c     which NUMA node a request belongs to
 * fuse.c     the FUSE low-level front end
 * safety.c   what keeps a swap daemon alive under memory pressure
 * notify.c   logging and sd_notify
 * main.c     start-up and shutdown
 *
 * lock ordering: a volume's block stripe lock, then the pool's own locks
 * (pool.h). No daemon lock is held across a FUSE reply.
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

#include "compress/compress.h"
#include "pool/pool.h"
#include "zp-compiler.h"

/* ---------------------------------------------------------------------------
 * config.c
 *
 * The file is INI-style:
 *
 *   # comment (also ';'), blank lines ignored
 *   [daemon]
 *   mountpoint = /run/zpoold
 *   [pool]
 *   compressor = lz4
 *   [volume swap0]
 *   size = 4G
 *   node = 0
 *
 * Sections: [daemon], [pool], and one [volume NAME] per volume. Keys and
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

#define ZPD_DEFAULT_CONFIG "/etc/zpoold.conf"
#define ZPD_DEFAULT_MOUNTPOINT "/run/zpoold"

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

	/* [pool] */
	struct comp_spec compressor;
	enum zp_numa_policy policy;
	unsigned int max_zspage_pages;
	uint64_t chunk_bytes;
	unsigned int release_delay_ms;
	unsigned int shards;

	/* [volume NAME] */
	unsigned int nr_volumes;
	struct zpd_volume_conf volumes[ZPD_MAX_VOLUMES];
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
	ZPD_E_SAME = 1u << 0,   /* val is the repeated word */
	ZPD_E_POOL = 1u << 1,   /* val is a pool handle, len bytes, tag */
	ZPD_E_REF = 1u << 7,    /* read or written since the shrinker looked */
};
#define ZPD_E_FORM (ZPD_E_SAME | ZPD_E_POOL)

/* One block; protected by its stripe lock. */
struct zpd_entry {
	uint64_t val;  /* pool handle (ZPD_E_POOL) or word (ZPD_E_SAME) */
	uint16_t len;  /* stored bytes: 1..4096 for ZPD_E_POOL */
	uint16_t tag;  /* comp_tag_t of the object */
	uint8_t flags; /* ZPD_E_* */
	uint8_t node;  /* node the request resolved to */
	uint16_t spare;
};

/* Per-volume counters, X(name, description). Exact; updated with relaxed
 * atomics outside the stripe locks. */
#define ZPD_VOLUME_STAT_FIELDS(X)                                               \
	X(reads, "read requests")                                              \
	X(writes, "write requests")                                            \
	X(discards, "punch-hole and zero-range requests")                     \
	X(bytes_read, "bytes read")                                            \
	X(bytes_written, "bytes written")                                      \
	X(blocks_same, "blocks held as a same-filled word")                    \
	X(blocks_raw, "blocks held uncompressed in the pool")                  \
	X(blocks_compressed, "blocks held compressed in the pool")             \
	X(stored_bytes, "bytes of the pool objects of this volume")            \
	X(partial_writes, "block writes that merged with the old contents")    \
	X(write_errors, "writes that failed: pool out of memory, or a partial " \
			"write onto a corrupt block")                          \
	X(read_errors, "block reads that found a corrupt object")

struct zpd_volume_stats {
#define ZPD_STAT_MEMBER(name, desc) uint64_t name;
	ZPD_VOLUME_STAT_FIELDS(ZPD_STAT_MEMBER)
#undef ZPD_STAT_MEMBER
};

/* Per-thread working memory of the data path, made before any request. */
struct zpd_worker {
	struct comp_ctx *comp;
	unsigned char page[ZPD_BLOCK_SIZE] zp_cacheline_aligned;
	/* Room for the largest read reply (the config's max_write). */
	unsigned char *buf;
	size_t buf_size;
	struct zpd_store *store;
	struct zpd_worker *next; /* on the store's free list */
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
};

struct zpd_store {
	struct zp_pool *pool;
	/* The algorithm new blocks get; changes at run time. Read with
	 * zpd_store_compressor(). */
	_Atomic uint32_t compressor; /* backend << 16 | (level & 0xffff) */
	unsigned int nr_volumes;
	struct zpd_volume *volumes[ZPD_MAX_VOLUMES];
	/* Workers made at start; a thread takes one for its life. */
	pthread_key_t worker_key;
	pthread_mutex_t workers_lock;
	struct zpd_worker *free_workers; /* protected by workers_lock */
	unsigned int nr_workers;
	/* Requests per node their writes resolved to (node.c). */
	_Atomic uint64_t node_requests[ZP_MAX_NODES];
	int nr_nodes;
	enum zpd_node_hint node_hint;
	unsigned int node_cache_ms;
	int cpu_node[CPU_SETSIZE]; /* node of each CPU, 0 when unknown */
};

/* Make the store: the pool, the volumes of cfg and nr_workers workers. */
int zpd_store_create(const struct zpd_config *cfg, unsigned int nr_workers,
		     struct zpd_store **out, char *err, size_t errlen);
void zpd_store_destroy(struct zpd_store *store);

struct zpd_volume *zpd_store_volume(struct zpd_store *store, const char *name);

/* Housekeeping for a timer: compact the pool when its pages hold much more
 * than its objects need, and give free pages above the reserve back. */
void zpd_store_maintain(struct zpd_store *store);

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

void zpd_volume_stats(const struct zpd_volume *v, struct zpd_volume_stats *out);

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
