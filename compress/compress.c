/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * compress.c - the backend table, specs and tags, contexts, and the one
 * path every page takes: same-filled? -> compress -> raw if too large.
 *
 * Tag layout (comp_tag_t, 16 bits, stored with every object):
 *
 *   15      12 11                     0
 *   | backend |  level - min_level      |
 *
 * A context owns one state per backend, made by comp_ctx_new() and used by
 * one thread at a time; the I/O calls only index into it. Its counters are
 * written by that thread alone, with relaxed atomic stores so that
 * comp_ctx_stats() on another thread reads whole values.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compress/internal.h"
#include "zp-assert.h"
#include "zp-format.h"

const struct comp_backend *const comp_backends[NR_COMP_BACKENDS] = {
	[COMP_RAW] = &comp_backend_raw,
	[COMP_LZ4] = &comp_backend_lz4,
	[COMP_LZ4HC] = &comp_backend_lz4hc,
#ifdef HAVE_ZSTD
	[COMP_ZSTD] = &comp_backend_zstd,
#endif
};

/* Names of every backend any build may have, so that a tag or a name of a
 * backend this build lacks is told apart from nonsense. */
static const char *const backend_names[NR_COMP_BACKENDS] = {
	[COMP_RAW] = "raw",
	[COMP_LZ4] = "lz4",
	[COMP_LZ4HC] = "lz4hc",
	[COMP_ZSTD] = "zstd",
};

#define TAG_LEVEL_MASK ((1u << COMP_TAG_LEVEL_BITS) - 1)

static const struct comp_backend *backend_of(int id)
{
	if (id < 0 || id >= NR_COMP_BACKENDS)
		return NULL;
	return comp_backends[id];
}

struct comp_spec comp_default_spec(void)
{
	return (struct comp_spec){.backend = COMP_LZ4,
				  .level = comp_backend_lz4.default_level};
}

const char *comp_backend_name(int backend)
{
	if (backend < 0 || backend >= NR_COMP_BACKENDS)
		return NULL;
	return backend_names[backend];
}

bool comp_backend_available(int backend)
{
	const struct comp_backend *b = backend_of(backend);

	return b && b->selectable;
}

int comp_backend_levels(int backend, int *min, int *max, int *def)
{
	const struct comp_backend *b = backend_of(backend);

	if (!b)
		return -EINVAL;
	*min = b->min_level;
	*max = b->max_level;
	*def = b->default_level;
	return 0;
}

bool comp_spec_valid(struct comp_spec spec)
{
	const struct comp_backend *b = backend_of(spec.backend);

	return b && b->selectable && spec.level >= b->min_level &&
	       spec.level <= b->max_level;
}

/* "lz4, lz4hc, zstd" */
static void put_names(char *buf, size_t len, size_t *pos)
{
	const char *sep = "";
	int id;

	for (id = 0; id < NR_COMP_BACKENDS; id++) {
		if (!comp_backend_available(id))
			continue;
		zp_append(buf, len, pos, "%s%s", sep, comp_backends[id]->name);
		sep = ", ";
	}
}

int comp_describe(char *buf, size_t len)
{
	const char *sep = "";
	size_t pos = 0;
	int id;

	if (len)
		buf[0] = '\0';
	for (id = 0; id < NR_COMP_BACKENDS; id++) {
		const struct comp_backend *b = comp_backends[id];

		if (!comp_backend_available(id))
			continue;
		zp_append(buf, len, &pos, "%s%s (%s %d..%d, default %d)", sep,
			  b->name, b->level_word, b->min_level, b->max_level,
			  b->default_level);
		sep = ", ";
	}
	return (int)pos;
}

/* Parse a whole decimal int: digits with an optional minus sign, nothing
 * else (strtol alone would take spaces and a plus sign too). */
static int parse_level(const char *s, int *out)
{
	const char *digits = *s == '-' ? s + 1 : s;
	char *end;
	long v;

	if (*digits < '0' || *digits > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end || errno || v < -(1L << 20) || v > (1L << 20))
		return -EINVAL;
	*out = (int)v;
	return 0;
}

