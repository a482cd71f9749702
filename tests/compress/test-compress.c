/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-compress.c - unit tests of compress/ that take it at its word:
 * backends, specs and tags, same-filled pages, the raw decision and its
 * threshold, counters, levels that match their libraries, and a context
 * whose algorithm changes between pages. test-corrupt.c feeds the decoders
 * damaged and malformed input; test-roundtrip.c runs the real corpus.
 *
 * Pages are synthetic and made from a seed (helpers.h: random, text, and
 * tunable pages, whose random prefix moves the compressed size across any
 * raw threshold), so that a failure repeats. Decoded pages land between
 * guard bytes and decoder input sits at the very end of a heap block
 * (ct_guarded, ct_decompress_exact()), so that writes out of the page show
 * in a plain build and reads past the input under AddressSanitizer.
 *
 * zstd cases are compiled only when configure found libzstd (HAVE_ZSTD,
 * from the forced config.h).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <lz4.h>
#include <lz4hc.h>
#ifdef HAVE_ZSTD
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_format: the backend's frames */
#include <zstd.h>
#endif

#include "compress/compress.h"
#include "tests/compress/helpers.h"
#include "tests/testlib.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PAGE	      COMP_PAGE_SIZE

/* ------------------------------------------------------------------------ */
/* Helpers of this file's tests only (the shared ones are in helpers.c)     */
/* ------------------------------------------------------------------------ */

/* The levels worth testing: every one of lz4hc and zstd, a sample of lz4's
 * 4096 accelerations that includes both ends and the tag's edges. */
static size_t levels_of(int backend, int *out, size_t cap)
{
	static const int lz4_levels[] = {1,  2,	 3,    4,    8,
					 16, 64, 1024, 4095, 4096};
	int min, max, def;
	size_t n = 0;

	assert_int_equal(comp_backend_levels(backend, &min, &max, &def), 0);
	if (backend == COMP_LZ4) {
		for (size_t i = 0; i < ARRAY_SIZE(lz4_levels); i++) {
			assert_true(n < cap);
			out[n++] = lz4_levels[i];
		}
		return n;
	}
	for (int level = min; level <= max; level++) {
		assert_true(n < cap);
		out[n++] = level;
	}
	return n;
}

/* Whether word occurs in msg as a whole word (letters and digits). */
static bool has_token(const char *msg, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = msg; (p = strstr(p, word)); p++) {
		bool left = p == msg || !isalnum((unsigned char)p[-1]);
		bool right = !isalnum((unsigned char)p[wl]);

		if (left && right)
			return true;
	}
	return false;
}

static size_t count_tokens(const char *msg, const char *word)
{
	size_t wl = strlen(word), n = 0;

	for (const char *p = msg; (p = strstr(p, word)); p++)
		if ((p == msg || !isalnum((unsigned char)p[-1])) &&
		    !isalnum((unsigned char)p[wl]))
			n++;
	return n;
}

/* ------------------------------------------------------------------------ */
/* Backends and specs                                                        */
/* ------------------------------------------------------------------------ */

static void test_backends(void **state)
{
	static const char *const names[NR_COMP_BACKENDS] = {
		[COMP_RAW] = "raw",
		[COMP_LZ4] = "lz4",
		[COMP_LZ4HC] = "lz4hc",
		[COMP_ZSTD] = "zstd",
	};
	struct comp_spec def = comp_default_spec();
	int min, max, dl;

	(void)state;
	for (int id = 0; id < NR_COMP_BACKENDS; id++)
		assert_string_equal(comp_backend_name(id), names[id]);
	assert_null(comp_backend_name(-1));
	assert_null(comp_backend_name(NR_COMP_BACKENDS));
	assert_null(comp_backend_name(15));

	/* raw is a form, not an algorithm */
	assert_false(comp_backend_available(COMP_RAW));
	assert_true(comp_backend_available(COMP_LZ4));
	assert_true(comp_backend_available(COMP_LZ4HC));
#ifdef HAVE_ZSTD
	assert_true(comp_backend_available(COMP_ZSTD));
#else
	assert_false(comp_backend_available(COMP_ZSTD));
#endif
	assert_false(comp_backend_available(-1));
	assert_false(comp_backend_available(NR_COMP_BACKENDS));

	assert_int_equal(def.backend, COMP_LZ4);
	assert_int_equal(def.level, 1);
	assert_true(comp_spec_valid(def));

	assert_int_equal(comp_backend_levels(COMP_LZ4, &min, &max, &dl), 0);
	assert_int_equal(min, 1);
	assert_int_equal(max, 4096);
	assert_int_equal(dl, 1);
	assert_int_equal(comp_backend_levels(COMP_LZ4HC, &min, &max, &dl), 0);
	assert_int_equal(min, 1);
	/* the optimal parser (10..12) allocates on every call */
	assert_int_equal(max, LZ4HC_CLEVEL_OPT_MIN - 1);
	assert_int_equal(dl, LZ4HC_CLEVEL_DEFAULT);
#ifdef HAVE_ZSTD
	assert_int_equal(comp_backend_levels(COMP_ZSTD, &min, &max, &dl), 0);
	assert_true(min < 0);
	assert_int_equal(max, ZSTD_maxCLevel());
	assert_int_equal(dl, ZSTD_CLEVEL_DEFAULT);
	/* the tag has 12 bits for the level */
	assert_true(max - min < (1 << COMP_TAG_LEVEL_BITS));
#else
	assert_int_equal(comp_backend_levels(COMP_ZSTD, &min, &max, &dl),
			 -EINVAL);
#endif
	assert_int_equal(comp_backend_levels(-1, &min, &max, &dl), -EINVAL);
	assert_int_equal(comp_backend_levels(NR_COMP_BACKENDS, &min, &max, &dl),
			 -EINVAL);

	/* every level of every backend is valid, nothing outside */
	for (size_t i = 0; i < ARRAY_SIZE(ct_selectable); i++) {
		int id = ct_selectable[i];

		assert_int_equal(comp_backend_levels(id, &min, &max, &dl), 0);
		assert_true(min <= dl && dl <= max);
		for (int level = min; level <= max; level++)
			assert_true(
				comp_spec_valid((struct comp_spec){id, level}));
		assert_false(comp_spec_valid((struct comp_spec){id, min - 1}));
		assert_false(comp_spec_valid((struct comp_spec){id, max + 1}));
		assert_false(comp_spec_valid((struct comp_spec){id, INT_MIN}));
		assert_false(comp_spec_valid((struct comp_spec){id, INT_MAX}));
	}
	assert_false(comp_spec_valid((struct comp_spec){COMP_RAW, 0}));
	assert_false(comp_spec_valid((struct comp_spec){-1, 1}));
	assert_false(comp_spec_valid((struct comp_spec){NR_COMP_BACKENDS, 1}));
}

