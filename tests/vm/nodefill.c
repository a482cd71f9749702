/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nodefill.c - take a NUMA node's free memory down to a given amount and
 * hold it, so that a test can see what the pool does on a node that is
 * short of memory.
 *
 *   nodefill --node N --leave KIB
 *
 * Its memory policy binds it to node N; it maps anonymous memory a MiB at
 * a time (less near the end), locks it (so that neither swap nor reclaim
 * gives it back) and touches it, until MemFree of node N
 * (/sys/devices/system/node/nodeN/meminfo) is at or below KIB. Then it
 * prints "nodefill: node N free F kB, held H kB" and waits for a signal.
 *
 * Exit status: 0 after SIGTERM or SIGINT, 1 when the node could not be
 * filled that far, 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <numaif.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define STEP_KIB 1024L

static long node_free_kib(int node)
{
	char path[96], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/meminfo", node);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Node %*d MemFree: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static void usage(void)
{
	fprintf(stderr, "usage: nodefill --node N --leave KIB\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"node", required_argument, NULL, 'n'},
		{"leave", required_argument, NULL, 'l'},
		{NULL, 0, NULL, 0},
	};
	long leave = -1, held = 0, free_kib;
	unsigned long mask;
	int node = -1, c, sig;
	sigset_t set;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			node = atoi(optarg);
			break;
		case 'l':
			leave = atol(optarg);
			break;
		default:
			usage();
		}
	}
	if (node < 0 || node >= 64 || leave < 0 || optind != argc)
		usage();
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);

	mask = 1ul << node;
	if (set_mempolicy(MPOL_BIND, &mask, sizeof(mask) * 8) != 0) {
		fprintf(stderr, "nodefill: cannot bind to node %d: %s\n", node,
			strerror(errno));
		return 1;
	}
	while ((free_kib = node_free_kib(node)) > leave) {
		long kib = free_kib - leave < STEP_KIB ? free_kib - leave : STEP_KIB;
		size_t len = (size_t)kib * 1024;
		void *p;

		if (len < 4096)
			break;
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_LOCKED, -1, 0);
		if (p == MAP_FAILED) {
			fprintf(stderr, "nodefill: cannot take %ld kB more of node %d "
				"(%ld kB free): %s\n", kib, node, free_kib, strerror(errno));
			return 1;
		}
		memset(p, 0x5a, len);
		held += kib;
	}
	if (free_kib < 0) {
		fprintf(stderr, "nodefill: cannot read the free memory of node %d\n", node);
		return 1;
	}
	printf("nodefill: node %d free %ld kB, held %ld kB\n", node,
	       node_free_kib(node), held);
	fflush(stdout);
	sigwait(&set, &sig);
	return 0;
}
