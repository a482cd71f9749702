/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * replay.c - main() of the fuzz harnesses in builds without libFuzzer, so
 * that `make check` runs each one as a TAP test.
 *
 *   fuzz-<name>                    the inputs of tests/fuzz/regress/<name>/
 *                                  (faults found before, found through
 *                                  $top_srcdir, which `make check` sets),
 *                                  the harness's seeds, then a fixed stream
 *                                  of mutations of them
 *   fuzz-<name> FILE|DIR...        each file, and each file in each
 *                                  directory: a crash libFuzzer saved, or a
 *                                  whole corpus
 *   fuzz-<name> --write-seeds DIR  the seeds as files (fuzz.c does this, for
 *                                  both drivers)
 *
 * ZP_FUZZ_RUNS sets the number of mutations (default: the harness's
 * fuzz_target.runs) and ZP_FUZZ_SEED the generator's seed; the seed is
 * printed, so any run can be repeated exactly.
 *
 * Mutations are a small version of libFuzzer's: bit flips, bytes and 16-bit
 * words set to random or boundary values, small additions, truncations,
 * extensions, deletions, copies within the input and splices with another
 * seed, one to a few at a time, on a fresh seed or on the last mutant.
 * Positions favour the first bytes, where tags, frame headers and lz4's
 * first token live.
 *
 * A harness that finds a fault aborts (or faults). Before the process dies,
 * the input at fault is written next to the program as
 * fuzz-<name>-failure.bin and "not ok" is printed, so the TAP driver reports
 * the test as failed twice over and the input can be replayed:
 * tests/fuzz/fuzz-<name> tests/fuzz/fuzz-<name>-failure.bin. Under a
 * sanitizer, which reports faults itself and exits, its death callback
 * does the same.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"
#include "tests/testlib.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FUZZ_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FUZZ_SANITIZED 1
#endif
#endif
#ifdef FUZZ_SANITIZED
#include <sanitizer/common_interface_defs.h>
#endif

/* "zpoold" */
#define DEFAULT_SEED 0x7a706f6f6c64ull
/* Inputs grow by extension and splicing; past this they only shrink. */
#define MAX_LEN (4 * COMP_PAGE_SIZE)

/* The input being run and how to name it, for the failure path, which may
 * be a signal handler: plain data only, written before each run. */
static struct {
	const unsigned char *data;
	size_t len;
	char what[160];  /* "mutation 12 (from seed 3; ...)" */
	char path[4096]; /* where to save it */
	volatile sig_atomic_t saved;
} cur;

/* Async-signal-safe: open, write and close only. */
static void save_input(void)
{
	char msg[4096 + 400];
	size_t n = 0;
	int fd;
	bool ok = false;

	if (cur.saved || !cur.data)
		return;
	cur.saved = 1;
	fd = open(cur.path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		ok = write(fd, cur.data, cur.len) == (ssize_t)cur.len;
		ok = !close(fd) && ok;
	}
	zt_put_str(msg, &n, sizeof(msg), "not ok 1 - ");
	zt_put_str(msg, &n, sizeof(msg), fuzz_target.name);
	zt_put_str(msg, &n, sizeof(msg), ": failed on ");
	zt_put_str(msg, &n, sizeof(msg), cur.what);
	zt_put_str(msg, &n, sizeof(msg),
		   ok ? ", saved to '" : ", cannot save it to '");
	zt_put_str(msg, &n, sizeof(msg), cur.path);
	zt_put_str(msg, &n, sizeof(msg), "'\n");
	if (write(STDOUT_FILENO, msg, n) < 0) {
		/* nothing left to tell */
	}
}

static void on_fatal_signal(int sig)
{
	save_input();
	zt_die_with(sig, "", 0);
}

