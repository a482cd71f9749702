/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * swapper.c - a workload that makes the kernel swap and checks that every
 * page it swapped came back intact.
 *
 *   swapper [--mib N] [--passes P] [--hold] [--seed S]
 *
 * It maps N MiB (default 512) of anonymous memory and fills page i with
 * page (i mod 24576) of the shared corpus, so that what goes to swap
 * compresses like real memory. The first 8 bytes of each page are replaced
 * by a stamp, the page number in the low 32 bits and a hash of the seed in
 * the high ones, so that no two pages are alike and a page that comes back
 * in the wrong place says where it belongs. A 64-bit checksum of each page
 * is kept in an array of its own. The fill reads the corpus once, in order,
 * copying each corpus page to every page that takes it and giving back the
 * corpus pages behind it; then the corpus is freed, so that what
 * the process holds is the N MiB and little else. Run under a memory limit
 * smaller than N MiB (a memory cgroup), the fill alone pushes most pages out
 * to swap.
 *
 * Then P passes (default 3) read every page in a new random order and
 * compare its checksum, which brings pages in from swap and pushes others
 * out. A page that differs is reported with its number, the stamp it holds
 * and whether it reads as zeros (a lost page); the pass is finished, and
 * the program exits 1. "swapper: verified N pages x P passes" and exit 0
 * mean that every page read back as written on every pass.
 *
 * With --hold it prints "swapper: filled" after the fill and waits for
 * SIGUSR1 before the passes, so that a test can act (signal the daemon,
 * raise the limit, swapoff) while the pages sit in swap. SIGUSR1 is blocked
 * from the start, so one sent early is not lost.
 *
 * Exit status: 0 every page verified, 1 a page differed, 2 usage or set-up
 * error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "tests/corpus.h"
#include "tests/testlib.h"

#define PAGE ZP_CORPUS_PAGE
#define WORDS (PAGE / sizeof(uint64_t))
/* Mismatches printed in full per pass; the rest are only counted. */
#define MAX_REPORTS 20

/* Give the kernel back the whole pages of the corpus before page 'done'. */
static void release_behind(const struct zp_corpus *corpus, size_t done)
{
	uintptr_t start = (uintptr_t)corpus->data;
	uintptr_t end = start + done * PAGE;
	uintptr_t mask = (uintptr_t)sysconf(_SC_PAGESIZE) - 1;

	start = (start + mask) & ~mask;
	end &= ~mask;
	if (end > start)
		madvise((void *)start, end - start, MADV_DONTNEED);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A checksum of one page: each word multiplied into a running value, the
 * result finished by zt_mix64() so that every bit counts. */
static uint64_t page_sum(const uint64_t *w)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t k;

	for (k = 0; k < WORDS; k++) {
		h ^= w[k];
		h *= 0x100000001b3ull;
		h = (h << 27) | (h >> 37);
	}
	return zt_mix64(h);
}

