/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * comp-bench.c - figures for the compressors on the swap-like corpus: the
 * ratio on independent 4 KiB pages, and compression and decompression speed
 * on one core, of our path next to the bare library.
 *
 * Each spec (backend:level) is measured two ways on the same pages, in the
 * same run:
 *
 *   ours  comp_compress() and comp_decompress() on one context, as the
 *         daemon calls them: same-filled pages are kept as their word (0
 *         bytes, rebuilt with comp_page_fill()), pages that would compress
 *         to the raw threshold or more are stored raw (4096 bytes, read
 *         back with a copy);
 *   lib   the library called the way its reference command-line tool calls
 *         it in benchmark mode (lz4 -b, zstd -b with -B4096), on every page,
 *         same-filled ones included since the library has no such shortcut:
 *           lz4    LZ4_compress_fast(src, dst, 4096, LZ4_compressBound(4096),
 *                  acceleration), LZ4_decompress_safe()
 *           lz4hc  LZ4_compress_HC(..., level), LZ4_decompress_safe()
 *           zstd   ZSTD_compressCCtx() on one reused ZSTD_CCtx (standard
 *                  frames), ZSTD_decompressDCtx() on one reused ZSTD_DCtx
 *
 * and the quotient ours / lib of ratio and speeds shows what the wrapper
 * costs or saves. The lib row's ratio counts every page as the library
 * wrote it; its pool-acct column accounts the same output as ours is
 * (same-filled 0, raw from the threshold), which leaves only the difference
 * in what the backends write (zstd frames without magic or size, lz4
 * stopped at the threshold).
 *
 * How a spec is timed, on one pinned CPU, in CPU time of the thread (this
 * VM's two CPUs are shared with whatever else runs, which would otherwise
 * count as ours):
 *   1. a store pass per path: every page compressed into a scratch buffer
 *      and the result copied into a packed store (struct store), which is
 *      also the warm-up. The pages go in chunks of CHUNK_PAGES, each chunk
 *      done by ours and then the library or the other way round, so that
 *      a slow stretch of the machine hits both alike;
 *   2. timed compression passes, chunked the same way, that only compress
 *      into the scratch buffer (nothing copied); a path's figure is the sum
 *      over chunks of its best time in up to --reps passes. A spec whose
 *      store passes took longer than the budget is not repeated and keeps
 *      their times (the copy is far below 1% at such speeds);
 *   3. a verify pass, untimed: each stored object decompressed and compared
 *      with its page; also the warm-up of decompression;
 *   4. timed decompression passes from the store into one page, chunked
 *      as in 2.
 * MB/s counts 10^6 bytes of original data per second, every page included
 * (a same-filled page ours never compresses still counts, as it would for
 * a swap device).
 *
 * Figures are printed, never judged: the exit status is 1 only when
 * something is wrong (no corpus, a library error, a page that does not
 * come back intact) and 2 for a bad command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lz4.h>
#include <lz4hc.h>
#ifdef HAVE_ZSTD
#include <zstd.h>
#endif

#include "compress/compress.h"
#include "tests/corpus.h"
#include "tests/testlib.h"
#include "zp-compiler.h"

#define PROG "comp-bench"

/* zp_pool_huge_class_size() of a pool with the default chain of 8 pages
 * (ZP_DEFAULT_ZSPAGE_PAGES): an object that size or larger takes a whole
 * page anyway, so compressing it saves nothing. A copy, since the
 * benchmark does not link the pool; pool-bench prints the live value. */
#define DEFAULT_THRESHOLD 3633u

#define DEFAULT_REPS 3u
/* Every 8th page: 3,072 pages, enough for every kind of page to show up,
 * few enough for a smoke test under ASan. */
#define QUICK_STRIDE 8u
/* Seconds of timed passes per spec and path beyond which a pass is not
 * repeated: enough for three passes of everything but the slowest levels,
 * which would otherwise take minutes each. */
#define PASS_BUDGET 5.0
/* Pages timed in one go, ours and the library's in turn: 512 KiB, about
 * a millisecond of lz4, shorter than a scheduler time slice, so that most
 * chunks run uninterrupted in at least one pass. */
#define CHUNK_PAGES 128u

#define PAGE COMP_PAGE_SIZE
#define LZ4_BOUND LZ4_COMPRESSBOUND(PAGE)
#ifdef HAVE_ZSTD
#define LIB_BOUND ZP_MAX((size_t)LZ4_BOUND, ZSTD_COMPRESSBOUND(PAGE))
#else
#define LIB_BOUND ((size_t)LZ4_BOUND)
#endif

/* lz4:1 first: the target lines compare its two paths. */
/* clang-format off */
static const char *const default_specs[] = {
	"lz4:1",   "lz4:2",   "lz4:8",
	"lz4hc:1", "lz4hc:4", "lz4hc:9", "lz4hc:12",
	"zstd:-5", "zstd:-1", "zstd:1",  "zstd:3",  "zstd:6", "zstd:9",
};
/* clang-format on */
/* About 2.5 MB/s on 4 KiB pages: 40 s a path, a third of the full run. */
static const char *const slow_specs[] = { "zstd:19" };
static const char *const quick_specs[] = { "lz4:1", "lz4hc:9", "zstd:3" };

/* The command-line tools' own benchmark, informational. */
static const char *const tool_runs[][2] = {
	{ "lz4", "-b1" },
	{ "zstd", "-b1" },
	{ "zstd", "-b3" },
};

/* The pages measured: the whole corpus, or every QUICK_STRIDE-th page. */
struct page_set {
	const unsigned char **page;
	bool *same; /* the page is same-filled */
	size_t nr;
	size_t nr_same;
	uint64_t bytes; /* nr * PAGE */
};

