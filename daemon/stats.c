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
 *   compressor.NAME    the compressors' counters (COMP_STAT_FIELDS),
 *                      summed over the worker threads
 *   fuse.NAME          the FUSE front end's (ZPD_FUSE_STAT_FIELDS), summed
 *                      over the worker threads
 *   volume.VOLUME.NAME per volume (ZPD_VOLUME_STAT_FIELDS)
 *
 * Counters are read with relaxed atomics, each exact, the set not one
 * instant's. zpd_stats_reset() zeroes the counters and leaves the gauges;
 * the compressors' counters belong to their threads, so for them it keeps
 * a baseline that later walks subtract.
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

/* The compressors' counters since the last reset. */
static void comp_totals(struct zpd_store *store, struct comp_stats *out)
{
	struct zpd_worker *w;

	*out = (struct comp_stats){ 0 };
	for (w = store->all_workers; w; w = w->all_next) {
		struct comp_stats one;

		comp_ctx_stats(w->comp, &one);
		comp_stats_add(out, &one);
	}
}

static void fuse_totals(struct zpd_store *store, struct zpd_fuse_stats *out)
{
	struct zpd_worker *w;

	*out = (struct zpd_fuse_stats){ 0 };
	for (w = store->all_workers; w; w = w->all_next) {
#define ZPD_STAT_SUM(name, desc)                                                \
	out->name += __atomic_load_n(&w->fuse.name, __ATOMIC_RELAXED);
		ZPD_FUSE_STAT_FIELDS(ZPD_STAT_SUM)
#undef ZPD_STAT_SUM
	}
}

void zpd_stats_walk(struct zpd_store *store, stat_fn fn, void *arg)
{
	struct zpd_store_stats ss;
	struct zp_pool_stats ps;
	struct comp_stats cs;
	struct zpd_fuse_stats fs;
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
		emit(fn, arg, prefix, "written_back",
		     atomic_load_explicit(&store->node_written_back[nid],
					  memory_order_relaxed));
	}

	comp_totals(store, &cs);
#define ZPD_STAT_EMIT(name, desc)                                               \
	emit(fn, arg, "compressor", #name, cs.name - store->comp_base.name);
	COMP_STAT_FIELDS(ZPD_STAT_EMIT)
#undef ZPD_STAT_EMIT
	fuse_totals(store, &fs);
#define ZPD_STAT_EMIT(name, desc) emit(fn, arg, "fuse", #name, fs.name);
	ZPD_FUSE_STAT_FIELDS(ZPD_STAT_EMIT)
#undef ZPD_STAT_EMIT

	pthread_rwlock_rdlock(&store->volumes_lock);
	for (i = 0; i < ZPD_MAX_VOLUMES; i++) {
		struct zpd_volume *v = store->volumes[i];
		struct zpd_volume_stats vs;

		if (!v || v->removing)
			continue;
		zpd_volume_stats(v, &vs);
		snprintf(prefix, sizeof(prefix), "volume.%s", v->name);
#define ZPD_STAT_EMIT(name, kind, desc) emit(fn, arg, prefix, #name, vs.name);
		ZPD_VOLUME_STAT_FIELDS(ZPD_STAT_EMIT)
#undef ZPD_STAT_EMIT
	}
	pthread_rwlock_unlock(&store->volumes_lock);
}

#define zero(field) __atomic_store_n(&(field), 0, __ATOMIC_RELAXED)

void zpd_stats_reset(struct zpd_store *store)
{
	struct zpd_worker *w;
	unsigned int i;
	int nid;

#define ZPD_STAT_ZERO(name, desc) zero(store->stats.name);
	ZPD_STORE_STAT_FIELDS(ZPD_STAT_ZERO)
#undef ZPD_STAT_ZERO
	zp_pool_reset_counters(store->pool);
	for (nid = 0; nid < ZP_MAX_NODES; nid++) {
		atomic_store(&store->node_requests[nid], 0);
		atomic_store(&store->node_written_back[nid], 0);
	}
	comp_totals(store, &store->comp_base);
	for (w = store->all_workers; w; w = w->all_next) {
#define ZPD_STAT_ZERO(name, desc) zero(w->fuse.name);
		ZPD_FUSE_STAT_FIELDS(ZPD_STAT_ZERO)
#undef ZPD_STAT_ZERO
	}
	pthread_rwlock_rdlock(&store->volumes_lock);
	for (i = 0; i < ZPD_MAX_VOLUMES; i++) {
		struct zpd_volume *v = store->volumes[i];

		if (!v)
			continue;
#define ZPD_STAT_ZERO(name, kind, desc)                                         \
	if (kind == ZP_STAT_COUNTER)                                           \
		zero(v->stats.name);
		ZPD_VOLUME_STAT_FIELDS(ZPD_STAT_ZERO)
#undef ZPD_STAT_ZERO
	}
	pthread_rwlock_unlock(&store->volumes_lock);
}
