/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pool-bench.c - figures for the pool on the swap-like corpus.
 *
 * The corpus is compressed page by page with LZ4_compress_default, as zram
 * does with lz4, and the pool is measured three ways:
 *
 *   storage     every page stored as zram stores it (same-filled pages only
 *               counted, pages that compress to the huge class or beyond
 *               stored raw, the rest as their compressed bytes), for
 *               max_zspage_pages 4, 8 and 16; prints the allocator overhead
 *               next to zram's figures for the same corpus, and reads every
 *               object back to check it decompresses bit-exact;
 *   throughput  malloc+free pairs on 1 and 2 threads against glibc on the
 *               same size sequence, two ways: steady (a live population
 *               where each step frees a random object and allocates the
 *               next size: a swap device in use) and batch (allocate a
 *               batch, free it all in a shuffled order: every zspage is
 *               born and dies each round);
 *   numa        strict against preferred placement on a simulated 2-node
 *               topology: how many more pages keeping nodes apart costs,
 *               after filling and after churn and compaction.
 *
 * Timings are printed, never judged: the exit status says only whether the
 * benchmark ran and every object came back intact (and, under the strict
 * policy, on the node it was asked for).
 *
 * Every random choice comes from splitmix64 with a fixed seed, so two runs
 * place and free the same objects in the same order.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <lz4.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool/pool.h"
#include "tests/corpus.h"
#include "tests/testlib.h"
#include "zp-compiler.h"

/* Reference figures of Linux 6.18 zram with lz4 on the same corpus
 * (shared/corpus/README.md). */
#define ZRAM_LZ4_OVERHEAD 1.054
#define ZRAM_LZ4_ORIG_MEM 2.204
#define ZRAM_LZ4_ORIG_COMPR 2.323
#define ZRAM_LZ4_SAME 277
#define ZRAM_LZ4_HUGE 27
#define OVERHEAD_TARGET 1.040

/* Objects allocated before any is freed: large enough that frees hit many
 * zspages in a random order, as swap-ins do, small enough to stay in cache
 * as a handle array. */
#define TP_BATCH 4096u
#define TP_MAX_THREADS 2
#define TP_ROUNDS_FULL 400u
#define TP_ROUNDS_QUICK 20u
#define TP_REPEAT_FULL 3u
#define TP_REPEAT_QUICK 1u
/* Live objects per thread in the steady pattern: about 28 MB of the
 * corpus's sizes, well beyond the caches. */
#define TP_LIVE 16384u

#define SEED 0x7a706f6f6c64ull /* "zpoold" */

static bool quick;

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

static void shuffle_u32(uint32_t *a, size_t n, uint64_t *state)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = zt_below(state, i);
		uint32_t t = a[i - 1];

		a[i - 1] = a[j];
		a[j] = t;
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double ts_diff(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) + (b->tv_nsec - a->tv_nsec) / 1e9;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p) {
		fprintf(stderr, "pool-bench: out of memory\n");
		exit(1);
	}
	return p;
}

static struct zp_pool *create_pool(const struct zp_pool_config *cfg)
{
	struct zp_pool *pool;
	int ret = zp_pool_create(cfg, &pool);

	if (ret < 0) {
		fprintf(stderr, "pool-bench: cannot create a pool: %s%s\n",
			strerror(-ret),
			ret == -EPERM || ret == -EAGAIN ?
				" (the pool locks its memory: raise ulimit -l)" :
				"");
		exit(1);
	}
	return pool;
}

/* ------------------------------------------------------------------------ */
/* The corpus, compressed                                                   */
/* ------------------------------------------------------------------------ */

struct cpage {
	uint32_t off;  /* of the compressed bytes in cbuf */
	uint16_t len;  /* compressed bytes; 0 for a same-filled page */
	bool same;     /* every 8-byte word equal: zram keeps only the word */
};

struct ccorpus {
	struct zp_corpus corpus;
	struct cpage *pages;
	unsigned char *cbuf;
	size_t nr_same;
	uint64_t lz4_bytes; /* compressed bytes of the pages not same-filled */
};

/* One object as zram would store it, for a given huge-class threshold. */
struct obj {
	uint32_t page;
	uint16_t size; /* bytes allocated: compressed length, or 4096 if raw */
	bool raw;      /* stored uncompressed (huge) */
};

struct objset {
	struct obj *objs;
	size_t nr;
	size_t nr_huge;
	uint64_t bytes; /* sum of object sizes, zram's compr_data_size */
};