/* One page as a path stored it. */
struct obj {
	uint32_t off;   /* of its bytes in store.buf */
	uint32_t len;   /* bytes stored: 0 for a same-filled page (ours) */
	uint64_t word;  /* of a same-filled page (ours) */
	comp_tag_t tag; /* ours */
	uint8_t kind;   /* enum comp_kind; the library's are all compressed */
};

/* A path's output, packed. buf has room for the worst case, LIB_BOUND
 * bytes a page, of which only what is written is ever touched: address
 * space, not memory. */
struct store {
	struct obj *obj; /* one per page of the page set */
	unsigned char *buf;
	uint64_t bytes; /* sum of len */
};

/* One row of the table. */
struct figures {
	double ratio;      /* original bytes / stored bytes */
	double acct_ratio; /* the same, stored as the pool stores */
	size_t same;       /* same-filled pages kept as a word (ours) */
	size_t raw;        /* pages at or above the threshold */
	double comp_s;     /* best compression pass */
	double dec_s;      /* best decompression pass */
	unsigned comp_reps; /* 0: the store pass is the figure */
	unsigned dec_reps;
};

struct bench {
	struct page_set ps;
	struct comp_ctx *ctx;
	unsigned threshold;
	unsigned reps;
	struct store ours, lib;
	unsigned char *scratch; /* the library's output, LIB_BOUND bytes */
	unsigned char *out;     /* one decompressed page */
	/* Per chunk of CHUNK_PAGES pages, the best time so far. */
	double *best_ours, *best_lib;
	size_t nr_chunks;
#ifdef HAVE_ZSTD
	ZSTD_CCtx *zc;
	ZSTD_DCtx *zd;
#endif
	/* Results of timed passes are summed here, so that no pass is work
	 * the compiler may drop. */
	uint64_t sink;
};

/* The decompressed corpus for the command-line tools; removed once they
 * ran, or by the signals that end a run from the terminal. */
static char tool_file[PATH_MAX];
static volatile sig_atomic_t tool_file_made;

/* Default specs this build does not take (a backend left out, a level
 * range narrower than the list assumes), with the reason, for the header:
 * a row that silently disappeared would read as not measured. */
static char left_out[ZP_ARRAY_SIZE(default_specs) + ZP_ARRAY_SIZE(slow_specs) +
		     ZP_ARRAY_SIZE(quick_specs)][256];
static unsigned nr_left_out;

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *xmalloc(size_t size)
{
	void *p = malloc(size);

	if (!p) {
		fprintf(stderr, PROG ": out of memory (%zu bytes)\n", size);
		exit(1);
	}
	return p;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(1);
	}
	return p;
}

/* Cache-line aligned, as the pool's objects and the context's buffer are:
 * a misaligned scratch buffer would slow one path and not the other. */
static void *xaligned(size_t size)
{
	void *p = aligned_alloc(ZP_CACHELINE, ZP_ALIGN_UP(size, ZP_CACHELINE));

	if (!p) {
		fprintf(stderr, PROG ": out of memory (%zu bytes)\n", size);
		exit(1);
	}
	return p;
}

/*
 * CPU time of this thread: a pass that another process preempts (the VM's
 * two CPUs are shared with builds and tests) is not charged the time it
 * waited, only the caches it lost.
 */
static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * The end of a timed pass begun at t0: its seconds. sum, what the pass
 * computed, goes into b->sink so that the pass is no work the compiler may
 * drop; the clock is read first, so that this is not charged to the pass.
 */
static double pass_end(struct bench *b, double t0, uint64_t sum)
{
	double secs = cpu_now() - t0;

	b->sink += sum;
	return secs;
}

static double mbps(uint64_t bytes, double s)
{
	return s > 0 ? bytes / s / 1e6 : 0;
}

static double quotient(double a, double b)
{
	return b > 0 ? a / b : 0;
}

/* A whole decimal number in lo..hi. */
static int parse_uint(const char *s, unsigned long lo, unsigned long hi,
		      unsigned *out)
{
	unsigned long v;
	char *end;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end || errno || v < lo || v > hi)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static bool spec_is(struct comp_spec spec, int backend, int level)
{
	return spec.backend == backend && spec.level == level;
}

/* ------------------------------------------------------------------------ */
/* The machine                                                              */
/* ------------------------------------------------------------------------ */

/* "model name" of the first CPU in /proc/cpuinfo, and whether the CPU
 * says it runs under a hypervisor. */
static void cpu_model(char *buf, size_t len, bool *vm)
{
	char line[4096];
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(buf, len, "unknown CPU");
	*vm = false;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!colon)
			continue;
		if (!strncmp(line, "model name", 10)) {
			char *v = colon + 1;

			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(buf, len, "%s", v);
		} else if (!strncmp(line, "flags", 5)) {
			*vm = strstr(colon, " hypervisor") != NULL;
			break;
		}
	}
	fclose(f);
}

/*
 * Pin the process to one CPU: want, or when want is negative the last one
 * it may run on (interrupts and housekeeping favour CPU 0). Returns the
 * CPU or a negative errno.
 */
static int pin_cpu(int want)
{
	cpu_set_t allowed, one;
	int cpu;

	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		return -errno;
	if (want >= 0) {
		if (want >= CPU_SETSIZE || !CPU_ISSET(want, &allowed))
			return -EINVAL;
		cpu = want;
	} else {
		for (cpu = CPU_SETSIZE - 1; cpu >= 0; cpu--)
			if (CPU_ISSET(cpu, &allowed))
				break;
		if (cpu < 0)
			return -ESRCH;
	}
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one) < 0)
		return -errno;
	return cpu;
}

static const char *build_kind(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return "with sanitizers: timings are not representative";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
	return "with sanitizers: timings are not representative";
#endif
#endif
#ifdef __OPTIMIZE__
	return "optimised, no sanitizers";
#else
	return "not optimised: timings are not representative";
#endif
}