int comp_spec_parse(const char *text, struct comp_spec *spec, char *err,
		    size_t errlen)
{
	const struct comp_backend *b = NULL;
	const char *colon = strchr(text, ':');
	size_t name_len = colon ? (size_t)(colon - text) : strlen(text);
	size_t pos = 0;
	int id, level;

	if (!err)
		errlen = 0;
	if (errlen)
		err[0] = '\0';
	for (id = 0; id < NR_COMP_BACKENDS; id++) {
		const char *name = backend_names[id];

		if (strlen(name) == name_len &&
		    !strncasecmp(name, text, name_len))
			break;
	}
	if (id == NR_COMP_BACKENDS || id == COMP_RAW) {
		zp_append(err, errlen, &pos,
			  "unknown compressor '%.*s' (available: ",
			  (int)name_len, text);
		put_names(err, errlen, &pos);
		zp_append(err, errlen, &pos, ")");
		return -EINVAL;
	}
	b = comp_backends[id];
	if (!b) {
		zp_append(err, errlen, &pos,
			  "compressor '%s' is not built in (available: ",
			  backend_names[id]);
		put_names(err, errlen, &pos);
		zp_append(err, errlen, &pos, ")");
		return -EINVAL;
	}
	level = b->default_level;
	if (colon && (parse_level(colon + 1, &level) || level < b->min_level ||
		      level > b->max_level)) {
		zp_append(err, errlen, &pos,
			  "bad %s '%s' for compressor '%s' (%s takes %d..%d)",
			  b->level_word, colon + 1, b->name, b->name,
			  b->min_level, b->max_level);
		return -EINVAL;
	}
	spec->backend = id;
	spec->level = level;
	return 0;
}

int comp_spec_format(struct comp_spec spec, char *buf, size_t len)
{
	const char *name = comp_backend_name(spec.backend);

	return snprintf(buf, len, "%s:%d", name ? name : "?", spec.level);
}

comp_tag_t comp_spec_tag(struct comp_spec spec)
{
	const struct comp_backend *b = backend_of(spec.backend);

	zp_assert(b && spec.level >= b->min_level &&
		  spec.level <= b->max_level);
	zp_assert(b->max_level - b->min_level <= (int)TAG_LEVEL_MASK);
	return (comp_tag_t)((unsigned)spec.backend << COMP_TAG_LEVEL_BITS |
			    (unsigned)(spec.level - b->min_level));
}

int comp_tag_spec(comp_tag_t tag, struct comp_spec *spec)
{
	int id = tag >> COMP_TAG_LEVEL_BITS;
	int offset = tag & TAG_LEVEL_MASK;
	const struct comp_backend *b = backend_of(id);

	if (id >= NR_COMP_BACKENDS)
		return -EINVAL;
	/* A backend this build lacks: its level cannot be checked, but the
	 * tag still names it. */
	if (!b) {
		spec->backend = id;
		spec->level = offset;
		return 0;
	}
	if (offset > b->max_level - b->min_level)
		return -EINVAL;
	spec->backend = id;
	spec->level = b->min_level + offset;
	return 0;
}

/* ---------------------------------------------------------------------------
 * Contexts
 * ------------------------------------------------------------------------ */

struct comp_ctx *comp_ctx_new(unsigned raw_threshold)
{
	struct comp_ctx *ctx;
	int id;

	if (raw_threshold > COMP_PAGE_SIZE) {
		errno = EINVAL;
		return NULL;
	}
	if (posix_memalign((void **)&ctx, ZP_CACHELINE, sizeof(*ctx))) {
		errno = ENOMEM;
		return NULL;
	}
	memset(ctx, 0, sizeof(*ctx));
	ctx->raw_threshold = raw_threshold ? raw_threshold : COMP_PAGE_SIZE;
	for (id = 0; id < NR_COMP_BACKENDS; id++) {
		const struct comp_backend *b = comp_backends[id];

		if (!b || !b->state_new)
			continue;
		ctx->state[id] = b->state_new();
		if (!ctx->state[id]) {
			int saved = errno ? errno : ENOMEM;

			comp_ctx_free(ctx);
			errno = saved;
			return NULL;
		}
	}
	return ctx;
}