static bool page_same_filled(const unsigned char *page)
{
	uint64_t first, w;

	memcpy(&first, page, sizeof(first));
	for (size_t i = sizeof(w); i < ZP_CORPUS_PAGE; i += sizeof(w)) {
		memcpy(&w, page + i, sizeof(w));
		if (w != first)
			return false;
	}
	return true;
}

static void compress_corpus(struct ccorpus *cc)
{
	size_t nr = cc->corpus.nr_pages;
	int bound = LZ4_compressBound(ZP_CORPUS_PAGE);
	uint64_t off = 0;

	cc->pages = xcalloc(nr, sizeof(*cc->pages));
	/* Worst case: every page incompressible. */
	cc->cbuf = xcalloc(nr, bound);
	for (size_t i = 0; i < nr; i++) {
		const unsigned char *page = zp_corpus_page(&cc->corpus, i);
		struct cpage *cp = &cc->pages[i];
		int n;

		if (page_same_filled(page)) {
			cp->same = true;
			cc->nr_same++;
			continue;
		}
		n = LZ4_compress_default((const char *)page,
					 (char *)cc->cbuf + off,
					 ZP_CORPUS_PAGE, bound);
		if (n <= 0) {
			fprintf(stderr, "pool-bench: lz4 cannot compress page %zu\n",
				i);
			exit(1);
		}
		cp->off = off;
		cp->len = n;
		off += n;
		cc->lz4_bytes += n;
	}
}

/* The objects zram would store when sizes from huge_size up are huge. */
static void build_objset(const struct ccorpus *cc, size_t huge_size,
			 struct objset *set)
{
	size_t nr = cc->corpus.nr_pages;

	memset(set, 0, sizeof(*set));
	set->objs = xcalloc(nr, sizeof(*set->objs));
	for (size_t i = 0; i < nr; i++) {
		const struct cpage *cp = &cc->pages[i];
		struct obj *o;

		if (cp->same)
			continue;
		o = &set->objs[set->nr++];
		o->page = i;
		if (cp->len >= huge_size) {
			o->raw = true;
			o->size = ZP_CORPUS_PAGE;
			set->nr_huge++;
		} else {
			o->size = cp->len;
		}
		set->bytes += o->size;
	}
}

static int store_obj(struct zp_pool *pool, const struct ccorpus *cc,
		     const struct obj *o, int nid, zp_handle_t *handle)
{
	const void *src;
	int ret;

	ret = zp_pool_malloc(pool, o->size, nid, handle);
	if (ret < 0)
		return ret;
	if (o->raw)
		src = zp_corpus_page(&cc->corpus, o->page);
	else
		src = cc->cbuf + cc->pages[o->page].off;
	zp_pool_write(pool, *handle, src, o->size);
	return 0;
}

static void store_or_die(struct zp_pool *pool, const struct ccorpus *cc,
			 const struct obj *o, int nid, zp_handle_t *handle)
{
	int ret = store_obj(pool, cc, o, nid, handle);

	if (ret < 0) {
		fprintf(stderr,
			"pool-bench: cannot allocate %u bytes on node %d for page %u: %s\n",
			o->size, nid, o->page, strerror(-ret));
		exit(1);
	}
}

/* Whether the object reads back as the page it was made from. */
static bool verify_obj(struct zp_pool *pool, const struct ccorpus *cc,
		       const struct obj *o, zp_handle_t handle)
{
	const unsigned char *page = zp_corpus_page(&cc->corpus, o->page);
	char out[ZP_CORPUS_PAGE];
	const void *p;
	bool ok;

	if (zp_pool_obj_size(pool, handle) != o->size)
		return false;
	p = zp_pool_read_begin(pool, handle);
	if (o->raw)
		ok = !memcmp(p, page, ZP_CORPUS_PAGE);
	else
		ok = LZ4_decompress_safe(p, out, o->size, sizeof(out)) ==
			     (int)ZP_CORPUS_PAGE &&
		     !memcmp(out, page, ZP_CORPUS_PAGE);
	zp_pool_read_end(pool, handle);
	return ok;
}

/*
 * Read every object back; reports the first few that differ. handles[i]
 * holds set->objs[which[i]], or set->objs[i] when which is NULL.
 */
static size_t verify_all(struct zp_pool *pool, const struct ccorpus *cc,
			 const struct objset *set, const zp_handle_t *handles,
			 const uint32_t *which)
{
	size_t bad = 0;

	for (size_t i = 0; i < set->nr; i++) {
		const struct obj *o = &set->objs[which ? which[i] : i];

		if (verify_obj(pool, cc, o, handles[i]))
			continue;
		if (bad++ < 5)
			fprintf(stderr,
				"pool-bench: object of page %u (%u bytes%s) reads back wrong\n",
				o->page, o->size, o->raw ? ", raw" : "");
	}
	return bad;
}

