/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numa.c - the node layer for the machine's real topology, through libnuma.
 *
 * Placement is the kernel's job: a chunk is bound to its node with mbind
 * (MPOL_PREFERRED, or MPOL_BIND for the strict policy) before any page of it
 * is touched, and the page allocator then takes pages from that node. No
 * guess is made from free-memory figures: a node that cannot supply a page
 * makes the fault-in (MADV_POPULATE_WRITE) fail with ENOMEM under MPOL_BIND,
 * and the pool tries the next node or reports -ENOMEM. Under MPOL_PREFERRED
 * the kernel falls back by itself; zp_pool_node_resident() shows where pages
 * really went.
 */
#include <errno.h>
#include <numa.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "internal.h"

static struct {
	pthread_once_t once;
	int nr_nodes;
	int nr_cpus;
	int *cpu_node; /* nr_cpus entries */
} topo = {.once = PTHREAD_ONCE_INIT};

static void topo_init(void)
{
	if (numa_available() < 0) {
		topo.nr_nodes = 1;
		return;
	}
	topo.nr_nodes = ZP_MIN(numa_max_node() + 1, ZP_MAX_NODES);
	topo.nr_cpus = numa_num_configured_cpus();
	topo.cpu_node = calloc(topo.nr_cpus > 0 ? topo.nr_cpus : 1, sizeof(int));
	if (!topo.cpu_node) {
		topo.nr_cpus = 0;
		return;
	}
	for (int cpu = 0; cpu < topo.nr_cpus; cpu++) {
		int node = numa_node_of_cpu(cpu);

		topo.cpu_node[cpu] = node >= 0 && node < topo.nr_nodes ? node : 0;
	}
}

static int numa_nr_nodes(void *ctx)
{
	(void)ctx;
	pthread_once(&topo.once, topo_init);
	return topo.nr_nodes;
}

static int numa_current_node(void *ctx)
{
	int cpu = sched_getcpu();

	(void)ctx;
	pthread_once(&topo.once, topo_init);
	if (cpu < 0 || cpu >= topo.nr_cpus)
		return 0;
	return topo.cpu_node[cpu];
}

static int numa_current_cpu(void *ctx)
{
	(void)ctx;
	return sched_getcpu();
}

static int numa_node_distance(void *ctx, int a, int b)
{
	int d;

	(void)ctx;
	if (a == b)
		return 10;
	d = numa_available() < 0 ? 0 : numa_distance(a, b);
	return d > 0 ? d : 20;
}

static int numa_charge(void *ctx, int node, size_t npages)
{
	(void)ctx;
	(void)node;
	(void)npages;
	return 0;
}

static void numa_uncharge(void *ctx, int node, size_t npages)
{
	(void)ctx;
	(void)node;
	(void)npages;
}

static int node_numa_bind(void *ctx, void *addr, size_t len, int node, bool strict)
{
	(void)ctx;
	if (numa_nr_nodes(NULL) == 1 && !strict)
		return 0; /* nothing to choose from */
	return prim_bind(addr, len, node, strict);
}

static int numa_query(void *ctx, void *const *pages, size_t n, int *status)
{
	(void)ctx;
	return prim_query_nodes(pages, n, status);
}

const struct zp_node_ops zp_node_numa_ops = {
	.name = "numa",
	.nr_nodes = numa_nr_nodes,
	.current_node = numa_current_node,
	.current_cpu = numa_current_cpu,
	.distance = numa_node_distance,
	.charge = numa_charge,
	.uncharge = numa_uncharge,
	.bind = node_numa_bind,
	.query = numa_query,
};
