/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sim.c - a simulated NUMA topology, so that the allocator's placement,
 * fallback and exhaustion can be tested with 2 or 4 nodes on any machine.
 *
 * Memory is real (the pool maps and locks it as usual); only its node is
 * pretend. Each node has a capacity in pages; charge() refuses pages beyond
 * it, which is how a full node looks to the pool. The last "low" pages of a
 * capacity stand for the memory below a real node's low watermark: room()
 * at ZP_ROOM_LOW refuses them, at ZP_ROOM_MIN only the capacity counts. bind() records which node a
 * range was placed on and query() answers from that record. The current node
 * is per thread, set with zp_node_sim_set_current(); so is the CPU, with
 * zp_node_sim_set_cpu(), which lets tests choose a thread's shard.
 *
 * lock ordering: sim->lock is innermost (taken under node->lock).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct sim_range {
	uintptr_t start, end;
	int node;
};

struct zp_node_sim {
	pthread_mutex_t lock;
	int nr_nodes;
	size_t capacity[ZP_MAX_NODES]; /* protected by lock; 0: unlimited */
	size_t charged[ZP_MAX_NODES];  /* protected by lock */
	size_t low[ZP_MAX_NODES];      /* protected by lock */
	struct sim_range *ranges;      /* protected by lock */
	size_t nr_ranges, cap_ranges;
};

static __thread int sim_current;
static __thread int sim_cpu = -1; /* -1: the real CPU */

int zp_node_sim_create(int nr_nodes, const size_t *capacity_pages,
		       struct zp_node_sim **out)
{
	struct zp_node_sim *sim;

	if (nr_nodes < 1 || nr_nodes > ZP_MAX_NODES)
		return -EINVAL;
	sim = calloc(1, sizeof(*sim));
	if (!sim)
		return -ENOMEM;
	pthread_mutex_init(&sim->lock, NULL);
	sim->nr_nodes = nr_nodes;
	for (int n = 0; n < nr_nodes && capacity_pages; n++)
		sim->capacity[n] = capacity_pages[n];
	*out = sim;
	return 0;
}

void zp_node_sim_destroy(struct zp_node_sim *sim)
{
	if (!sim)
		return;
	pthread_mutex_destroy(&sim->lock);
	free(sim->ranges);
	free(sim);
}

void zp_node_sim_set_current(struct zp_node_sim *sim, int node)
{
	zp_assert(node >= 0 && node < sim->nr_nodes);
	sim_current = node;
}

void zp_node_sim_set_cpu(struct zp_node_sim *sim, int cpu)
{
	(void)sim;
	sim_cpu = cpu < 0 ? -1 : cpu;
}

void zp_node_sim_set_capacity(struct zp_node_sim *sim, int node,
			      size_t capacity_pages)
{
	zp_assert(node >= 0 && node < sim->nr_nodes);
	pthread_mutex_lock(&sim->lock);
	sim->capacity[node] = capacity_pages;
	pthread_mutex_unlock(&sim->lock);
}

void zp_node_sim_set_low(struct zp_node_sim *sim, int node, size_t pages)
{
	zp_assert(node >= 0 && node < sim->nr_nodes);
	pthread_mutex_lock(&sim->lock);
	sim->low[node] = pages;
	pthread_mutex_unlock(&sim->lock);
}

size_t zp_node_sim_charged(struct zp_node_sim *sim, int node)
{
	size_t n;

	zp_assert(node >= 0 && node < sim->nr_nodes);
	pthread_mutex_lock(&sim->lock);
	n = sim->charged[node];
	pthread_mutex_unlock(&sim->lock);
	return n;
}

static int sim_nr_nodes(void *ctx)
{
	return ((struct zp_node_sim *)ctx)->nr_nodes;
}

static int sim_current_node(void *ctx)
{
	struct zp_node_sim *sim = ctx;

	return sim_current < sim->nr_nodes ? sim_current : 0;
}

static int sim_current_cpu(void *ctx)
{
	(void)ctx;
	return sim_cpu >= 0 ? sim_cpu : sched_getcpu();
}

static int sim_distance(void *ctx, int a, int b)
{
	(void)ctx;
	return a == b ? 10 : 20 + 10 * abs(a - b);
}

static int sim_charge(void *ctx, int node, size_t npages)
{
	struct zp_node_sim *sim = ctx;
	int ret = 0;

	pthread_mutex_lock(&sim->lock);
	if (sim->capacity[node] &&
	    sim->charged[node] + npages > sim->capacity[node])
		ret = -ENOMEM;
	else
		sim->charged[node] += npages;
	pthread_mutex_unlock(&sim->lock);
	return ret;
}

static bool sim_room(void *ctx, int node, size_t npages, size_t reserve_pages,
		     enum zp_room_level level)
{
	struct zp_node_sim *sim = ctx;
	size_t want;
	bool room;

	pthread_mutex_lock(&sim->lock);
	want = sim->charged[node] + npages;
	if (level == ZP_ROOM_LOW)
		want += sim->low[node] + reserve_pages;
	room = !sim->capacity[node] || want <= sim->capacity[node];
	pthread_mutex_unlock(&sim->lock);
	return room;
}

static void sim_uncharge(void *ctx, int node, size_t npages)
{
	struct zp_node_sim *sim = ctx;

	pthread_mutex_lock(&sim->lock);
	zp_assert(sim->charged[node] >= npages);
	sim->charged[node] -= npages;
	pthread_mutex_unlock(&sim->lock);
}

/* A new binding replaces any record it overlaps: the range was unmapped and
 * its addresses reused. */
static int sim_bind(void *ctx, void *addr, size_t len, int node, bool strict)
{
	struct zp_node_sim *sim = ctx;
	uintptr_t start = (uintptr_t)addr, end = start + len;
	size_t i, j;

	(void)strict;
	pthread_mutex_lock(&sim->lock);
	for (i = j = 0; i < sim->nr_ranges; i++)
		if (sim->ranges[i].end <= start || sim->ranges[i].start >= end)
			sim->ranges[j++] = sim->ranges[i];
	sim->nr_ranges = j;
	if (sim->nr_ranges == sim->cap_ranges) {
		size_t cap = sim->cap_ranges ? 2 * sim->cap_ranges : 64;
		struct sim_range *r = realloc(sim->ranges, cap * sizeof(*r));

		if (!r) {
			pthread_mutex_unlock(&sim->lock);
			return -ENOMEM;
		}
		sim->ranges = r;
		sim->cap_ranges = cap;
	}
	sim->ranges[sim->nr_ranges++] = (struct sim_range){start, end, node};
	pthread_mutex_unlock(&sim->lock);
	return 0;
}

static int sim_query(void *ctx, void *const *pages, size_t n, int *status)
{
	struct zp_node_sim *sim = ctx;

	pthread_mutex_lock(&sim->lock);
	for (size_t p = 0; p < n; p++) {
		uintptr_t a = (uintptr_t)pages[p];

		status[p] = -ENOENT;
		for (size_t i = 0; i < sim->nr_ranges; i++) {
			if (a >= sim->ranges[i].start && a < sim->ranges[i].end) {
				status[p] = sim->ranges[i].node;
				break;
			}
		}
	}
	pthread_mutex_unlock(&sim->lock);
	return 0;
}

const struct zp_node_ops zp_node_sim_ops = {
	.name = "sim",
	.nr_nodes = sim_nr_nodes,
	.current_node = sim_current_node,
	.current_cpu = sim_current_cpu,
	.distance = sim_distance,
	.charge = sim_charge,
	.room = sim_room,
	.uncharge = sim_uncharge,
	.bind = sim_bind,
	.query = sim_query,
};