/* ------------------------------------------------------------------------ */
/* Storage                                                                  */
/* ------------------------------------------------------------------------ */

struct density {
	unsigned int max_zspage_pages;
	double overhead, overhead_meta, meta_per_obj;
	size_t pages;
};

/* Where the bytes between the objects and the pool's pages go. */
struct waste {
	uint64_t rounding;  /* class slot size over object size */
	uint64_t free_slots; /* unused slots of live zspages */
	uint64_t tails;     /* zspage bytes after the last slot */
	unsigned int classes_used;
};

static void measure_waste(struct zp_pool *pool, const struct zp_pool_stats *st,
			  struct waste *w)
{
	memset(w, 0, sizeof(*w));
	w->rounding = st->bytes_used - st->bytes_requested;
	for (unsigned int c = 0; c < zp_pool_nr_classes(pool); c++) {
		struct zp_class_stats cs;

		if (zp_pool_class_stats(pool, c, &cs) < 0)
			break;
		if (!cs.zspages)
			continue;
		w->classes_used++;
		w->free_slots += (cs.objs_allocated - cs.objs_used) * cs.size;
		w->tails += cs.zspages * (cs.pages_per_zspage * ZP_PAGE_SIZE -
					  cs.objs_per_zspage * cs.size);
	}
}

static int bench_storage(const struct ccorpus *cc, unsigned int max_pages,
			 struct density *d, struct objset *keep)
{
	uint64_t orig = (uint64_t)cc->corpus.nr_pages * ZP_CORPUS_PAGE;
	struct zp_pool_config cfg;
	struct zp_pool_stats st;
	struct zp_pool *pool;
	struct objset set;
	struct waste w;
	zp_handle_t *handles;
	size_t huge_size, pages, bad;
	uint64_t mem;
	double t0, t_store;

	zp_pool_config_init(&cfg);
	cfg.max_zspage_pages = max_pages;
	cfg.node_ops = NULL;
	pool = create_pool(&cfg);
	huge_size = zp_pool_huge_class_size(pool);
	build_objset(cc, huge_size, &set);
	handles = xcalloc(set.nr, sizeof(*handles));

	t0 = now();
	for (size_t i = 0; i < set.nr; i++)
		store_or_die(pool, cc, &set.objs[i], -1, &handles[i]);
	t_store = now() - t0;

	pages = zp_pool_total_pages(pool);
	mem = (uint64_t)pages * ZP_PAGE_SIZE;
	zp_pool_stats(pool, &st);
	measure_waste(pool, &st, &w);
	zp_pool_validate(pool);
	bad = verify_all(pool, cc, &set, handles, NULL);

	d->max_zspage_pages = max_pages;
	d->pages = pages;
	d->overhead = (double)mem / set.bytes;
	d->meta_per_obj = st.objects ? (double)st.metadata_bytes / st.objects : 0;
	d->overhead_meta = (double)(mem + st.metadata_bytes) / set.bytes;

	printf("\n== storage: max_zspage_pages %u%s, real node layer ==\n",
	       max_pages, max_pages == ZP_DEFAULT_ZSPAGE_PAGES ? " (default)" : "");
	printf("  huge class from:                       %zu bytes\n", huge_size);
	printf("  pages stored:                          %zu\n", set.nr);
	printf("  same-filled (counted, not stored):     %zu   [zram lz4: %d]\n",
	       cc->nr_same, ZRAM_LZ4_SAME);
	printf("  huge (stored raw):                     %zu   [zram lz4: %d]\n",
	       set.nr_huge, ZRAM_LZ4_HUGE);
	printf("  object bytes (compr):                  %" PRIu64 "\n", set.bytes);
	printf("  pool memory (pages * 4096):            %" PRIu64 " (%zu pages, %" PRIu64 " zspages)\n",
	       mem, pages, st.zspages);
	printf("  overhead (pool memory / object bytes): %.3f   [zram lz4: %.3f, target <= %.3f]\n",
	       d->overhead, ZRAM_LZ4_OVERHEAD, OVERHEAD_TARGET);
	printf("  orig/compr:                            %.3f   [zram lz4: %.3f]\n",
	       (double)orig / set.bytes, ZRAM_LZ4_ORIG_COMPR);
	printf("  orig/mem:                              %.3f   [zram lz4: %.3f]\n",
	       (double)orig / mem, ZRAM_LZ4_ORIG_MEM);
	printf("  metadata per stored object:            %.1f bytes (%" PRIu64 " bytes in all)\n",
	       d->meta_per_obj, st.metadata_bytes);
	printf("  overhead including metadata:           %.3f\n", d->overhead_meta);
	printf("  pool memory - object bytes:            %" PRIu64 " = rounding to class size %" PRIu64 "\n"
	       "                                          + free slots %" PRIu64 " + zspage tails %" PRIu64 "\n",
	       mem - set.bytes, w.rounding, w.free_slots, w.tails);
	printf("  size classes in use:                   %u of %u\n",
	       w.classes_used, zp_pool_nr_classes(pool));
	printf("  store time:                            %.3f s (%.2f M objects/s)\n",
	       t_store, t_store > 0 ? set.nr / t_store / 1e6 : 0.0);
	printf("  read back bit-exact:                   %zu of %zu objects\n",
	       set.nr - bad, set.nr);

