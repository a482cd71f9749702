/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stats.c - every statistic of the store in one walk, named the way the
 * log (SIGUSR1) and the control socket show them:
 *
 *   NAME               the store's counters (ZPD_STORE_STAT_FIELDS) and
 *                      gauges of the limit and the backing store
 *   pool.NAME          the pool's (ZP_POOL_STAT_FIELDS)
 *   nodeN.NAME         per node: the pool's (ZP_NODE_STAT_FIELDS), the
 *                      LRU length, requests resolved there
 *   volume.VOLUME.NAME per volume (ZPD_VOLUME_STAT_FIELDS)
 *
 * Counters are read with relaxed atomics, each exact, the set not one
 * instant's.
 */
#include <stdio.h>

#include "daemon/internal.h"

typedef void (*stat_fn)(const char *name, uint64_t value, void *arg);

static void emit(stat_fn fn, void *arg, const char *prefix, const char *name,
		 uint64_t value)
{
	char full[ZPD_VOLUME_NAME_MAX + 96];

	snprintf(full, sizeof(full), "%s%s%s", prefix, *prefix ? "." : "",
		 name);
	fn(full, value, arg);
}

static void walk_descs(stat_fn fn, void *arg, const char *prefix,
		       const struct zp_stat_desc *desc, size_t n,
		       const void *stats)
{
	for (size_t i = 0; i < n; i++)
		emit(fn, arg, prefix, desc[i].name,
		     *(const uint64_t *)((const char *)stats +
					 desc[i].offset));
}

void zpd_stats_walk(struct zpd_store *store, stat_fn fn, void *arg)
{
	struct zpd_store_stats ss;
	struct zp_pool_stats ps;
	char prefix[ZPD_VOLUME_NAME_MAX + 16];
	unsigned int i;
	int nid;

	zpd_store_stats(store, &ss);
#define ZPD_STAT_EMIT(name, desc) emit(fn, arg, "", #name, ss.name);
	ZPD_STORE_STAT_FIELDS(ZPD_STAT_EMIT)
#undef ZPD_STAT_EMIT
	emit(fn, arg, "", "pool_pages", zp_pool_total_pages(store->pool));
	emit(fn, arg, "", "pool_limit_pages", store->limit_pages);
	emit(fn, arg, "", "pool_accept_pages", store->accept_pages);
	emit(fn, arg, "", "pool_full", atomic_load(&store->full));
	emit(fn, arg, "", "slots_used",
	     store->slots ? shr_slots_used(store->slots) : 0);
	emit(fn, arg, "", "slots_total",
	     store->slots ? shr_slots_total(store->slots) : 0);

	zp_pool_stats(store->pool, &ps);
	walk_descs(fn, arg, "pool", zp_pool_stat_desc, zp_pool_nr_stat_desc,
		   &ps);

	for (nid = 0; nid < store->nr_nodes; nid++) {
		struct zp_node_stats ns;

		snprintf(prefix, sizeof(prefix), "node%d", nid);
		if (zp_pool_node_stats(store->pool, nid, &ns) == 0)
			walk_descs(fn, arg, prefix, zp_node_stat_desc,
				   zp_node_nr_stat_desc, &ns);
		emit(fn, arg, prefix, "lru_length",
		     shr_lru_len(&store->lru[nid]));
		emit(fn, arg, prefix, "requests",
		     atomic_load_explicit(&store->node_requests[nid],
					  memory_order_relaxed));
	}

	for (i = 0; i < store->nr_volumes; i++) {
		struct zpd_volume *v = store->volumes[i];
		struct zpd_volume_stats vs;

		zpd_volume_stats(v, &vs);
		snprintf(prefix, sizeof(prefix), "volume.%s", v->name);
#define ZPD_STAT_EMIT(name, desc) emit(fn, arg, prefix, #name, vs.name);
		ZPD_VOLUME_STAT_FIELDS(ZPD_STAT_EMIT)
#undef ZPD_STAT_EMIT
	}
}