static void catch_failures(const char *prog)
{
	static const int sigs[] = {
		SIGABRT,
#ifndef FUZZ_SANITIZED
		/* A sanitizer catches these itself, reports the access and
		 * calls the death callback. */
		SIGSEGV, SIGBUS, SIGFPE, SIGILL,
#endif
	};
	size_t i;

	snprintf(cur.path, sizeof(cur.path), "%s-failure.bin", prog);
	fuzz_fail_hook = save_input;
	for (i = 0; i < ZP_ARRAY_SIZE(sigs); i++)
		signal(sigs[i], on_fatal_signal);
#ifdef FUZZ_SANITIZED
	__sanitizer_set_death_callback(save_input);
#endif
}

static void run(const unsigned char *data, size_t len)
{
	cur.data = data;
	cur.len = len;
	LLVMFuzzerTestOneInput(data, len);
}

/* ---------------------------------------------------------------------------
 * Mutations
 * ------------------------------------------------------------------------ */

enum mutation {
	FLIP_BIT,
	SET_BYTE,
	SET_EDGE_BYTE,
	SET_EDGE_WORD,
	ADD_BYTE,
	TRUNCATE,
	EXTEND,
	SPLICE,
	INSERT_COPY,
	OVERWRITE_COPY,
	DELETE,
	FILL_RUN,
	NR_MUTATIONS
};

/* A position in 0..len-1, a quarter of the time among the first 8. */
static size_t pick_pos(uint64_t *rng, size_t len)
{
	if (len > 8 && zt_chance(rng, 25))
		return zt_below(rng, 8);
	return zt_below(rng, len);
}

/* Move buf[at, len) to buf[at + n, len + n): make a hole of n bytes. */
static void open_hole(unsigned char *buf, size_t *len, size_t at, size_t n)
{
	memmove(buf + at + n, buf + at, *len - at);
	*len += n;
}

static void mutate(uint64_t *rng, unsigned char *buf, size_t *len,
		   const struct fuzz_seeds *seeds)
{
	static const uint8_t edge_bytes[] = { 0x00, 0x01, 0x0f, 0x10,
					      0x7f, 0x80, 0xf0, 0xff };
	static const uint16_t edge_words[] = { 0,      1,    0x7fff, 0x8000,
					       0xffff, 4095, 4096,   4097,
					       2048,   16,   15,     255 };
	enum mutation m = (enum mutation)zt_below(rng, NR_MUTATIONS);
	const struct fuzz_input *other;
	size_t at, from, n;
	uint16_t w;

	if (!*len && m != EXTEND && m != SPLICE)
		m = EXTEND;
	switch (m) {
	case FLIP_BIT:
		buf[pick_pos(rng, *len)] ^= (uint8_t)(1u << zt_below(rng, 8));
		break;
	case SET_BYTE:
		buf[pick_pos(rng, *len)] = (uint8_t)zt_rand(rng);
		break;
	case SET_EDGE_BYTE:
		buf[pick_pos(rng, *len)] =
			edge_bytes[zt_below(rng, ZP_ARRAY_SIZE(edge_bytes))];
		break;
	case SET_EDGE_WORD:
		if (*len < 2)
			break;
		at = pick_pos(rng, *len - 1);
		w = edge_words[zt_below(rng, ZP_ARRAY_SIZE(edge_words))];
		buf[at] = (uint8_t)w;
		buf[at + 1] = (uint8_t)(w >> 8);
		break;
	case ADD_BYTE:
		at = pick_pos(rng, *len);
		buf[at] = (uint8_t)(buf[at] + zt_range(rng, 1, 16) - 8 -
				    (zt_chance(rng, 50) ? 1 : 0));
		break;
	case TRUNCATE:
		/* Mostly a few bytes off the end: the last sequence or
		 * block. */
		n = zt_chance(rng, 70) ? zt_range(rng, 1, ZP_MIN(*len, 16))
				       : zt_range(rng, 1, *len);
		*len -= n;
		break;
	case EXTEND:
		n = ZP_MIN(zt_range(rng, 1, 64), MAX_LEN - *len);
		if (zt_chance(rng, 50) || !*len) {
			zt_pattern(buf + *len, zt_rand(rng), 0, n);
		} else {
			n = ZP_MIN(n, *len);
			memcpy(buf + *len, buf + zt_below(rng, *len - n + 1),
			       n);
		}
		*len += n;
		break;
	case SPLICE:
		other = &seeds->v[zt_below(rng, seeds->nr)];
		at = *len ? zt_below(rng, *len + 1) : 0;
		from = other->len ? zt_below(rng, other->len + 1) : 0;
		n = ZP_MIN(other->len - from, MAX_LEN - at);
		memcpy(buf + at, other->data + from, n);
		*len = at + n;
		break;
	case INSERT_COPY:
		n = ZP_MIN(zt_range(rng, 1, ZP_MIN(*len, 256)), MAX_LEN - *len);
		from = zt_below(rng, *len - n + 1);
		at = pick_pos(rng, *len);
		open_hole(buf, len, at, n);
		/* The source may have moved with the hole. */
		memmove(buf + at, buf + (from >= at ? from + n : from), n);
		break;
	case OVERWRITE_COPY:
		n = zt_range(rng, 1, ZP_MIN(*len, 256));
		from = zt_below(rng, *len - n + 1);
		at = zt_below(rng, *len - n + 1);
		memmove(buf + at, buf + from, n);
		break;
	case DELETE:
		at = pick_pos(rng, *len);
		n = zt_range(rng, 1, ZP_MIN(*len - at, 64));
		memmove(buf + at, buf + at + n, *len - at - n);
		*len -= n;
		break;
	case FILL_RUN:
		at = pick_pos(rng, *len);
		n = zt_range(rng, 1, ZP_MIN(*len - at, 128));
		memset(buf + at, (int)(zt_chance(rng, 50) ? 0 : zt_rand(rng)),
		       n);
		break;
	case NR_MUTATIONS:
		break;
	}
}

