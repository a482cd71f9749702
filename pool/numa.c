/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numa.c - the node layer for the machine's real topology, through libnuma
 * and the kernel's accounts of free memory.
 *
 * Placement is the kernel's job: a chunk is bound to its node with mbind
 * (MPOL_PREFERRED, or MPOL_BIND for the strict policy) before any page of it
 * is touched, and the page allocator then takes pages from that node. What
 * the pool decides is whether to ask a node at all (room()): before fresh
 * pages are faulted in, the node's free memory must stay above a watermark.
 *
 *   ZP_ROOM_LOW  the low watermark plus the pool's node reserve. Below it
 *                the kernel would fall back to another node by itself for
 *                MPOL_PREFERRED, or reclaim for MPOL_BIND; the pool takes
 *                the next node itself (strict: refuses), so that its
 *                statistics say where the pages really are and a bound
 *                node is never driven into reclaim and the OOM killer.
 *   ZP_ROOM_MIN  the min watermark plus ROOM_MARGIN: the kernel gives such
 *                pages without reclaim. Below it no fresh page is asked
 *                for: the daemon's allocations may not write to swap, the
 *                OOM killer does not act for them, and a fault would wait
 *                forever on swap-outs that wait on the daemon.
 *
 * A node's free memory is what its zones have above their watermark and
 * their lowmem protection against movable allocations (the last value of
 * "protection:"), which user pages are: free pages per zone from
 * /proc/buddyinfo (small, cheap), watermarks and protection from
 * /proc/zoneinfo (large on big machines, read every ZONEINFO_MS). A reading
 * of free memory serves for READ_MS, or READ_NEAR_MS when the node is near
 * the level; pages granted since are subtracted from it. Without those
 * files (not Linux) every node has room.
 *
 * lock ordering: mem.lock is innermost (taken under node->lock); it also
 * covers zoneinfo_zone.
 */
#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* How long readings serve, in ms. */
#define ZONEINFO_MS 10000
#define READ_MS 1000
#define READ_NEAR_MS 10
/* Pages above the min watermark left for the kernel's own allocations on
 * the way (page tables, the mapping's records) and for readings that are
 * a little old. */
#define ROOM_MARGIN 256ull
/* Within this many pages of a level a reading is "near" it. */
#define NEAR_PAGES 4096ull
/* Zones per node: DMA, DMA32, Normal, Movable, Device, with room to spare. */
#define MAX_ZONES (ZP_MAX_NODES * 8)

struct zone_marks {
	int node;
	char name[16];
	uint64_t min, low, protection;
	uint64_t free; /* pages, at the last reading of buddyinfo */
};

struct node_free {
	uint64_t read_ms;                    /* 0: never read */
	uint64_t avail[ZP_NR_ROOM_LEVELS];   /* pages above each level */
	uint64_t granted;                    /* pages given since the reading */
};

static struct {
	pthread_mutex_t lock;
	bool unavailable;                    /* no /proc to read */
	uint64_t marks_ms;
	struct zone_marks zones[MAX_ZONES];  /* protected by lock */
	unsigned int nr_zones;
	struct node_free nodes[ZP_MAX_NODES]; /* protected by lock */
} mem = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct zone_marks *find_zone(int node, const char *name)
{
	for (unsigned int i = 0; i < mem.nr_zones; i++)
		if (mem.zones[i].node == node && !strcmp(mem.zones[i].name, name))
			return &mem.zones[i];
	return NULL;
}

/*
 * Call fn for each line of a /proc file, read with a buffer on the stack:
 * this runs on the I/O path, where malloc (and stdio's buffers) may not.
 * Lines longer than the buffer are cut.
 */
static int for_each_line(const char *path, void (*fn)(const char *line))
{
	char buf[4096];
	size_t have = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		char *line, *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		line = buf;
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			fn(line);
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		if (have == sizeof(buf) - 1) {
			fn(buf); /* a cut line */
			have = 0;
		}
		memmove(buf, line, have);
	}
	if (have) {
		buf[have] = '\0';
		fn(buf);
	}
	close(fd);
	return 0;
}

/* "Node 1, zone   Normal" -> 1, "Normal"; the rest of the line in *rest. */
static bool parse_zone_head(const char *line, int *node, char *name,
			    const char **rest)
{
	int n, used = 0;

	if (sscanf(line, "Node %d, zone %15s%n", &n, name, &used) != 2 ||
	    n < 0 || n >= ZP_MAX_NODES)
		return false;
	*node = n;
	*rest = line + used;
	return true;
}

/* The zone read_zoneinfo() is in the middle of. */
static struct zone_marks *zoneinfo_zone;