static void expect_parse(const char *text, int backend, int level)
{
	struct comp_spec spec = {-1, -1};
	char err[256] = "untouched";
	int ret = comp_spec_parse(text, &spec, err, sizeof(err));

	if (ret)
		fail_msg("'%s' does not parse (%d): %s", text, ret, err);
	if (spec.backend != backend || spec.level != level)
		fail_msg("'%s' parsed as %s, expected %s", text,
			 ct_spec_str(spec),
			 ct_spec_str((struct comp_spec){backend, level}));
	/* NULL err is allowed on success too */
	spec = (struct comp_spec){-1, -1};
	assert_int_equal(comp_spec_parse(text, &spec, NULL, 0), 0);
	assert_int_equal(spec.backend, backend);
	assert_int_equal(spec.level, level);
}

static void test_spec_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ct_selectable); i++) {
		int id = ct_selectable[i], min, max, def;
		char upper[16], text[32];
		const char *name = comp_backend_name(id);
		size_t j;

		assert_int_equal(comp_backend_levels(id, &min, &max, &def), 0);
		expect_parse(name, id, def);
		for (j = 0; name[j] && j + 1 < sizeof(upper); j++)
			upper[j] = (char)toupper((unsigned char)name[j]);
		upper[j] = '\0';
		expect_parse(upper, id, def);
		snprintf(text, sizeof(text), "%s:%d", name, min);
		expect_parse(text, id, min);
		snprintf(text, sizeof(text), "%s:%d", upper, max);
		expect_parse(text, id, max);
		snprintf(text, sizeof(text), "%s:%d", name, def);
		expect_parse(text, id, def);
	}
	expect_parse("lz4:8", COMP_LZ4, 8);
	expect_parse("lz4:4096", COMP_LZ4, 4096);
	expect_parse("lz4hc:9", COMP_LZ4HC, 9);
	expect_parse("lz4hc:1", COMP_LZ4HC, 1);
	expect_parse("LZ4HC:4", COMP_LZ4HC, 4);
	expect_parse("Lz4Hc:9", COMP_LZ4HC, 9);
	expect_parse("lZ4:2", COMP_LZ4, 2);
#ifdef HAVE_ZSTD
	expect_parse("zstd:-5", COMP_ZSTD, -5);
	expect_parse("ZSTD:3", COMP_ZSTD, 3);
	expect_parse("zStD:19", COMP_ZSTD, 19);
	expect_parse("zstd:-100", COMP_ZSTD, -100);
	expect_parse("zstd:22", COMP_ZSTD, 22);
#endif
}

/*
 * Checks an error message for text: -EINVAL, quotes subject (the bad part),
 * names every token of must (NULL-terminated), reads like the project's
 * messages (lowercase, no full stop, one line).
 */
static void expect_parse_error(const char *text, const char *subject,
			       const char *const *must)
{
	struct comp_spec spec = {-1, -1};
	char err[512], quoted[128];
	size_t len;
	int ret;

	memset(err, 'x', sizeof(err));
	ret = comp_spec_parse(text, &spec, err, sizeof(err));
	if (ret != -EINVAL)
		fail_msg("'%s': expected -EINVAL, got %d (%s)", text, ret,
			 ct_spec_str(spec));
	len = strnlen(err, sizeof(err));
	if (len == 0 || len >= sizeof(err) - 1)
		fail_msg("'%s': message of %zu bytes", text, len);
	snprintf(quoted, sizeof(quoted), "'%s'", subject);
	if (!strstr(err, quoted))
		fail_msg("'%s': message does not name %s: %s", text, quoted,
			 err);
	for (; must && *must; must++)
		if (!has_token(err, *must))
			fail_msg("'%s': message does not mention '%s': %s",
				 text, *must, err);
	if (!islower((unsigned char)err[0]) || err[len - 1] == '.' ||
	    strchr(err, '\n'))
		fail_msg("'%s': message not in the project's style: '%s'", text,
			 err);
	/* the same result with no room for a message at all */
	assert_int_equal(comp_spec_parse(text, &spec, NULL, 0), -EINVAL);
}

static void test_spec_parse_errors(void **state)
{
	static const char *const unknown[] = {"foo", "",       "raw",  "lz4x",
					      "lz",  "zstd2",  " lz4", "lz4 ",
					      "RAW", "lz4hc4", "-",    "lz5:1"};
	const char *avail[ARRAY_SIZE(ct_selectable) + 1];
	struct {
		const char *text, *subject, *backend, *range;
	} bad_levels[] = {
		{"lz4:", "", "lz4", "1..4096"},
		{"lz4:1x", "1x", "lz4", "1..4096"},
		{"lz4:x", "x", "lz4", "1..4096"},
		{"lz4:0", "0", "lz4", "1..4096"},
		{"lz4:-1", "-1", "lz4", "1..4096"},
		{"lz4:4097", "4097", "lz4", "1..4096"},
		{"lz4:1.5", "1.5", "lz4", "1..4096"},
		{"lz4:1:2", "1:2", "lz4", "1..4096"},
		{"lz4:99999999999999999999", "99999999999999999999", "lz4",
		 "1..4096"},
		{"lz4hc:0", "0", "lz4hc", "1..9"},
		{"lz4hc:10", "10", "lz4hc", "1..9"},
		{"lz4hc:13", "13", "lz4hc", "1..9"},
		{"LZ4HC:-3", "-3", "lz4hc", "1..9"},
		{"lz4: 3", " 3", "lz4", "1..4096"},
		{"lz4:+3", "+3", "lz4", "1..4096"},
#ifdef HAVE_ZSTD
		{"zstd:99", "99", "zstd", NULL},
		{"zstd:23", "23", "zstd", NULL},
		{"zstd:-101", "-101", "zstd", NULL},
		{"zstd:99999999999", "99999999999", "zstd", NULL},
		{"zstd:-99999999999", "-99999999999", "zstd", NULL},
		{"zstd:4294967299", "4294967299", "zstd", NULL},
		{"zstd:", "", "zstd", NULL},
		{"zstd:3 ", "3 ", "zstd", NULL},
#endif
	};
	char range[32];
	int min, max, def;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ct_selectable); i++)
		avail[i] = comp_backend_name(ct_selectable[i]);
	avail[ARRAY_SIZE(ct_selectable)] = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(unknown); i++) {
		const char *colon = strchr(unknown[i], ':');
		char subject[32];
		char err[512];

		snprintf(subject, sizeof(subject), "%.*s",
			 colon ? (int)(colon - unknown[i]) : 32, unknown[i]);
		expect_parse_error(unknown[i], subject, avail);
		/* raw is no choice: it is named as the bad part only */
		comp_spec_parse(unknown[i], &(struct comp_spec){0, 0}, err,
				sizeof(err));
		if (count_tokens(err, "raw") + count_tokens(err, "RAW") !=
		    (strcasecmp(subject, "raw") == 0))
			fail_msg("'%s': raw offered as a choice: %s",
				 unknown[i], err);
	}

	for (size_t i = 0; i < ARRAY_SIZE(bad_levels); i++) {
		const char *must[] = {bad_levels[i].backend, NULL};
		char err[512];

		expect_parse_error(bad_levels[i].text, bad_levels[i].subject,
				   must);
		/* what is available for a level: the backend's range */
		assert_int_equal(comp_spec_parse(bad_levels[i].text,
						 &(struct comp_spec){0, 0}, err,
						 sizeof(err)),
				 -EINVAL);
		if (bad_levels[i].range) {
			snprintf(range, sizeof(range), "%s",
				 bad_levels[i].range);
		} else {
			int id = COMP_LZ4;

			for (size_t j = 0; j < ARRAY_SIZE(ct_selectable); j++)
				if (!strcmp(comp_backend_name(ct_selectable[j]),
					    bad_levels[i].backend))
					id = ct_selectable[j];
			assert_int_equal(
				comp_backend_levels(id, &min, &max, &def), 0);
			snprintf(range, sizeof(range), "%d..%d", min, max);
		}
		if (!strstr(err, range))
			fail_msg("'%s': message does not give the range %s: "
				 "%s",
				 bad_levels[i].text, range, err);
	}
