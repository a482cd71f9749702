/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz-roundtrip.c - any page, any spec, any raw threshold: comp_compress()
 * then reading the result back must give the page again, and the form
 * chosen must follow the rules of compress.h.
 *
 * Input layout (levels are picked by value, not from a table, so that a
 * saved input keeps its meaning when a backend's range changes):
 *   byte 0  the backend: lz4, lz4hc or zstd, those built, modulo their
 *           number
 *   byte 1  the level: lz4hc and zstd take min + byte modulo their number
 *           of levels, which reaches every one; lz4 takes 1 + byte below
 *           128 (where accelerations differ most), else one of
 *           lz4_accelerations[], up to the last
 *   byte 2  the raw threshold: below 128 one of fixed_thresholds[], else
 *           the page's own compressed size plus -3..3, the edge where a
 *           page flips between compressed and raw
 *   byte 3  how a short page is padded (bits 0-1): zeros, the content
 *           repeated (content of 1, 2, 4 or 8 bytes gives a same-filled
 *           page), the byte itself, or random bytes seeded by it
 *   rest    the page; beyond a page is ignored
 *
 * Each page is compressed twice: with a context of threshold one page, the
 * reference, whose size is what the page "compresses to", and with a
 * context of the chosen threshold. The rules checked:
 *   same-filled  exactly when every word is equal (checked the slow way),
 *                with that word, and comp_page_fill() rebuilds the page
 *   compressed   exactly when the reference size is below the threshold,
 *                with the reference's bytes (libraries must not produce
 *                other output just because the room is smaller), its
 *                length below the threshold and the spec's tag
 *   raw          otherwise: the raw tag, a page long, the caller's page
 *   counters     each call counted once, in the right form; no backend
 *                failure on a valid spec
 * Every object made is decompressed through fuzz_decompress().
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "tests/testlib.h"

#define HEAD 4

static const unsigned fixed_thresholds[] = {
	0,    COMP_PAGE_SIZE, 4095, 4094, 4080, 4000, 3641, 3264, 3072, 2048,
	1536, 1024,           512,  256,  64,   16,   8,    2,    1,
};

/* Past 128; the largest is clamped to the backend's last level. */
static const int lz4_accelerations[] = { 200, 1000, 4095, INT_MAX };

static int backends[NR_COMP_BACKENDS];
static unsigned nr_backends;

/* The spec that bytes 0 and 1 name; *bucket is the level's place in its
 * range, in 16ths, for libFuzzer. */
static struct comp_spec pick_spec(const uint8_t *data, unsigned *bucket)
{
	struct comp_spec spec;
	int id, min, max, def;

	if (!nr_backends) {
		for (id = COMP_RAW + 1; id < NR_COMP_BACKENDS; id++)
			if (comp_backend_available(id))
				backends[nr_backends++] = id;
		if (!nr_backends)
			fuzz_fail("no backend to compress with");
	}
	spec.backend = backends[data[0] % nr_backends];
	if (comp_backend_levels(spec.backend, &min, &max, &def))
		fuzz_fail("no levels for backend %d", spec.backend);
	if (spec.backend != COMP_LZ4)
		spec.level = min + data[1] % (max - min + 1);
	else if (data[1] < 128)
		spec.level = min + data[1];
	else
		spec.level = lz4_accelerations[data[1] %
					       ZP_ARRAY_SIZE(lz4_accelerations)];
	spec.level = ZP_MAX(min, ZP_MIN(spec.level, max));
	*bucket = (unsigned)((int64_t)(spec.level - min) * 16 /
			     (max - min + 1));
	return spec;
}

static void make_page(unsigned char *page, const uint8_t *data, size_t size)
{
	const uint8_t *content = data + HEAD;
	size_t n = ZP_MIN(size - HEAD, COMP_PAGE_SIZE), i;
	uint8_t pad = data[3];

	memcpy(page, content, n);
	if (n == COMP_PAGE_SIZE)
		return;
	switch (pad & 3) {
	case 0:
		memset(page + n, 0, COMP_PAGE_SIZE - n);
		break;
	case 1:
		for (i = n; i < COMP_PAGE_SIZE; i++)
			page[i] = n ? content[i % n] : 0;
		break;
	case 2:
		memset(page + n, pad, COMP_PAGE_SIZE - n);
		break;
	default:
		zt_pattern(page, pad, n, COMP_PAGE_SIZE - n);
		break;
	}
}

/* Same-filled, the obvious way, to check the folded loop of same.c. */
static bool same_filled(const unsigned char *page, uint64_t *word)
{
	size_t i;

	memcpy(word, page, sizeof(*word));
	for (i = sizeof(*word); i < COMP_PAGE_SIZE; i++)
		if (page[i] != page[i % sizeof(*word)])
			return false;
	return true;
}

static unsigned pick_threshold(uint8_t sel, unsigned ref_len)
{
	int t;

	if (sel < 128)
		return fixed_thresholds[sel % ZP_ARRAY_SIZE(fixed_thresholds)];
	t = (int)ref_len + sel % 7 - 3;
	return (unsigned)ZP_MAX(1, ZP_MIN(t, (int)COMP_PAGE_SIZE));
}

