/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * class.c - size classes.
 *
 * Object sizes are rounded up to a multiple of ZP_CLASS_DELTA from
 * ZP_MIN_ALLOC to ZP_MAX_ALLOC: 255 sizes. Each size gets the zspage chain
 * (1..max_zspage_pages pages) with the least cost, where the cost is the
 * share of the zspage's bytes its tail wastes plus 1/ZP_CHAIN_PAGE_COST per
 * page of chain. The second term stands for the partly filled zspage every
 * class keeps on every node, half empty on average: a longer chain must
 * earn its keep in tail savings. Without it, a pool of a few hundred MiB
 * loses more to half-empty long zspages than the long chains save (on the
 * swap corpus: 4.9% overhead against 4.0% with it; a pool many times larger
 * pays 0.4% more in tails). Neighbouring sizes whose zspages hold the same number of
 * objects in the same number of pages are served by one class, the larger
 * size: nothing would be saved by keeping them apart, and fewer classes means
 * fewer partly filled zspages.
 *
 * The largest class holds one object per single page: the huge class. Its
 * smallest member is the pool's huge-class threshold, the size from which a
 * compressed page is better kept raw.
 *
 * Layout: pool->classes[] ascending by size, indexed by class id (the id in
 * handles); pool->size_class[] maps a size index to a class id.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

/* A page of zspage chain must save 1/128 of the zspage in tail waste. */
#define ZP_CHAIN_PAGE_COST 128.0

unsigned int class_chain_pages(unsigned int size, unsigned int max_pages)
{
	unsigned int best = 1;
	double best_cost = 2.0;

	for (unsigned int i = 1; i <= max_pages; i++) {
		unsigned int waste = (i * ZP_PAGE_SIZE) % size;
		double cost = (double)waste / (i * ZP_PAGE_SIZE) +
			      (double)i / ZP_CHAIN_PAGE_COST;

		if (cost < best_cost) {
			best = i;
			best_cost = cost;
		}
	}
	return best;
}

static int class_init(struct zp_pool *pool, struct zp_class *class)
{
	pthread_rwlockattr_t attr;
	size_t desc_size;
	int ret;

	/* Writer preference: a stream of readers must not starve compaction. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
				      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	ret = -pthread_rwlock_init(&class->migrate, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (ret)
		return ret;
	pthread_mutex_init(&class->lock, NULL);

	class->cn = &pool->class_nodes[(size_t)class->id * pool->nr_nodes];
	for (int n = 0; n < pool->nr_nodes; n++)
		for (int g = 0; g < ZP_NR_FULLNESS; g++)
			zp_list_init(&class->cn[n].lists[g]);

	ret = table_init(&class->handles, sizeof(uint64_t),
			 pool->cfg.release_delay_ms);
	if (ret)
		return ret;
	desc_size = sizeof(struct zp_zspage) +
		    class->objs_per_zspage * sizeof(uint32_t);
	return table_init(&class->zspages, desc_size, pool->cfg.release_delay_ms);
}

static void class_destroy(struct zp_class *class)
{
	table_destroy(&class->zspages);
	table_destroy(&class->handles);
	class->cn = NULL;
	pthread_rwlock_destroy(&class->migrate);
	pthread_mutex_destroy(&class->lock);
}

int classes_init(struct zp_pool *pool)
{
	struct zp_class tmp[ZP_NR_SIZES];
	uint8_t slot_of[ZP_NR_SIZES]; /* size index -> index in tmp */
	unsigned int n = 0;
	int ret;

	/* From the largest size down, as the huge class absorbs a whole run of
	 * sizes at the top and merging looks at the next larger class. */
	for (int i = ZP_NR_SIZES - 1; i >= 0; i--) {
		unsigned int size = ZP_MIN_ALLOC + (unsigned int)i * ZP_CLASS_DELTA;
		unsigned int pages, objs;
		struct zp_class *prev = n ? &tmp[n - 1] : NULL;

		if (size > ZP_MAX_ALLOC)
			size = ZP_MAX_ALLOC;
		pages = class_chain_pages(size, pool->cfg.max_zspage_pages);
		objs = pages * ZP_PAGE_SIZE / size;
		if (prev && prev->pages_per_zspage == pages &&
		    prev->objs_per_zspage == objs) {
			slot_of[i] = (uint8_t)(n - 1);
			continue;
		}
		memset(&tmp[n], 0, sizeof(tmp[n]));
		tmp[n].size = size;
		tmp[n].pages_per_zspage = (uint8_t)pages;
		tmp[n].objs_per_zspage = (uint16_t)objs;
		tmp[n].huge = pages == 1 && objs == 1;
		slot_of[i] = (uint8_t)n;
		n++;
	}

	pool->classes = prim_meta_alloc(n * sizeof(struct zp_class));
	pool->class_nodes = prim_meta_alloc(n * pool->nr_nodes *
					    sizeof(struct zp_class_node));
	if (!pool->classes || !pool->class_nodes) {
		prim_meta_free(pool->classes, n * sizeof(struct zp_class));
		prim_meta_free(pool->class_nodes,
			       n * pool->nr_nodes * sizeof(struct zp_class_node));
		return -ENOMEM;
	}
	pool->nr_classes = n;
	pool->nr_all_classes = n;
	for (unsigned int c = 0; c < n; c++) {
		pool->classes[c] = tmp[n - 1 - c];
		pool->classes[c].id = (uint8_t)c;
	}
	for (unsigned int i = 0; i < ZP_NR_SIZES; i++)
		pool->size_class[i] = (uint8_t)(n - 1 - slot_of[i]);

	/* Smallest object size per class: one above the previous class. */
	for (unsigned int c = 0; c < n; c++)
		pool->classes[c].min_size = c ? pool->classes[c - 1].size + 1 : 1;
	pool->huge_class_size = ZP_MAX_ALLOC + 1;
	if (pool->classes[n - 1].huge)
		pool->huge_class_size = pool->classes[n - 1].min_size;

	for (unsigned int c = 0; c < n; c++) {
		ret = class_init(pool, &pool->classes[c]);
		if (ret) {
			pool->nr_classes = c + 1;
			classes_destroy(pool);
			return ret;
		}
	}
	return 0;
}

void classes_destroy(struct zp_pool *pool)
{
	unsigned int n = pool->nr_all_classes;

	for (unsigned int c = 0; c < pool->nr_classes; c++)
		class_destroy(&pool->classes[c]);
	prim_meta_free(pool->classes, n * sizeof(struct zp_class));
	prim_meta_free(pool->class_nodes,
		       n * pool->nr_nodes * sizeof(struct zp_class_node));
	pool->classes = NULL;
	pool->class_nodes = NULL;
	pool->nr_classes = 0;
}