#ifndef HAVE_ZSTD
	{
		const char *must[] = {"lz4", "lz4hc", NULL};

		expect_parse_error("zstd", "zstd", must);
		expect_parse_error("zstd:3", "zstd", must);
	}
#endif
}

/* A small or absent error buffer: the message is cut, still terminated,
 * and nothing is written past errlen. */
static void test_spec_parse_errbuf(void **state)
{
	static const char *const texts[] = {"foo", "lz4:0", "zstd:99",
					    "lz4hc:1x", ""};
	struct comp_spec spec;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		char full[512];

		assert_int_equal(
			comp_spec_parse(texts[i], &spec, full, sizeof(full)),
			-EINVAL);
		for (size_t errlen = 0; errlen <= 16; errlen++) {
			char buf[32];

			memset(buf, '#', sizeof(buf));
			assert_int_equal(
				comp_spec_parse(texts[i], &spec, buf, errlen),
				-EINVAL);
			for (size_t j = errlen; j < sizeof(buf); j++)
				if (buf[j] != '#')
					fail_msg("'%s', errlen %zu: byte %zu "
						 "written",
						 texts[i], errlen, j);
			if (errlen == 0)
				continue;
			if (strnlen(buf, errlen) != errlen - 1 &&
			    strnlen(buf, errlen) != strlen(full))
				fail_msg("'%s', errlen %zu: message not cut "
					 "to fit",
					 texts[i], errlen);
			assert_int_equal(buf[strnlen(buf, errlen)], '\0');
			/* a prefix of the whole message */
			assert_memory_equal(buf, full, strlen(buf));
		}
	}
}

/* err may be NULL whatever errlen says: comp_spec_parse() writes a message
 * only "when err is not NULL". */
static void test_spec_parse_null_err(void **state)
{
	struct comp_spec spec;

	(void)state;
	assert_int_equal(comp_spec_parse("foo", &spec, NULL, 0), -EINVAL);
	assert_int_equal(comp_spec_parse("lz4:0", &spec, NULL, 0), -EINVAL);
	assert_int_equal(comp_spec_parse("foo", &spec, NULL, 64), -EINVAL);
	assert_int_equal(comp_spec_parse("lz4:0", &spec, NULL, 64), -EINVAL);
}

static void test_spec_format(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ct_selectable); i++) {
		int levels[200];
		size_t n =
			levels_of(ct_selectable[i], levels, ARRAY_SIZE(levels));

		for (size_t j = 0; j < n; j++) {
			struct comp_spec spec = {ct_selectable[i], levels[j]};
			struct comp_spec back = {-1, -1};
			char buf[64], small[4], err[256];
			int len = comp_spec_format(spec, buf, sizeof(buf));

			assert_int_equal(len, (int)strlen(buf));
			if (comp_spec_parse(buf, &back, err, sizeof(err)))
				fail_msg("'%s' does not parse back: %s", buf,
					 err);
			if (back.backend != spec.backend ||
			    back.level != spec.level)
				fail_msg("'%s' parsed back as %s", buf,
					 ct_spec_str(back));
			/* snprintf's convention */
			assert_int_equal(comp_spec_format(spec, NULL, 0), len);
			memset(small, '#', sizeof(small));
			assert_int_equal(comp_spec_format(spec, small, 3), len);
			assert_int_equal(small[2], '\0');
			assert_int_equal(small[3], '#');
			assert_memory_equal(small, buf, 2);
		}
	}
}