static bool all_zero(const uint64_t *w)
{
	size_t k;

	for (k = 0; k < WORDS; k++)
		if (w[k])
			return false;
	return true;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: swapper [--mib N] [--passes P] [--hold] [--seed S]\n"
		"  --mib N     anonymous memory to fill and verify (default "
		"512)\n"
		"  --passes P  verification passes in random order (default "
		"3)\n"
		"  --hold      after the fill, print 'swapper: filled' and "
		"wait\n"
		"              for SIGUSR1 before verifying\n"
		"  --seed S    seed of the stamps and of the order (default "
		"1)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mib", required_argument, NULL, 'm' },
		{ "passes", required_argument, NULL, 'p' },
		{ "hold", no_argument, NULL, 'H' },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t mib = 512, passes = 3, seed = 1, stamp_hi, rng, bad_total = 0;
	struct zp_corpus corpus;
	char err[4200];
	bool hold = false;
	size_t nr_pages, i, bytes;
	unsigned char *mem;
	uint64_t *sums;
	uint32_t *order;
	sigset_t usr1;
	double t0, t;
	unsigned int pass;
	int c, sig;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Before anything else: a SIGUSR1 that comes early waits. */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!zt_parse_u64(optarg, &mib) || !mib ||
			    mib > (1u << 20)) {
				fprintf(stderr, "swapper: bad --mib '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'p':
			if (!zt_parse_u64(optarg, &passes) || passes > 1000000) {
				fprintf(stderr, "swapper: bad --passes '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'H':
			hold = true;
			break;
		case 's':
			if (!zt_parse_u64(optarg, &seed)) {
				fprintf(stderr, "swapper: bad --seed '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "swapper: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}

	bytes = (size_t)mib << 20;
	nr_pages = bytes / PAGE;
	stamp_hi = zt_mix64(seed) & 0xffffffff00000000ull;

	/* The small arrays first, so that they are made before the big
	 * mapping competes with them for the memory limit. */
	sums = malloc(nr_pages * sizeof(*sums));
	order = malloc(nr_pages * sizeof(*order));
	if (!sums || !order) {
		fprintf(stderr, "swapper: out of memory\n");
		return 2;
	}
	if (zp_corpus_load(&corpus, err, sizeof(err))) {
		fprintf(stderr, "swapper: cannot load the corpus: %s\n", err);
		return 2;
	}
	mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		fprintf(stderr, "swapper: cannot map %" PRIu64 " MiB: %s\n",
			mib, strerror(errno));
		return 2;
	}
	/* Pages of 4 KiB, as a swap device sees most of them. */
	madvise(mem, bytes, MADV_NOHUGEPAGE);

	printf("swapper: filling %" PRIu64 " MiB (%zu pages), seed %" PRIu64
	       "\n",
	       mib, nr_pages, seed);
	t0 = now();
	/* Corpus page by corpus page, each copied to every page that takes
	 * it: the corpus is read once, in order, and what is behind is given
	 * back, so that under memory pressure the fill does not swap the
	 * corpus in and out again. */
	for (size_t cp = 0; cp < corpus.nr_pages && cp < nr_pages; cp++) {
		for (i = cp; i < nr_pages; i += corpus.nr_pages) {
			uint64_t *p = (uint64_t *)(void *)(mem + i * PAGE);
			uint64_t stamp = stamp_hi | (uint64_t)(uint32_t)i;

			memcpy(p, zp_corpus_page(&corpus, cp), PAGE);
			memcpy(p, &stamp, sizeof(stamp));
			sums[i] = page_sum(p);
		}
		if (cp % 256 == 255)
			release_behind(&corpus, cp + 1);
	}
	zp_corpus_free(&corpus);
	t = now() - t0;
	printf("swapper: filled %zu pages in %.1f s (%.0f MiB/s)\n", nr_pages,
	       t, (double)mib / (t > 0 ? t : 1e-9));

	if (hold) {
		printf("swapper: filled\n");
		fflush(stdout);
		if (sigwait(&usr1, &sig)) {
			fprintf(stderr, "swapper: sigwait failed\n");
			return 2;
		}
		printf("swapper: SIGUSR1 received, verifying\n");
	}

	rng = zt_mix64(seed ^ ZT_GOLDEN_GAMMA);
	for (i = 0; i < nr_pages; i++)
		order[i] = (uint32_t)i;
	for (pass = 1; pass <= passes; pass++) {
		uint64_t bad = 0;

		/* A new order each pass (Fisher-Yates). */
		for (i = nr_pages - 1; i > 0; i--) {
			size_t j = (size_t)zt_below(&rng, i + 1);
			uint32_t tmp = order[i];

			order[i] = order[j];
			order[j] = tmp;
		}
		t0 = now();
		for (i = 0; i < nr_pages; i++) {
			size_t n = order[i];
			const uint64_t *p =
				(const uint64_t *)(void *)(mem + n * PAGE);
			uint64_t sum = page_sum(p), stamp;

			if (sum == sums[n])
				continue;
			if (bad++ >= MAX_REPORTS)
				continue;
			memcpy(&stamp, p, sizeof(stamp));
			printf("swapper: MISMATCH pass %u page %zu (offset "
			       "0x%zx): checksum %016" PRIx64 ", expected "
			       "%016" PRIx64 "; stamp %016" PRIx64 "%s%s\n",
			       pass, n, n * PAGE, sum, sums[n], stamp,
			       all_zero(p) ? " (page reads as zeros)" : "",
			       (stamp & 0xffffffff00000000ull) == stamp_hi &&
					       (uint32_t)stamp != n
				       ? " (holds another page's stamp)"
				       : "");
		}
		t = now() - t0;
		printf("swapper: pass %u/%" PRIu64 ": %zu pages in %.1f s "
		       "(%.0f MiB/s), %" PRIu64 " bad\n",
		       pass, passes, nr_pages, t,
		       (double)mib / (t > 0 ? t : 1e-9), bad);
		bad_total += bad;
	}
	if (bad_total) {
		printf("swapper: FAILED: %" PRIu64 " page checks of %zu pages x "
		       "%" PRIu64 " passes differed\n",
		       bad_total, nr_pages, passes);
		return 1;
	}
	printf("swapper: verified %zu pages x %" PRIu64 " passes\n", nr_pages,
	       passes);
	munmap(mem, bytes);
	free(sums);
	free(order);
	return 0;
}
