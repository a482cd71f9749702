/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pool.c - pools, and the allocation, free and access paths.
 *
 * malloc: a slot in the fullest partly used zspage the NUMA policy allows,
 * looked for node by node in the order the policy gives, in the caller's
 * shard first and then in shards with a zspage's worth of room
 * (alloc_on_node); when there is none, a new zspage in the caller's shard on
 * the node the policy picks (alloc_new_zspage). No class lock is held while a new zspage's pages are
 * mapped and faulted in, so one class's growth never stalls its readers or
 * the other nodes.
 *
 * read/write: the handle names the class; under the class's migrate lock
 * (shared) the handle entry, and with it the object's place, cannot change.
 * Compaction takes that lock exclusively while it moves objects.
 *
 * lock ordering: see internal.h. malloc holds one class lock at a time and
 * none while it takes pages from a node; free and compaction return pages
 * after dropping the class lock.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "track.h"

static const char *const policy_names[ZP_NUMA_NR_POLICIES] = {
	[ZP_NUMA_PREFERRED] = "preferred",
	[ZP_NUMA_STRICT] = "strict",
	[ZP_NUMA_LOCAL] = "local",
	[ZP_NUMA_INTERLEAVE] = "interleave",
};

const char *zp_numa_policy_name(enum zp_numa_policy policy)
{
	if ((unsigned int)policy >= ZP_NUMA_NR_POLICIES)
		return NULL;
	return policy_names[policy];
}

int zp_numa_policy_parse(const char *name, enum zp_numa_policy *policy)
{
	for (int p = 0; p < ZP_NUMA_NR_POLICIES; p++) {
		if (name && strcmp(name, policy_names[p]) == 0) {
			*policy = (enum zp_numa_policy)p;
			return 0;
		}
	}
	return -EINVAL;
}

void zp_pool_config_init(struct zp_pool_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->policy = ZP_NUMA_PREFERRED;
	cfg->max_zspage_pages = ZP_DEFAULT_ZSPAGE_PAGES;
	cfg->chunk_bytes = 4u << 20;
	cfg->cache_pages = 256;
	cfg->release_delay_ms = 1000;
	cfg->refill_wait_ms = 100;
}

static int config_check(const struct zp_pool_config *cfg)
{
	const size_t zspage_max = (size_t)ZP_MAX_ZSPAGE_PAGES * ZP_PAGE_SIZE;

	if ((unsigned int)cfg->policy >= ZP_NUMA_NR_POLICIES)
		return -EINVAL;
	if (cfg->max_zspage_pages < ZP_MIN_ZSPAGE_PAGES ||
	    cfg->max_zspage_pages > ZP_MAX_ZSPAGE_PAGES)
		return -EINVAL;
	/* A chunk holds whole zspages of any length; 1 GiB keeps the page
	 * bitmaps and run searches small. */
	if (cfg->chunk_bytes == 0 || cfg->chunk_bytes % zspage_max != 0 ||
	    cfg->chunk_bytes > (1ul << 30))
		return -EINVAL;
	if (cfg->shards > ZP_MAX_SHARDS)
		return -EINVAL;
	if (cfg->node_reserve_bytes % ZP_PAGE_SIZE != 0)
		return -EINVAL;
	return 0;
}

void pool_account_pages(struct zp_pool *pool, int64_t npages)
{
	gauge_add(&pool->pages, &pool->pages_max, npages);
}