static void print_header(const struct bench *b, const struct zp_corpus *c,
			 double load_s, unsigned stride, int cpu, int nr_specs)
{
	char model[256], backends[512];
	struct utsname u;
	bool vm;

	cpu_model(model, sizeof(model), &vm);
	if (uname(&u) < 0)
		snprintf(u.release, sizeof(u.release), "?");
	comp_describe(backends, sizeof(backends));

	printf(PROG ": compressors on independent 4 KiB pages of the swap-like corpus\n");
	printf("  corpus:    %s, loaded in %.2f s\n", c->path, load_s);
	if (stride > 1)
		printf("  pages:     %zu (every %uth of %zu), %zu same-filled\n",
		       b->ps.nr, stride, c->nr_pages, b->ps.nr_same);
	else
		printf("  pages:     %zu (all), %zu same-filled\n", b->ps.nr,
		       b->ps.nr_same);
	printf("  machine:   %s%s, %ld CPUs online, Linux %s\n", model,
	       vm ? " (virtual machine)" : "", sysconf(_SC_NPROCESSORS_ONLN),
	       u.release);
	if (cpu >= 0)
		printf("  pinned:    cpu %d (children too)\n", cpu);
	else
		printf("  pinned:    no (%s)\n", strerror(-cpu));
#ifdef __clang__
	printf("  build:     clang %s, %s\n", __clang_version__, build_kind());
#else
	printf("  build:     gcc %s, %s\n", __VERSION__, build_kind());
#endif
#ifdef HAVE_ZSTD
	printf("  libraries: liblz4 %s, libzstd %s\n", LZ4_versionString(),
	       ZSTD_versionString());
#else
	printf("  libraries: liblz4 %s (no zstd in this build)\n",
	       LZ4_versionString());
#endif
	printf("  backends:  %s\n", backends);
	for (unsigned i = 0; i < nr_left_out; i++)
		printf("  left out:  %s\n", left_out[i]);
	printf("  threshold: %u bytes: a page that would compress to this or more is stored raw\n",
	       b->threshold);
	printf("  timing:    %d specs; CPU time of this thread; pages in chunks of %u,\n"
	       "             ours and lib in turn on each; per chunk the best of %u pass%s,\n"
	       "             summed; an untimed pass first (warm-up); passes not\n"
	       "             repeated beyond %.0f s per spec and path\n",
	       nr_specs, CHUNK_PAGES, b->reps, b->reps == 1 ? "" : "es",
	       PASS_BUDGET);
	printf("\n"
	       "  ours       comp_compress()/comp_decompress(), as the daemon calls them\n"
	       "  lib        the library as its command-line tool calls it, on every page:\n"
	       "             lz4 LZ4_compress_fast(acceleration) / LZ4_decompress_safe,\n"
	       "             lz4hc LZ4_compress_HC(level) / LZ4_decompress_safe,\n"
	       "             zstd ZSTD_compressCCtx / ZSTD_decompressDCtx, reused contexts\n"
	       "  ours/lib   quotient of the two rows (above 1: ours compresses more or is faster)\n"
	       "  ratio      original bytes / stored bytes; ours stores 0 bytes for a same-filled\n"
	       "             page and 4096 for a raw one, lib what the library wrote for each page\n"
	       "  pool-acct  lib's output counted as ours is (same-filled 0, raw from the threshold)\n"
	       "  same, raw  pages kept as a word, pages at or above the threshold (stored raw)\n"
	       "  MB/s       10^6 bytes of original pages per second, on one core\n"
	       "  reps       timed passes, compression/decompression (1s: the storing pass only)\n");
}

/* ------------------------------------------------------------------------ */
/* Ours: comp_compress() and comp_decompress()                              */
/* ------------------------------------------------------------------------ */

/* Compress pages lo..hi-1 and append what is stored to b->ours. */
static int ours_store_range(struct bench *b, struct comp_spec spec, size_t lo,
			    size_t hi, double *secs)
{
	struct store *st = &b->ours;
	uint64_t off = st->bytes;
	int err = 0;
	double t0 = cpu_now();

	for (size_t i = lo; i < hi; i++) {
		struct obj *o = &st->obj[i];
		struct comp_result res;

		err |= comp_compress(b->ctx, spec, b->ps.page[i], &res);
		o->kind = (uint8_t)res.kind;
		o->tag = res.tag;
		o->word = res.word;
		o->len = res.len;
		o->off = (uint32_t)off;
		/* A raw page is copied too: the pool would hold a copy, and
		 * reading it back should not read the corpus instead. */
		if (res.len)
			memcpy(st->buf + off, res.data, res.len);
		off += res.len;
	}
	*secs = cpu_now() - t0;
	st->bytes = off;
	if (err) {
		fprintf(stderr, PROG ": comp_compress() refused a valid spec\n");
		return -EINVAL;
	}
	return 0;
}

static double ours_compress_range(struct bench *b, struct comp_spec spec,
				  size_t lo, size_t hi)
{
	uint64_t sum = 0;
	double t0 = cpu_now();

	for (size_t i = lo; i < hi; i++) {
		struct comp_result res;

		/* The spec was accepted by the store pass. */
		(void)comp_compress(b->ctx, spec, b->ps.page[i], &res);
		sum += res.len;
	}
	return pass_end(b, t0, sum);
}

static int ours_decompress_one(struct bench *b, const struct obj *o,
			       void *page)
{
	if (o->kind == COMP_KIND_SAME) {
		comp_page_fill(page, o->word);
		return 0;
	}
	return comp_decompress(b->ctx, o->tag, b->ours.buf + o->off, o->len,
			       page);
}

static double ours_decompress_range(struct bench *b, struct comp_spec spec,
				    size_t lo, size_t hi)
{
	uint64_t sum = 0;
	double t0 = cpu_now();

	(void)spec; /* the tags say */
	for (size_t i = lo; i < hi; i++) {
		sum += (unsigned)ours_decompress_one(b, &b->ours.obj[i], b->out);
		sum += b->out[i % PAGE];
	}
	return pass_end(b, t0, sum);
}

