/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * compress.h - what turns a 4 KiB page into the bytes the pool stores, and
 * back.
 *
 * A page takes one of three forms:
 *   same-filled  every 8-byte word of the page is equal (zero pages are the
 *                common case): only the word is kept, no pool memory at all
 *   raw          the page compressed to the raw threshold or more: it is kept
 *                as it is, so reading it back costs a copy, not a decompression
 *   compressed   the output of a backend (lz4, lz4hc or zstd) at some level
 *
 * Every stored object carries a 16-bit tag saying which backend and level
 * made it, so one pool may hold objects of several algorithms at once and
 * the algorithm can change at run time without rewriting old data: the tag,
 * not the current setting, decides how an object is decompressed.
 *
 * Compression and decompression go through a context (struct comp_ctx) that
 * holds every backend's working memory, allocated once by comp_ctx_new().
 * comp_compress() and comp_decompress() never allocate. A context belongs to
 * one thread at a time (one per worker); everything else here is pure and
 * safe from any thread.
 */
#ifndef ZP_COMPRESS_H
#define ZP_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Compression works on 4 KiB pages whatever the machine's page size says
 * (the pool's ZP_PAGE_SIZE). */
#define COMP_PAGE_SIZE 4096u

/*
 * Backends. The number is stored in every object's tag: never renumber,
 * only append. COMP_RAW is the "stored raw" form, not an algorithm anyone
 * selects.
 */
enum comp_backend_id {
	COMP_RAW = 0,
	COMP_LZ4 = 1,
	COMP_LZ4HC = 2,
	COMP_ZSTD = 3,
	NR_COMP_BACKENDS
};

/* An algorithm and its level: the lz4 level is LZ4_compress_fast()'s
 * acceleration (higher is faster and compresses less), the lz4hc and zstd
 * levels are those libraries' compression levels (higher compresses more;
 * zstd's 0 is its default, 3, and negative ones are `zstd --fast=N`). */
struct comp_spec {
	int backend; /* enum comp_backend_id */
	int level;
};

/*
 * What a stored object records about how it was made: the backend in the
 * top 4 bits, the level minus the backend's lowest level in the low 12.
 * Levels therefore span at most 4096 values per backend.
 */
typedef uint16_t comp_tag_t;
#define COMP_TAG_LEVEL_BITS 12
/* The tag of a page stored raw (COMP_KIND_RAW). */
#define COMP_TAG_RAW ((comp_tag_t)(COMP_RAW << COMP_TAG_LEVEL_BITS))

/* The form comp_compress() chose for a page. */
enum comp_kind {
	COMP_KIND_SAME,       /* keep result.word, store nothing */
	COMP_KIND_RAW,        /* store the page itself (result.data, 4096 bytes) */
	COMP_KIND_COMPRESSED, /* store result.len bytes at result.data */
	NR_COMP_KINDS
};

struct comp_result {
	enum comp_kind kind;
	/* How to read the object back: comp_decompress(ctx, tag, ...). Set
	 * for RAW (the raw tag) and COMPRESSED; 0 for SAME, which is also the
	 * raw tag: keep the kind to tell them apart. */
	comp_tag_t tag;
	/* Bytes to store: 0 for SAME, COMP_PAGE_SIZE for RAW. */
	uint32_t len;
	/* The repeated word of a SAME page (comp_page_fill() rebuilds it). */
	uint64_t word;
	/* The bytes to store: the context's output buffer for COMPRESSED,
	 * valid until the next call with the same context; the caller's page
	 * for RAW; NULL for SAME. */
	const void *data;
};

/* ---------------------------------------------------------------------------
 * Backends and specs
 * ------------------------------------------------------------------------ */

/* The default: lz4 at acceleration 1. */
struct comp_spec comp_default_spec(void);

/* A backend's name ("lz4", "lz4hc", "zstd", "raw"), or NULL for an id this
 * build does not know. */
const char *comp_backend_name(int backend);

/* Whether this build can compress with the backend (a selectable algorithm
 * whose library configure found). */
bool comp_backend_available(int backend);

/* The range of levels a backend takes and its default. -EINVAL for a
 * backend this build does not have. */
int comp_backend_levels(int backend, int *min, int *max, int *def);

/*
 * Parse "name" or "name:level" ("lz4", "lz4hc:9", "zstd:-5"; names ignore
 * case) into *spec; a missing level means the backend's default. On error
 * returns -EINVAL and, when err is not NULL, writes a message that names the
 * bad part and lists what is available.
 */
int comp_spec_parse(const char *text, struct comp_spec *spec, char *err,
		    size_t errlen);

/* Write "name:level" for a valid spec; snprintf's return convention. */
int comp_spec_format(struct comp_spec spec, char *buf, size_t len);

/* Whether this build can compress with spec. */
bool comp_spec_valid(struct comp_spec spec);

/* Write the available backends with their level ranges and defaults, e.g.
 * "lz4 (acceleration 1..4096, default 1), lz4hc (...)"; snprintf's return
 * convention. */
int comp_describe(char *buf, size_t len);

/* The tag of a valid spec. */
comp_tag_t comp_spec_tag(struct comp_spec spec);

/* The spec a tag records: 0, or -EINVAL for a tag no build ever makes
 * (unknown backend or a level out of its range). A valid tag of a backend
 * this build lacks still decodes. */
int comp_tag_spec(comp_tag_t tag, struct comp_spec *spec);

/* ---------------------------------------------------------------------------
 * Same-filled pages
 * ------------------------------------------------------------------------ */

/* Whether every 8-byte word of the page is the same; if so *word holds it.
 * The page need not be aligned. */
bool comp_page_same_filled(const void *page, uint64_t *word);

/* Fill a page with a repeated word (the inverse of the above). */
void comp_page_fill(void *page, uint64_t word);

/* ---------------------------------------------------------------------------
 * Contexts
 * ------------------------------------------------------------------------ */

/*
 * Counters of one context, X(name, description). Exact, written only by
 * the thread using the context; comp_ctx_stats() may read them from another
 * thread at any time.
 */
#define COMP_STAT_FIELDS(X)                                                     \
	X(pages, "pages offered to comp_compress()")                            \
	X(same_pages, "pages found same-filled: nothing stored")               \
	X(raw_pages, "pages whose compressed size reached the raw threshold")  \
	X(compressed_pages, "pages stored compressed")                          \
	X(compressed_bytes, "bytes of the pages stored compressed")            \
	X(compress_errors, "backend failures; those pages were stored raw")    \
	X(decompressions, "objects decompressed (or copied, if raw)")          \
	X(decompress_errors, "objects found corrupt or of a missing backend")

struct comp_stats {
#define COMP_STAT_MEMBER(name, desc) uint64_t name;
	COMP_STAT_FIELDS(COMP_STAT_MEMBER)
#undef COMP_STAT_MEMBER
};

struct comp_ctx;

/*
 * A context with working memory for every backend this build has (about
 * 640 KiB with all three). raw_threshold: a page whose compressed size
 * would be this many bytes or more is stored raw; 0 means COMP_PAGE_SIZE
 * (only pages that do not shrink at all). The daemon passes the pool's
 * huge-class size, at and above which an object takes a whole page anyway.
 * Returns NULL with errno set (EINVAL for a threshold above a page,
 * ENOMEM).
 */
struct comp_ctx *comp_ctx_new(unsigned raw_threshold);

/* Free a context; NULL is a no-op. */
void comp_ctx_free(struct comp_ctx *ctx);

/* The context's raw threshold. */
unsigned comp_ctx_raw_threshold(const struct comp_ctx *ctx);

/*
 * Decide the form of one COMP_PAGE_SIZE page and produce it into *res (see
 * struct comp_result). Never allocates. Returns 0, or -EINVAL when this
 * build cannot compress with spec (nothing is counted then).
 */
int comp_compress(struct comp_ctx *ctx, struct comp_spec spec,
		  const void *page, struct comp_result *res);

/*
 * Rebuild a page from an object made with tag: exactly COMP_PAGE_SIZE bytes
 * are written to page, or the call fails. Never allocates, never reads
 * past src + len, never writes past page + COMP_PAGE_SIZE, whatever src
 * holds. Returns 0, -EBADMSG when the object is corrupt (it does not decode
 * to exactly one page), or -ENOTSUP when the tag names a backend this build
 * lacks or no build knows. page may be written to even on failure.
 */
int comp_decompress(struct comp_ctx *ctx, comp_tag_t tag, const void *src,
		    size_t len, void *page);

/* A snapshot of the context's counters. */
void comp_ctx_stats(const struct comp_ctx *ctx, struct comp_stats *out);

/* sum += add, field by field (for totals over several contexts). */
void comp_stats_add(struct comp_stats *sum, const struct comp_stats *add);

#endif /* ZP_COMPRESS_H */