static void test_describe(void **state)
{
	char buf[1024], small[24];
	int len;

	(void)state;
	len = comp_describe(buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(len, (int)strlen(buf));
	assert_int_equal(comp_describe(NULL, 0), len);
	for (size_t i = 0; i < ARRAY_SIZE(ct_selectable); i++) {
		int id = ct_selectable[i], min, max, def;
		char range[32], dflt[32];

		assert_int_equal(comp_backend_levels(id, &min, &max, &def), 0);
		if (!has_token(buf, comp_backend_name(id)))
			fail_msg("'%s' missing from '%s'",
				 comp_backend_name(id), buf);
		snprintf(range, sizeof(range), "%d..%d", min, max);
		snprintf(dflt, sizeof(dflt), "default %d", def);
		if (!strstr(buf, range) || !strstr(buf, dflt))
			fail_msg("'%s' lacks %s or '%s'", buf, range, dflt);
	}
	if (has_token(buf, "raw"))
		fail_msg("raw is listed as a choice: %s", buf);
#ifndef HAVE_ZSTD
	assert_false(has_token(buf, "zstd"));
#endif
	memset(small, '#', sizeof(small));
	assert_int_equal(comp_describe(small, 10), len);
	assert_int_equal(small[9], '\0');
	assert_int_equal(small[10], '#');
	assert_memory_equal(small, buf, 9);
}

/* ------------------------------------------------------------------------ */
/* Tags                                                                      */
/* ------------------------------------------------------------------------ */

static void test_tags(void **state)
{
	static unsigned char seen[1u << 16];
	struct comp_spec spec;

	(void)state;
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < ARRAY_SIZE(ct_selectable); i++) {
		int levels[200];
		size_t n =
			levels_of(ct_selectable[i], levels, ARRAY_SIZE(levels));

		for (size_t j = 0; j < n; j++) {
			struct comp_spec s = {ct_selectable[i], levels[j]};
			comp_tag_t tag = comp_spec_tag(s);

			if (seen[tag])
				fail_msg("%s has the tag %#x of another spec",
					 ct_spec_str(s), tag);
			seen[tag] = 1;
			assert_int_equal(tag >> COMP_TAG_LEVEL_BITS, s.backend);
			assert_int_equal(comp_tag_spec(tag, &spec), 0);
			if (spec.backend != s.backend || spec.level != s.level)
				fail_msg("tag %#x of %s decodes to %s", tag,
					 ct_spec_str(s), ct_spec_str(spec));
		}
	}

	/* the raw tag */
	assert_int_equal(comp_tag_spec(CT_RAW_TAG, &spec), 0);
	assert_int_equal(spec.backend, COMP_RAW);

	/* Every tag there is: valid exactly when the backend is known and the
	 * level in its range, and then the tag of what it decodes to. */
	for (unsigned int t = 0; t < (1u << 16); t++) {
		int id = (int)(t >> COMP_TAG_LEVEL_BITS);
		int off = (int)(t & ((1u << COMP_TAG_LEVEL_BITS) - 1));
		int min, max, def, ret;
		bool valid;

		spec = (struct comp_spec){-1, -1};
		ret = comp_tag_spec((comp_tag_t)t, &spec);
		if (id >= NR_COMP_BACKENDS) {
			if (ret != -EINVAL)
				fail_msg("tag %#x of backend %d: %d, expected "
					 "-EINVAL",
					 t, id, ret);
			continue;
		}
		if (comp_backend_levels(id, &min, &max, &def))
			continue; /* a backend this build lacks */
		valid = off <= max - min;
		if (!valid) {
			if (ret != -EINVAL)
				fail_msg("tag %#x: level %d past %s's %d..%d "
					 "accepted",
					 t, min + off, comp_backend_name(id),
					 min, max);
			continue;
		}
		assert_int_equal(ret, 0);
		assert_int_equal(spec.backend, id);
		assert_int_equal(spec.level, min + off);
		assert_int_equal(comp_spec_tag(spec), t);
	}
}

/* ------------------------------------------------------------------------ */
/* Same-filled pages                                                         */
/* ------------------------------------------------------------------------ */

static const uint64_t same_words[] = {
	0,		       /* the zero page */
	0xdeadbeefcafef00dull, /* a repeated word */
	0x4141414141414141ull, /* a repeated byte */
	0xffffffffffffffffull,
	0x00000000000000ffull, /* one byte set: not a repeated byte */
	0x0100000000000000ull,
	0x0000000100000001ull, /* a repeated 32-bit value */
	0x1122334455667711ull, /* first byte = last byte, no more */
};

/* Every byte position of a same-filled page, changed alone, must make it
 * not same-filled; buf is the page, possibly unaligned. */
static void check_same_page(unsigned char *page, uint64_t w)
{
	uint64_t got = ~w;

	ct_fill_word(page, w);
	if (!comp_page_same_filled(page, &got))
		fail_msg("page of %#llx (at %p) not found same-filled",
			 (unsigned long long)w, (void *)page);
	assert_int_equal(got, w);
	for (size_t pos = 0; pos < PAGE; pos++) {
		unsigned char old = page[pos];

		for (unsigned int delta = 1; delta <= 0x80; delta <<= 7) {
			page[pos] = (unsigned char)(old ^ delta);
			if (comp_page_same_filled(page, &got))
				fail_msg("page of %#llx with byte %zu "
					 "changed is taken for same-filled",
					 (unsigned long long)w, pos);
		}
		page[pos] = old;
	}
	/* and it is still same-filled once restored */
	assert_true(comp_page_same_filled(page, &got));
	assert_int_equal(got, w);
}

static void test_same_filled(void **state)
{
	unsigned char *buf = malloc(PAGE + 16);
	uint64_t got;

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i < ARRAY_SIZE(same_words); i++) {
		check_same_page(buf, same_words[i]);
		/* a page need not be aligned */
		for (size_t off = 1; off < 8; off++) {
			unsigned char *page = buf + off;

			ct_fill_word(page, same_words[i]);
			assert_true(comp_page_same_filled(page, &got));
			assert_int_equal(got, same_words[i]);
			page[PAGE - 1] ^= 1;
			assert_false(comp_page_same_filled(page, &got));
			page[PAGE - 1] ^= 1;
			page[0] ^= 0x80;
			assert_false(comp_page_same_filled(page, &got));
		}
		check_same_page(buf + 3, same_words[i]);
	}

	/* two words taking turns, a page of a repeated 16-byte unit */
	for (size_t i = 0; i < PAGE; i += 16) {
		uint64_t a = 0x1111111111111111ull, b = 0x2222222222222222ull;

		memcpy(buf + i, &a, 8);
		memcpy(buf + i + 8, &b, 8);
	}
	assert_false(comp_page_same_filled(buf, &got));
	/* the same word everywhere but one cache line in the middle */
	ct_fill_word(buf, 7);
	memset(buf + 2048, 0, 64);
	assert_false(comp_page_same_filled(buf, &got));
	ct_make_text_page(buf, 1);
	assert_false(comp_page_same_filled(buf, &got));
	ct_make_random_page(buf, 2);
	assert_false(comp_page_same_filled(buf, &got));
	free(buf);
}