int zp_pool_create(const struct zp_pool_config *cfg, struct zp_pool **out)
{
	struct zp_pool *pool;
	int ret;

	ret = config_check(cfg);
	if (ret)
		return ret;
	pool = prim_meta_alloc(sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	pool->cfg = *cfg;
	pool->ops = cfg->node_ops ? cfg->node_ops : &zp_node_numa_ops;
	pool->ctx = cfg->node_ops ? cfg->node_ctx : NULL;
	pool->nr_nodes = pool->ops->nr_nodes(pool->ctx);
	if (pool->nr_nodes < 1 || pool->nr_nodes > ZP_MAX_NODES) {
		ret = -EINVAL;
		goto err_free;
	}
	pool->nr_shards = cfg->shards;
	if (!pool->nr_shards) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		pool->nr_shards = cpus < 1 ? 1 :
				  (unsigned int)ZP_MIN(cpus, (long)ZP_MAX_SHARDS);
	}
	pthread_mutex_init(&pool->compact_lock, NULL);
	pthread_mutex_init(&pool->refill_lock, NULL);
	zp_cond_init(&pool->refill_cond);
	zp_cond_init(&pool->refill_done);

	ret = -ENOMEM;
	pool->shards = prim_meta_alloc(pool->nr_shards * sizeof(struct zp_shard));
	if (!pool->shards)
		goto err_lock;
	ret = classes_init(pool);
	if (ret)
		goto err_shards;
	ret = nodes_init(pool);
	if (ret)
		goto err_classes;
	*out = pool;
	return 0;

err_classes:
	classes_destroy(pool);
err_shards:
	prim_meta_free(pool->shards, pool->nr_shards * sizeof(struct zp_shard));
err_lock:
	pthread_mutex_destroy(&pool->compact_lock);
	pthread_mutex_destroy(&pool->refill_lock);
	pthread_cond_destroy(&pool->refill_cond);
	pthread_cond_destroy(&pool->refill_done);
err_free:
	prim_meta_free(pool, sizeof(*pool));
	return ret;
}

void zp_pool_destroy(struct zp_pool *pool)
{
	if (!pool)
		return;
	/* Chunks go with their nodes; the tables with their classes. */
	nodes_destroy(pool);
	classes_destroy(pool);
	prim_meta_free(pool->shards, pool->nr_shards * sizeof(struct zp_shard));
	pthread_mutex_destroy(&pool->compact_lock);
	pthread_mutex_destroy(&pool->refill_lock);
	pthread_cond_destroy(&pool->refill_cond);
	pthread_cond_destroy(&pool->refill_done);
	prim_meta_free(pool, sizeof(*pool));
}

/* Index of the distinct class that serves size. */
static unsigned int size_to_class_id(struct zp_pool *pool, size_t size)
{
	unsigned int idx = 0;

	if (size > ZP_MIN_ALLOC)
		idx = (unsigned int)((size - ZP_MIN_ALLOC + ZP_CLASS_DELTA - 1) /
				     ZP_CLASS_DELTA);
	return pool->size_class[idx];
}

/* The calling thread's shard: its CPU's. */
static unsigned int current_shard(struct zp_pool *pool)
{
	int cpu;

	if (pool->nr_shards == 1)
		return 0;
	cpu = pool->ops->current_cpu(pool->ctx);
	return cpu < 0 ? 0 : (unsigned int)cpu % pool->nr_shards;
}

/*
 * Allocate a slot and a handle in a partly used zspage. Caller holds
 * class->lock. 0, or -ENOMEM when the handle table is full.
 */
static int obj_alloc(struct zp_class *class, struct zp_zspage *zsp,
		     size_t size, zp_handle_t *handle)
{
	uint32_t hidx, slot;
	int ret;

	ret = table_alloc(&class->handles, &hidx);
	if (ret)
		return ret;
	slot = zspage_obj_alloc(class, zsp, hidx);
	zspage_fix_fullness(class, zsp);
	*(uint64_t *)table_entry(&class->handles, hidx) =
		he_encode(zsp->id, slot, (uint32_t)size);
	if (class->handles.esize > sizeof(uint64_t))
		__atomic_store_n((uint64_t *)table_entry(&class->handles,
							 hidx) + 1,
				 0, __ATOMIC_RELAXED);
	class->bytes_requested += size;
	class->malloc_calls++;
	track_alloc(zspage_obj(class, zsp, slot), size);
	zspage_check(class, zsp);
	*handle = (zp_handle_t)class->id << HANDLE_CLASS_SHIFT | hidx;
	return 0;
}

