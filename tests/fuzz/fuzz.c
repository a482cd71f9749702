/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz.c - the helpers of fuzz.h: failing loudly, contexts, fenced and
 * guarded buffers, the double decode every harness relies on, the synthetic
 * pages and the seeds made from them.
 *
 * Memory layout, all made once on first use and kept (nothing here is
 * freed: libFuzzer's leak check ignores what globals still reach):
 *
 *   input window  [no access][FUZZ_MAX_INPUT bytes, rounded up][no access]
 *                 an object is copied to its end or to its start
 *   fenced page   [no access][system pages, the page at their end][no access]
 *   guarded page  malloc'd: [GUARD_BYTES][COMP_PAGE_SIZE][GUARD_BYTES], the
 *                 page 3 bytes off alignment, as FUSE's may be
 *
 * The guard bytes are a pattern rather than one value, so that a stray copy
 * of page data is unlikely to rewrite them unchanged. Before each decode
 * the guarded page is filled with 0xa5 and the fenced one with 0x5a: a byte
 * a decoder leaves alone differs between the two.
 *
 * Single-threaded, like both drivers.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"
#include "tests/testlib.h"

/* Wide enough that a decoder running off the page stays inside the buffer
 * for a while, where the check below (or ASan) sees it. */
#define GUARD_BYTES 4096
/* Offset of the guarded page from malloc's alignment. */
#define GUARD_MISALIGN 3
#define GUARD_SEED 0x6775617264ull /* "guard" */

/* Contexts kept besides the one of a whole page; fuzz-roundtrip asks for
 * thresholds next to each page's compressed size, so most are short-lived. */
#define CTX_CACHE 4

void (*fuzz_fail_hook)(void);

/* libFuzzer finds this section by name and clears it before each input. */
static uint8_t features[FUZZ_NR_FEATURES]
	__attribute__((section("__libfuzzer_extra_counters"), used));

static struct {
	size_t sys_page;
	unsigned char *in; /* input window, in_size bytes */
	size_t in_size;
	unsigned char *fenced; /* the fenced page */
	unsigned char *guard_buf;
	unsigned char *guarded;   /* guard_buf + GUARD_BYTES + GUARD_MISALIGN */
	unsigned char *guard_ref; /* what the guards must hold */
	struct {
		unsigned threshold;
		struct comp_ctx *ctx;
	} ctx[1 + CTX_CACHE];
	unsigned ctx_next; /* next cache slot to reuse */
} fz;

void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "fuzz-%s: ", fuzz_target.name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (fuzz_fail_hook)
		fuzz_fail_hook();
	abort();
}

/* ---------------------------------------------------------------------------
 * Buffers
 * ------------------------------------------------------------------------ */