	for (size_t i = 0; i < set.nr; i++)
		zp_pool_free(pool, handles[i]);
	if (zp_pool_total_pages(pool) != 0) {
		fprintf(stderr,
			"pool-bench: %zu pages still held after freeing every object\n",
			zp_pool_total_pages(pool));
		bad++;
	}
	zp_pool_destroy(pool);
	free(handles);

	if (keep)
		*keep = set;
	else
		free(set.objs);
	return bad ? -EIO : 0;
}

/* ------------------------------------------------------------------------ */
/* Throughput                                                               */
/* ------------------------------------------------------------------------ */

struct tp_run {
	struct zp_pool *pool; /* NULL: glibc malloc/free */
	bool steady;          /* steady pattern, else batch */
	const uint32_t *sizes;
	size_t nr_sizes;
	const uint32_t *perm; /* TP_BATCH entries: the order of the frees */
	const uint32_t *victims; /* TP_BATCH entries below TP_LIVE */
	unsigned int rounds;
	pthread_barrier_t start;
};

struct tp_thread {
	struct tp_run *run;
	pthread_t tid;
	size_t pos; /* next index into sizes */
	struct timespec t0, t1;
	int err;
};

static int pool_rounds(struct tp_thread *t, zp_handle_t *h, unsigned int rounds)
{
	const struct tp_run *run = t->run;
	struct zp_pool *pool = run->pool;
	size_t pos = t->pos;

	for (unsigned int r = 0; r < rounds; r++) {
		for (size_t i = 0; i < TP_BATCH; i++) {
			int ret = zp_pool_malloc(pool, run->sizes[pos], -1, &h[i]);

			if (zp_unlikely(ret < 0))
				return ret;
			if (++pos == run->nr_sizes)
				pos = 0;
		}
		for (size_t i = 0; i < TP_BATCH; i++)
			zp_pool_free(pool, h[run->perm[i]]);
	}
	t->pos = pos;
	return 0;
}

static int glibc_rounds(struct tp_thread *t, void **p, unsigned int rounds);

/* Steady: h holds TP_LIVE live objects; each step replaces one. */
static int pool_steady(struct tp_thread *t, zp_handle_t *h, unsigned int rounds)
{
	const struct tp_run *run = t->run;
	struct zp_pool *pool = run->pool;
	size_t pos = t->pos;

	for (unsigned int r = 0; r < rounds; r++) {
		for (size_t i = 0; i < TP_BATCH; i++) {
			uint32_t v = (run->victims[i] + r * 7919u) % TP_LIVE;
			int ret;

			zp_pool_free(pool, h[v]);
			ret = zp_pool_malloc(pool, run->sizes[pos], -1, &h[v]);
			if (zp_unlikely(ret < 0))
				return ret;
			if (++pos == run->nr_sizes)
				pos = 0;
		}
	}
	t->pos = pos;
	return 0;
}

static int glibc_steady(struct tp_thread *t, void **p, unsigned int rounds)
{
	const struct tp_run *run = t->run;
	size_t pos = t->pos;

	for (unsigned int r = 0; r < rounds; r++) {
		for (size_t i = 0; i < TP_BATCH; i++) {
			uint32_t v = (run->victims[i] + r * 7919u) % TP_LIVE;

			free(p[v]);
			p[v] = malloc(run->sizes[pos]);
			if (zp_unlikely(!p[v]))
				return -ENOMEM;
			if (++pos == run->nr_sizes)
				pos = 0;
		}
	}
	t->pos = pos;
	return 0;
}

/* Fill the live population of the steady pattern (untimed). */
static int steady_fill(struct tp_thread *t, zp_handle_t *h, void **p)
{
	const struct tp_run *run = t->run;

	for (size_t i = 0; i < TP_LIVE; i++) {
		uint32_t size = run->sizes[t->pos];

		if (++t->pos == run->nr_sizes)
			t->pos = 0;
		if (run->pool) {
			int ret = zp_pool_malloc(run->pool, size, -1, &h[i]);

			if (ret < 0)
				return ret;
		} else if (!(p[i] = malloc(size))) {
			return -ENOMEM;
		}
	}
	return 0;
}