/*
 * Fill the fullest partly used zspage on node in the caller's shard or,
 * failing that, in another shard that holds a zspage's worth of free slots
 * there and whose lock is free. A shard with only a few holes keeps them for
 * its own CPU: taking them would send that CPU's frees and this one's
 * through each other's locks, for less than a zspage of density. So no
 * shard makes a new zspage while another has a whole one to spare, and a
 * class wastes at most about one zspage per shard and node more than with
 * one shard. 1 if allocated (*ret set), 0 if there was no room.
 */
static int alloc_on_node(struct zp_pool *pool, unsigned int class_id,
			 unsigned int own, int node, size_t size,
			 zp_handle_t *handle, int *ret)
{
	const uint64_t bit = 1ull << node;

	for (unsigned int i = 0; i < pool->nr_shards; i++) {
		unsigned int shard = (own + i) % pool->nr_shards;
		struct zp_class *class = pool_class(pool, class_id, shard);
		struct zp_zspage *zsp;

		if (i == 0) {
			pthread_mutex_lock(&class->lock);
		} else {
			/* A hint read without the lock; the lists decide. */
			if (!(atomic_load_explicit(&class->roomy_nodes,
						   memory_order_relaxed) & bit))
				continue;
			if (pthread_mutex_trylock(&class->lock) != 0)
				continue;
		}
		zsp = zspage_fullest(class, node);
		if (zsp) {
			*ret = obj_alloc(class, zsp, size, handle);
			pthread_mutex_unlock(&class->lock);
			return 1;
		}
		pthread_mutex_unlock(&class->lock);
	}
	return 0;
}

/*
 * Pages for a new zspage: on nid, then (not strict) the other nodes nearest
 * first, each only while it has room above its low watermark and reserve
 * (ZP_ROOM_LOW). When none has, once more in the same order down to the
 * min watermark (ZP_ROOM_MIN), so that a machine short of memory everywhere
 * still gets its swap stored; strict stays on nid at the first level.
 * Interleave starts from the next node in turn instead of nid. Called
 * without class->lock. Returns the node used, or -ENOMEM.
 */
static int new_zspage_pages(struct zp_pool *pool, struct zp_class *class,
			    int nid, struct zp_chunk **chunk, char **base)
{
	const unsigned int npages = class->pages_per_zspage;
	const bool strict = pool_policy(pool) == ZP_NUMA_STRICT;
	struct zp_node *node;
	int first = nid;

	if (pool_policy(pool) == ZP_NUMA_INTERLEAVE)
		first = (int)(atomic_fetch_add(&pool->interleave_next, 1) %
			      (unsigned int)pool->nr_nodes);
	node = &pool->nodes[first];
	for (int level = 0; level < (strict ? 1 : ZP_NR_ROOM_LEVELS); level++) {
		if (node_alloc_pages(pool, first, npages, first == nid, level,
				     class->shard, chunk, base) == 0)
			return first;
		for (int i = 0; !strict && i < node->nr_fallback; i++) {
			int n = node->fallback[i];

			if (node_alloc_pages(pool, n, npages, n == nid, level,
					     class->shard, chunk, base) == 0)
				return n;
		}
	}
	return -ENOMEM;
}

size_t zp_pool_refill(struct zp_pool *pool)
{
	size_t added;

	for (unsigned int c = 0; pool->cfg.refill_in_background &&
				 c < pool->nr_instances; c++) {
		struct zp_class *class = &pool->classes[c];

		table_refill(&class->handles, &class->lock);
		table_refill(&class->zspages, &class->lock);
	}
	added = nodes_refill(pool);
	pthread_mutex_lock(&pool->refill_lock);
	pool->refill_passes++;
	pthread_cond_broadcast(&pool->refill_done);
	pthread_mutex_unlock(&pool->refill_lock);
	return added;
}

void pool_want_refill(struct zp_pool *pool)
{
	if (atomic_exchange(&pool->refill_signalled, true))
		return;
	pthread_mutex_lock(&pool->refill_lock);
	pool->refill_wanted = true;
	pthread_cond_signal(&pool->refill_cond);
	pthread_mutex_unlock(&pool->refill_lock);
}