static void zoneinfo_line(const char *line)
{
	struct zone_marks *z = zoneinfo_zone;
	const char *rest, *p;
	unsigned long long v;
	char name[16];
	int node;

	if (parse_zone_head(line, &node, name, &rest)) {
		z = mem.nr_zones < MAX_ZONES ? &mem.zones[mem.nr_zones++] : NULL;
		if (z) {
			memset(z, 0, sizeof(*z));
			z->node = node;
			snprintf(z->name, sizeof(z->name), "%s", name);
		}
		zoneinfo_zone = z;
		return;
	}
	if (!z)
		return;
	if (sscanf(line, " min %llu", &v) == 1) {
		z->min = v;
	} else if (sscanf(line, " low %llu", &v) == 1) {
		z->low = v;
	} else if ((p = strstr(line, "protection: (")) != NULL) {
		const char *last = strrchr(p, ',');

		p = last ? last + 1 : p + strlen("protection: (");
		if (sscanf(p, " %llu", &v) == 1)
			z->protection = v;
	}
}

/* Watermarks and protection of every zone. Caller holds mem.lock. */
static int read_zoneinfo(void)
{
	int ret;

	mem.nr_zones = 0;
	zoneinfo_zone = NULL;
	ret = for_each_line("/proc/zoneinfo", zoneinfo_line);
	if (ret)
		return ret;
	return mem.nr_zones ? 0 : -ENOENT;
}

static void buddyinfo_line(const char *line)
{
	struct zone_marks *z;
	const char *rest;
	char name[16], *end;
	uint64_t free = 0;
	int node;

	if (!parse_zone_head(line, &node, name, &rest) ||
	    !(z = find_zone(node, name)))
		return;
	for (unsigned int order = 0; order < 64; order++) {
		unsigned long long count = strtoull(rest, &end, 10);

		if (end == rest)
			break;
		free += (uint64_t)count << order;
		rest = end;
	}
	z->free = free;
}

/* Free pages of every zone, and each node's room above the levels. Caller
 * holds mem.lock. */
static int read_buddyinfo(uint64_t now)
{
	int ret;

	for (unsigned int i = 0; i < mem.nr_zones; i++)
		mem.zones[i].free = 0;
	ret = for_each_line("/proc/buddyinfo", buddyinfo_line);
	if (ret)
		return ret;
	for (int n = 0; n < ZP_MAX_NODES; n++) {
		struct node_free *nf = &mem.nodes[n];

		memset(nf->avail, 0, sizeof(nf->avail));
		nf->granted = 0;
		nf->read_ms = now;
	}
	for (unsigned int i = 0; i < mem.nr_zones; i++) {
		const struct zone_marks *z = &mem.zones[i];
		struct node_free *nf = &mem.nodes[z->node];
		uint64_t keep[ZP_NR_ROOM_LEVELS] = {
			[ZP_ROOM_LOW] = z->low + z->protection,
			[ZP_ROOM_MIN] = z->min + z->protection,
		};

		for (int l = 0; l < ZP_NR_ROOM_LEVELS; l++)
			if (z->free > keep[l])
				nf->avail[l] += z->free - keep[l];
	}
	return 0;
}

static bool numa_room(void *ctx, int node, size_t npages, size_t reserve_pages,
		      enum zp_room_level level)
{
	const uint64_t want = npages + (level == ZP_ROOM_LOW ? reserve_pages : ROOM_MARGIN);
	struct node_free *nf = &mem.nodes[node];
	uint64_t now = zp_now_ms(), avail;
	bool room = true;

	(void)ctx;
	pthread_mutex_lock(&mem.lock);
	if (mem.unavailable)
		goto out;
	if (!mem.marks_ms || now - mem.marks_ms >= ZONEINFO_MS) {
		if (read_zoneinfo() != 0) {
			mem.unavailable = true;
			goto out;
		}
		mem.marks_ms = now;
		nf->read_ms = 0;
	}
	avail = nf->avail[level] > nf->granted ? nf->avail[level] - nf->granted : 0;
	if (!nf->read_ms || now - nf->read_ms >= READ_MS ||
	    (avail < want + NEAR_PAGES && now - nf->read_ms >= READ_NEAR_MS)) {
		if (read_buddyinfo(now) != 0) {
			mem.unavailable = true;
			goto out;
		}
		avail = nf->avail[level];
	}
	room = avail >= want;
	if (room)
		nf->granted += npages;
out:
	pthread_mutex_unlock(&mem.lock);
	return room;
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
	.room = numa_room,
	.uncharge = numa_uncharge,
	.bind = node_numa_bind,
	.query = numa_query,
};