static const char *const kind_name[NR_COMP_KINDS] = {
	[COMP_KIND_SAME] = "same-filled",
	[COMP_KIND_RAW] = "raw",
	[COMP_KIND_COMPRESSED] = "compressed",
};

/* Pages that do not come back intact; the first few are reported. */
static size_t ours_verify(struct bench *b, const char *name)
{
	size_t bad = 0;

	for (size_t i = 0; i < b->ps.nr; i++) {
		const struct obj *o = &b->ours.obj[i];
		int ret;

		memset(b->out, 0xa5, PAGE);
		ret = ours_decompress_one(b, o, b->out);
		if (!ret && !memcmp(b->out, b->ps.page[i], PAGE))
			continue;
		if (bad++ < 5)
			fprintf(stderr,
				PROG ": %s, ours: page %zu (%s, %u bytes) %s\n",
				name, i, kind_name[o->kind], o->len,
				ret ? strerror(-ret) : "decompresses to other bytes");
	}
	return bad;
}

/* ------------------------------------------------------------------------ */
/* The library, called as its command-line tool calls it                    */
/* ------------------------------------------------------------------------ */

/* One page into b->scratch: its length, or a negative errno. */
static long lib_compress_one(struct bench *b, struct comp_spec spec,
			     const void *src)
{
	int n;

	switch (spec.backend) {
	case COMP_LZ4:
		n = LZ4_compress_fast(src, (char *)b->scratch, PAGE, LZ4_BOUND,
				      spec.level);
		return n > 0 ? n : -EIO;
	case COMP_LZ4HC:
		n = LZ4_compress_HC(src, (char *)b->scratch, PAGE, LZ4_BOUND,
				    spec.level);
		return n > 0 ? n : -EIO;
#ifdef HAVE_ZSTD
	case COMP_ZSTD: {
		size_t z = ZSTD_compressCCtx(b->zc, b->scratch, LIB_BOUND, src,
					     PAGE, spec.level);

		return ZSTD_isError(z) ? -EIO : (long)z;
	}
#endif
	default:
		return -ENOTSUP;
	}
}

/* Decode one object into page: its length, or a negative errno. */
static long lib_decompress_one(struct bench *b, struct comp_spec spec,
			       const struct obj *o, void *page)
{
	const void *src = b->lib.buf + o->off;

	switch (spec.backend) {
	case COMP_LZ4:
	case COMP_LZ4HC:
		return LZ4_decompress_safe(src, page, (int)o->len, PAGE);
#ifdef HAVE_ZSTD
	case COMP_ZSTD: {
		size_t z = ZSTD_decompressDCtx(b->zd, page, PAGE, src, o->len);

		return ZSTD_isError(z) ? -EBADMSG : (long)z;
	}
#endif
	default:
		return -ENOTSUP;
	}
}

/* Compress pages lo..hi-1 and append the output to b->lib. */
static int lib_store_range(struct bench *b, struct comp_spec spec,
			   const char *name, size_t lo, size_t hi, double *secs)
{
	struct store *st = &b->lib;
	uint64_t off = st->bytes;
	double t0 = cpu_now();

	for (size_t i = lo; i < hi; i++) {
		struct obj *o = &st->obj[i];
		long n = lib_compress_one(b, spec, b->ps.page[i]);

		if (n < 0) {
			fprintf(stderr, PROG ": %s, lib: cannot compress page %zu\n",
				name, i);
			return (int)n;
		}
		o->kind = COMP_KIND_COMPRESSED;
		o->len = (uint32_t)n;
		o->off = (uint32_t)off;
		memcpy(st->buf + off, b->scratch, (size_t)n);
		off += (uint64_t)n;
	}
	*secs = cpu_now() - t0;
	st->bytes = off;
	return 0;
}

/*
 * The timed passes call the library directly, one loop per backend, so
 * that the baseline pays for no dispatch at all.
 */
static double lib_compress_range(struct bench *b, struct comp_spec spec,
				 size_t lo, size_t hi)
{
	char *dst = (char *)b->scratch;
	uint64_t sum = 0;
	double t0 = cpu_now();

	switch (spec.backend) {
	case COMP_LZ4:
		for (size_t i = lo; i < hi; i++)
			sum += (unsigned)LZ4_compress_fast(
				(const char *)b->ps.page[i], dst, PAGE,
				LZ4_BOUND, spec.level);
		break;
	case COMP_LZ4HC:
		for (size_t i = lo; i < hi; i++)
			sum += (unsigned)LZ4_compress_HC(
				(const char *)b->ps.page[i], dst, PAGE,
				LZ4_BOUND, spec.level);
		break;
#ifdef HAVE_ZSTD
	case COMP_ZSTD:
		for (size_t i = lo; i < hi; i++)
			sum += ZSTD_compressCCtx(b->zc, dst, LIB_BOUND,
						 b->ps.page[i], PAGE,
						 spec.level);
		break;
#endif
	default:
		break;
	}
	return pass_end(b, t0, sum);
}

static double lib_decompress_range(struct bench *b, struct comp_spec spec,
				   size_t lo, size_t hi)
{
	const struct store *st = &b->lib;
	char *page = (char *)b->out;
	uint64_t sum = 0;
	double t0 = cpu_now();

	switch (spec.backend) {
	case COMP_LZ4:
	case COMP_LZ4HC:
		for (size_t i = lo; i < hi; i++)
			sum += (unsigned)LZ4_decompress_safe(
				(const char *)st->buf + st->obj[i].off, page,
				(int)st->obj[i].len, PAGE);
		break;
#ifdef HAVE_ZSTD
	case COMP_ZSTD:
		for (size_t i = lo; i < hi; i++)
			sum += ZSTD_decompressDCtx(b->zd, page, PAGE,
						   st->buf + st->obj[i].off,
						   st->obj[i].len);
		break;
#endif
	default:
		break;
	}
	return pass_end(b, t0, sum);
}