void zp_pool_refill_wake(struct zp_pool *pool)
{
	pthread_mutex_lock(&pool->refill_lock);
	pthread_cond_broadcast(&pool->refill_cond);
	pthread_mutex_unlock(&pool->refill_lock);
}

int pool_wait_pass(struct zp_pool *pool)
{
	uint64_t progress = atomic_load(&pool->refill_progress);
	const uint64_t began = zp_now_ms();
	const int nid = pool_current_node(pool);
	struct timespec deadline;
	uint64_t pass;
	int ret = 0;

	atomic_fetch_add(&pool->table_waits, 1);
	pool_want_refill(pool);
	zp_deadline(&deadline, pool->cfg.refill_wait_ms);
	pthread_mutex_lock(&pool->refill_lock);
	pass = pool->refill_passes;
	while (pool->refill_passes == pass) {
		uint64_t now;

		if (pthread_cond_timedwait(&pool->refill_done,
					   &pool->refill_lock,
					   &deadline) != ETIMEDOUT)
			continue;
		/* A pass that goes on faulting pages in is waited for, and
		 * so is one only slow to come. */
		now = atomic_load(&pool->refill_progress);
		if (now == progress &&
		    !node_refill_starved(pool, nid, zp_now_ms() - began)) {
			ret = -ENOMEM;
			break;
		}
		progress = now;
		zp_deadline(&deadline, pool->cfg.refill_wait_ms);
	}
	pthread_mutex_unlock(&pool->refill_lock);
	return ret;
}

bool zp_pool_refill_wait(struct zp_pool *pool, unsigned int timeout_ms)
{
	struct timespec deadline;
	bool wanted;

	zp_deadline(&deadline, timeout_ms);
	pthread_mutex_lock(&pool->refill_lock);
	if (!pool->refill_wanted)
		pthread_cond_timedwait(&pool->refill_cond, &pool->refill_lock,
				       &deadline);
	wanted = pool->refill_wanted;
	pool->refill_wanted = false;
	atomic_store(&pool->refill_signalled, false);
	pthread_mutex_unlock(&pool->refill_lock);
	return wanted;
}

/* A new zspage in the caller's shard, and the object in it. */
static int alloc_new_zspage(struct zp_pool *pool, struct zp_class *class,
			    int nid, size_t size, zp_handle_t *handle)
{
	struct zp_zspage *zsp;
	struct zp_chunk *chunk;
	char *base;
	int node, ret;

	transition_begin(pool, class->shard);
	node = new_zspage_pages(pool, class, nid, &chunk, &base);
	if (node < 0) {
		transition_end(pool, class->shard);
		return node;
	}
	pthread_mutex_lock(&class->lock);
	ret = zspage_create(class, node, chunk, base, &zsp);
	if (ret == 0) {
		zspage_insert(class, zsp);
		ret = obj_alloc(class, zsp, size, handle);
		if (ret) {
			/* No handle for it: the zspage dies empty. */
			zspage_remove(class, zsp);
			zspage_destroy(class, zsp);
		}
	}
	pthread_mutex_unlock(&class->lock);
	if (ret)
		node_free_pages(pool, chunk, base, class->pages_per_zspage,
				class->shard);
	transition_end(pool, class->shard);
	return ret;
}

/* One try of zp_pool_malloc(); -EAGAIN: a table needs the refill thread. */
static int malloc_once(struct zp_pool *pool, size_t size, int nid,
		       zp_handle_t *handle)
{
	unsigned int class_id = size_to_class_id(pool, size);
	unsigned int own = current_shard(pool);
	struct zp_node *node;
	int ret = 0;

	/* Partly used zspages first: on the preferred node, then (not
	 * strict) on the others, nearest first. */
	node = &pool->nodes[nid];
	if (alloc_on_node(pool, class_id, own, nid, size, handle, &ret))
		goto out;
	for (int i = 0; pool_policy(pool) != ZP_NUMA_STRICT && i < node->nr_fallback;
	     i++)
		if (alloc_on_node(pool, class_id, own, node->fallback[i], size,
				  handle, &ret))
			goto out;
	ret = alloc_new_zspage(pool, pool_class(pool, class_id, own), nid, size,
			       handle);
out:
	return ret;
}