static void steady_drain(struct tp_thread *t, zp_handle_t *h, void **p)
{
	for (size_t i = 0; i < TP_LIVE; i++) {
		if (t->run->pool)
			zp_pool_free(t->run->pool, h[i]);
		else
			free(p[i]);
	}
}

static int run_rounds(struct tp_thread *t, zp_handle_t *h, void **p,
		      unsigned int rounds)
{
	const struct tp_run *run = t->run;

	if (run->steady)
		return run->pool ? pool_steady(t, h, rounds) :
				   glibc_steady(t, p, rounds);
	return run->pool ? pool_rounds(t, h, rounds) : glibc_rounds(t, p, rounds);
}

static int glibc_rounds(struct tp_thread *t, void **p, unsigned int rounds)
{
	const struct tp_run *run = t->run;
	size_t pos = t->pos;

	for (unsigned int r = 0; r < rounds; r++) {
		for (size_t i = 0; i < TP_BATCH; i++) {
			p[i] = malloc(run->sizes[pos]);
			if (zp_unlikely(!p[i]))
				return -ENOMEM;
			if (++pos == run->nr_sizes)
				pos = 0;
		}
		for (size_t i = 0; i < TP_BATCH; i++)
			free(p[run->perm[i]]);
	}
	t->pos = pos;
	return 0;
}

static void *tp_thread_main(void *arg)
{
	struct tp_thread *t = arg;
	struct tp_run *run = t->run;
	zp_handle_t *h = calloc(TP_LIVE, sizeof(*h));
	void **p = calloc(TP_LIVE, sizeof(*p));
	int ret = -ENOMEM;

	if (!h || !p) {
		t->err = ret;
		pthread_barrier_wait(&run->start);
		goto out;
	}
	/* Untimed: the steady pattern's population, then one round that
	 * faults in glibc's arenas and the pool's first zspages, which a
	 * long-running daemon has long since done. */
	ret = run->steady ? steady_fill(t, h, p) : 0;
	if (ret == 0)
		ret = run_rounds(t, h, p, 1);
	pthread_barrier_wait(&run->start);
	if (ret < 0) {
		t->err = ret;
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t->t0);
	ret = run_rounds(t, h, p, run->rounds);
	clock_gettime(CLOCK_MONOTONIC, &t->t1);
	t->err = ret;
	if (run->steady && ret == 0)
		steady_drain(t, h, p);
out:
	free(h);
	free(p);
	return NULL;
}

/* Million malloc+free pairs per second of all threads together. */
static double tp_measure(struct tp_run *run, int nthreads)
{
	struct tp_thread th[TP_MAX_THREADS];
	struct timespec first, last;
	int ret;

	ret = pthread_barrier_init(&run->start, NULL, nthreads);
	if (ret) {
		fprintf(stderr, "pool-bench: cannot make a barrier: %s\n",
			strerror(ret));
		exit(1);
	}
	for (int i = 0; i < nthreads; i++) {
		memset(&th[i], 0, sizeof(th[i]));
		th[i].run = run;
		/* Each thread walks the sequence from its own offset, so the
		 * threads do not ask for the same sizes in lockstep. */
		th[i].pos = run->nr_sizes * i / nthreads;
		ret = pthread_create(&th[i].tid, NULL, tp_thread_main, &th[i]);
		if (ret) {
			fprintf(stderr, "pool-bench: cannot start a thread: %s\n",
				strerror(ret));
			exit(1);
		}
	}
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i].tid, NULL);
	pthread_barrier_destroy(&run->start);

	first = th[0].t0;
	last = th[0].t1;
	for (int i = 0; i < nthreads; i++) {
		if (th[i].err < 0) {
			fprintf(stderr, "pool-bench: %s allocation failed: %s\n",
				run->pool ? "pool" : "glibc",
				strerror(-th[i].err));
			exit(1);
		}
		if (ts_diff(&th[i].t0, &first) > 0)
			first = th[i].t0;
		if (ts_diff(&last, &th[i].t1) > 0)
			last = th[i].t1;
	}
	return (double)nthreads * run->rounds * TP_BATCH / ts_diff(&first, &last) /
	       1e6;
}

static double tp_best(struct tp_run *run, int nthreads, unsigned int repeat)
{
	double best = 0;

	for (unsigned int i = 0; i < repeat; i++) {
		double m = tp_measure(run, nthreads);

		if (m > best)
			best = m;
	}
	return best;
}

