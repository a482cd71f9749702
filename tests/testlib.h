/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * testlib.h - small helpers shared by the tests and the benchmark: a seeded
 * generator, object patterns, environment overrides, quoting for sh and
 * messages an abort handler can build without stdio.
 *
 * Everything random comes from splitmix64 and a caller's state of 64 bits, so
 * that a run is fixed by its seed and a failure repeats. The state is the
 * caller's: one per thread, nothing shared and nothing locked here.
 */
#ifndef ZP_TESTS_TESTLIB_H
#define ZP_TESTS_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* splitmix64's increment: 2^64 divided by the golden ratio, made odd, so
 * that adding it visits every state before one repeats. Also good for
 * spreading small numbers (a policy, an index) far apart as seeds. */
#define ZT_GOLDEN_GAMMA 0x9e3779b97f4a7c15ull

/**
 * zt_mix64() - splitmix64's finaliser: a bijection of 64-bit values in
 * which every input bit changes about half the output bits.
 * Turns related seeds (base + i) into unrelated ones.
 */
uint64_t zt_mix64(uint64_t x);

/**
 * zt_rand() - the next 64 random bits of the splitmix64 stream in *state.
 * Any value, 0 included, is a good seed.
 */
uint64_t zt_rand(uint64_t *state);

/**
 * zt_below() - a random number in 0..n-1, from one zt_rand() call.
 * n must not be 0. The modulo bias is far below anything a test or the
 * benchmark could notice.
 */
uint64_t zt_below(uint64_t *state, uint64_t n);

/**
 * zt_range() - a random number in lo..hi, both included, from one zt_rand()
 * call. lo must not exceed hi.
 */
uint64_t zt_range(uint64_t *state, uint64_t lo, uint64_t hi);

/**
 * zt_chance() - true in percent cases out of 100, from one zt_rand() call.
 */
bool zt_chance(uint64_t *state, unsigned int percent);

/**
 * zt_pattern() - write bytes off..off+len-1 of the pattern that seed names
 * into obj[off..off+len-1]; obj points at byte 0 of the object.
 *
 * Byte i of a pattern depends only on seed and i, so an object can be
 * written whole and checked later, or rewritten in windows from different
 * seeds and checked window by window. Different seeds give unrelated
 * patterns, so an object that holds a neighbour's bytes shows.
 */
void zt_pattern(unsigned char *obj, uint64_t seed, size_t off, size_t len);

/* Parse a whole unsigned number (decimal, 0x hex or 0 octal; no sign):
 * false for anything else. */
bool zt_parse_u64(const char *text, uint64_t *out);

/* Put p in the first empty one of n slots (buffers a fixture frees at
 * teardown); false when all are taken. */
bool zt_keep(void **slots, size_t n, void *p);

/**
 * zt_env_u64() - the value of environment variable name (decimal, 0x... or
 * 0...), or def when it is unset or empty.
 * A value that does not parse is a mistake of whoever runs the program:
 * prints "prog: cannot parse NAME='value'" and exits with status 1.
 */
uint64_t zt_env_u64(const char *prog, const char *name, uint64_t def);

/**
 * zt_shell_quote() - s in single quotes for sh, each ' written as '\'', so
 * that a path may go into a popen() command whatever it holds.
 * Returns a string to free(), or NULL when out of memory.
 */
char *zt_shell_quote(const char *s);

/**
 * zt_put_str() - append string s to buf, which holds *n bytes of cap.
 * Stops one byte short of cap, so the caller may always terminate or
 * write out buf[0..*n). Async-signal-safe: for abort handlers, which may not
 * use stdio.
 */
void zt_put_str(char *buf, size_t *n, size_t cap, const char *s);

/**
 * zt_put_num() - append v in base (2 to 16, lowercase digits, no prefix) to
 * buf, as zt_put_str() does. Async-signal-safe.
 */
void zt_put_num(char *buf, size_t *n, size_t cap, uint64_t v,
		unsigned int base);

/**
 * zt_die_with() - from a signal handler: write buf[0, n) to stderr, then
 * let the signal do what it would have done without the handler.
 * Async-signal-safe.
 */
void zt_die_with(int sig, const char *buf, size_t n);

/*
 * The report of a failing randomized test: where it was and how to run it
 * again, the same line whether a check failed or the program aborted
 * (zp_assert). A test describes both once as tables of fields pointing
 * at its own variables, each table ending with { NULL }.
 */
enum zt_field_kind {
	ZT_FIELD_STR,  /* const char *: a NULL one shows as (none) */
	ZT_FIELD_U64,  /* uint64_t, decimal */
	ZT_FIELD_HEX,  /* uint64_t, 0x... */
	ZT_FIELD_UINT, /* unsigned int, decimal */
};

struct zt_field {
	const char *name;
	enum zt_field_kind kind;
	const volatile void *value;
};

/**
 * zt_report_setup() - set the program's report and print it, with
 * "aborted", when SIGABRT comes: "PROG: aborted: name value, ...; rerun
 * with NAME=value ...". The tables and what they point to must live as
 * long as the program.
 */
void zt_report_setup(const char *prog, const struct zt_field *where,
		     const struct zt_field *rerun);

/** zt_report_failure() - print the report with "failed" to stderr. */
void zt_report_failure(void);

/**
 * zt_pick_size() - an object size shaped like a compressed swap page: mostly
 * 0.5..3.5 KiB, a tail of small ones, some that barely compress, and the
 * edges of the size classes and of the huge class (from huge_size).
 */
size_t zt_pick_size(uint64_t *rng, size_t huge_size);

#endif /* ZP_TESTS_TESTLIB_H */