static size_t lib_verify(struct bench *b, struct comp_spec spec,
			 const char *name)
{
	size_t bad = 0;

	for (size_t i = 0; i < b->ps.nr; i++) {
		const struct obj *o = &b->lib.obj[i];
		long n;

		memset(b->out, 0xa5, PAGE);
		n = lib_decompress_one(b, spec, o, b->out);
		if (n == PAGE && !memcmp(b->out, b->ps.page[i], PAGE))
			continue;
		if (bad++ < 5)
			fprintf(stderr,
				PROG ": %s, lib: page %zu (%u bytes) %s\n",
				name, i, o->len,
				n != PAGE ? "does not decompress to a page" :
					    "decompresses to other bytes");
	}
	return bad;
}

/* ------------------------------------------------------------------------ */
/* One spec                                                                 */
/* ------------------------------------------------------------------------ */

/* The library's output as the pool would hold it. */
static uint64_t lib_pool_bytes(const struct bench *b, size_t *raw)
{
	uint64_t bytes = 0;

	*raw = 0;
	for (size_t i = 0; i < b->ps.nr; i++) {
		uint32_t len = b->lib.obj[i].len;

		if (b->ps.same[i])
			continue;
		if (len >= b->threshold) {
			bytes += PAGE;
			(*raw)++;
		} else {
			bytes += len;
		}
	}
	return bytes;
}

/* Time one direction of both paths over the page set. */
typedef double range_fn(struct bench *b, struct comp_spec spec, size_t lo,
			size_t hi);

/*
 * Up to b->reps passes over every chunk, ours and the library's in turn on
 * each chunk (which goes first alternates, so that neither always finds
 * the other's pages in the cache). The figure of a path is the sum over
 * chunks of its best time on each: a chunk spoiled by an interrupt or a
 * neighbour in one pass counts from another. At least one pass; no more
 * once the two paths together have taken twice the budget. Returns the
 * number of passes.
 */
static unsigned timed_passes(struct bench *b, struct comp_spec spec,
			     range_fn *ours_fn, range_fn *lib_fn,
			     double *ours_s, double *lib_s)
{
	double spent = 0;
	unsigned r;

	for (r = 0; r < b->reps && (!r || spent < 2 * PASS_BUDGET); r++) {
		for (size_t c = 0; c < b->nr_chunks; c++) {
			size_t lo = c * CHUNK_PAGES;
			size_t hi = ZP_MIN(lo + CHUNK_PAGES, b->ps.nr);
			double to, tl;

			if ((r + c) % 2) {
				tl = lib_fn(b, spec, lo, hi);
				to = ours_fn(b, spec, lo, hi);
			} else {
				to = ours_fn(b, spec, lo, hi);
				tl = lib_fn(b, spec, lo, hi);
			}
			b->best_ours[c] = r ? ZP_MIN(b->best_ours[c], to) : to;
			b->best_lib[c] = r ? ZP_MIN(b->best_lib[c], tl) : tl;
			spent += to + tl;
		}
	}
	*ours_s = *lib_s = 0;
	for (size_t c = 0; c < b->nr_chunks; c++) {
		*ours_s += b->best_ours[c];
		*lib_s += b->best_lib[c];
	}
	return r;
}

/*
 * The store passes, chunk by chunk like the timed ones and with the same
 * alternation, so that their times compare as fairly when a spec is too
 * slow to be timed again.
 */
static int store_passes(struct bench *b, struct comp_spec spec,
			const char *name, double *ours_s, double *lib_s)
{
	struct comp_stats before, after;
	int ret = 0;

	b->ours.bytes = b->lib.bytes = 0;
	*ours_s = *lib_s = 0;
	comp_ctx_stats(b->ctx, &before);
	for (size_t c = 0; c < b->nr_chunks && !ret; c++) {
		size_t lo = c * CHUNK_PAGES;
		size_t hi = ZP_MIN(lo + CHUNK_PAGES, b->ps.nr);
		double to = 0, tl = 0;

		if (c % 2) {
			ret = lib_store_range(b, spec, name, lo, hi, &tl);
			if (!ret)
				ret = ours_store_range(b, spec, lo, hi, &to);
		} else {
			ret = ours_store_range(b, spec, lo, hi, &to);
			if (!ret)
				ret = lib_store_range(b, spec, name, lo, hi,
						      &tl);
		}
		*ours_s += to;
		*lib_s += tl;
	}
	if (ret < 0)
		return ret;
	comp_ctx_stats(b->ctx, &after);
	if (after.compress_errors != before.compress_errors) {
		fprintf(stderr,
			PROG ": %s: %" PRIu64 " pages failed to compress in the backend (stored raw)\n",
			name, after.compress_errors - before.compress_errors);
		return -EIO;
	}
	return 0;
}

static int run_spec(struct bench *b, struct comp_spec spec, const char *name,
		    struct figures *ours, struct figures *lib)
{
	size_t bad;
	int ret;

	memset(ours, 0, sizeof(*ours));
	memset(lib, 0, sizeof(*lib));

	/* Compression: the store passes warm up; a spec too slow to repeat
	 * within the budget keeps their times. */
	ret = store_passes(b, spec, name, &ours->comp_s, &lib->comp_s);
	if (ret < 0)
		return ret;
	if (ours->comp_s + lib->comp_s < 2 * PASS_BUDGET)
		ours->comp_reps = timed_passes(b, spec, ours_compress_range,
					       lib_compress_range,
					       &ours->comp_s, &lib->comp_s);
	lib->comp_reps = ours->comp_reps;