static uint64_t fuzz_seeds_and_mutations(const char *prog, uint64_t *nr_seeds)
{
	static unsigned char buf[MAX_LEN];
	uint64_t runs = zt_env_u64(prog, "ZP_FUZZ_RUNS", fuzz_target.runs);
	uint64_t seed = zt_env_u64(prog, "ZP_FUZZ_SEED", DEFAULT_SEED);
	uint64_t rng = seed, i, k, nr_mut;
	struct fuzz_seeds seeds = { 0 };
	size_t len = 0, base = 0;

	fuzz_make_seeds(&seeds);
	*nr_seeds = seeds.nr;
	printf("# %zu seeds, then %llu mutations from seed 0x%llx "
	       "(ZP_FUZZ_RUNS, ZP_FUZZ_SEED)\n",
	       seeds.nr, (unsigned long long)runs, (unsigned long long)seed);
	fflush(stdout);

	for (i = 0; i < seeds.nr; i++) {
		snprintf(cur.what, sizeof(cur.what), "seed %llu",
			 (unsigned long long)i);
		run(seeds.v[i].data, seeds.v[i].len);
	}
	for (i = 0; i < runs; i++) {
		/* A quarter of the time, mutate the last mutant further. */
		if (!len || zt_chance(&rng, 75)) {
			base = zt_below(&rng, seeds.nr);
			len = seeds.v[base].len;
			memcpy(buf, seeds.v[base].data, len);
		}
		nr_mut = zt_chance(&rng, 12) ? zt_range(&rng, 2, 8)
					     : zt_range(&rng, 1, 2);
		for (k = 0; k < nr_mut; k++)
			mutate(&rng, buf, &len, &seeds);
		snprintf(cur.what, sizeof(cur.what),
			 "mutation %llu (from seed %zu; ZP_FUZZ_SEED=0x%llx)",
			 (unsigned long long)i, base, (unsigned long long)seed);
		run(buf, len);
	}
	cur.data = NULL;
	fuzz_seeds_free(&seeds);
	return *nr_seeds + runs;
}