/* One line per thread count: the pool (from cfg) against glibc. */
static void tp_compare(struct tp_run *run, const struct zp_pool_config *cfg,
		       unsigned int repeat)
{
	for (int nthreads = 1; nthreads <= TP_MAX_THREADS; nthreads++) {
		double mp, mg;

		/* A fresh pool per measurement, so that one thread count
		 * does not inherit the zspages of the other. */
		run->pool = create_pool(cfg);
		mp = tp_best(run, nthreads, repeat);
		zp_pool_destroy(run->pool);
		run->pool = NULL;
		mg = tp_best(run, nthreads, repeat);
		printf("  %d %-8s pool %7.2f Mops/s   glibc %7.2f Mops/s   pool/glibc %.2f   [target >= 1.00]\n",
		       nthreads, nthreads > 1 ? "threads:" : "thread:", mp, mg,
		       mp / mg);
	}
}

static void bench_throughput(const struct objset *set)
{
	unsigned int rounds = quick ? TP_ROUNDS_QUICK : TP_ROUNDS_FULL;
	unsigned int repeat = quick ? TP_REPEAT_QUICK : TP_REPEAT_FULL;
	struct zp_pool_config cfg;
	struct tp_run run;
	uint32_t *sizes, *perm, *victims;
	uint64_t rng = SEED ^ 0x7470; /* "tp" */

	sizes = xcalloc(set->nr, sizeof(*sizes));
	for (size_t i = 0; i < set->nr; i++)
		sizes[i] = set->objs[i].size;
	perm = xcalloc(TP_BATCH, sizeof(*perm));
	for (uint32_t i = 0; i < TP_BATCH; i++)
		perm[i] = i;
	shuffle_u32(perm, TP_BATCH, &rng);
	victims = xcalloc(TP_BATCH, sizeof(*victims));
	for (uint32_t i = 0; i < TP_BATCH; i++)
		victims[i] = (uint32_t)zt_below(&rng, TP_LIVE);

	memset(&run, 0, sizeof(run));
	run.sizes = sizes;
	run.nr_sizes = set->nr;
	run.perm = perm;
	run.victims = victims;
	run.rounds = rounds;

	zp_pool_config_init(&cfg);
	cfg.node_ops = NULL;

	printf("\n== throughput: malloc+free pairs, pool (defaults) against glibc ==\n");
	printf("  sizes: the %zu object sizes of the corpus (default pool), each thread from its own offset; nid -1; best of %u\n",
	       set->nr, repeat);
	printf("  steady: %u live objects per thread, %u x %u steps of free a random one + allocate the next size\n",
	       TP_LIVE, rounds, TP_BATCH);
	run.steady = true;
	tp_compare(&run, &cfg, repeat);
	printf("  batch: %u rounds of %u allocations then %u frees in a fixed shuffled order\n",
	       rounds, TP_BATCH, TP_BATCH);
	run.steady = false;
	tp_compare(&run, &cfg, repeat);

	/* The batch pattern again with every free page above the cache floor
	 * returned at once: the cost of handing pages back to the system and
	 * faulting them in again, apart from the allocator itself. */
	cfg.release_delay_ms = 0;
	printf("  batch, release_delay_ms 0 (free pages returned at once):\n");
	tp_compare(&run, &cfg, repeat);
	free(victims);
	free(perm);
	free(sizes);
}

/* ------------------------------------------------------------------------ */
/* NUMA density: strict against preferred                                   */
/* ------------------------------------------------------------------------ */

#define NUMA_NODES 2

enum numa_stage {
	NUMA_STORED,    /* every object stored once */
	NUMA_CHURNED,   /* half of them freed and stored again */
	NUMA_COMPACTED, /* then zp_pool_compact(pool, -1) */
	NUMA_NR_STAGES
};

static const char *const numa_stage_name[NUMA_NR_STAGES] = {
	"stored", "churned", "compacted",
};

struct numa_result {
	size_t pages[NUMA_NR_STAGES];
	uint64_t bytes[NUMA_NR_STAGES]; /* of the live objects */
	size_t node_pages[NUMA_NR_STAGES][NUMA_NODES];
	size_t off_node; /* objects not on the node they asked for */
	size_t bad;      /* objects that read back wrong */
};

static void numa_sample(struct zp_pool *pool, struct numa_result *res,
			enum numa_stage stage)
{
	struct zp_pool_stats st;

	zp_pool_stats(pool, &st);
	res->bytes[stage] = st.bytes_requested;
	res->pages[stage] = zp_pool_total_pages(pool);
	for (int n = 0; n < NUMA_NODES; n++)
		res->node_pages[stage][n] = zp_pool_node_pages(pool, n);
}

