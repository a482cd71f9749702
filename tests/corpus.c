/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * corpus.c - find the shared swap-like corpus and load it into memory.
 *
 * The corpus is kept compressed (anon-96m.bin.zst, about 17 MB) and is
 * decompressed through the zstd program on each load: the project needs
 * libzstd nowhere else, and a pipe keeps the 96 MiB of plain data out of the
 * file system. A file that is neither named .zst nor starts with the zstd
 * magic number is taken to be decompressed already and read as it is.
 *
 * Every failure ends in one line in err that names the file and what went
 * wrong, so that a test can print it and stop.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/corpus.h"
#include "tests/testlib.h"
#include "zp-compiler.h"

#define CORPUS_NAME "anon-96m.bin.zst"
#define CORPUS_FALLBACK "/work/shared/corpus/" CORPUS_NAME

/* Frame magic number of zstd, as it appears in the file (little endian). */
static const unsigned char zstd_magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };

zp_printf(3, 4) static void set_err(char *err, size_t errlen, const char *fmt,
				    ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Take candidate if it is readable; path gets its canonical form. */
static bool try_path(const char *candidate, char *path, size_t len)
{
	char real[PATH_MAX];
	const char *name = candidate;

	if (access(candidate, R_OK) < 0)
		return false;
	if (realpath(candidate, real))
		name = real;
	if (strlen(name) >= len)
		return false;
	strcpy(path, name);
	return true;
}

/* Try <dir>/<rel>/shared/corpus/anon-96m.bin.zst. */
static bool try_under(const char *dir, const char *rel, char *path, size_t len)
{
	char candidate[PATH_MAX];
	int n;

	n = snprintf(candidate, sizeof(candidate), "%s/%s/shared/corpus/%s", dir,
		     rel, CORPUS_NAME);
	if (n < 0 || (size_t)n >= sizeof(candidate))
		return false;
	return try_path(candidate, path, len);
}

/* The search order is documented in corpus.h. */
static int find_corpus(char *path, size_t len, char *err, size_t errlen)
{
	static const char *const exe_ups[] = { "../..", "../../..", "../../../.." };
	const char *env = getenv("ZPOOLD_CORPUS");
	char exe[PATH_MAX];
	ssize_t n;

	/* An explicit choice that does not work is an error, not a reason to
	 * quietly load some other file. */
	if (env && *env) {
		if (access(env, R_OK) < 0) {
			int e = errno;

			set_err(err, errlen, "cannot read ZPOOLD_CORPUS '%s': %s",
				env, strerror(e));
			return -e;
		}
		if (!try_path(env, path, len)) {
			set_err(err, errlen, "ZPOOLD_CORPUS path too long: '%s'",
				env);
			return -ENAMETOOLONG;
		}
		return 0;
	}

	env = getenv("top_srcdir");
	if (env && *env && try_under(env, "..", path, len))
		return 0;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;

		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			for (size_t i = 0; i < ZP_ARRAY_SIZE(exe_ups); i++)
				if (try_under(exe, exe_ups[i], path, len))
					return 0;
		}
	}

	if (try_path(CORPUS_FALLBACK, path, len))
		return 0;

	set_err(err, errlen,
		"cannot find the corpus: set ZPOOLD_CORPUS to the path of %s "
		"(looked under $top_srcdir/.., next to the program and in "
		"/work/shared/corpus)",
		CORPUS_NAME);
	return -ENOENT;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && !strcmp(s + ls - lx, suffix);
}

/* 1 for zstd data, 0 for anything else, -errno when unreadable. */
static int is_zstd(const char *path)
{
	unsigned char head[sizeof(zstd_magic)];
	FILE *f;
	size_t got;

	if (ends_with(path, ".zst"))
		return 1;
	f = fopen(path, "rb");
	if (!f)
		return -errno;
	got = fread(head, 1, sizeof(head), f);
	fclose(f);
	return got == sizeof(head) && !memcmp(head, zstd_magic, sizeof(head));
}

/*
 * Read up to cap bytes into buf, then count (and drop) whatever follows, so
 * that a file of the wrong size can be reported with its real size.
 */
static int read_stream(FILE *f, unsigned char *buf, size_t cap, size_t *total)
{
	unsigned char scratch[65536];
	size_t got = 0, n;

	while (got < cap) {
		n = fread(buf + got, 1, cap - got, f);
		if (!n)
			break;
		got += n;
	}
	if (got == cap)
		while ((n = fread(scratch, 1, sizeof(scratch), f)) > 0)
			got += n;
	*total = got;
	return ferror(f) ? -EIO : 0;
}