/* What one call of comp_compress() must give. */
struct expect {
	const char *spec;   /* "lz4:1" */
	unsigned threshold; /* the context's */
	bool same;
	uint64_t word;
	/* The reference size, UINT_MAX if it did not fit in a page, and the
	 * reference bytes. */
	unsigned ref_len;
	const unsigned char *ref_out;
	comp_tag_t tag;            /* the spec's */
	const unsigned char *page; /* what comp_compress() was given */
};

static void check_form(const struct expect *e, const struct comp_result *res)
{
	const comp_tag_t raw_tag = COMP_RAW << COMP_TAG_LEVEL_BITS;

	if (e->same) {
		if (res->kind != COMP_KIND_SAME || res->word != e->word ||
		    res->tag || res->len || res->data)
			fuzz_fail("%s, threshold %u: same-filled page of word "
				  "0x%016llx gave kind %d, word 0x%016llx, "
				  "len %u",
				  e->spec, e->threshold,
				  (unsigned long long)e->word, res->kind,
				  (unsigned long long)res->word, res->len);
		return;
	}
	if (res->kind == COMP_KIND_SAME)
		fuzz_fail("%s: page taken for same-filled (word 0x%016llx)",
			  e->spec, (unsigned long long)res->word);
	if (e->ref_len < e->threshold) {
		if (res->kind != COMP_KIND_COMPRESSED)
			fuzz_fail("%s, threshold %u: stored raw, but the page "
				  "compresses to %u bytes",
				  e->spec, e->threshold, e->ref_len);
		if (res->len != e->ref_len ||
		    memcmp(res->data, e->ref_out, res->len))
			fuzz_fail("%s, threshold %u: %u bytes, not the %u "
				  "bytes it compresses to with room for a page",
				  e->spec, e->threshold, res->len, e->ref_len);
		if (res->tag != e->tag)
			fuzz_fail("%s: compressed with %s", e->spec,
				  fuzz_tag_name(res->tag));
		return;
	}
	if (res->kind != COMP_KIND_RAW)
		fuzz_fail("%s, threshold %u: kind %d of %u bytes, but the page "
			  "compresses to %u bytes",
			  e->spec, e->threshold, res->kind, res->len,
			  e->ref_len);
	if (res->tag != raw_tag || res->len != COMP_PAGE_SIZE ||
	    res->data != e->page)
		fuzz_fail("%s: raw page with %s, len %u, %s data", e->spec,
			  fuzz_tag_name(res->tag), res->len,
			  res->data == e->page ? "its own" : "other");
}

static void check_counted(const struct expect *e, const struct comp_stats *b,
			  const struct comp_stats *a,
			  const struct comp_result *res)
{
	uint64_t kinds[NR_COMP_KINDS] = {
		[COMP_KIND_SAME] = a->same_pages - b->same_pages,
		[COMP_KIND_RAW] = a->raw_pages - b->raw_pages,
		[COMP_KIND_COMPRESSED] =
			a->compressed_pages - b->compressed_pages,
	};
	uint64_t bytes = a->compressed_bytes - b->compressed_bytes;
	int k;

	if (a->compress_errors != b->compress_errors)
		fuzz_fail("%s, threshold %u: the backend failed (see "
			  "compress_errors); the page went raw",
			  e->spec, e->threshold);
	if (a->pages - b->pages != 1)
		fuzz_fail("%s: one page counted as %llu", e->spec,
			  (unsigned long long)(a->pages - b->pages));
	for (k = 0; k < NR_COMP_KINDS; k++)
		if (kinds[k] != (k == (int)res->kind))
			fuzz_fail("%s: a page of kind %d counted as %llu of "
				  "kind %d",
				  e->spec, res->kind,
				  (unsigned long long)kinds[k], k);
	if (bytes != (res->kind == COMP_KIND_COMPRESSED ? res->len : 0))
		fuzz_fail("%s: %u bytes counted as %llu", e->spec, res->len,
			  (unsigned long long)bytes);
}

/* Read res back and compare with the page. */
static void check_readback(const struct expect *e,
			   const struct comp_result *res,
			   const unsigned char *page, uint64_t salt)
{
	const unsigned char *out;
	unsigned char *p;
	int ret;

	if (res->kind == COMP_KIND_SAME) {
		p = fuzz_guarded_page();
		comp_page_fill(p, res->word);
		fuzz_check_guards("comp_page_fill");
		if (memcmp(p, page, COMP_PAGE_SIZE))
			fuzz_fail("word 0x%016llx does not fill the page back",
				  (unsigned long long)res->word);
		return;
	}
	/* A raw result is the page in the input fence, which decoding the
	 * other result may have overwritten: the copy is the same bytes. */
	ret = fuzz_decompress(res->tag, fuzz_alt_tag(res->tag, salt),
			      res->kind == COMP_KIND_RAW ? page : res->data,
			      res->len, &out);
	if (ret)
		fuzz_fail("%s, threshold %u: %s object of %u bytes made by "
			  "comp_compress() does not decompress: %d",
			  e->spec, e->threshold, fuzz_tag_name(res->tag),
			  res->len, ret);
	if (memcmp(out, page, COMP_PAGE_SIZE))
		fuzz_fail("%s, threshold %u: %s object of %u bytes "
			  "decompresses to another page",
			  e->spec, e->threshold, fuzz_tag_name(res->tag),
			  res->len);
}

