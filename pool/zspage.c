/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * zspage.c - zspages: runs of contiguous pages cut into equal object slots.
 *
 * Layout: the pages hold object data only, slot i at base + i * class->size.
 * The descriptor (in the class's zspage table) keeps the free list and the
 * reverse map: rmap[i] is the handle index owning slot i, or ZSP_FREE_BIT
 * with the next free slot + 1. Free slots are handed out lowest first on a
 * fresh zspage and most recently freed first afterwards.
 *
 * Fullness groups: each zspage sits on class->cn[node].lists[group], where
 * the group is its share of used slots in 10% steps (enum zp_fullness), and
 * class->cn[node].nonempty has a bit per non-empty list, so that the fullest
 * and the least full partly used zspage are found in constant time. A zspage
 * with no object left is destroyed at once; none ever waits on the EMPTY list.
 *
 * lock ordering: every function here needs class->lock.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "track.h"

/* Keep class->roomy_nodes in step with the node's free slots. */
static void publish_room(struct zp_class *class, int node)
{
	const struct zp_class_node *cn = &class->cn[node];
	uint64_t mask = atomic_load_explicit(&class->roomy_nodes,
					     memory_order_relaxed);
	uint64_t bit = 1ull << node;
	uint64_t want = cn->objs_alloc - cn->objs_used >= class->objs_per_zspage ?
				mask | bit : mask & ~bit;

	if (want != mask)
		atomic_store_explicit(&class->roomy_nodes, want,
				      memory_order_relaxed);
}

int zspage_create(struct zp_class *class, int node, struct zp_chunk *chunk,
		  char *base, struct zp_zspage **out)
{
	struct zp_zspage *zsp;
	uint32_t id;
	int ret;

	ret = table_alloc(&class->zspages, &id);
	if (ret)
		return ret;
	zsp = zspage_get(class, id);
	zsp->base = base;
	zsp->chunk = chunk;
	zp_list_init(&zsp->link);
	zsp->id = id;
	zsp->inuse = 0;
	zsp->group = ZP_FULLNESS_EMPTY;
	zsp->node = (uint8_t)node;
	for (uint32_t i = 0; i < class->objs_per_zspage; i++)
		zsp->rmap[i] = ZSP_FREE_BIT |
			       (i + 1 < class->objs_per_zspage ? i + 2 : 0);
	zsp->free_head = 1;
	track_free(base, (size_t)class->pages_per_zspage * ZP_PAGE_SIZE);

	class->cn[node].objs_alloc += class->objs_per_zspage;
	class->cn[node].zspages++;
	class->zspages_created++;
	publish_room(class, node);
	*out = zsp;
	return 0;
}

void zspage_destroy(struct zp_class *class, struct zp_zspage *zsp)
{
	struct zp_class_node *cn = &class->cn[zsp->node];

	zp_assert(zsp->inuse == 0);
	zp_assert_internal(zp_list_empty(&zsp->link));
	cn->objs_alloc -= class->objs_per_zspage;
	cn->zspages--;
	class->zspages_freed++;
	publish_room(class, zsp->node);
	table_free(&class->zspages, zsp->id);
}

void zspage_insert(struct zp_class *class, struct zp_zspage *zsp)
{
	struct zp_class_node *cn = &class->cn[zsp->node];
	enum zp_fullness g = fullness_of(class, zsp->inuse);

	zp_assert_internal(zp_list_empty(&zsp->link));
	zsp->group = (uint8_t)g;
	zp_list_add(&cn->lists[g], &zsp->link);
	cn->nonempty |= 1u << g;
}

void zspage_remove(struct zp_class *class, struct zp_zspage *zsp)
{
	struct zp_class_node *cn = &class->cn[zsp->node];
	unsigned int g = zsp->group;

	zp_list_del(&zsp->link);
	if (zp_list_empty(&cn->lists[g]))
		cn->nonempty &= ~(1u << g);
}

void zspage_fix_fullness(struct zp_class *class, struct zp_zspage *zsp)
{
	if (fullness_of(class, zsp->inuse) == zsp->group)
		return;
	zspage_remove(class, zsp);
	zspage_insert(class, zsp);
}

struct zp_zspage *zspage_fullest(struct zp_class *class, int node)
{
	struct zp_class_node *cn = &class->cn[node];
	uint32_t mask = cn->nonempty & PARTIAL_GROUPS_MASK;

	if (!mask)
		return NULL;
	return zp_list_first(&cn->lists[31 - __builtin_clz(mask)],
			     struct zp_zspage, link);
}

struct zp_zspage *zspage_least_full(struct zp_class *class, int node)
{
	struct zp_class_node *cn = &class->cn[node];
	uint32_t mask = cn->nonempty & PARTIAL_GROUPS_MASK;

	if (!mask)
		return NULL;
	return zp_list_first(&cn->lists[__builtin_ctz(mask)], struct zp_zspage,
			     link);
}

uint32_t zspage_obj_alloc(struct zp_class *class, struct zp_zspage *zsp,
			  uint32_t handle_idx)
{
	uint32_t slot;

	zp_assert(zsp->free_head != 0);
	slot = zsp->free_head - 1;
	zp_assert_internal(zsp->rmap[slot] & ZSP_FREE_BIT);
	zsp->free_head = (uint16_t)(zsp->rmap[slot] & ~ZSP_FREE_BIT);
	zsp->rmap[slot] = handle_idx;
	zsp->inuse++;
	class->cn[zsp->node].objs_used++;
	publish_room(class, zsp->node);
	return slot;
}

void zspage_obj_free(struct zp_class *class, struct zp_zspage *zsp,
		     uint32_t slot)
{
	zp_assert(slot < class->objs_per_zspage);
	zp_assert(!(zsp->rmap[slot] & ZSP_FREE_BIT));
	zsp->rmap[slot] = ZSP_FREE_BIT | zsp->free_head;
	zsp->free_head = (uint16_t)(slot + 1);
	zsp->inuse--;
	class->cn[zsp->node].objs_used--;
	publish_room(class, zsp->node);
	track_free(zspage_obj(class, zsp, slot), class->size);
}

void zspage_retire(struct zp_pool *pool, struct zp_class *class,
		   struct zp_zspage *zsp, struct zp_dead_zspage *dead)
{
	transition_begin(pool, class->shard);
	dead->chunk = zsp->chunk;
	dead->base = zsp->base;
	zspage_destroy(class, zsp);
}

void zspage_release(struct zp_pool *pool, struct zp_class *class,
		    struct zp_dead_zspage *dead)
{
	if (!dead->chunk)
		return;
	node_free_pages(pool, dead->chunk, dead->base, class->pages_per_zspage,
			class->shard);
	transition_end(pool, class->shard);
}
