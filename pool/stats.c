/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stats.c - statistics, gathered on request from the counters each class and
 * node keeps under its own lock, so the hot paths share no counter.
 *
 * The descriptor tables come from the same X-macro lists as the structs in
 * pool.h, so a field cannot be added to one and forgotten in the other.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define POOL_DESC(name, kind, desc)                                              \
	{#name, kind, desc, offsetof(struct zp_pool_stats, name)},
#define NODE_DESC(name, kind, desc)                                              \
	{#name, kind, desc, offsetof(struct zp_node_stats, name)},
#define CLASS_DESC(name, kind, desc)                                             \
	{#name, kind, desc, offsetof(struct zp_class_stats, name)},

const struct zp_stat_desc zp_pool_stat_desc[] = {ZP_POOL_STAT_FIELDS(POOL_DESC)};
const size_t zp_pool_nr_stat_desc = ZP_ARRAY_SIZE(zp_pool_stat_desc);
const struct zp_stat_desc zp_node_stat_desc[] = {ZP_NODE_STAT_FIELDS(NODE_DESC)};
const size_t zp_node_nr_stat_desc = ZP_ARRAY_SIZE(zp_node_stat_desc);
const struct zp_stat_desc zp_class_stat_desc[] = {
	ZP_CLASS_STAT_FIELDS(CLASS_DESC)};
const size_t zp_class_nr_stat_desc = ZP_ARRAY_SIZE(zp_class_stat_desc);

/* Add one shard of a class to its statistics. Caller holds class->lock. */
static void class_add(const struct zp_pool *pool, const struct zp_class *class,
		      struct zp_class_stats *st)
{
	st->size = class->size;
	st->pages_per_zspage = class->pages_per_zspage;
	st->objs_per_zspage = class->objs_per_zspage;
	st->huge = class->huge;
	st->min_size = class->min_size;
	st->max_size = class->size;
	st->pages_compacted += class->pages_compacted;
	for (int n = 0; n < pool->nr_nodes; n++) {
		const struct zp_class_node *cn = &class->cn[n];

		st->objs_used += cn->objs_used;
		st->objs_allocated += cn->objs_alloc;
		st->zspages += cn->zspages;
		for (int g = 0; g < ZP_NR_FULLNESS; g++) {
			const struct zp_list *pos;

			if (!(cn->nonempty & (1u << g)))
				continue;
			zp_list_for_each(pos, &cn->lists[g])
				st->fullness[g]++;
		}
	}
}

void zp_pool_stats(struct zp_pool *pool, struct zp_pool_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned int c = 0; c < pool->nr_instances; c++) {
		struct zp_class *class = &pool->classes[c];
		uint64_t used = 0;

		pthread_mutex_lock(&class->lock);
		for (int n = 0; n < pool->nr_nodes; n++) {
			used += class->cn[n].objs_used;
			st->zspages += class->cn[n].zspages;
		}
		st->objects += used;
		if (class->huge)
			st->huge_objects += used;
		st->bytes_requested += class->bytes_requested;
		st->bytes_used += used * class->size;
		st->metadata_bytes += table_resident_bytes(&class->handles) +
				      table_resident_bytes(&class->zspages);
		st->malloc_calls += class->malloc_calls;
		st->free_calls += class->free_calls;
		st->zspages_created += class->zspages_created;
		st->zspages_freed += class->zspages_freed;
		st->pages_compacted += class->pages_compacted;
		st->objects_moved += class->objects_moved;
		pthread_mutex_unlock(&class->lock);
	}
	for (int n = 0; n < pool->nr_nodes; n++) {
		struct zp_node *node = &pool->nodes[n];

		pthread_mutex_lock(&node->lock);
		st->cached_pages += node->cached_pages;
		st->pages_released += node->pages_released;
		st->fallback_zspages += node_placed(pool, node, false);
		st->chunks += node->nr_chunks;
		st->mapped_bytes += node->nr_chunks * pool->cfg.chunk_bytes;
		st->metadata_bytes += table_resident_bytes(&node->chunk_table);
		pthread_mutex_unlock(&node->lock);
		st->cached_pages += node_stashed_pages(pool, node);
	}
	st->metadata_bytes +=
		ZP_ALIGN_UP(sizeof(*pool), (size_t)ZP_PAGE_SIZE) +
		ZP_ALIGN_UP(pool->nr_instances * sizeof(struct zp_class),
			    (size_t)ZP_PAGE_SIZE) +
		ZP_ALIGN_UP(pool->nr_instances * pool->nr_nodes *
				    sizeof(struct zp_class_node),
			    (size_t)ZP_PAGE_SIZE) +
		ZP_ALIGN_UP(pool->nr_nodes * sizeof(struct zp_node),
			    (size_t)ZP_PAGE_SIZE);
	st->pages = atomic_load(&pool->pages);
	st->pages_max = gauge_max(&pool->pages, &pool->pages_max);
	st->malloc_fail = atomic_load(&pool->malloc_fail);
	st->table_waits = atomic_load(&pool->table_waits);
	pthread_mutex_lock(&pool->compact_lock);
	st->compact_runs = pool->compact_runs;
	pthread_mutex_unlock(&pool->compact_lock);
}

unsigned int zp_pool_nr_classes(struct zp_pool *pool)
{
	return pool->nr_classes;
}

int zp_pool_class_stats(struct zp_pool *pool, unsigned int class_id,
			struct zp_class_stats *st)
{
	struct zp_class *class;

	if (class_id >= pool->nr_classes)
		return -ENOENT;
	memset(st, 0, sizeof(*st));
	for (unsigned int shard = 0; shard < pool->nr_shards; shard++) {
		class = pool_class(pool, class_id, shard);
		pthread_mutex_lock(&class->lock);
		class_add(pool, class, st);
		pthread_mutex_unlock(&class->lock);
	}
	return 0;
}

int zp_pool_node_stats(struct zp_pool *pool, int nid, struct zp_node_stats *st)
{
	struct zp_node *node;

	if (nid < 0 || nid >= pool->nr_nodes)
		return -ENOENT;
	node = &pool->nodes[nid];
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&node->lock);
	st->cached_pages = node->cached_pages;
	st->pages_released = node->pages_released;
	st->chunks = node->nr_chunks;
	st->charge_fail = node->charge_fail;
	st->low_refusals = node->low_refusals;
	st->refilled_pages = node->refilled_pages;
	st->refill_waits = node->refill_waits;
	st->refill_timeouts = node->refill_timeouts;
	st->table_pages = node->meta_pages;
	pthread_mutex_unlock(&node->lock);
	st->low_zspages = atomic_load(&node->low_zspages);
	st->pages = atomic_load(&node->pages);
	st->pages_max = gauge_max(&node->pages, &node->pages_max);
	st->preferred_zspages = node_placed(pool, node, true);
	st->fallback_zspages = node_placed(pool, node, false);
	for (unsigned int c = 0; c < pool->nr_instances; c++) {
		struct zp_class *class = &pool->classes[c];

		pthread_mutex_lock(&class->lock);
		st->zspages += class->cn[nid].zspages;
		pthread_mutex_unlock(&class->lock);
	}
	st->cached_pages += node_stashed_pages(pool, node);
	return 0;
}

/* Page addresses are collected in batches and asked about together. */
#define RESIDENT_BATCH 512

struct resident_walk {
	struct zp_pool *pool;
	void *pages[RESIDENT_BATCH];
	int status[RESIDENT_BATCH];
	size_t n;
	uint64_t *resident;
	uint64_t elsewhere;
	int err;
};

static void resident_flush(struct resident_walk *w)
{
	int ret;

	if (!w->n)
		return;
	ret = w->pool->ops->query(w->pool->ctx, w->pages, w->n, w->status);
	if (ret && !w->err)
		w->err = ret;
	for (size_t i = 0; !ret && i < w->n; i++) {
		if (w->status[i] >= 0 && w->status[i] < w->pool->nr_nodes)
			w->resident[w->status[i]]++;
		else
			w->elsewhere++;
	}
	w->n = 0;
}

int zp_pool_node_resident(struct zp_pool *pool, uint64_t *resident,
			  uint64_t *elsewhere)
{
	struct resident_walk *w;
	int ret;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->pool = pool;
	w->resident = resident;
	memset(resident, 0, pool->nr_nodes * sizeof(*resident));
	/* Walk the zspages class by class: they are what the pool holds. */
	for (unsigned int c = 0; c < pool->nr_instances; c++) {
		struct zp_class *class = &pool->classes[c];

		pthread_mutex_lock(&class->lock);
		for (int n = 0; n < pool->nr_nodes; n++) {
			for (int g = 0; g < ZP_NR_FULLNESS; g++) {
				struct zp_list *pos;

				zp_list_for_each(pos, &class->cn[n].lists[g]) {
					struct zp_zspage *zsp = zp_list_entry(
						pos, struct zp_zspage, link);

					for (unsigned int p = 0; p < class->pages_per_zspage; p++) {
						w->pages[w->n++] =
							zsp->base + (size_t)p * ZP_PAGE_SIZE;
						if (w->n == RESIDENT_BATCH)
							resident_flush(w);
					}
				}
			}
		}
		pthread_mutex_unlock(&class->lock);
	}
	resident_flush(w);
	if (elsewhere)
		*elsewhere = w->elsewhere;
	ret = w->err;
	free(w);
	return ret;
}

void zp_pool_reset_counters(struct zp_pool *pool)
{
	for (unsigned int c = 0; c < pool->nr_instances; c++) {
		struct zp_class *class = &pool->classes[c];

		pthread_mutex_lock(&class->lock);
		class->malloc_calls = 0;
		class->free_calls = 0;
		class->zspages_created = 0;
		class->zspages_freed = 0;
		class->pages_compacted = 0;
		class->objects_moved = 0;
		pthread_mutex_unlock(&class->lock);
	}
	for (int n = 0; n < pool->nr_nodes; n++) {
		struct zp_node *node = &pool->nodes[n];

		pthread_mutex_lock(&node->lock);
		atomic_store(&node->pages_max, atomic_load(&node->pages));
		for (unsigned int sh = 0; sh < pool->nr_shards; sh++) {
			atomic_store(&node->stashes[sh].preferred_zspages, 0);
			atomic_store(&node->stashes[sh].fallback_zspages, 0);
		}
		node->charge_fail = 0;
		node->low_refusals = 0;
		node->refilled_pages = 0;
		node->refill_waits = 0;
		node->refill_timeouts = 0;
		atomic_store(&node->low_zspages, 0);
		node->pages_released = 0;
		pthread_mutex_unlock(&node->lock);
	}
	atomic_store(&pool->pages_max, atomic_load(&pool->pages));
	atomic_store(&pool->malloc_fail, 0);
	atomic_store(&pool->table_waits, 0);
	pthread_mutex_lock(&pool->compact_lock);
	pool->compact_runs = 0;
	pthread_mutex_unlock(&pool->compact_lock);
}

int zp_pool_for_each_mapping(struct zp_pool *pool,
			     int (*fn)(void *addr, size_t len, void *arg),
			     void *arg)
{
	int ret = nodes_for_each_mapping(pool, fn, arg);

	for (unsigned int c = 0; !ret && c < pool->nr_instances; c++) {
		struct zp_class *class = &pool->classes[c];

		pthread_mutex_lock(&class->lock);
		ret = table_for_each_mapping(&class->handles, fn, arg);
		if (!ret)
			ret = table_for_each_mapping(&class->zspages, fn, arg);
		pthread_mutex_unlock(&class->lock);
	}
	return ret;
}