/* Compress into *res with ctx and check everything but the sizes. */
static void compress(struct comp_ctx *ctx, struct comp_spec spec,
		     const struct expect *e, struct comp_result *res)
{
	struct comp_stats before, after;
	int ret;

	if (comp_ctx_raw_threshold(ctx) != e->threshold)
		fuzz_fail("context made for raw threshold %u has %u",
			  e->threshold, comp_ctx_raw_threshold(ctx));
	comp_ctx_stats(ctx, &before);
	ret = comp_compress(ctx, spec, e->page, res);
	if (ret)
		fuzz_fail("%s: comp_compress() returned %d", e->spec, ret);
	comp_ctx_stats(ctx, &after);
	check_counted(e, &before, &after, res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char page[COMP_PAGE_SIZE], ref_out[COMP_PAGE_SIZE];
	struct comp_result ref, res;
	struct comp_spec spec;
	struct expect e;
	char name[32];
	unsigned t, bucket;

	if (size < HEAD)
		return 0;
	spec = pick_spec(data, &bucket);
	comp_spec_format(spec, name, sizeof(name));
	make_page(page, data, size);

	memset(&e, 0, sizeof(e));
	e.spec = name;
	e.tag = comp_spec_tag(spec);
	e.same = same_filled(page, &e.word);
	/* The compressors read the page from just before a fence. */
	e.page = fuzz_fenced_copy(page, COMP_PAGE_SIZE, true);

	/* The reference: the size the page compresses to, if below a page. */
	e.threshold = COMP_PAGE_SIZE;
	e.ref_len = UINT_MAX;
	compress(fuzz_ctx(0), spec, &e, &ref);
	if (ref.kind == COMP_KIND_COMPRESSED) {
		if (!ref.len || ref.len >= COMP_PAGE_SIZE)
			fuzz_fail("%s: compressed to %u bytes", name, ref.len);
		memcpy(ref_out, ref.data, ref.len);
		e.ref_len = ref.len;
		e.ref_out = ref_out;
		ref.data = ref_out;
	}
	check_form(&e, &ref);

	/* For libFuzzer: which backend, roughly which level, which form,
	 * what size. */
	fuzz_feature(FUZZ_FEATURES_HARNESS +
		     ((unsigned)spec.backend * NR_COMP_KINDS + ref.kind) * 16 +
		     bucket);
	if (ref.kind == COMP_KIND_COMPRESSED)
		fuzz_feature(FUZZ_FEATURES_HARNESS + 256 + ref.len / 32);

	t = pick_threshold(data[2], ref.kind == COMP_KIND_COMPRESSED
					    ? ref.len
					    : COMP_PAGE_SIZE);
	e.threshold = t ? t : COMP_PAGE_SIZE;
	compress(fuzz_ctx(t), spec, &e, &res);
	check_form(&e, &res);

	/* Both objects read back; the page in the fence may be overwritten
	 * by now, so compare with the copy. */
	check_readback(&e, &ref, page, data[3]);
	check_readback(&e, &res, page, data[3] + 1u);
	return 0;
}

static void make_seeds(struct fuzz_seeds *s)
{
	unsigned char page[COMP_PAGE_SIZE], head[HEAD];
	unsigned i;

	/* Each page of the set with every backend, at levels and thresholds
	 * spread over their ranges, relative thresholds every other time. */
	for (i = 0; i < 3 * FUZZ_NR_PAGES; i++) {
		fuzz_make_page(page, i / 3);
		head[0] = (unsigned char)i;
		head[1] = (unsigned char)(i * 37);
		head[2] = (unsigned char)(i % 2 ? 128 + i : i);
		head[3] = 0;
		fuzz_seeds_add(s, head, HEAD, page, COMP_PAGE_SIZE);
	}
	/* Short content and each way of padding it. */
	for (i = 0; i < 8; i++) {
		static const char text[] = "swap page 0123456789 abcdefgh";
		size_t len = i < 4 ? 8 : sizeof(text) - 1;

		head[0] = (unsigned char)i;
		head[1] = (unsigned char)(i * 11);
		head[2] = (unsigned char)(200 + i);
		head[3] = (unsigned char)(0x40 | (i & 3));
		fuzz_seeds_add(s, head, HEAD, text, len);
	}
	head[3] = 0;
	fuzz_seeds_add(s, head, HEAD, NULL, 0);
}

const struct fuzz_target fuzz_target = {
	.name = "roundtrip",
	.runs = 20000,
	.make_seeds = make_seeds,
};