static void test_page_fill(void **state)
{
	unsigned char ref[PAGE];
	struct ct_guarded g;
	uint64_t got;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(same_words); i++) {
		uint64_t w = same_words[i];

		ct_fill_word(ref, w);
		/* at every alignment, over whatever was there before */
		for (size_t off = 0; off < 8; off++) {
			unsigned char *page = ct_guard_arm(&g) - off;

			ct_make_random_page(page, i * 8 + off);
			comp_page_fill(page, w);
			if (memcmp(page, ref, PAGE))
				fail_msg("comp_page_fill(%#llx) at offset %zu "
					 "differs",
					 (unsigned long long)w, off);
			/* nothing written around the page */
			for (size_t j = 0; j < CT_GUARD - off; j++) {
				assert_int_equal(page[PAGE + j], CT_GUARD_BYTE);
				assert_int_equal(g.bytes[j], CT_GUARD_BYTE);
			}
			assert_true(comp_page_same_filled(page, &got));
			assert_int_equal(got, w);
		}
	}
}

static void test_compress_same(void **state)
{
	struct comp_ctx *ctx = ct_new_ctx(0);
	unsigned char *buf = malloc(PAGE + 8);
	struct comp_stats want = {0};

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i < ARRAY_SIZE(same_words); i++) {
		for (size_t j = 0; j < ARRAY_SIZE(ct_sample_specs); j++) {
			unsigned char *page = buf + (i + j) % 8;
			struct comp_result res;

			ct_fill_word(page, same_words[i]);
			memset(&res, 0x5a, sizeof(res));
			assert_int_equal(comp_compress(ctx, ct_sample_specs[j],
						       page, &res),
					 0);
			if (res.kind != COMP_KIND_SAME)
				fail_msg("%s: page of %#llx is kind %d",
					 ct_spec_str(ct_sample_specs[j]),
					 (unsigned long long)same_words[i],
					 res.kind);
			assert_int_equal(res.word, same_words[i]);
			assert_int_equal(res.len, 0);
			assert_null(res.data);
			assert_int_equal(res.tag, 0);
			want.pages++;
			want.same_pages++;
		}
	}
	{
		struct comp_stats got = ct_stats_of(ctx);

		ct_assert_stats_equal(&got, &want);
	}
	free(buf);
	comp_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Raw pages and the threshold                                               */
/* ------------------------------------------------------------------------ */

static void test_incompressible(void **state)
{
	static const unsigned int thresholds[] = {0, 4096, 3633, 2048};
	unsigned char *buf = malloc(PAGE + 8);
	struct ct_guarded g;

	(void)state;
	assert_non_null(buf);
	for (size_t t = 0; t < ARRAY_SIZE(thresholds); t++) {
		struct comp_ctx *ctx = ct_new_ctx(thresholds[t]);
		struct comp_stats want = {0}, got;

		for (size_t j = 0; j < ARRAY_SIZE(ct_sample_specs); j++) {
			for (unsigned int k = 0; k < 4; k++) {
				/* aligned and not */
				unsigned char *page = buf + (k & 1 ? k : 0);
				struct comp_result res;
				unsigned char *out = ct_guard_arm(&g);
				struct comp_spec spec;

				ct_make_random_page(page,
						    t * 1000 + j * 10 + k);
				assert_int_equal(
					comp_compress(ctx, ct_sample_specs[j],
						      page, &res),
					0);
				if (res.kind != COMP_KIND_RAW)
					fail_msg(
						"%s: random page kind %d, len "
						"%u",
						ct_spec_str(ct_sample_specs[j]),
						res.kind, res.len);
				assert_int_equal(res.len, PAGE);
				assert_ptr_equal(res.data, page);
				assert_int_equal(res.tag, CT_RAW_TAG);
				assert_int_equal(comp_tag_spec(res.tag, &spec),
						 0);
				assert_int_equal(spec.backend, COMP_RAW);
				assert_int_equal(ct_decompress_exact(
							 ctx, res.tag, res.data,
							 res.len, out),
						 0);
				assert_memory_equal(out, page, PAGE);
				ct_guard_check(&g, "raw copy");
				want.pages++;
				want.raw_pages++;
				want.decompressions++;
			}
		}
		got = ct_stats_of(ctx);
		ct_assert_stats_equal(&got, &want);
		comp_ctx_free(ctx);
	}
	free(buf);
}

/* The size a page compresses to when nothing stops it (threshold 4096):
 * 0 for a same-filled page, 4096 for a page that does not shrink. */
static uint32_t natural_size(struct comp_ctx *ctx4096, struct comp_spec spec,
			     const unsigned char *page, unsigned char *copy)
{
	struct comp_result res;

	assert_int_equal(comp_compress(ctx4096, spec, page, &res), 0);
	if (res.kind == COMP_KIND_SAME)
		return 0;
	if (res.kind == COMP_KIND_RAW)
		return PAGE;
	memcpy(copy, res.data, res.len);
	return res.len;
}

/*
 * Compresses page with spec in a context of threshold thr (0: make one) and
 * checks the outcome against size, what the page compresses to with no
 * limit (ref holds those bytes): raw when size >= threshold, else the same
 * size bytes. Returns whether the page was stored compressed; a page
 * stored raw although it fits is reported, not failed, when tolerate_raw.
 */
static bool check_threshold(struct comp_ctx *ctx, struct comp_spec spec,
			    const unsigned char *page, uint32_t size,
			    const unsigned char *ref, bool tolerate_raw)
{
	unsigned int thr = comp_ctx_raw_threshold(ctx);
	unsigned char out[PAGE];
	struct comp_result res;

	assert_int_equal(comp_compress(ctx, spec, page, &res), 0);
	if (size >= thr) {
		if (res.kind != COMP_KIND_RAW)
			fail_msg("%s: page of %u bytes compressed to %u with "
				 "threshold %u",
				 ct_spec_str(spec), size, res.len, thr);
		assert_ptr_equal(res.data, page);
		assert_int_equal(res.len, PAGE);
		assert_int_equal(res.tag, CT_RAW_TAG);
		return false;
	}
	if (res.kind == COMP_KIND_RAW && tolerate_raw)
		return false;
	if (res.kind != COMP_KIND_COMPRESSED)
		fail_msg("%s: page of %u bytes stored as kind %d with "
			 "threshold %u",
			 ct_spec_str(spec), size, res.kind, thr);
	assert_true(res.len < thr);
	if (res.len != size || memcmp(res.data, ref, size))
		fail_msg("%s: page of %u bytes compressed to %u other bytes "
			 "with threshold %u",
			 ct_spec_str(spec), size, res.len, thr);
	assert_int_equal(res.tag, comp_spec_tag(spec));
	assert_int_equal(comp_decompress(ctx, res.tag, res.data, res.len, out),
			 0);
	assert_memory_equal(out, page, PAGE);
	return true;
}