static size_t count_off_node(struct zp_pool *pool, const zp_handle_t *handles,
			     const int *nids, size_t nr)
{
	size_t off = 0;

	for (size_t i = 0; i < nr; i++)
		off += zp_pool_obj_node(pool, handles[i]) != nids[i];
	return off;
}

static int draw_node(uint64_t *rng, unsigned int pct_node0)
{
	return zt_chance(rng, pct_node0) ? 0 : 1;
}

/*
 * Store the corpus with each object's node drawn at pct_node0 % for node 0,
 * then free a random half of the objects and store as many objects drawn at
 * random from the corpus on newly drawn nodes (so that sizes change and the
 * classes fragment, as when swap-ins and swap-outs interleave), then
 * compact. The same seed under both policies gives both the same objects,
 * nodes and order.
 */
static void numa_run(const struct ccorpus *cc, const struct objset *set,
		     enum zp_numa_policy policy, unsigned int pct_node0,
		     struct numa_result *res)
{
	uint64_t rng = SEED ^ pct_node0;
	struct zp_pool_config cfg;
	struct zp_node_sim *sim;
	struct zp_pool *pool;
	zp_handle_t *handles;
	uint32_t *order, *which;
	int *nids;
	size_t half = set->nr / 2;
	int ret;

	memset(res, 0, sizeof(*res));
	ret = zp_node_sim_create(NUMA_NODES, NULL, &sim);
	if (ret < 0) {
		fprintf(stderr, "pool-bench: cannot simulate %d nodes: %s\n",
			NUMA_NODES, strerror(-ret));
		exit(1);
	}
	zp_pool_config_init(&cfg);
	cfg.policy = policy;
	cfg.node_ops = &zp_node_sim_ops;
	cfg.node_ctx = sim;
	/* No per-node cache: it would count the same on both policies and
	 * only blur the difference in pages. */
	cfg.cache_pages = 0;
	pool = create_pool(&cfg);

	handles = xcalloc(set->nr, sizeof(*handles));
	nids = xcalloc(set->nr, sizeof(*nids));
	order = xcalloc(set->nr, sizeof(*order));
	which = xcalloc(set->nr, sizeof(*which));

	for (uint32_t i = 0; i < set->nr; i++) {
		which[i] = i;
		nids[i] = draw_node(&rng, pct_node0);
		store_or_die(pool, cc, &set->objs[i], nids[i], &handles[i]);
	}
	numa_sample(pool, res, NUMA_STORED);

	for (uint32_t i = 0; i < set->nr; i++)
		order[i] = i;
	shuffle_u32(order, set->nr, &rng);
	for (size_t i = 0; i < half; i++)
		zp_pool_free(pool, handles[order[i]]);
	for (size_t i = 0; i < half; i++) {
		uint32_t k = order[i];

		which[k] = zt_below(&rng, set->nr);
		nids[k] = draw_node(&rng, pct_node0);
		store_or_die(pool, cc, &set->objs[which[k]], nids[k],
			     &handles[k]);
	}
	numa_sample(pool, res, NUMA_CHURNED);
	zp_pool_compact(pool, -1);
	numa_sample(pool, res, NUMA_COMPACTED);

	zp_pool_validate(pool);
	res->off_node = count_off_node(pool, handles, nids, set->nr);
	res->bad = verify_all(pool, cc, set, handles, which);

	zp_pool_destroy(pool);
	zp_node_sim_destroy(sim);
	free(which);
	free(order);
	free(nids);
	free(handles);
}

static void print_numa_line(const char *policy, enum numa_stage stage,
			    const struct numa_result *r)
{
	printf("    %-10s %-10s %10" PRIu64 " %8zu %9.3f %8zu %8zu\n",
	       policy, numa_stage_name[stage], r->bytes[stage], r->pages[stage],
	       (double)r->pages[stage] * ZP_PAGE_SIZE / r->bytes[stage],
	       r->node_pages[stage][0], r->node_pages[stage][1]);
}

