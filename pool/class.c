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
 * Layout: pool->size_class[] maps a size index to a class id (classes
 * ascending by size); pool->classes[] holds every class once per shard, at
 * class_id * nr_shards + shard, the index handles carry.
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
	zp_mutex_init(&class->lock);

	class->cn = &pool->class_nodes[(size_t)class->id * pool->nr_nodes];
	for (int n = 0; n < pool->nr_nodes; n++)
		for (int g = 0; g < ZP_NR_FULLNESS; g++)
			zp_list_init(&class->cn[n].lists[g]);

	/* A handle entry, and its owner's word when the pool keeps them. */
	ret = table_init(&class->handles, pool,
			 (pool->cfg.owners ? 2 : 1) * sizeof(uint64_t),
			 pool->cfg.release_delay_ms);
	if (ret)
		return ret;
	desc_size = sizeof(struct zp_zspage) +
		    class->objs_per_zspage * sizeof(uint32_t);
	return table_init(&class->zspages, pool, desc_size,
			  pool->cfg.release_delay_ms);
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
	unsigned int n = 0, total;
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

	/* Smallest object size per class: one above the previous class. */
	for (unsigned int c = 0; c < n; c++) {
		struct zp_class *prev = c ? &tmp[n - c] : NULL;

		tmp[n - 1 - c].min_size = prev ? prev->size + 1 : 1;
	}
	for (unsigned int i = 0; i < ZP_NR_SIZES; i++)
		pool->size_class[i] = (uint8_t)(n - 1 - slot_of[i]);
	pool->nr_classes = n;
	pool->huge_class_size = ZP_MAX_ALLOC + 1;
	if (tmp[0].huge)
		pool->huge_class_size = tmp[0].min_size;

	total = n * pool->nr_shards;
	pool->classes = prim_meta_alloc(total * sizeof(struct zp_class));
	pool->class_nodes = prim_meta_alloc(total * pool->nr_nodes *
					    sizeof(struct zp_class_node));
	pool->nr_all_instances = total;
	if (!pool->classes || !pool->class_nodes) {
		classes_destroy(pool);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < total; i++) {
		struct zp_class *class = &pool->classes[i];

		*class = tmp[n - 1 - i / pool->nr_shards];
		class->id = (uint16_t)i;
		class->class_id = (uint16_t)(i / pool->nr_shards);
		class->shard = (uint16_t)(i % pool->nr_shards);
		pool->nr_instances = i + 1;
		ret = class_init(pool, class);
		if (ret) {
			classes_destroy(pool);
			return ret;
		}
	}
	return 0;
}

void classes_destroy(struct zp_pool *pool)
{
	unsigned int total = pool->nr_all_instances;

	for (unsigned int c = 0; c < pool->nr_instances; c++)
		class_destroy(&pool->classes[c]);
	prim_meta_free(pool->classes, total * sizeof(struct zp_class));
	prim_meta_free(pool->class_nodes,
		       total * pool->nr_nodes * sizeof(struct zp_class_node));
	pool->classes = NULL;
	pool->class_nodes = NULL;
	pool->nr_instances = 0;
	pool->nr_all_instances = 0;
}
