/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * compact.c - compaction: empty the least used zspages of a class into the
 * most used ones on the same node, and free the emptied zspages.
 *
 * Frees leave holes; a zspage with one live object keeps all its pages.
 * Compaction takes the least full zspage of a class on a node as the source,
 * moves its objects one by one into the fullest partly used zspage (the
 * destination, replaced when full) and frees the source once it is empty.
 * Objects never change node, so the NUMA policy's placement holds, and under
 * the strict policy the nodes stay separate partitions.
 *
 * It only starts on a class and node when the free slots there add up to at
 * least one zspage: then the least full zspage is sure to empty, since the
 * others have room for all its objects.
 *
 * Moving an object: copy it, point its handle entry at the new slot, free the
 * old slot. Readers find objects through the handle entry under the class's
 * migrate lock (shared), so compaction holds that lock exclusively, and the
 * class lock, for one source zspage at a time, then lets readers and
 * allocators in again.
 *
 * lock ordering: pool->compact_lock -> class->migrate -> class->lock; pages
 * are returned (node->lock) after both class locks are dropped.
 */
#include <string.h>

#include "internal.h"
#include "track.h"

/* Would compacting the class on this node free at least one zspage?
 * Caller holds class->lock. */
static bool worth_compacting(const struct zp_class *class, int node)
{
	const struct zp_class_node *cn = &class->cn[node];

	return cn->objs_alloc - cn->objs_used >= class->objs_per_zspage;
}

/* Move the object in src's slot into a free slot of dst. Caller holds
 * class->migrate for writing and class->lock. */
static void move_object(struct zp_class *class, struct zp_zspage *src,
			uint32_t slot, struct zp_zspage *dst)
{
	uint32_t hidx = src->rmap[slot];
	uint64_t *he = table_entry(&class->handles, hidx);
	uint32_t size = he_size(*he);
	uint32_t to;
	char *from_addr = zspage_obj(class, src, slot);
	char *to_addr;

	zp_assert_internal(he_zspage(*he) == src->id && he_slot(*he) == slot);
	to = zspage_obj_alloc(class, dst, hidx);
	to_addr = zspage_obj(class, dst, to);
	track_alloc(to_addr, size);
	memcpy(to_addr, from_addr, size);
	*he = he_encode(dst->id, to, size);
	zspage_obj_free(class, src, slot);
	class->objects_moved++;
}

/*
 * Empty the least full zspage of the class on node into the fullest ones.
 * Returns the pages freed (0: nothing worth doing). Caller holds
 * pool->compact_lock only.
 */
static unsigned int compact_one(struct zp_pool *pool, struct zp_class *class,
				int node)
{
	struct zp_zspage *src, *dst = NULL;
	struct zp_dead_zspage dead;
	uint32_t slot = 0;

	pthread_rwlock_wrlock(&class->migrate);
	pthread_mutex_lock(&class->lock);
	if (!worth_compacting(class, node)) {
		pthread_mutex_unlock(&class->lock);
		pthread_rwlock_unlock(&class->migrate);
		return 0;
	}
	src = zspage_least_full(class, node);
	zp_assert(src != NULL);
	/* Off the lists, so that it is never its own destination. */
	zspage_remove(class, src);
	while (src->inuse) {
		if (!dst || !dst->free_head) {
			if (dst)
				zspage_fix_fullness(class, dst);
			dst = zspage_fullest(class, node);
			/* Guaranteed by worth_compacting(). */
			zp_assert(dst != NULL);
		}
		while (src->rmap[slot] & ZSP_FREE_BIT)
			slot++;
		move_object(class, src, slot, dst);
	}
	if (dst) {
		zspage_fix_fullness(class, dst);
		zspage_check(class, dst);
	}
	zspage_retire(pool, class, src, &dead);
	class->pages_compacted += class->pages_per_zspage;
	pthread_mutex_unlock(&class->lock);
	pthread_rwlock_unlock(&class->migrate);

	zspage_release(pool, class, &dead);
	return class->pages_per_zspage;
}

size_t zp_pool_compact(struct zp_pool *pool, int nid)
{
	size_t freed = 0;

	if (nid >= pool->nr_nodes)
		return 0;
	pthread_mutex_lock(&pool->compact_lock);
	pool->compact_runs++;
	for (unsigned int c = 0; c < pool->nr_instances; c++) {
		struct zp_class *class = &pool->classes[c];

		if (class->huge)
			continue; /* one object per zspage: nothing to merge */
		for (int n = 0; n < pool->nr_nodes; n++) {
			unsigned int pages;

			if (nid >= 0 && n != nid)
				continue;
			while ((pages = compact_one(pool, class, n)) != 0)
				freed += pages;
		}
	}
	pthread_mutex_unlock(&pool->compact_lock);
	return freed;
}