	/* Decompression: checked first, which also warms it up. */
	bad = ours_verify(b, name) + lib_verify(b, spec, name);
	if (bad) {
		fprintf(stderr, PROG ": %s: %zu pages do not come back intact\n",
			name, bad);
		return -EIO;
	}
	ours->dec_reps = timed_passes(b, spec, ours_decompress_range,
				      lib_decompress_range, &ours->dec_s,
				      &lib->dec_s);
	lib->dec_reps = ours->dec_reps;

	for (size_t i = 0; i < b->ps.nr; i++) {
		if (b->ours.obj[i].kind == COMP_KIND_SAME)
			ours->same++;
		else if (b->ours.obj[i].kind == COMP_KIND_RAW)
			ours->raw++;
	}
	ours->ratio = quotient(b->ps.bytes, b->ours.bytes);
	ours->acct_ratio = ours->ratio;
	lib->ratio = quotient(b->ps.bytes, b->lib.bytes);
	lib->acct_ratio = quotient(b->ps.bytes, lib_pool_bytes(b, &lib->raw));
	return 0;
}

static void print_columns(void)
{
	printf("\n%-10s %-8s %7s %9s %6s %6s %10s %10s %6s\n", "spec", "path",
	       "ratio", "pool-acct", "same", "raw", "comp MB/s", "dec MB/s",
	       "reps");
}

static void print_spec(const struct bench *b, const char *name,
		       const struct figures *ours, const struct figures *lib)
{
	uint64_t bytes = b->ps.bytes;
	char reps[32];

	if (ours->comp_reps)
		snprintf(reps, sizeof(reps), "%u/%u", ours->comp_reps,
			 ours->dec_reps);
	else
		snprintf(reps, sizeof(reps), "1s/%u", ours->dec_reps);
	printf("%-10s %-8s %7.3f %9.3f %6zu %6zu %10.1f %10.1f %6s\n", name,
	       "ours", ours->ratio, ours->acct_ratio, ours->same, ours->raw,
	       mbps(bytes, ours->comp_s), mbps(bytes, ours->dec_s), reps);
	printf("%-10s %-8s %7.3f %9.3f %6s %6zu %10.1f %10.1f %6s\n", name,
	       "lib", lib->ratio, lib->acct_ratio, "-", lib->raw,
	       mbps(bytes, lib->comp_s), mbps(bytes, lib->dec_s), reps);
	printf("%-10s %-8s %7.3f %9.3f %6s %6s %10.3f %10.3f\n", name,
	       "ours/lib", quotient(ours->ratio, lib->ratio),
	       quotient(ours->acct_ratio, lib->acct_ratio), "-", "-",
	       quotient(lib->comp_s, ours->comp_s),
	       quotient(lib->dec_s, ours->dec_s));
}

/* ------------------------------------------------------------------------ */
/* The command-line tools' own benchmark                                    */
/* ------------------------------------------------------------------------ */

static void remove_tool_file(void)
{
	if (tool_file_made) {
		unlink(tool_file);
		tool_file_made = 0;
	}
}

static void on_signal(int sig)
{
	if (tool_file_made)
		unlink(tool_file);
	zt_die_with(sig, "", 0);
}

/* The full path of an executable in $PATH, or false. */
static bool find_tool(const char *name, char *path, size_t len)
{
	const char *dirs = getenv("PATH");

	if (!dirs || !*dirs)
		dirs = "/usr/local/bin:/usr/bin:/bin";
	while (*dirs) {
		size_t n = strcspn(dirs, ":");
		int w = snprintf(path, len, "%.*s/%s", n ? (int)n : 1,
				 n ? dirs : ".", name);

		if (w > 0 && (size_t)w < len && access(path, X_OK) == 0)
			return true;
		dirs += n;
		if (*dirs == ':')
			dirs++;
	}
	return false;
}

/* The corpus, decompressed, in a file the tools can read. */
static int write_tool_file(const struct zp_corpus *c)
{
	const char *tmp = getenv("TMPDIR");
	size_t total = c->nr_pages * PAGE, done = 0;
	int fd, n;

	if (!tmp || !*tmp)
		tmp = "/tmp";
	n = snprintf(tool_file, sizeof(tool_file), "%s/comp-bench-corpus.XXXXXX",
		     tmp);
	if (n < 0 || (size_t)n >= sizeof(tool_file))
		return -ENAMETOOLONG;
	fd = mkstemp(tool_file);
	if (fd < 0)
		return -errno;
	tool_file_made = 1;
	while (done < total) {
		ssize_t w = write(fd, c->data + done, total - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;

			close(fd);
			remove_tool_file();
			return -e;
		}
		done += (size_t)w;
	}
	if (close(fd) < 0) {
		int e = errno;

		remove_tool_file();
		return -e;
	}
	return 0;
}

/*
 * The tools draw their progress on one terminal line, going back to its
 * start with a carriage return, and end with the level written over the
 * start of the last figures (" 1#"). Replay that as a terminal would and
 * keep the last line showing a size ("->"): the summary as a user sees it.
 */
static void last_summary(const char *out, char *line, size_t cap)
{
	char cur[512];
	size_t col = 0, len = 0;

	line[0] = '\0';
	for (const char *p = out;; p++) {
		if (*p == '\n' || !*p) {
			cur[len] = '\0';
			while (len && cur[len - 1] == ' ')
				cur[--len] = '\0';
			if (strstr(cur, "->"))
				snprintf(line, cap, "%s", cur);
			col = len = 0;
			if (!*p)
				break;
		} else if (*p == '\r') {
			col = 0;
		} else if (col < sizeof(cur) - 1) {
			cur[col++] = *p;
			len = ZP_MAX(len, col);
		}
	}
}