void comp_ctx_free(struct comp_ctx *ctx)
{
	int id;

	if (!ctx)
		return;
	for (id = 0; id < NR_COMP_BACKENDS; id++)
		if (ctx->state[id])
			comp_backends[id]->state_free(ctx->state[id]);
	free(ctx);
}

unsigned comp_ctx_raw_threshold(const struct comp_ctx *ctx)
{
	return ctx->raw_threshold;
}

/* Only the owning thread writes; the relaxed store keeps a concurrent
 * comp_ctx_stats() from seeing a torn value. */
#define stat_add(ctx, field, n)                                         \
	__atomic_store_n(&(ctx)->stats.field, (ctx)->stats.field + (n), \
			 __ATOMIC_RELAXED)

static void store_raw(struct comp_ctx *ctx, const void *page,
		      struct comp_result *res)
{
	res->kind = COMP_KIND_RAW;
	res->tag = COMP_TAG_RAW;
	res->len = COMP_PAGE_SIZE;
	res->data = page;
	stat_add(ctx, raw_pages, 1);
}

int comp_compress(struct comp_ctx *ctx, struct comp_spec spec, const void *page,
		  struct comp_result *res)
{
	const struct comp_backend *b;
	ssize_t n;

	if (!comp_spec_valid(spec))
		return -EINVAL;
	b = comp_backends[spec.backend];
	stat_add(ctx, pages, 1);
	res->word = 0;
	if (comp_page_same_filled(page, &res->word)) {
		res->kind = COMP_KIND_SAME;
		res->tag = 0;
		res->len = 0;
		res->data = NULL;
		stat_add(ctx, same_pages, 1);
		return 0;
	}
	/* Output that would reach the threshold is worthless: let the
	 * library give up as soon as it would pass threshold - 1 bytes. */
	n = b->compress(ctx->state[spec.backend], spec.level, page, ctx->out,
			ctx->raw_threshold - 1);
	zp_assert(n <= (ssize_t)ctx->raw_threshold - 1);
	if (n <= 0) {
		if (n < 0)
			stat_add(ctx, compress_errors, 1);
		store_raw(ctx, page, res);
		return 0;
	}
	zp_assert((size_t)n < ctx->raw_threshold);
	res->kind = COMP_KIND_COMPRESSED;
	res->tag = comp_spec_tag(spec);
	res->len = (uint32_t)n;
	res->data = ctx->out;
	stat_add(ctx, compressed_pages, 1);
	stat_add(ctx, compressed_bytes, (uint64_t)n);
	return 0;
}

int comp_decompress(struct comp_ctx *ctx, comp_tag_t tag, const void *src,
		    size_t len, void *page)
{
	struct comp_spec spec;
	int ret;

	if (comp_tag_spec(tag, &spec) || !backend_of(spec.backend)) {
		ret = -ENOTSUP;
	} else {
		ret = comp_backends[spec.backend]->decompress(
			ctx->state[spec.backend], src, len, page);
	}
	if (ret)
		stat_add(ctx, decompress_errors, 1);
	else
		stat_add(ctx, decompressions, 1);
	return ret;
}

void comp_ctx_stats(const struct comp_ctx *ctx, struct comp_stats *out)
{
#define COMP_STAT_LOAD(name, desc) \
	out->name = __atomic_load_n(&ctx->stats.name, __ATOMIC_RELAXED);
	COMP_STAT_FIELDS(COMP_STAT_LOAD)
#undef COMP_STAT_LOAD
}

void comp_stats_add(struct comp_stats *sum, const struct comp_stats *add)
{
#define COMP_STAT_SUM(name, desc) sum->name += add->name;
	COMP_STAT_FIELDS(COMP_STAT_SUM)
#undef COMP_STAT_SUM
}