/* ---------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------ */

/* Run the harness on one file: 0 or -errno, with a message. */
static int run_file(const char *path)
{
	unsigned char *data = NULL;
	size_t len = 0, cap = 0, n;
	FILE *f = fopen(path, "rb");
	int ret = 0;

	if (!f) {
		ret = -errno;
		goto out;
	}
	do {
		if (len == cap) {
			unsigned char *p;

			cap = cap ? 2 * cap : 65536;
			p = realloc(data, cap);
			if (!p) {
				ret = -ENOMEM;
				goto out;
			}
			data = p;
		}
		n = fread(data + len, 1, cap - len, f);
		len += n;
	} while (n);
	if (ferror(f)) {
		ret = -EIO;
		goto out;
	}
	snprintf(cur.what, sizeof(cur.what), "file '%s'", path);
	run(data, len);
out:
	if (ret)
		fprintf(stderr, "fuzz-%s: cannot read '%s': %s\n",
			fuzz_target.name, path, strerror(-ret));
	if (f)
		fclose(f);
	free(data);
	return ret;
}

static int skip_hidden(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* A file, or every file of a directory in name order: how many ran, or
 * -errno. */
static long run_path(const char *path)
{
	struct dirent **names;
	struct stat st;
	char sub[4096];
	long count = 0;
	int i, n;

	if (stat(path, &st)) {
		fprintf(stderr, "fuzz-%s: cannot read '%s': %s\n",
			fuzz_target.name, path, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path) ? -EIO : 1;
	n = scandir(path, &names, skip_hidden, alphasort);
	if (n < 0) {
		fprintf(stderr, "fuzz-%s: cannot list '%s': %s\n",
			fuzz_target.name, path, strerror(errno));
		return -errno;
	}
	for (i = 0; i < n; i++) {
		snprintf(sub, sizeof(sub), "%s/%s", path, names[i]->d_name);
		if (count >= 0 && !stat(sub, &st) && S_ISREG(st.st_mode))
			count = run_file(sub) ? -EIO : count + 1;
		free(names[i]);
	}
	free(names);
	return count;
}

/* The regression inputs, when the source tree is known: how many ran. */
static uint64_t run_regress(void)
{
	const char *top = getenv("top_srcdir");
	char dir[4096];
	struct stat st;
	long n;

	if (!top || !*top)
		return 0;
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/regress/%s", top,
		 fuzz_target.name);
	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		return 0;
	n = run_path(dir);
	if (n < 0) {
		printf("not ok 1 - %s: cannot read '%s'\n", fuzz_target.name,
		       dir);
		exit(1);
	}
	printf("# %ld regression inputs from '%s'\n", n, dir);
	fflush(stdout);
	return (uint64_t)n;
}

int main(int argc, char **argv)
{
	uint64_t total = 0, nr_seeds = 0, nr_regress;
	int i;

	/* --write-seeds DIR ends here. */
	LLVMFuzzerInitialize(&argc, &argv);
	catch_failures(argv[0]);
	printf("1..1\n");
	fflush(stdout);

	if (argc > 1) {
		for (i = 1; i < argc; i++) {
			long n = run_path(argv[i]);

			if (n < 0) {
				printf("not ok 1 - %s: cannot read '%s'\n",
				       fuzz_target.name, argv[i]);
				return 1;
			}
			total += (uint64_t)n;
		}
		printf("ok 1 - %s: %llu inputs from files\n", fuzz_target.name,
		       (unsigned long long)total);
		return 0;
	}
	nr_regress = run_regress();
	total = nr_regress + fuzz_seeds_and_mutations(argv[0], &nr_seeds);
	printf("ok 1 - %s: %llu inputs (%llu regression, %llu seeds and "
	       "their mutations)\n",
	       fuzz_target.name, (unsigned long long)total,
	       (unsigned long long)nr_regress, (unsigned long long)nr_seeds);
	return 0;
}