/* How often an allocation waits for the refill thread to make table room
 * before it is refused: a pass that brought none is not waited for twice
 * more than this. */
#define TABLE_WAIT_TRIES 3

int zp_pool_malloc(struct zp_pool *pool, size_t size, int nid,
		   zp_handle_t *handle)
{
	int ret;

	if (size == 0 || size > ZP_MAX_ALLOC || nid >= pool->nr_nodes)
		return -EINVAL;
	if (nid < 0 || pool_policy(pool) == ZP_NUMA_LOCAL)
		nid = pool->ops->current_node(pool->ctx);
	zp_assert(nid >= 0 && nid < pool->nr_nodes);
	/* A table's room comes from the refill thread, which takes class
	 * locks: it is waited for here, where this thread holds none. */
	for (int tries = 0;; tries++) {
		ret = malloc_once(pool, size, nid, handle);
		if (ret != -EAGAIN)
			break;
		if (tries == TABLE_WAIT_TRIES || pool_wait_pass(pool)) {
			ret = -ENOMEM;
			break;
		}
	}
	if (ret)
		atomic_fetch_add(&pool->malloc_fail, 1);
	return ret;
}

void zp_pool_free(struct zp_pool *pool, zp_handle_t handle)
{
	struct zp_class *class = handle_to_class(pool, handle);
	struct zp_dead_zspage dead = {0};
	struct zp_zspage *zsp;
	uint64_t he;

	pthread_mutex_lock(&class->lock);
	he = *handle_entry(class, handle);
	if (!(he & HE_ALLOCATED))
		zp_panic("free of a dead handle %#llx", (unsigned long long)handle);
	zsp = zspage_get(class, he_zspage(he));
	zp_assert(zsp->rmap[he_slot(he)] == handle_index(handle));
	zspage_obj_free(class, zsp, he_slot(he));
	table_free(&class->handles, handle_index(handle));
	class->bytes_requested -= he_size(he);
	class->free_calls++;
	if (zsp->inuse == 0) {
		zspage_remove(class, zsp);
		zspage_retire(pool, class, zsp, &dead);
	} else {
		zspage_fix_fullness(class, zsp);
		zspage_check(class, zsp);
	}
	pthread_mutex_unlock(&class->lock);
	zspage_release(pool, class, &dead);
}

/* The live entry of a handle; caller holds class->migrate or class->lock. */
static uint64_t live_entry(struct zp_class *class, zp_handle_t handle)
{
	uint64_t he = *handle_entry(class, handle);

	if (!(he & HE_ALLOCATED))
		zp_panic("use of a dead handle %#llx", (unsigned long long)handle);
	return he;
}

static char *entry_addr(struct zp_class *class, uint64_t he)
{
	return zspage_obj(class, zspage_get(class, he_zspage(he)), he_slot(he));
}

size_t zp_pool_obj_size(struct zp_pool *pool, zp_handle_t handle)
{
	struct zp_class *class = handle_to_class(pool, handle);
	size_t size;

	pthread_rwlock_rdlock(&class->migrate);
	size = he_size(live_entry(class, handle));
	pthread_rwlock_unlock(&class->migrate);
	return size;
}

void zp_pool_set_owner(struct zp_pool *pool, zp_handle_t handle,
		       uint64_t owner)
{
	struct zp_class *class = handle_to_class(pool, handle);

	zp_assert(pool->cfg.owners && owner != 0);
	/* Read by zp_pool_zspage_owners() under the class lock, which
	 * the owner need not take. */
	__atomic_store_n(handle_entry(class, handle) + 1, owner,
			 __ATOMIC_RELAXED);
}

