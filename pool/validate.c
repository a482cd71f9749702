/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * validate.c - walk every structure of a pool and check it against the
 * others: fullness groups against use counts, free lists against the reverse
 * map, handle entries against the slots that name them, class and node
 * counters against what the walk finds. The first inconsistency aborts.
 *
 * zspage_validate() checks one zspage; debug builds of level 3 run it on
 * every zspage an operation touches.
 */
#include <stdlib.h>

#include "internal.h"

#define check(c, ...)                                                            \
	do {                                                                     \
		if (!(c))                                                        \
			zp_panic("pool inconsistent: " __VA_ARGS__);             \
	} while (0)

static void validate_zspage(struct zp_class *class, struct zp_zspage *zsp,
			    int node, int group, uint64_t *objs)
{
	const uint32_t n = class->objs_per_zspage;
	uint32_t used = 0, nfree = 0, f;

	check(zsp->node == node, "class %u zspage %u on list of node %d, says %d",
	      class->size, zsp->id, node, zsp->node);
	check(zsp->group == group && (int)fullness_of(class, zsp->inuse) == group,
	      "class %u zspage %u in group %d with %u of %u used", class->size,
	      zsp->id, group, zsp->inuse, n);
	check(zsp->inuse > 0, "class %u zspage %u is empty but alive",
	      class->size, zsp->id);
	for (uint32_t s = 0; s < n; s++) {
		uint32_t r = zsp->rmap[s];
		uint64_t he;

		if (r & ZSP_FREE_BIT)
			continue;
		used++;
		he = *(uint64_t *)table_entry(&class->handles, r);
		check(he & HE_ALLOCATED, "class %u slot %u names dead handle %u",
		      class->size, s, r);
		check(he_zspage(he) == zsp->id && he_slot(he) == s,
		      "class %u handle %u points at %u/%u, not %u/%u", class->size,
		      r, he_zspage(he), he_slot(he), zsp->id, s);
		check(he_size(he) <= class->size && he_size(he) >= class->min_size,
		      "class %u..%u holds an object of %u bytes", class->min_size,
		      class->size, he_size(he));
	}
	check(used == zsp->inuse, "class %u zspage %u counts %u used, has %u",
	      class->size, zsp->id, zsp->inuse, used);
	for (f = zsp->free_head; f; f = zsp->rmap[f - 1] & ~ZSP_FREE_BIT) {
		check(f <= n && (zsp->rmap[f - 1] & ZSP_FREE_BIT),
		      "class %u zspage %u free list reaches used slot %u",
		      class->size, zsp->id, f - 1);
		check(++nfree <= n, "class %u zspage %u free list loops",
		      class->size, zsp->id);
	}
	check(nfree + used == n, "class %u zspage %u: %u free + %u used != %u",
	      class->size, zsp->id, nfree, used, n);
	*objs += used;
}

static void validate_class(struct zp_pool *pool, struct zp_class *class,
			   uint64_t *pages_by_node)
{
	uint64_t objs_total = 0;

	for (int n = 0; n < pool->nr_nodes; n++) {
		struct zp_class_node *cn = &class->cn[n];
		uint64_t objs = 0, zspages = 0;

		for (int g = 0; g < ZP_NR_FULLNESS; g++) {
			struct zp_list *pos;

			check(zp_list_empty(&cn->lists[g]) == !(cn->nonempty & (1u << g)),
			      "class %u node %d group %d nonempty bit wrong",
			      class->size, n, g);
			zp_list_for_each(pos, &cn->lists[g]) {
				validate_zspage(class,
						zp_list_entry(pos, struct zp_zspage, link),
						n, g, &objs);
				zspages++;
			}
		}
		check(objs == cn->objs_used, "class %u node %d: %llu objects, counted %llu",
		      class->size, n, (unsigned long long)objs,
		      (unsigned long long)cn->objs_used);
		check(zspages == cn->zspages &&
			      cn->objs_alloc == zspages * class->objs_per_zspage,
		      "class %u node %d: %llu zspages, counted %llu", class->size, n,
		      (unsigned long long)zspages, (unsigned long long)cn->zspages);
		pages_by_node[n] += zspages * class->pages_per_zspage;
		objs_total += objs;
	}
	check(class->handles.in_use == objs_total,
	      "class %u: %llu handles for %llu objects", class->size,
	      (unsigned long long)class->handles.in_use,
	      (unsigned long long)objs_total);
}

