/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * testlib.c - the helpers every test and the benchmark would otherwise carry
 * a copy of: splitmix64 and what is drawn from it, seeded object patterns,
 * environment overrides, quoting for sh, and number formatting for abort
 * handlers.
 *
 * Patterns are made a 64-bit word at a time: word k of the pattern of seed s
 * is zt_mix64(s + k * ZT_GOLDEN_GAMMA), laid out least significant byte
 * first whatever the machine's byte order, so that a pattern is the same
 * everywhere and any byte can be found from its offset alone.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool/pool.h"
#include "tests/testlib.h"
#include "zp-compiler.h"

uint64_t zt_mix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

uint64_t zt_rand(uint64_t *state)
{
	return zt_mix64(*state += ZT_GOLDEN_GAMMA);
}

uint64_t zt_below(uint64_t *state, uint64_t n)
{
	return zt_rand(state) % n;
}

uint64_t zt_range(uint64_t *state, uint64_t lo, uint64_t hi)
{
	return lo + zt_below(state, hi - lo + 1);
}

bool zt_chance(uint64_t *state, unsigned int percent)
{
	return zt_below(state, 100) < percent;
}

void zt_pattern(unsigned char *obj, uint64_t seed, size_t off, size_t len)
{
	size_t i = off, end = off + len;

	while (i < end) {
		uint64_t w = zt_mix64(seed + (i / 8) * ZT_GOLDEN_GAMMA);

		do {
			obj[i] = (unsigned char)(w >> (8 * (i % 8)));
			i++;
		} while (i < end && i % 8);
	}
}

bool zt_parse_u64(const char *text, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(text, &end, 0);
	if (errno || end == text || *end || text[0] == '-')
		return false;
	*out = v;
	return true;
}

uint64_t zt_env_u64(const char *prog, const char *name, uint64_t def)
{
	const char *s = getenv(name);
	uint64_t v;

	if (!s || !*s)
		return def;
	if (!zt_parse_u64(s, &v)) {
		fprintf(stderr, "%s: cannot parse %s='%s'\n", prog, name, s);
		exit(1);
	}
	return v;
}

bool zt_keep(void **slots, size_t n, void *p)
{
	for (size_t i = 0; i < n; i++) {
		if (!slots[i]) {
			slots[i] = p;
			return true;
		}
	}
	return false;
}

/* At most 4 bytes for each of s (a ' becomes 4), 2 quotes and the NUL. */
char *zt_shell_quote(const char *s)
{
	char *q = malloc(strlen(s) * 4 + 3), *p = q;

	if (!q)
		return NULL;
	*p++ = '\'';
	for (; *s; s++) {
		if (*s == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else {
			*p++ = *s;
		}
	}
	*p++ = '\'';
	*p = '\0';
	return q;
}

void zt_put_str(char *buf, size_t *n, size_t cap, const char *s)
{
	while (*s && *n + 1 < cap)
		buf[(*n)++] = *s++;
}

void zt_put_num(char *buf, size_t *n, size_t cap, uint64_t v, unsigned int base)
{
	char tmp[64]; /* 64 binary digits at the most */
	size_t i = 0;

	do {
		tmp[i++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (i && *n + 1 < cap)
		buf[(*n)++] = tmp[--i];
}

void zt_die_with(int sig, const char *buf, size_t n)
{
	if (write(STDERR_FILENO, buf, n) < 0) {
		/* nothing left to tell */
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static struct {
	const char *prog;
	const struct zt_field *where, *rerun;
} report;

static void put_field(char *buf, size_t *n, size_t cap,
		      const struct zt_field *f, const char *sep)
{
	zt_put_str(buf, n, cap, f->name);
	zt_put_str(buf, n, cap, sep);
	switch (f->kind) {
	case ZT_FIELD_STR: {
		const char *v = *(const char *const volatile *)f->value;

		zt_put_str(buf, n, cap, v ? v : "(none)");
		break;
	}
	case ZT_FIELD_U64:
		zt_put_num(buf, n, cap, *(const volatile uint64_t *)f->value, 10);
		break;
	case ZT_FIELD_HEX:
		zt_put_str(buf, n, cap, "0x");
		zt_put_num(buf, n, cap, *(const volatile uint64_t *)f->value, 16);
		break;
	case ZT_FIELD_UINT:
		zt_put_num(buf, n, cap,
			   *(const volatile unsigned int *)f->value, 10);
		break;
	}
}

/* The report line; async-signal-safe. */
static size_t format_report(char *buf, size_t cap, const char *what)
{
	size_t n = 0;

	zt_put_str(buf, &n, cap, report.prog);
	zt_put_str(buf, &n, cap, ": ");
	zt_put_str(buf, &n, cap, what);
	zt_put_str(buf, &n, cap, ": ");
	for (const struct zt_field *f = report.where; f && f->name; f++) {
		if (f != report.where)
			zt_put_str(buf, &n, cap, ", ");
		put_field(buf, &n, cap, f, " ");
	}
	zt_put_str(buf, &n, cap, "; rerun with");
	for (const struct zt_field *f = report.rerun; f && f->name; f++) {
		zt_put_str(buf, &n, cap, " ");
		put_field(buf, &n, cap, f, "=");
	}
	zt_put_str(buf, &n, cap, "\n");
	return n;
}

static void report_abort(int sig)
{
	char buf[512];

	zt_die_with(sig, buf, format_report(buf, sizeof(buf), "aborted"));
}

void zt_report_setup(const char *prog, const struct zt_field *where,
		     const struct zt_field *rerun)
{
	report.prog = prog;
	report.where = where;
	report.rerun = rerun;
	signal(SIGABRT, report_abort);
}

void zt_report_failure(void)
{
	char buf[512];
	size_t n = format_report(buf, sizeof(buf), "failed");

	if (write(STDERR_FILENO, buf, n) < 0) {
		/* nothing left to tell */
	}
}

size_t zt_pick_size(uint64_t *rng, size_t huge_size)
{
	/* clang-format off */
	static const uint16_t edges[] = {
		1, 2, 7, 8, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65,
		255, 256, 257, 1023, 1024, 1025, 2047, 2048, 2049, 3264, 4079,
		4080, 4095, 4096,
	};
	/* clang-format on */
	unsigned int r = (unsigned int)zt_below(rng, 100);

	if (r < 6)
		return edges[zt_below(rng, ZP_ARRAY_SIZE(edges))];
	if (r < 9) {
		size_t s = huge_size - 2 + (size_t)zt_below(rng, 4);

		return s > ZP_MAX_ALLOC ? ZP_MAX_ALLOC : s;
	}
	if (r < 29) {
		unsigned int bits = (unsigned int)zt_below(rng, 9);

		return 1 + (size_t)zt_below(rng, 2ull << bits);
	}
	if (r < 89)
		return 400 + (size_t)zt_below(rng, 1501) +
		       (size_t)zt_below(rng, 1501);
	return 3000 + (size_t)zt_below(rng, ZP_MAX_ALLOC - 3000 + 1);
}