/* A page of every compressed size from a few bytes to incompressible:
 * nrandom random bytes, then text (odd nrandom) or zeros. */
#define TUNABLE_FIRST 8
#define TUNABLE_STEP  97

/* Bytes under the threshold that test_threshold leaves to
 * test_threshold_edge, so that each fails for its own reason. */
#define EDGE 16

/*
 * A page whose compressed size is S is stored raw exactly when
 * S >= threshold, and otherwise compressed to the same S bytes whatever
 * the threshold. Thresholds from a list (0 meaning 4096, 1 making
 * everything raw, the pool's huge class size 3633), and at S (raw) and
 * S + 2 * EDGE (compressed) of each page. A page of S within EDGE bytes
 * under the threshold may go either way here: test_threshold_edge checks
 * that case.
 */
static void test_threshold(void **state)
{
	static const unsigned int fixed[] = {0,	   1,	 64,   1024, 2048,
					     3000, 3633, 4000, 4095, 4096};
	struct comp_ctx *ctx4096 = ct_new_ctx(4096);
	struct comp_ctx *fixed_ctx[ARRAY_SIZE(fixed)];
	unsigned char page[PAGE], ref[PAGE];
	unsigned int below = 0, above = 0;

	(void)state;
	assert_int_equal(comp_ctx_raw_threshold(ctx4096), PAGE);
	for (size_t t = 0; t < ARRAY_SIZE(fixed); t++) {
		fixed_ctx[t] = ct_new_ctx(fixed[t]);
		assert_int_equal(comp_ctx_raw_threshold(fixed_ctx[t]),
				 fixed[t] ? fixed[t] : PAGE);
	}

	for (size_t j = 0; j < ARRAY_SIZE(ct_sample_specs); j++) {
		struct comp_spec spec = ct_sample_specs[j];

		for (size_t nrandom = TUNABLE_FIRST; nrandom <= PAGE;
		     nrandom += TUNABLE_STEP) {
			uint32_t size;

			ct_make_tunable_page(page, nrandom * 31 + j, nrandom,
					     nrandom % 2);
			size = natural_size(ctx4096, spec, page, ref);
			assert_true(size > 0);

			for (size_t t = 0; t < ARRAY_SIZE(fixed); t++) {
				unsigned int thr =
					comp_ctx_raw_threshold(fixed_ctx[t]);

				if (check_threshold(
					    fixed_ctx[t], spec, page, size, ref,
					    size < thr && thr - size <= EDGE))
					below++;
				else
					above++;
			}
			for (unsigned int extra = 0; extra <= 2 * EDGE;
			     extra += 2 * EDGE) {
				struct comp_ctx *ctx;

				if (size + extra > PAGE)
					continue;
				ctx = ct_new_ctx(size + extra);
				check_threshold(ctx, spec, page, size, ref,
						false);
				comp_ctx_free(ctx);
			}
		}
	}
	/* both sides were hit, many times */
	print_message("# threshold: %u pages compressed, %u raw\n", below,
		      above);
	assert_true(below > 500);
	assert_true(above > 500);

	for (size_t t = 0; t < ARRAY_SIZE(fixed); t++)
		comp_ctx_free(fixed_ctx[t]);
	comp_ctx_free(ctx4096);

	errno = 0;
	assert_null(comp_ctx_new(4097));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(comp_ctx_new(UINT_MAX));
	assert_int_equal(errno, EINVAL);
	comp_ctx_free(NULL);
}

/*
 * The edge of the threshold: a page that compresses to S bytes, with the
 * threshold at S + 1, must be stored compressed. A backend that needs
 * room beyond its output to produce it stores such pages raw; each spec
 * is tried on every page before the test fails, naming all that do.
 */
static void test_threshold_edge(void **state)
{
	struct comp_ctx *ctx4096 = ct_new_ctx(4096);
	unsigned char page[PAGE], ref[PAGE];
	char report[1024] = "";
	size_t rlen = 0;
	unsigned int total = 0;

	(void)state;
	for (size_t j = 0; j < ARRAY_SIZE(ct_sample_specs); j++) {
		struct comp_spec spec = ct_sample_specs[j];
		unsigned int tried = 0, raw = 0, first = 0;

		for (size_t nrandom = TUNABLE_FIRST; nrandom <= PAGE;
		     nrandom += TUNABLE_STEP) {
			struct comp_ctx *ctx;
			uint32_t size;

			ct_make_tunable_page(page, nrandom * 31 + j, nrandom,
					     nrandom % 2);
			size = natural_size(ctx4096, spec, page, ref);
			if (size >= PAGE)
				continue;
			ctx = ct_new_ctx(size + 1);
			tried++;
			if (!check_threshold(ctx, spec, page, size, ref,
					     true)) {
				if (!raw++)
					first = size;
			}
			comp_ctx_free(ctx);
		}
		total += tried;
		if (raw && rlen < sizeof(report))
			rlen += (size_t)snprintf(
				report + rlen, sizeof(report) - rlen,
				"%s%s: %u of %u pages (the first of %u bytes)",
				rlen ? "; " : "", ct_spec_str(spec), raw, tried,
				first);
	}
	comp_ctx_free(ctx4096);
	assert_true(total > 200);
	if (rlen)
		fail_msg("stored raw with the threshold 1 byte above their "
			 "compressed size: %s",
			 report);
}

/* ------------------------------------------------------------------------ */
/* Counters                                                                  */
/* ------------------------------------------------------------------------ */