/* Returns the pages marked used in the node's chunks. */
static uint64_t validate_node(struct zp_node *node)
{
	uint64_t used = 0, cached = 0, chunks = 0;
	struct zp_list *pos;

	zp_list_for_each(pos, &node->chunks) {
		struct zp_chunk *c = zp_list_entry(pos, struct zp_chunk, link);
		const unsigned int words = ZP_DIV_ROUND_UP(c->nr_pages, 64u);
		uint32_t u = 0, k = 0;

		for (unsigned int w = 0; w < words; w++) {
			uint64_t usedw = c->bits[w], resw = c->bits[words + w];

			u += (uint32_t)__builtin_popcountll(usedw);
			k += (uint32_t)__builtin_popcountll(resw & ~usedw);
			check((usedw & ~resw) == 0,
			      "node %d chunk %p: a used page is not resident",
			      node->id, (void *)c->base);
		}
		check(u == c->used_pages && k == c->cached_pages,
		      "node %d chunk %p: %u used %u cached, counted %u %u", node->id,
		      (void *)c->base, u, k, c->used_pages, c->cached_pages);
		check(c->node == node->id, "chunk of node %d on node %d", c->node,
		      node->id);
		used += u;
		cached += k;
		chunks++;
	}
	check(cached == node->cached_pages && chunks == node->nr_chunks,
	      "node %d: %llu cached %llu chunks, counted %llu %llu", node->id,
	      (unsigned long long)cached, (unsigned long long)chunks,
	      (unsigned long long)node->cached_pages,
	      (unsigned long long)node->nr_chunks);
	return used;
}

static uint64_t transitions_begun(struct zp_pool *pool)
{
	uint64_t n = 0;

	for (unsigned int s = 0; s < pool->nr_shards; s++)
		n += atomic_load(&pool->shards[s].transitions);
	return n;
}

static uint64_t transitions_open(struct zp_pool *pool)
{
	uint64_t n = 0;

	for (unsigned int s = 0; s < pool->nr_shards; s++)
		n += atomic_load(&pool->shards[s].in_transition);
	return n;
}

void zp_pool_validate(struct zp_pool *pool)
{
	uint64_t *pages_by_node = calloc(pool->nr_nodes, sizeof(uint64_t));
	uint64_t begun = transitions_begun(pool);
	bool settled = transitions_open(pool) == 0;

	check(pages_by_node != NULL, "no memory to validate");
	/* One lock at a time, so that validation can run beside other users. */
	for (unsigned int c = 0; c < pool->nr_instances; c++) {
		struct zp_class *class = &pool->classes[c];

		pthread_mutex_lock(&class->lock);
		validate_class(pool, class, pages_by_node);
		pthread_mutex_unlock(&class->lock);
	}
	for (int n = 0; n < pool->nr_nodes; n++) {
		struct zp_node *node = &pool->nodes[n];

		uint64_t used, pages, stashed;

		pthread_mutex_lock(&node->lock);
		used = validate_node(node);
		stashed = node_stashed_pages(pool, node);
		pages = atomic_load(&node->pages);
		/* Zspages, the node's count and its bitmaps can only be compared
		 * when no zspage was in transition during the walk. */
		if (settled && transitions_begun(pool) == begun) {
			check(pages_by_node[n] == pages,
			      "node %d: zspages hold %llu pages, node counts %llu",
			      n, (unsigned long long)pages_by_node[n],
			      (unsigned long long)pages);
			check(used == pages + node->releasing + node->filling +
					      node->meta_pages + stashed,
			      "node %d: %llu pages used in chunks for %llu in "
			      "zspages, %llu being released, %llu being "
			      "faulted in, %llu in tables, %llu stashed",
			      n, (unsigned long long)used,
			      (unsigned long long)pages,
			      (unsigned long long)node->releasing,
			      (unsigned long long)node->filling,
			      (unsigned long long)node->meta_pages,
			      (unsigned long long)stashed);
		}
		pthread_mutex_unlock(&node->lock);
	}
	free(pages_by_node);
}

void zspage_validate(struct zp_class *class, struct zp_zspage *zsp)
{
	uint64_t objs = 0;

	if (zsp->inuse)
		validate_zspage(class, zsp, zsp->node, zsp->group, &objs);
}
