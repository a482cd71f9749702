/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * node.c - which NUMA node a write belongs to, so that the pool can take
 * its memory there.
 *
 * node_hint = volume     the volume's bound node; unbound volumes as below
 * node_hint = requester  the node of the CPU the requesting task last ran
 *                        on: field 39 of /proc/<pid>/stat, read at most
 *                        once per node_cache_ms per pid and worker
 * node_hint = worker     the node of the CPU the worker runs on
 *
 * The requester is what the issuer of the I/O is: for swap through a loop
 * device that is the loop device's kernel worker, which the kernel runs
 * near the task that caused the swap-out. A pid that cannot be read (gone,
 * or 0 for requests the kernel makes itself) falls back to the worker's
 * node. Each worker keeps its own small cache, so no lock is taken.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <numa.h>

#include "daemon/internal.h"

int zpd_cpu_node(unsigned int cpu)
{
	static int available = -1;
	int node;

	if (available < 0)
		available = numa_available() >= 0;
	if (!available)
		return 0;
	node = numa_node_of_cpu((int)cpu);
	return node < 0 ? 0 : node;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int node_of_cpu(const struct zpd_store *store, int cpu)
{
	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return 0;
	return store->cpu_node[cpu];
}

static int worker_node(const struct zpd_store *store)
{
	return node_of_cpu(store, sched_getcpu());
}

/* The command name (field 2) may hold blanks and parentheses, so fields
 * are counted from its last ')'. */
int zpd_pid_cpu(pid_t pid)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	/* p + 2 is field 3 (state); "processor" is field 39. */
	p += 2;
	for (field = 3; field < 39; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	return (int)strtol(p, NULL, 10);
}

static int requester_node(struct zpd_store *store, struct zpd_worker *w,
			  pid_t pid)
{
	struct zpd_pid_cache *slot, *oldest = &w->pids[0];
	uint64_t now;
	unsigned int i;
	int cpu, node;

	if (pid <= 0)
		return worker_node(store);
	now = now_ns();
	for (i = 0; i < ZP_ARRAY_SIZE(w->pids); i++) {
		slot = &w->pids[i];
		if (slot->pid == pid && slot->until_ns > now)
			return slot->node;
		if (slot->until_ns < oldest->until_ns)
			oldest = slot;
	}
	cpu = zpd_pid_cpu(pid);
	node = cpu < 0 ? worker_node(store) : node_of_cpu(store, cpu);
	oldest->pid = pid;
	oldest->node = node;
	oldest->until_ns = now + (uint64_t)store->node_cache_ms * 1000000ull;
	return node;
}

int zpd_request_node(struct zpd_store *store, struct zpd_worker *w,
		     const struct zpd_volume *v, pid_t pid)
{
	int node;

	switch (__atomic_load_n(&store->node_hint, __ATOMIC_RELAXED)) {
	case ZPD_HINT_VOLUME:
		if (v->node >= 0) {
			node = v->node;
			break;
		}
		node = requester_node(store, w, pid);
		break;
	case ZPD_HINT_REQUESTER:
		node = requester_node(store, w, pid);
		break;
	default:
		node = worker_node(store);
		break;
	}
	if (node < 0 || node >= store->nr_nodes)
		node = 0;
	atomic_fetch_add_explicit(&store->node_requests[node], 1,
				  memory_order_relaxed);
	return node;
}