static void test_counters(void **state)
{
	struct comp_ctx *a = ct_new_ctx(3633), *b = ct_new_ctx(0);
	unsigned char page[PAGE], out[PAGE];
	struct comp_stats want = {0}, got, sa, sb, sum;
	struct comp_result res;
	static const struct comp_spec invalid[] = {
		{COMP_RAW, 0},	       {COMP_LZ4, 0},
		{COMP_LZ4, 4097},      {COMP_LZ4HC, 0},
		{COMP_LZ4HC, 13},      {-1, 1},
		{NR_COMP_BACKENDS, 1}, {15, 0},
		{COMP_ZSTD, 23},       {COMP_ZSTD, -101},
		{COMP_LZ4, INT_MIN},
	};

	(void)state;
	/* a known sequence: per spec 3 same-filled, 2 random, 4 text pages;
	 * text stays raw at the fastest levels, so its kind is counted as it
	 * comes */
	for (size_t j = 0; j < ARRAY_SIZE(ct_sample_specs); j++) {
		for (unsigned int k = 0; k < 9; k++) {
			if (k < 3)
				ct_fill_word(page, k * 0x0101010101010101ull);
			else if (k < 5)
				ct_make_random_page(page, j * 16 + k);
			else
				ct_make_text_page(page, j * 16 + k);
			assert_int_equal(comp_compress(a, ct_sample_specs[j],
						       page, &res),
					 0);
			want.pages++;
			if (k < 3) {
				assert_int_equal(res.kind, COMP_KIND_SAME);
				want.same_pages++;
				continue;
			}
			if (k < 5)
				assert_int_equal(res.kind, COMP_KIND_RAW);
			if (res.kind == COMP_KIND_RAW) {
				assert_int_equal(res.len, PAGE);
				want.raw_pages++;
			} else {
				assert_int_equal(res.kind,
						 COMP_KIND_COMPRESSED);
				assert_true(res.len < 3633);
				want.compressed_pages++;
				want.compressed_bytes += res.len;
			}
			/* decompressed by the other context */
			assert_int_equal(comp_decompress(b, res.tag, res.data,
							 res.len, out),
					 0);
			assert_memory_equal(out, page, PAGE);
		}
	}
	got = ct_stats_of(a);
	ct_assert_stats_equal(&got, &want);
	assert_int_equal(got.compress_errors, 0);
	/* text was compressed by most specs */
	assert_true(want.compressed_pages > 2 * ARRAY_SIZE(ct_sample_specs));

	/* b only decompressed */
	sb = ct_stats_of(b);
	assert_int_equal(sb.pages, 0);
	assert_int_equal(sb.decompressions,
			 want.raw_pages + want.compressed_pages);
	assert_int_equal(sb.decompress_errors, 0);
	assert_int_equal(comp_decompress(b, CT_RAW_TAG, page, 1, out),
			 -EBADMSG);
	sb = ct_stats_of(b);
	assert_int_equal(sb.decompress_errors, 1);

	/* invalid specs: -EINVAL and nothing counted */
	sa = ct_stats_of(a);
	for (size_t i = 0; i < ARRAY_SIZE(invalid); i++) {
		struct comp_spec spec = invalid[i];

		memset(&res, 0x5a, sizeof(res));
		ct_fill_word(page, 0); /* would be same-filled */
		assert_int_equal(comp_compress(a, spec, page, &res), -EINVAL);
		ct_make_text_page(page, i);
		assert_int_equal(comp_compress(a, spec, page, &res), -EINVAL);
	}
#ifndef HAVE_ZSTD
	assert_int_equal(
		comp_compress(a, (struct comp_spec){COMP_ZSTD, 3}, page, &res),
		-EINVAL);
#endif
	got = ct_stats_of(a);
	ct_assert_stats_equal(&got, &sa);

	/* comp_stats_add: field by field */
	sum = sa;
	comp_stats_add(&sum, &sb);
#define CHECK_SUM(name, desc) assert_int_equal(sum.name, sa.name + sb.name);
	COMP_STAT_FIELDS(CHECK_SUM)
#undef CHECK_SUM
	{
		struct comp_stats x, y;
		uint64_t k = 1;

#define SET_XY(name, desc) \
	x.name = k;        \
	y.name = k++ << 32;
		COMP_STAT_FIELDS(SET_XY)
#undef SET_XY
		comp_stats_add(&x, &y);
		k = 1;
#define CHECK_XY(name, desc)                   \
	assert_int_equal(x.name, k | k << 32); \
	k++;
		COMP_STAT_FIELDS(CHECK_XY)
#undef CHECK_XY
	}
	comp_ctx_free(a);
	comp_ctx_free(b);
}

/* ------------------------------------------------------------------------ */
/* Levels                                                                    */
/* ------------------------------------------------------------------------ */

/* What the library makes of page at level, called directly: the lz4 level
 * is LZ4_compress_fast()'s acceleration, the others the libraries' levels
 * (compress.h); zstd frames as zstd.c writes them. 0 if it does not fit. */
static size_t library_compress(struct comp_spec spec, const void *page,
			       void *dst, size_t cap)
{
	switch (spec.backend) {
	case COMP_LZ4:
		return (size_t)LZ4_compress_fast(page, dst, PAGE, (int)cap,
						 spec.level);
	case COMP_LZ4HC:
		return (size_t)LZ4_compress_HC(page, dst, PAGE, (int)cap,
					       spec.level);
#ifdef HAVE_ZSTD
	case COMP_ZSTD: {
		static ZSTD_CCtx *cc;
		size_t n;

		if (!cc) {
			cc = ZSTD_createCCtx();
			assert_non_null(cc);
			ZSTD_CCtx_setParameter(cc, ZSTD_c_format,
					       ZSTD_f_zstd1_magicless);
			ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
			ZSTD_CCtx_setParameter(cc, ZSTD_c_dictIDFlag, 0);
			ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 0);
		}
		ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, spec.level);
		n = ZSTD_compress2(cc, dst, cap, page, PAGE);
		return ZSTD_isError(n) ? 0 : n;
	}
#endif
	}
	fail_msg("no library for backend %d", spec.backend);
	return 0;
}

/*
 * A level means what its library says: each spec's output is exactly what
 * the library makes at that level. One context takes every level of each
 * backend in turn, a different one on every call, so that a level change
 * that does not take, or state kept from the previous page, shows.
 */