/* size bytes, rounded up to system pages, between two inaccessible pages. */
static unsigned char *map_fenced(size_t *size)
{
	size_t len = ZP_ALIGN_UP(*size, fz.sys_page);
	unsigned char *p;

	p = mmap(NULL, len + 2 * fz.sys_page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		fuzz_fail("cannot map a fenced buffer: %s", strerror(errno));
	if (mprotect(p, fz.sys_page, PROT_NONE) ||
	    mprotect(p + fz.sys_page + len, fz.sys_page, PROT_NONE))
		fuzz_fail("cannot fence a buffer: %s", strerror(errno));
	*size = len;
	return p + fz.sys_page;
}

static void init_buffers(void)
{
	size_t len;

	if (fz.in)
		return;
	fz.sys_page = (size_t)sysconf(_SC_PAGESIZE);
	fz.in_size = FUZZ_MAX_INPUT;
	fz.in = map_fenced(&fz.in_size);
	/* With system pages larger than 4 KiB only the end is fenced; the
	 * guarded page covers the start. */
	len = COMP_PAGE_SIZE;
	fz.fenced = map_fenced(&len) + len - COMP_PAGE_SIZE;

	len = 2 * GUARD_BYTES + GUARD_MISALIGN + COMP_PAGE_SIZE;
	fz.guard_buf = malloc(len);
	fz.guard_ref = malloc(len);
	if (!fz.guard_buf || !fz.guard_ref)
		fuzz_fail("cannot allocate the guarded page: %s",
			  strerror(ENOMEM));
	zt_pattern(fz.guard_ref, GUARD_SEED, 0, len);
	memcpy(fz.guard_buf, fz.guard_ref, len);
	fz.guarded = fz.guard_buf + GUARD_BYTES + GUARD_MISALIGN;
}

const unsigned char *fuzz_fenced_copy(const void *src, size_t len, bool at_end)
{
	unsigned char *dst;

	init_buffers();
	if (len > fz.in_size)
		return src;
	dst = at_end ? fz.in + fz.in_size - len : fz.in;
	/* src may be an earlier copy in the same window. */
	memmove(dst, src, len);
	return dst;
}

unsigned char *fuzz_guarded_page(void)
{
	init_buffers();
	memset(fz.guarded, 0xa5, COMP_PAGE_SIZE);
	return fz.guarded;
}

/* Whether the guards hold what they were given; if not, how many bytes
 * before the page and past it are damaged, counted from the page. */
static bool guards_intact(size_t *before, size_t *past)
{
	size_t front = GUARD_BYTES + GUARD_MISALIGN;
	size_t back = front + COMP_PAGE_SIZE;
	size_t i;

	*before = *past = 0;
	if (memcmp(fz.guard_buf, fz.guard_ref, front)) {
		for (i = 0; fz.guard_buf[i] == fz.guard_ref[i]; i++)
			;
		*before = front - i;
	}
	if (memcmp(fz.guard_buf + back, fz.guard_ref + back, GUARD_BYTES)) {
		for (i = GUARD_BYTES; fz.guard_buf[back + i - 1] ==
				      fz.guard_ref[back + i - 1];
		     i--)
			;
		*past = i;
	}
	return !*before && !*past;
}

void fuzz_check_guards(const char *what)
{
	size_t before, past;

	if (!guards_intact(&before, &past))
		fuzz_fail("%s wrote %zu bytes before the page and %zu past it",
			  what, before, past);
}

/* ---------------------------------------------------------------------------
 * Contexts and tags
 * ------------------------------------------------------------------------ */

struct comp_ctx *fuzz_ctx(unsigned raw_threshold)
{
	unsigned t = raw_threshold ? raw_threshold : COMP_PAGE_SIZE;
	struct comp_ctx *ctx;
	unsigned slot;

	for (slot = 0; slot < ZP_ARRAY_SIZE(fz.ctx); slot++)
		if (fz.ctx[slot].ctx && fz.ctx[slot].threshold == t)
			return fz.ctx[slot].ctx;
	/* 0 goes through as 0: that is comp_ctx_new()'s to turn into a page. */
	ctx = comp_ctx_new(raw_threshold);
	if (!ctx)
		fuzz_fail("cannot make a context of raw threshold %u: %s", t,
			  strerror(errno));
	/* Slot 0 keeps the whole-page context the decoders use. */
	if (t == COMP_PAGE_SIZE) {
		slot = 0;
	} else {
		slot = 1 + fz.ctx_next;
		fz.ctx_next = (fz.ctx_next + 1) % CTX_CACHE;
		comp_ctx_free(fz.ctx[slot].ctx);
	}
	fz.ctx[slot].threshold = t;
	fz.ctx[slot].ctx = ctx;
	return ctx;
}

comp_tag_t fuzz_tag(int backend, int level)
{
	struct comp_spec spec = { .backend = backend, .level = level };

	if (!comp_spec_valid(spec))
		fuzz_fail("no spec %s:%d in this build",
			  comp_backend_name(backend), level);
	return comp_spec_tag(spec);
}

void fuzz_levels(int backend, int *min, int *def, int *max)
{
	if (comp_backend_levels(backend, min, max, def))
		fuzz_fail("no backend %d in this build", backend);
}

comp_tag_t fuzz_alt_tag(comp_tag_t tag, uint64_t salt)
{
	struct comp_spec spec;
	int backend, min, max, def;

	if (comp_tag_spec(tag, &spec))
		return tag;
	switch (spec.backend) {
	case COMP_LZ4:
	case COMP_LZ4HC:
		backend = salt & 1 ? COMP_LZ4HC : COMP_LZ4;
		break;
	case COMP_ZSTD:
		backend = COMP_ZSTD;
		break;
	default:
		return tag;
	}
	if (!comp_backend_available(backend) ||
	    comp_backend_levels(backend, &min, &max, &def))
		return tag;
	return fuzz_tag(backend,
			min + (int)((salt >> 1) % (uint64_t)(max - min + 1)));
}

const char *fuzz_tag_name(comp_tag_t tag)
{
	static char buf[4][32];
	static unsigned next;
	char *s = buf[next++ % ZP_ARRAY_SIZE(buf)];
	struct comp_spec spec;

	if (comp_tag_spec(tag, &spec))
		snprintf(s, sizeof(buf[0]), "tag 0x%04x", tag);
	else
		snprintf(s, sizeof(buf[0]), "%s:%d (tag 0x%04x)",
			 comp_backend_name(spec.backend), spec.level, tag);
	return s;
}

/* ---------------------------------------------------------------------------
 * The double decode
 * ------------------------------------------------------------------------ */

void fuzz_feature(unsigned feature)
{
	uint8_t *c = &features[feature % FUZZ_NR_FEATURES];

	/* Saturate rather than wrap to 0, which would read as "not hit". */
	if (*c != UINT8_MAX)
		(*c)++;
}

/* How many bytes of the page the two decodes wrote, to the end of the last
 * 64-byte block with one written: a byte written holds one value, which
 * cannot equal both fills. Block by block, with memcmp: a loop over bytes
 * would be all libFuzzer's comparison tracing does. */
static size_t bytes_written(const unsigned char *guarded)
{
	static unsigned char fill_a[64], fill_b[64];
	size_t n = COMP_PAGE_SIZE;

	if (!fill_a[0]) {
		memset(fill_a, 0xa5, sizeof(fill_a));
		memset(fill_b, 0x5a, sizeof(fill_b));
	}
	while (n && !memcmp(guarded + n - 64, fill_a, 64) &&
	       !memcmp(fz.fenced + n - 64, fill_b, 64))
		n -= 64;
	return n;
}

/* Features of one decode: backend and result, and result and progress. */
static void mark_decode(comp_tag_t tag, int ret, size_t written)
{
	unsigned result = ret == 0 ? 0 : ret == -EBADMSG ? 1 : 2;
	unsigned backend = tag >> COMP_TAG_LEVEL_BITS; /* 0..15 */

	fuzz_feature(FUZZ_FEATURES_DECODE + backend * 3 + result);
	fuzz_feature(FUZZ_FEATURES_DECODE + 64 +
		     result * (COMP_PAGE_SIZE / 64 + 1) +
		     (unsigned)(written / 64));
}

static void check_result(int ret, comp_tag_t tag, size_t len)
{
	if (ret != 0 && ret != -EBADMSG && ret != -ENOTSUP)
		fuzz_fail("%s object of %zu bytes: decompression returned %d, "
			  "not 0, -EBADMSG or -ENOTSUP",
			  fuzz_tag_name(tag), len, ret);
}

int fuzz_decompress(comp_tag_t tag, comp_tag_t alt_tag, const void *src,
		    size_t len, const unsigned char **page)
{
	struct comp_ctx *ctx = fuzz_ctx(0);
	struct comp_stats before, after;
	unsigned char *guarded = fuzz_guarded_page();
	const unsigned char *in;
	size_t before_page, past_page;
	uint64_t ok, bad;
	int ret, alt;

	comp_ctx_stats(ctx, &before);

	in = fuzz_fenced_copy(src, len, true);
	ret = comp_decompress(ctx, tag, in, len, guarded);
	if (!guards_intact(&before_page, &past_page))
		fuzz_fail("%s object of %zu bytes: decompression wrote %zu "
			  "bytes before the page and %zu past it",
			  fuzz_tag_name(tag), len, before_page, past_page);
	check_result(ret, tag, len);

	in = fuzz_fenced_copy(src, len, false);
	memset(fz.fenced, 0x5a, COMP_PAGE_SIZE);
	alt = comp_decompress(ctx, alt_tag, in, len, fz.fenced);
	check_result(alt, alt_tag, len);

	if (alt != ret)
		fuzz_fail("object of %zu bytes: %s gives %d, %s gives %d", len,
			  fuzz_tag_name(tag), ret, fuzz_tag_name(alt_tag), alt);
	if (!ret && memcmp(guarded, fz.fenced, COMP_PAGE_SIZE))
		fuzz_fail("object of %zu bytes: %s and %s decode it into "
			  "different pages (a byte not written?)",
			  len, fuzz_tag_name(tag), fuzz_tag_name(alt_tag));

	mark_decode(tag, ret, bytes_written(guarded));

	comp_ctx_stats(ctx, &after);
	ok = after.decompressions - before.decompressions;
	bad = after.decompress_errors - before.decompress_errors;
	if (ok != (ret ? 0 : 2) || bad != (ret ? 2 : 0))
		fuzz_fail("two decompressions returning %d counted as %llu "
			  "decompressions and %llu errors",
			  ret, (unsigned long long)ok, (unsigned long long)bad);
	*page = guarded;
	return ret;
}

/* ---------------------------------------------------------------------------
 * Synthetic pages
 * ------------------------------------------------------------------------ */

/* Copy s into page at *pos, as much as fits. */
static void put_text(unsigned char *page, size_t *pos, const char *s)
{
	size_t n = ZP_MIN(strlen(s), COMP_PAGE_SIZE - *pos);

	memcpy(page + *pos, s, n);
	*pos += n;
}

static void make_text(unsigned char *page, unsigned variant, uint64_t *rng)
{
	static const char *const words[] = {
		"the", "page", "swap", "memory", "of", "and", "zpoold",
		"compressed", "to", "in", "a", "block", "volume", "node",
		"error:", "GET", "/index.html", "HTTP/1.1", "user", "id=",
	};
	/* Fewer distinct words compress better. */
	size_t nr_words = ZP_ARRAY_SIZE(words) - 6 * variant;
	size_t pos = 0;
	char num[24];

	while (pos < COMP_PAGE_SIZE) {
		unsigned r = (unsigned)zt_below(rng, 100);

		if (r < 10) {
			snprintf(num, sizeof(num), "%llu",
				 (unsigned long long)zt_below(rng, 100000));
			put_text(page, &pos, num);
		} else {
			put_text(page, &pos, words[zt_below(rng, nr_words)]);
		}
		put_text(page, &pos, r % 13 == 0 ? "\n" : r % 7 ? " " : ". ");
	}
}

/* 48-byte records: id, pointer, flags, size, name, padding. */
static void make_records(unsigned char *page, unsigned variant, uint64_t *rng)
{
	const size_t rec = 48;
	size_t k;

	memset(page, 0, COMP_PAGE_SIZE);
	for (k = 0; (k + 1) * rec <= COMP_PAGE_SIZE; k++) {
		unsigned char *r = page + k * rec;
		uint64_t id = 1000 * variant + k;
		uint64_t ptr = 0x00007f3a12000000ull + k * rec * (variant + 1);
		uint32_t flags = (uint32_t)zt_below(rng, 4);
		uint32_t size = 16 + (uint32_t)zt_below(rng, 512);

		memcpy(r, &id, 8);
		memcpy(r + 8, &ptr, 8);
		memcpy(r + 16, &flags, 4);
		memcpy(r + 20, &size, 4);
		snprintf((char *)r + 24, 16, "obj-%05llu",
			 (unsigned long long)id);
	}
}

static void make_pointers(unsigned char *page, unsigned variant, uint64_t *rng)
{
	size_t i;

	for (i = 0; i < COMP_PAGE_SIZE; i += 8) {
		unsigned r = (unsigned)zt_below(rng, 100);
		uint64_t w = 0;

		if (r < 60)
			w = 0x0000555555554000ull +
			    zt_below(rng, 4096u << variant) * 16;
		else if (r < 85)
			w = zt_below(rng, 256);
		memcpy(page + i, &w, 8);
	}
}

void fuzz_make_page(unsigned char *page, unsigned i)
{
	static const uint64_t same_words[FUZZ_PAGE_VARIANTS] = {
		0xffffffffffffffffull, 0x0123456789abcdefull,
		0x00000000deadbeefull,
	};
	static const unsigned char skew[FUZZ_PAGE_VARIANTS] = { 4, 16, 2 };
	enum fuzz_page_kind kind = i / FUZZ_PAGE_VARIANTS;
	unsigned variant = i % FUZZ_PAGE_VARIANTS;
	uint64_t rng = zt_mix64(0x7061676573ull + i); /* "pages" */
	size_t k, n;

	switch (kind) {
	case FUZZ_PAGE_ZERO:
		memset(page, 0, COMP_PAGE_SIZE);
		break;
	case FUZZ_PAGE_SAME:
		comp_page_fill(page, same_words[variant]);
		break;
	case FUZZ_PAGE_NEAR_SAME:
		memset(page, 0, COMP_PAGE_SIZE);
		/* The last byte, the first, one in the middle: where a
		 * same-filled check looks first, last and in between. */
		page[variant == 0   ? COMP_PAGE_SIZE - 1
		     : variant == 1 ? 0
				    : COMP_PAGE_SIZE / 2 + 5] = 1;
		break;
	case FUZZ_PAGE_TEXT:
		make_text(page, variant, &rng);
		break;
	case FUZZ_PAGE_RECORDS:
		make_records(page, variant, &rng);
		break;
	case FUZZ_PAGE_POINTERS:
		make_pointers(page, variant, &rng);
		break;
	case FUZZ_PAGE_SPARSE:
		memset(page, 0, COMP_PAGE_SIZE);
		for (k = 0; k < 3 + 4 * variant; k++) {
			size_t at = zt_below(&rng, COMP_PAGE_SIZE);

			n = ZP_MIN(8 + zt_below(&rng, 193),
				   COMP_PAGE_SIZE - at);
			zt_pattern(page + at, zt_rand(&rng), 0, n);
		}
		break;
	case FUZZ_PAGE_SKEWED:
		for (k = 0; k < COMP_PAGE_SIZE; k++)
			page[k] = (unsigned char)'a' +
				  (unsigned char)zt_below(&rng, skew[variant]);
		break;
	case FUZZ_PAGE_PART_RANDOM:
		n = 1024 * (variant + 1);
		zt_pattern(page, zt_rand(&rng), 0, n);
		memset(page + n, 0, COMP_PAGE_SIZE - n);
		break;
	case FUZZ_PAGE_RANDOM:
	default:
		zt_pattern(page, zt_rand(&rng), 0, COMP_PAGE_SIZE);
		break;
	}
}

/* ---------------------------------------------------------------------------
 * Seeds
 * ------------------------------------------------------------------------ */

void fuzz_seeds_add(struct fuzz_seeds *s, const void *head, size_t head_len,
		    const void *body, size_t body_len)
{
	struct fuzz_input *in;

	if (s->nr == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct fuzz_input *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			fuzz_fail("cannot grow the seed list: %s",
				  strerror(ENOMEM));
		s->v = v;
		s->cap = cap;
	}
	in = &s->v[s->nr];
	in->len = head_len + body_len;
	/* One spare byte, so that an empty seed is not malloc(0). */
	in->data = malloc(in->len + 1);
	if (!in->data)
		fuzz_fail("cannot allocate a seed: %s", strerror(ENOMEM));
	if (head_len)
		memcpy(in->data, head, head_len);
	if (body_len)
		memcpy(in->data + head_len, body, body_len);
	s->nr++;
}

void fuzz_seeds_free(struct fuzz_seeds *s)
{
	size_t i;

	for (i = 0; i < s->nr; i++)
		free(s->v[i].data);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

void fuzz_make_seeds(struct fuzz_seeds *s)
{
	fuzz_target.make_seeds(s);
	if (!s->nr)
		fuzz_fail("no seeds");
}

void fuzz_add_compressed_seeds(struct fuzz_seeds *s, struct comp_spec spec,
			       const void *head, size_t head_len)
{
	struct comp_ctx *ctx = fuzz_ctx(0);
	unsigned char page[COMP_PAGE_SIZE], back[COMP_PAGE_SIZE];
	struct comp_result res;
	char name[32];
	unsigned i;

	if (!comp_spec_valid(spec))
		return;
	comp_spec_format(spec, name, sizeof(name));
	for (i = 0; i < FUZZ_NR_PAGES; i++) {
		fuzz_make_page(page, i);
		if (comp_compress(ctx, spec, page, &res))
			fuzz_fail("cannot compress seed page %u with %s", i,
				  name);
		if (res.kind != COMP_KIND_COMPRESSED)
			continue;
		/* A seed that does not decode would start the fuzzer off in
		 * the wrong place. */
		if (comp_decompress(ctx, res.tag, res.data, res.len, back) ||
		    memcmp(page, back, COMP_PAGE_SIZE))
			fuzz_fail("seed page %u compressed with %s does not "
				  "decompress",
				  i, name);
		fuzz_seeds_add(s, head, head_len, res.data, res.len);
	}
}

int fuzz_write_seeds(const char *dir)
{
	struct fuzz_seeds s = { 0 };
	char path[4096];
	size_t i;
	int ret = 0;

	if (mkdir(dir, 0777) && errno != EEXIST) {
		ret = -errno;
		fprintf(stderr, "fuzz-%s: cannot create '%s': %s\n",
			fuzz_target.name, dir, strerror(-ret));
		return ret;
	}
	fuzz_make_seeds(&s);
	for (i = 0; i < s.nr && !ret; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/seed-%04zu", dir, i);
		f = fopen(path, "wb");
		if (!f || fwrite(s.v[i].data, 1, s.v[i].len, f) != s.v[i].len)
			ret = errno ? -errno : -EIO;
		if (f && fclose(f) && !ret)
			ret = errno ? -errno : -EIO;
		if (ret)
			fprintf(stderr, "fuzz-%s: cannot write '%s': %s\n",
				fuzz_target.name, path, strerror(-ret));
	}
	if (!ret)
		printf("fuzz-%s: wrote %zu seeds to '%s'\n", fuzz_target.name,
		       s.nr, dir);
	fuzz_seeds_free(&s);
	return ret;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int i;

	/* libFuzzer parses its own flags only after this returns, so the
	 * option never reaches it. */
	for (i = 1; i < *argc; i++) {
		if (strcmp((*argv)[i], "--write-seeds"))
			continue;
		if (i + 1 >= *argc) {
			fprintf(stderr,
				"fuzz-%s: --write-seeds needs a directory\n",
				fuzz_target.name);
			exit(2);
		}
		exit(fuzz_write_seeds((*argv)[i + 1]) ? 1 : 0);
	}
	return 0;
}