static int load_plain(const char *path, unsigned char *buf, size_t *total,
		      char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	int ret;

	if (!f) {
		ret = -errno;
		set_err(err, errlen, "cannot open the corpus '%s': %s", path,
			strerror(-ret));
		return ret;
	}
	ret = read_stream(f, buf, ZP_CORPUS_BYTES, total);
	if (ret < 0)
		set_err(err, errlen, "cannot read the corpus '%s': %s", path,
			strerror(errno));
	fclose(f);
	return ret;
}

static int load_zstd(const char *path, unsigned char *buf, size_t *total,
		     char *err, size_t errlen)
{
	static const char prefix[] = "zstd -dcq -- ";
	char *quoted = zt_shell_quote(path), *cmd = NULL;
	FILE *f;
	int ret, status;

	if (quoted) {
		cmd = malloc(sizeof(prefix) + strlen(quoted));
		if (cmd)
			sprintf(cmd, "%s%s", prefix, quoted);
		free(quoted);
	}
	if (!cmd) {
		set_err(err, errlen, "cannot decompress the corpus '%s': %s",
			path, strerror(ENOMEM));
		return -ENOMEM;
	}

	f = popen(cmd, "r");
	free(cmd);
	if (!f) {
		ret = -errno;
		set_err(err, errlen, "cannot run zstd on the corpus '%s': %s",
			path, strerror(-ret));
		return ret;
	}
	ret = read_stream(f, buf, ZP_CORPUS_BYTES, total);
	status = pclose(f);
	if (status == -1) {
		ret = -errno;
		set_err(err, errlen, "cannot run zstd on the corpus '%s': %s",
			path, strerror(-ret));
		return ret;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		set_err(err, errlen,
			"cannot decompress the corpus '%s': zstd not found "
			"(install zstd, or set ZPOOLD_CORPUS to a decompressed copy)",
			path);
		return -ENOENT;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (WIFSIGNALED(status))
			set_err(err, errlen,
				"cannot decompress the corpus '%s': zstd killed by signal %d",
				path, WTERMSIG(status));
		else
			set_err(err, errlen,
				"cannot decompress the corpus '%s': zstd exited with status %d",
				path, WEXITSTATUS(status));
		return -EIO;
	}
	if (ret < 0)
		set_err(err, errlen,
			"cannot read the output of zstd for the corpus '%s'", path);
	return ret;
}

int zp_corpus_load(struct zp_corpus *corpus, char *err, size_t errlen)
{
	size_t total = 0;
	bool zstd;
	int ret;

	memset(corpus, 0, sizeof(*corpus));
	ret = find_corpus(corpus->path, sizeof(corpus->path), err, errlen);
	if (ret < 0)
		return ret;

	/* Page aligned, so that tests may hand pages to anything that wants
	 * them aligned (O_DIRECT, mprotect). */
	corpus->data = aligned_alloc(ZP_CORPUS_PAGE, ZP_CORPUS_BYTES);
	if (!corpus->data) {
		set_err(err, errlen, "cannot load the corpus '%s': %s",
			corpus->path, strerror(ENOMEM));
		return -ENOMEM;
	}

	ret = is_zstd(corpus->path);
	if (ret < 0) {
		set_err(err, errlen, "cannot open the corpus '%s': %s",
			corpus->path, strerror(-ret));
		goto fail;
	}
	zstd = ret;
	if (zstd)
		ret = load_zstd(corpus->path, corpus->data, &total, err, errlen);
	else
		ret = load_plain(corpus->path, corpus->data, &total, err, errlen);
	if (ret < 0)
		goto fail;

	if (total != ZP_CORPUS_BYTES) {
		set_err(err, errlen,
			"corpus '%s' holds %zu bytes%s, not %u", corpus->path,
			total, zstd ? " once decompressed" : "",
			ZP_CORPUS_BYTES);
		ret = -EINVAL;
		goto fail;
	}
	corpus->nr_pages = ZP_CORPUS_BYTES / ZP_CORPUS_PAGE;
	return 0;

fail:
	free(corpus->data);
	corpus->data = NULL;
	return ret;
}

void zp_corpus_free(struct zp_corpus *corpus)
{
	free(corpus->data);
	corpus->data = NULL;
	corpus->nr_pages = 0;
}

/* Printed with printf(), not cmocka's print_message(): corpus.c is linked
 * into the benchmarks too, which have no cmocka. Both write to stdout,
 * which is what keeps the comment in its place among the TAP lines. */
int zp_corpus_setup(void **state, struct zp_corpus *corpus, size_t *nr_pages)
{
	char err[512];

	/* set first: cmocka may run the teardown after a failed setup */
	*state = corpus;
	if (zp_corpus_load(corpus, err, sizeof(err))) {
		printf("# cannot load the corpus: %s\n", err);
		fflush(stdout);
		return -1;
	}
	if (nr_pages && *nr_pages > corpus->nr_pages)
		*nr_pages = corpus->nr_pages;
	return 0;
}

int zp_corpus_teardown(void **state)
{
	zp_corpus_free(*state);
	return 0;
}