static void test_levels_match_libraries(void **state)
{
	struct comp_ctx *ctx = ct_new_ctx(0);
	unsigned char page[PAGE], lib[2 * PAGE];

	(void)state;
	for (size_t b = 0; b < ARRAY_SIZE(ct_selectable); b++) {
		int levels[200];
		size_t n =
			levels_of(ct_selectable[b], levels, ARRAY_SIZE(levels));
		uint32_t first_len = 0;
		bool levels_differ = false;
		unsigned int compared = 0;

		for (unsigned int p = 0; p < 8; p++) {
			if (p < 6)
				ct_make_text_page(page, 300 + p);
			else
				ct_make_tunable_page(page, 300 + p,
						     1200 * p - 6000, p % 2);
			for (size_t k = 0; k < n; k++) {
				/* a different order of levels for each page */
				struct comp_spec spec = {
					ct_selectable[b],
					levels[(k * 7 + p) % n],
				};
				struct comp_result res;
				size_t want;

				assert_int_equal(
					comp_compress(ctx, spec, page, &res),
					0);
				if (res.kind != COMP_KIND_COMPRESSED)
					continue;
				want = library_compress(spec, page, lib,
							sizeof(lib));
				if (want != res.len ||
				    memcmp(lib, res.data, want))
					fail_msg("%s on page %u: %u bytes, the "
						 "library makes %zu",
						 ct_spec_str(spec), p, res.len,
						 want);
				compared++;
				if (p == 0 && !first_len)
					first_len = res.len;
				else if (p == 0 && res.len != first_len)
					levels_differ = true;
			}
		}
		/* the pages tell the levels apart */
		if (!levels_differ)
			fail_msg("%s: every level made the same size",
				 comp_backend_name(ct_selectable[b]));
		print_message("# %s: %u of %zu (page, level) pairs compressed, "
			      "each as the library does\n",
			      comp_backend_name(ct_selectable[b]), compared,
			      8 * n);
		/* most levels shrink these pages */
		assert_true(compared >= 8 * n / 2);
	}
	comp_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Changing algorithm at run time                                            */
/* ------------------------------------------------------------------------ */

struct stored {
	enum comp_kind kind;
	comp_tag_t tag;
	uint32_t len;
	uint64_t word;
	struct comp_spec spec;
	unsigned char bytes[PAGE];
};

/*
 * One context compresses a run of pages with lz4, lz4hc:4, zstd:1 and
 * zstd:19 in turn, the way the daemon does when its setting changes; a
 * context that never saw the others must decode every object by its tag.
 * Each object must also equal what a fresh context makes of the page: the
 * bytes must not depend on what the context compressed before (a level
 * that did not take, state carried over from another page).
 */
static void test_runtime_change(void **state)
{
	static const struct comp_spec rotation[] = {
		{COMP_LZ4, 1},	  {COMP_LZ4HC, 4},
#ifdef HAVE_ZSTD
		{COMP_ZSTD, 1},	  {COMP_ZSTD, 19}, {COMP_ZSTD, -5},
#endif
		{COMP_LZ4HC, 9}, {COMP_LZ4, 64},
	};
	enum { NR_PAGES = 96 };
	struct comp_ctx *ctx = ct_new_ctx(3633), *reader = ct_new_ctx(0);
	unsigned char(*pages)[PAGE] = malloc(NR_PAGES * sizeof(*pages));
	struct stored *objs = malloc(NR_PAGES * sizeof(*objs));
	unsigned char out[PAGE];
	unsigned int per_spec[ARRAY_SIZE(rotation)] = {0};

	(void)state;
	assert_non_null(pages);
	assert_non_null(objs);
	for (unsigned int i = 0; i < NR_PAGES; i++) {
		struct stored *o = &objs[i];
		struct comp_result res;
		size_t spec_idx;

		switch (i % 8) {
		case 0:
			ct_fill_word(pages[i], i);
			break;
		case 5:
			ct_make_random_page(pages[i], i);
			break;
		case 6:
			ct_make_tunable_page(pages[i], i, 2000, false);
			break;
		default:
			ct_make_text_page(pages[i], i);
		}
		/* the setting changes every third page, in an order that
		 * puts specs after one another in many combinations */
		spec_idx = (size_t)(zt_mix64(i / 3) % ARRAY_SIZE(rotation));
		o->spec = rotation[spec_idx];
		assert_int_equal(comp_compress(ctx, o->spec, pages[i], &res),
				 0);
		o->kind = res.kind;
		o->tag = res.tag;
		o->len = res.len;
		o->word = res.word;
		if (res.kind != COMP_KIND_SAME)
			memcpy(o->bytes, res.data, res.len);
		if (res.kind == COMP_KIND_COMPRESSED) {
			struct comp_spec spec;

			assert_int_equal(comp_tag_spec(res.tag, &spec), 0);
			assert_int_equal(spec.backend, o->spec.backend);
			assert_int_equal(spec.level, o->spec.level);
			per_spec[spec_idx]++;
		}
	}
	for (size_t s = 0; s < ARRAY_SIZE(rotation); s++)
		if (!per_spec[s])
			fail_msg("no page compressed with %s",
				 ct_spec_str(rotation[s]));

	/* history does not matter */
	for (unsigned int i = 0; i < NR_PAGES; i++) {
		struct comp_ctx *fresh = ct_new_ctx(3633);
		struct comp_result res;
		struct stored *o = &objs[i];

		assert_int_equal(comp_compress(fresh, o->spec, pages[i], &res),
				 0);
		if (res.kind != o->kind || res.len != o->len ||
		    (res.kind != COMP_KIND_SAME &&
		     memcmp(res.data, o->bytes, res.len)))
			fail_msg("page %u with %s: kind %d, %u bytes after "
				 "other specs; kind %d, %u bytes in a fresh "
				 "context",
				 i, ct_spec_str(o->spec), o->kind, o->len,
				 res.kind, res.len);
		comp_ctx_free(fresh);
	}

	/* all read back by a context that saw none of it, in reverse */
	for (unsigned int n = NR_PAGES; n-- > 0;) {
		struct stored *o = &objs[n];

		memset(out, 0xee, sizeof(out));
		if (o->kind == COMP_KIND_SAME) {
			comp_page_fill(out, o->word);
		} else {
			int ret = ct_decompress_exact(reader, o->tag, o->bytes,
						      o->len, out);

			if (ret)
				fail_msg("page %u (%s, tag %#x): %d", n,
					 ct_spec_str(o->spec), o->tag, ret);
		}
		if (memcmp(out, pages[n], PAGE))
			fail_msg("page %u (%s) differs after the round trip", n,
				 ct_spec_str(o->spec));
	}
	{
		struct comp_stats s = ct_stats_of(ctx);

		assert_int_equal(s.compress_errors, 0);
		assert_int_equal(s.pages, NR_PAGES);
	}
	free(objs);
	free(pages);
	comp_ctx_free(ctx);
	comp_ctx_free(reader);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backends),
		cmocka_unit_test(test_spec_parse),
		cmocka_unit_test(test_spec_parse_errors),
		cmocka_unit_test(test_spec_parse_errbuf),
		cmocka_unit_test(test_spec_parse_null_err),
		cmocka_unit_test(test_spec_format),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_same_filled),
		cmocka_unit_test(test_page_fill),
		cmocka_unit_test(test_compress_same),
		cmocka_unit_test(test_incompressible),
		cmocka_unit_test(test_threshold),
		cmocka_unit_test(test_threshold_edge),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_levels_match_libraries),
		cmocka_unit_test(test_runtime_change),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