size_t zp_pool_zspage_owners(struct zp_pool *pool, zp_handle_t handle,
			     uint64_t *owners, size_t max)
{
	struct zp_class *class = handle_to_class(pool, handle);
	const struct zp_zspage *zsp;
	size_t n = 0;

	zp_assert(pool->cfg.owners);
	/* The class lock keeps the zspage's slots where they are. */
	pthread_mutex_lock(&class->lock);
	zsp = zspage_get(class, he_zspage(live_entry(class, handle)));
	for (uint32_t slot = 0; slot < class->objs_per_zspage && n < max;
	     slot++) {
		uint32_t hidx = zsp->rmap[slot];
		uint64_t owner;

		if (hidx & ZSP_FREE_BIT)
			continue;
		owner = __atomic_load_n(
			(uint64_t *)table_entry(&class->handles, hidx) + 1,
			__ATOMIC_RELAXED);
		if (owner)
			owners[n++] = owner;
	}
	pthread_mutex_unlock(&class->lock);
	return n;
}

int zp_pool_obj_node(struct zp_pool *pool, zp_handle_t handle)
{
	struct zp_class *class = handle_to_class(pool, handle);
	int node;

	pthread_rwlock_rdlock(&class->migrate);
	node = zspage_get(class, he_zspage(live_entry(class, handle)))->node;
	pthread_rwlock_unlock(&class->migrate);
	return node;
}

const void *zp_pool_read_begin(struct zp_pool *pool, zp_handle_t handle)
{
	struct zp_class *class = handle_to_class(pool, handle);

	pthread_rwlock_rdlock(&class->migrate);
	return entry_addr(class, live_entry(class, handle));
}

void zp_pool_read_end(struct zp_pool *pool, zp_handle_t handle)
{
	struct zp_class *class = handle_to_class(pool, handle);

	pthread_rwlock_unlock(&class->migrate);
}

void zp_pool_write(struct zp_pool *pool, zp_handle_t handle, const void *src,
		   size_t len)
{
	struct zp_class *class = handle_to_class(pool, handle);
	uint64_t he;

	pthread_rwlock_rdlock(&class->migrate);
	he = live_entry(class, handle);
	zp_assert(len <= he_size(he));
	memcpy(entry_addr(class, he), src, len);
	pthread_rwlock_unlock(&class->migrate);
}

size_t zp_pool_trim(struct zp_pool *pool)
{
	for (unsigned int c = 0; c < pool->nr_instances; c++) {
		struct zp_class *class = &pool->classes[c];

		pthread_mutex_lock(&class->lock);
		table_trim(&class->handles);
		table_trim(&class->zspages);
		pthread_mutex_unlock(&class->lock);
	}
	return (size_t)nodes_trim(pool);
}

size_t zp_pool_total_pages(struct zp_pool *pool)
{
	return (size_t)atomic_load(&pool->pages);
}

size_t zp_pool_node_pages(struct zp_pool *pool, int nid)
{
	struct zp_node *node;
	size_t pages;

	if (nid < 0 || nid >= pool->nr_nodes)
		return 0;
	node = &pool->nodes[nid];
	pages = atomic_load(&node->pages);
	return pages;
}

int zp_pool_nr_nodes(struct zp_pool *pool)
{
	return pool->nr_nodes;
}

unsigned int zp_pool_nr_shards(struct zp_pool *pool)
{
	return pool->nr_shards;
}

int zp_pool_set_policy(struct zp_pool *pool, enum zp_numa_policy policy)
{
	enum zp_numa_policy cur = pool_policy(pool);

	if ((unsigned int)policy >= ZP_NUMA_NR_POLICIES)
		return -EINVAL;
	/* Chunks keep the binding they were mapped with: a strict pool's
	 * are bound to their node, the others' only prefer it. */
	if (policy != cur &&
	    (policy == ZP_NUMA_STRICT || cur == ZP_NUMA_STRICT))
		return -EPERM;
	__atomic_store_n(&pool->cfg.policy, policy, __ATOMIC_RELAXED);
	return 0;
}

enum zp_numa_policy zp_pool_policy(struct zp_pool *pool)
{
	return pool_policy(pool);
}

size_t zp_pool_huge_class_size(struct zp_pool *pool)
{
	return pool->huge_class_size;
}