static int bench_numa(const struct ccorpus *cc, const struct objset *set)
{
	static const unsigned int mixes[] = { 50, 90 };
	int failed = 0;

	printf("\n== numa: strict against preferred, simulated 2-node topology, no page cache ==\n");
	printf("  %zu objects, each on a node drawn at random (seeded); churned: a random\n"
	       "  half freed, then as many objects drawn from the corpus stored on new nodes\n",
	       set->nr);
	for (size_t m = 0; m < ZP_ARRAY_SIZE(mixes); m++) {
		unsigned int pct = mixes[m];
		struct numa_result pr, st;

		numa_run(cc, set, ZP_NUMA_PREFERRED, pct, &pr);
		numa_run(cc, set, ZP_NUMA_STRICT, pct, &st);

		printf("\n  mix %u/%u (node 0 / node 1)\n", pct, 100 - pct);
		printf("    %-10s %-10s %10s %8s %9s %8s %8s\n", "policy",
		       "stage", "obj bytes", "pages", "overhead", "node 0",
		       "node 1");
		for (int stage = 0; stage < NUMA_NR_STAGES; stage++) {
			print_numa_line("preferred", stage, &pr);
			print_numa_line("strict", stage, &st);
			if (stage == NUMA_STORED)
				printf("    strict/preferred pages, stored:                %.4f\n",
				       (double)st.pages[stage] / pr.pages[stage]);
		}
		printf("    strict/preferred pages, churned and compacted: %.4f\n",
		       (double)st.pages[NUMA_COMPACTED] /
			       pr.pages[NUMA_COMPACTED]);
		printf("    objects off the node they asked for: preferred %zu, strict %zu\n",
		       pr.off_node, st.off_node);

		if (pr.bad || st.bad) {
			fprintf(stderr,
				"pool-bench: mix %u/%u: %zu (preferred) and %zu (strict) objects read back wrong\n",
				pct, 100 - pct, pr.bad, st.bad);
			failed = 1;
		}
		/* Unlimited nodes leave strict no excuse to place elsewhere. */
		if (st.off_node) {
			fprintf(stderr,
				"pool-bench: mix %u/%u: strict placed %zu objects off their node\n",
				pct, 100 - pct, st.off_node);
			failed = 1;
		}
	}
	return failed ? -EIO : 0;
}

/* ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pool-bench [--quick] [--help]\n"
		"Store the swap-like corpus (compressed with lz4 page by page) in the\n"
		"pool and print its density, malloc+free throughput against glibc, and\n"
		"the cost of strict NUMA placement. Exits non-zero if an object does\n"
		"not read back intact.\n"
		"\n"
		"  --quick   fewer throughput rounds (for make check)\n"
		"  --help    this text\n"
		"\n"
		"The corpus is found as tests/corpus.h says; ZPOOLD_CORPUS overrides.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const unsigned int zspage_pages[] = { 4, ZP_DEFAULT_ZSPAGE_PAGES,
						     16 };
	struct density dens[ZP_ARRAY_SIZE(zspage_pages)];
	struct ccorpus cc;
	struct objset deflt = { 0 };
	char err[512];
	double t0;
	int c, failed = 0, ret;

	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			quick = true;
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
		fprintf(stderr, "pool-bench: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	/* Lines must reach a pipe in order with the error messages. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	memset(&cc, 0, sizeof(cc));
	t0 = now();
	ret = zp_corpus_load(&cc.corpus, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "pool-bench: %s\n", err);
		return 1;
	}
	printf("pool-bench%s: corpus '%s', %zu pages, loaded in %.2f s\n",
	       quick ? " --quick" : "", cc.corpus.path, cc.corpus.nr_pages,
	       now() - t0);
	t0 = now();
	compress_corpus(&cc);
	printf("lz4 page by page: %zu pages compressed to %" PRIu64 " bytes, %zu same-filled, %.2f s\n",
	       cc.corpus.nr_pages - cc.nr_same, cc.lz4_bytes, cc.nr_same,
	       now() - t0);

	for (size_t i = 0; i < ZP_ARRAY_SIZE(zspage_pages); i++) {
		bool is_default = zspage_pages[i] == ZP_DEFAULT_ZSPAGE_PAGES;

		if (bench_storage(&cc, zspage_pages[i], &dens[i],
				  is_default ? &deflt : NULL) < 0)
			failed = 1;
	}
	printf("\n  max_zspage_pages   pages   overhead   with metadata   metadata/object\n");
	for (size_t i = 0; i < ZP_ARRAY_SIZE(zspage_pages); i++)
		printf("  %16u %7zu   %8.3f   %13.3f   %9.1f bytes%s\n",
		       dens[i].max_zspage_pages, dens[i].pages, dens[i].overhead,
		       dens[i].overhead_meta, dens[i].meta_per_obj,
		       dens[i].max_zspage_pages == ZP_DEFAULT_ZSPAGE_PAGES ?
			       "   (default)" :
			       "");

	bench_throughput(&deflt);

	if (bench_numa(&cc, &deflt) < 0)
		failed = 1;

	free(deflt.objs);
	free(cc.cbuf);
	free(cc.pages);
	zp_corpus_free(&cc.corpus);
	if (failed) {
		fprintf(stderr, "pool-bench: FAILED (see above)\n");
		return 1;
	}
	return 0;
}