/* Run one tool benchmark and print its summary line. */
static void run_tool(const char *tool, const char *level)
{
	char exe[PATH_MAX], *quoted_exe, *quoted_file, *cmd, *out, line[512];
	size_t cap = 1 << 16, len = 0, n;
	int status;
	FILE *f;

	printf("  $ %s %s -B4096 %s\n", tool, level, tool_file);
	if (!find_tool(tool, exe, sizeof(exe))) {
		printf("    (not installed, skipped)\n");
		return;
	}
	quoted_exe = zt_shell_quote(exe);
	quoted_file = zt_shell_quote(tool_file);
	if (!quoted_exe || !quoted_file) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(1);
	}
	cmd = xmalloc(strlen(quoted_exe) + strlen(quoted_file) + 64);
	sprintf(cmd, "%s %s -B4096 %s 2>&1", quoted_exe, level, quoted_file);
	free(quoted_exe);
	free(quoted_file);

	out = xmalloc(cap);
	f = popen(cmd, "r");
	free(cmd);
	if (!f) {
		printf("    (cannot run it: %s)\n", strerror(errno));
		free(out);
		return;
	}
	while ((n = fread(out + len, 1, cap - 1 - len, f)) > 0) {
		len += n;
		/* Keep the tail: the summary comes last. */
		if (len == cap - 1) {
			memmove(out, out + cap / 2, len - cap / 2);
			len -= cap / 2;
		}
	}
	out[len] = '\0';
	status = pclose(f);

	last_summary(out, line, sizeof(line));
	printf("    %s\n", line[0] ? line : "(no summary line in its output)");
	if (status != 0)
		printf("    (it exited with status %d)\n",
		       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	free(out);
}

static void run_tools(const struct zp_corpus *c)
{
	int ret;

	printf("\nthe reference tools' own benchmark on the same %zu pages, summary lines as\n"
	       "they print them (informational: their own timing, in wall-clock time, into\n"
	       "buffers as large as the corpus):\n",
	       c->nr_pages);
	ret = write_tool_file(c);
	if (ret < 0) {
		printf("  (skipped: cannot write the corpus to '%s': %s)\n",
		       tool_file, strerror(-ret));
		return;
	}
	for (size_t i = 0; i < ZP_ARRAY_SIZE(tool_runs); i++)
		run_tool(tool_runs[i][0], tool_runs[i][1]);
	remove_tool_file();
}

/* ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [--quick] [--reps N] [--threshold N] [--cpu N] [--no-tools] [spec ...]\n"
		"Compress the swap-like corpus page by page with each spec (name or\n"
		"name:level, as the daemon takes them) through comp_compress() and\n"
		"through the bare library, and print ratio and one-core speeds of both.\n"
		"Exits 1 if a page does not come back intact, 2 on a bad command line.\n"
		"\n"
		"  --quick        every %uth page, one pass, specs lz4:1 lz4hc:9 zstd:3,\n"
		"                 no tools (for make check)\n"
		"  --reps N       timed passes per figure, the best is kept (default %u)\n"
		"  --threshold N  raw threshold in bytes, 1..4096 (default %u, the pool's\n"
		"                 huge-class size at the default chain of 8 pages)\n"
		"  --cpu N        pin to cpu N (default: the last one allowed)\n"
		"  --no-tools     do not run the lz4 and zstd programs' own benchmark\n"
		"  --help         this text\n"
		"\n"
		"Default specs: lz4:1 lz4:2 lz4:8 lz4hc:1 lz4hc:4 lz4hc:9 lz4hc:12\n"
		"zstd:-5 zstd:-1 zstd:1 zstd:3 zstd:6 zstd:9 zstd:19, those this build\n"
		"takes (the header lists the others as left out).\n"
		"The corpus is found as tests/corpus.h says; ZPOOLD_CORPUS overrides.\n",
		QUICK_STRIDE, DEFAULT_REPS, DEFAULT_THRESHOLD);
}

static void add_default(const char *text, struct comp_spec *specs,
			const char **names, int *nr)
{
	char err[200];
	struct comp_spec spec;

	if (comp_spec_parse(text, &spec, err, sizeof(err)) < 0) {
		if (nr_left_out < ZP_ARRAY_SIZE(left_out))
			snprintf(left_out[nr_left_out++], sizeof(left_out[0]),
				 "%s: %s", text, err);
		return;
	}
	specs[*nr] = spec;
	names[(*nr)++] = text;
}

static void build_page_set(struct page_set *ps, const struct zp_corpus *c,
			   unsigned stride)
{
	uint64_t word;

	ps->nr = (c->nr_pages + stride - 1) / stride;
	ps->page = xcalloc(ps->nr, sizeof(*ps->page));
	ps->same = xcalloc(ps->nr, sizeof(*ps->same));
	for (size_t i = 0; i < ps->nr; i++) {
		ps->page[i] = zp_corpus_page(c, i * stride);
		ps->same[i] = comp_page_same_filled(ps->page[i], &word);
		ps->nr_same += ps->same[i];
	}
	ps->bytes = (uint64_t)ps->nr * PAGE;
}

static void print_target(const char *what, bool have, double pct)
{
	if (have)
		printf("lz4 path / raw liblz4 %s throughput: %.1f%% (target >= 90%%)\n",
		       what, pct);
	else
		printf("lz4 path / raw liblz4 %s throughput: n/a, lz4:1 not measured (target >= 90%%)\n",
		       what);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "reps", required_argument, NULL, 'r' },
		{ "threshold", required_argument, NULL, 't' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "no-tools", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct figures ours, lib, lz4_ours = { 0 }, lz4_lib = { 0 };
	unsigned threshold = DEFAULT_THRESHOLD, reps = 0, stride = 1, cpu_arg;
	bool quick = false, tools = true, have_lz4 = false, cpu_given = false;
	struct comp_spec *specs;
	const char **names;
	struct zp_corpus corpus;
	struct bench b;
	char err[512];
	int c, nr = 0, cpu = -1, failed = 0, ret;
	double t_start = now(), t0;

	while ((c = getopt_long(argc, argv, "qr:t:c:nh", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			quick = true;
			break;
		case 'r':
			if (parse_uint(optarg, 1, 1000, &reps) < 0) {
				fprintf(stderr, PROG ": bad --reps '%s' (1..1000)\n",
					optarg);
				return 2;
			}
			break;
		case 't':
			if (parse_uint(optarg, 1, PAGE, &threshold) < 0) {
				fprintf(stderr,
					PROG ": bad --threshold '%s' (1..%u bytes)\n",
					optarg, PAGE);
				return 2;
			}
			break;
		case 'c':
			if (parse_uint(optarg, 0, CPU_SETSIZE - 1, &cpu_arg) < 0) {
				fprintf(stderr, PROG ": bad --cpu '%s'\n", optarg);
				return 2;
			}
			cpu = (int)cpu_arg;
			cpu_given = true;
			break;
		case 'n':
			tools = false;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!reps)
		reps = quick ? 1 : DEFAULT_REPS;
	if (quick) {
		stride = QUICK_STRIDE;
		tools = false;
	}

	/* Room for every default and every argument. */
	specs = xcalloc(ZP_ARRAY_SIZE(default_specs) + ZP_ARRAY_SIZE(slow_specs) +
				(size_t)argc,
			sizeof(*specs));
	names = xcalloc(ZP_ARRAY_SIZE(default_specs) + ZP_ARRAY_SIZE(slow_specs) +
				(size_t)argc,
			sizeof(*names));
	for (int i = optind; i < argc; i++) {
		if (comp_spec_parse(argv[i], &specs[nr], err, sizeof(err)) < 0) {
			fprintf(stderr, PROG ": %s\n", err);
			return 2;
		}
		names[nr++] = argv[i];
	}
	if (!nr && quick) {
		for (size_t i = 0; i < ZP_ARRAY_SIZE(quick_specs); i++)
			add_default(quick_specs[i], specs, names, &nr);
	} else if (!nr) {
		for (size_t i = 0; i < ZP_ARRAY_SIZE(default_specs); i++)
			add_default(default_specs[i], specs, names, &nr);
		for (size_t i = 0; i < ZP_ARRAY_SIZE(slow_specs); i++)
			add_default(slow_specs[i], specs, names, &nr);
	}

	/* Lines must reach a pipe in order with the error messages. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	ret = pin_cpu(cpu);
	if (ret < 0 && cpu_given) {
		fprintf(stderr, PROG ": cannot pin to cpu %d: %s\n", cpu,
			ret == -EINVAL ? "not one this process may run on" :
					 strerror(-ret));
		return 2;
	}
	cpu = ret;

	t0 = now();
	ret = zp_corpus_load(&corpus, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return 1;
	}

	memset(&b, 0, sizeof(b));
	b.threshold = threshold;
	b.reps = reps;
	build_page_set(&b.ps, &corpus, stride);
	b.ctx = comp_ctx_new(threshold);
	if (!b.ctx) {
		fprintf(stderr, PROG ": cannot make a compression context: %s\n",
			strerror(errno));
		return 1;
	}
#ifdef HAVE_ZSTD
	b.zc = ZSTD_createCCtx();
	b.zd = ZSTD_createDCtx();
	if (!b.zc || !b.zd) {
		fprintf(stderr, PROG ": cannot make zstd contexts: %s\n",
			strerror(ENOMEM));
		return 1;
	}
#endif
	b.scratch = xaligned(LIB_BOUND);
	b.out = xaligned(PAGE);
	b.ours.buf = xmalloc(b.ps.nr * LIB_BOUND);
	b.lib.buf = xmalloc(b.ps.nr * LIB_BOUND);
	b.ours.obj = xcalloc(b.ps.nr, sizeof(*b.ours.obj));
	b.lib.obj = xcalloc(b.ps.nr, sizeof(*b.lib.obj));
	b.nr_chunks = ZP_DIV_ROUND_UP(b.ps.nr, CHUNK_PAGES);
	b.best_ours = xcalloc(b.nr_chunks, sizeof(*b.best_ours));
	b.best_lib = xcalloc(b.nr_chunks, sizeof(*b.best_lib));

	print_header(&b, &corpus, now() - t0, stride, cpu, nr);
	print_columns();

	for (int i = 0; i < nr; i++) {
		if (run_spec(&b, specs[i], names[i], &ours, &lib) < 0) {
			printf("%-10s failed (see above)\n", names[i]);
			failed = 1;
			continue;
		}
		print_spec(&b, names[i], &ours, &lib);
		if (!have_lz4 && spec_is(specs[i], COMP_LZ4, 1)) {
			lz4_ours = ours;
			lz4_lib = lib;
			have_lz4 = true;
		}
	}

	if (tools)
		run_tools(&corpus);
	else
		printf("\nthe tools' own benchmark: skipped (%s)\n",
		       quick ? "--quick" : "--no-tools");

	printf("\n");
	print_target("compression", have_lz4,
		   100 * quotient(lz4_lib.comp_s, lz4_ours.comp_s));
	print_target("decompression", have_lz4,
		   100 * quotient(lz4_lib.dec_s, lz4_ours.dec_s));
	printf("\n" PROG ": %s in %.1f s\n", failed ? "FAILED" : "done",
	       now() - t_start);

#ifdef HAVE_ZSTD
	ZSTD_freeCCtx(b.zc);
	ZSTD_freeDCtx(b.zd);
#endif
	comp_ctx_free(b.ctx);
	free(b.best_ours);
	free(b.best_lib);
	free(b.ours.obj);
	free(b.lib.obj);
	free(b.ours.buf);
	free(b.lib.buf);
	free(b.out);
	free(b.scratch);
	free(b.ps.page);
	free(b.ps.same);
	free(specs);
	free(names);
	zp_corpus_free(&corpus);
	return failed;
}
