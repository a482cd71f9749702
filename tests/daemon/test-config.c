/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-config.c - the configuration file, command-line overrides, checks,
 * --help-config and the dump of daemon/config.c.
 *
 * Errors are checked by substrings: where (file:line), which section and
 * key, and what was wrong, since the wording of the rest may improve.
 * Every failed parse must also leave the configuration as it was, so each
 * error case compares the whole struct with a copy taken before.
 *
 * Files live in a directory made by mkdtemp() that teardown removes.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon/internal.h"
#include "tests/check.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ORIGIN	      "/etc/zpoold.conf"

/* ------------------------------------------------------------------------ */
/* Fixture: two configurations (too big for a test's stack frame), an     */
/* error buffer and a directory for files                                  */
/* ------------------------------------------------------------------------ */

struct fixture {
	struct zpd_config cfg, other;
	char err[8192];
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/zpd-test-config.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	zpd_config_defaults(&f->cfg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = {"conf", "empty", "nul", "sub"};
	char path[128];

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, names[i]);
		if (unlink(path) && rmdir(path) && errno != ENOENT)
			fprintf(stderr, "# cannot remove '%s'\n", path);
	}
	if (rmdir(f->dir))
		fprintf(stderr, "# cannot remove '%s'\n", f->dir);
	free(f);
	return 0;
}

/* A file in the fixture's directory holding len bytes of text. */
static const char *fx_file(struct fixture *f, const char *name,
			   const char *text, size_t len)
{
	FILE *fp;

	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, name);
	fp = fopen(f->path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	return f->path;
}

/* Parse text as /etc/zpoold.conf: it must fail with a message holding
 * every part, and leave the configuration as it was. */
static void expect_error(struct fixture *f, const char *text, ...)
{
	const char *part;
	va_list ap;

	zpd_config_defaults(&f->cfg);
	zpd_config_defaults(&f->other);
	if (zpd_config_parse(&f->cfg, text, ORIGIN, f->err, sizeof(f->err)) !=
	    -EINVAL)
		fail_msg("parsed without error: '%s'", text);
	va_start(ap, text);
	while ((part = va_arg(ap, const char *)))
		assert_has(f->err, part);
	va_end(ap);
	assert_memory_equal(&f->cfg, &f->other, sizeof(f->cfg));
}

static void parse_ok(struct fixture *f, const char *text)
{
	int ret =
		zpd_config_parse(&f->cfg, text, ORIGIN, f->err, sizeof(f->err));

	if (ret)
		fail_msg("cannot parse '%s': %s", text, f->err);
}

static void set_ok(struct fixture *f, const char *assignment)
{
	int ret = zpd_config_set(&f->cfg, assignment, f->err, sizeof(f->err));

	if (ret)
		fail_msg("cannot set '%s': %s", assignment, f->err);
}

static void expect_set_error(struct fixture *f, const char *assignment,
			     const char *part)
{
	memcpy(&f->other, &f->cfg, sizeof(f->cfg));
	if (zpd_config_set(&f->cfg, assignment, f->err, sizeof(f->err)) !=
	    -EINVAL)
		fail_msg("set without error: '%s'", assignment);
	assert_has(f->err, "command line: -o ");
	assert_has(f->err, assignment);
	assert_has(f->err, part);
	assert_memory_equal(&f->cfg, &f->other, sizeof(f->cfg));
}

static struct comp_spec spec_of(const char *text)
{
	struct comp_spec spec;

	assert_int_equal(comp_spec_parse(text, &spec, NULL, 0), 0);
	return spec;
}

/* ------------------------------------------------------------------------ */
/* Defaults and a full file                                                 */
/* ------------------------------------------------------------------------ */

static void test_defaults(void **state)
{
	struct fixture *f = *state;
	struct zpd_config *c = &f->cfg;
	struct comp_spec lz4 = spec_of("lz4");

	zpd_config_defaults(c);
	assert_string_equal(c->mountpoint, ZPD_DEFAULT_MOUNTPOINT);
	assert_string_equal(c->mountpoint, "/run/zpoold/volumes");
	assert_string_equal(c->control_socket, "/run/zpoold/control.sock");
	assert_string_equal(c->control_group, "");
	assert_int_equal(c->control_timeout, 10);
	assert_int_equal(c->threads, 4);
	assert_int_equal(c->poll_us, 50);
	assert_false(c->splice);
	assert_int_equal(c->max_write, 1 << 20);
	assert_int_equal(c->node_hint, ZPD_HINT_VOLUME);
	assert_int_equal(c->node_cache_ms, 100);
	assert_int_equal(c->oom_score_adj, -1000);
	assert_false(c->swapoff_on_stop);
	assert_int_equal(c->reserve, 16 << 20);
	assert_int_equal(c->log_level, LOG_INFO);
	assert_int_equal(c->compressor.backend, COMP_LZ4);
	assert_int_equal(c->compressor.level, lz4.level);
	assert_int_equal(c->policy, ZP_NUMA_PREFERRED);
	assert_int_equal(c->max_zspage_pages, ZP_DEFAULT_ZSPAGE_PAGES);
	assert_int_equal(c->chunk_bytes, 4 << 20);
	assert_int_equal(c->release_delay_ms, 1000);
	assert_int_equal(c->shards, 0);
	assert_int_equal(c->nr_volumes, 0);
	assert_int_equal(zpd_config_check(c, 1, f->err, sizeof(f->err)), 0);
	assert_string_equal(f->err, "");
}

static const char full_file[] = "# every key, none at its default\n"
				"[daemon]\n"
				"mountpoint = /mnt/zp\n"
				"threads = 16\n"
				"poll_us = 0\n"
				"splice = yes\n"
				"max_write = 128K\n"
				"node_hint = requester\n"
				"node_cache_ms = 250\n"
				"oom_score_adj = -500\n"
				"swapoff_on_stop = yes\n"
				"reserve = 64M\n"
				"log_level = debug\n"
				"control_socket = /run/zp.sock\n"
				"control_group = zp-admins\n"
				"control_timeout = 30\n"
				"\n"
				"[pool]\n"
				"compressor = lz4hc:9\n"
				"policy = interleave\n"
				"max_zspage_pages = 4\n"
				"chunk_bytes = 8M\n"
				"release_delay_ms = 5000\n"
				"shards = 2\n"
				"\n"
				"[volume swap0]\n"
				"size = 4G\n"
				"node = 0\n"
				"store = pool\n"
				"\n"
				"[volume bench.null_1]\n"
				"size = 1T\n"
				"node = none\n"
				"store = null\n";

static void test_full_file(void **state)
{
	struct fixture *f = *state;
	struct zpd_config *c = &f->cfg;
	struct comp_spec hc = spec_of("lz4hc:9");

	parse_ok(f, full_file);
	assert_string_equal(c->mountpoint, "/mnt/zp");
	assert_int_equal(c->threads, 16);
	assert_int_equal(c->poll_us, 0);
	assert_true(c->splice);
	assert_int_equal(c->max_write, 128 << 10);
	assert_int_equal(c->node_hint, ZPD_HINT_REQUESTER);
	assert_int_equal(c->node_cache_ms, 250);
	assert_int_equal(c->oom_score_adj, -500);
	assert_true(c->swapoff_on_stop);
	assert_int_equal(c->reserve, 64 << 20);
	assert_int_equal(c->log_level, LOG_DEBUG);
	assert_string_equal(c->control_socket, "/run/zp.sock");
	assert_string_equal(c->control_group, "zp-admins");
	assert_int_equal(c->control_timeout, 30);
	assert_int_equal(c->compressor.backend, hc.backend);
	assert_int_equal(c->compressor.level, hc.level);
	assert_int_equal(c->policy, ZP_NUMA_INTERLEAVE);
	assert_int_equal(c->max_zspage_pages, 4);
	assert_int_equal(c->chunk_bytes, 8 << 20);
	assert_int_equal(c->release_delay_ms, 5000);
	assert_int_equal(c->shards, 2);
	assert_int_equal(c->nr_volumes, 2);
	assert_string_equal(c->volumes[0].name, "swap0");
	assert_int_equal(c->volumes[0].size, 4ull << 30);
	assert_int_equal(c->volumes[0].node, 0);
	assert_int_equal(c->volumes[0].store, ZPD_STORE_POOL);
	assert_string_equal(c->volumes[0].origin, ORIGIN ":26");
	assert_string_equal(c->volumes[1].name, "bench.null_1");
	assert_int_equal(c->volumes[1].size, 1ull << 40);
	assert_int_equal(c->volumes[1].node, -1);
	assert_int_equal(c->volumes[1].store, ZPD_STORE_NULL);
	assert_string_equal(c->volumes[1].origin, ORIGIN ":31");
	assert_int_equal(zpd_config_check(c, 1, f->err, sizeof(f->err)), 0);
}

/* Other spellings of the same values, and every name of every enum. */
static void test_values(void **state)
{
	struct fixture *f = *state;
	struct zpd_config *c = &f->cfg;
	static const char *const levels[] = {"err", "warning", "notice", "info",
					     "debug"};
	static const char *const hints[] = {"volume", "requester", "worker"};
	static const char *const yes[] = {"yes", "true", "on", "1", "YES"};
	static const char *const no[] = {"no", "false", "off", "0", "Off"};
	char text[256];

	for (size_t i = 0; i < ARRAY_SIZE(levels); i++) {
		snprintf(text, sizeof(text), "[daemon]\nlog_level = %s\n",
			 levels[i]);
		parse_ok(f, text);
		assert_int_equal(c->log_level, LOG_ERR + (int)i);
	}
	assert_int_equal(LOG_DEBUG, LOG_ERR + 4);
	for (size_t i = 0; i < ARRAY_SIZE(hints); i++) {
		snprintf(text, sizeof(text), "daemon.node_hint=%s", hints[i]);
		set_ok(f, text);
		assert_int_equal(c->node_hint, (int)i);
	}
	/* The pool's own names of its policies. */
	for (int p = 0; p < ZP_NUMA_NR_POLICIES; p++) {
		snprintf(text, sizeof(text), "pool.policy=%s",
			 zp_numa_policy_name(p));
		set_ok(f, text);
		assert_int_equal(c->policy, p);
	}
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		snprintf(text, sizeof(text), "daemon.splice=%s", yes[i]);
		set_ok(f, text);
		assert_true(c->splice);
		snprintf(text, sizeof(text), "daemon.splice=%s", no[i]);
		set_ok(f, text);
		assert_false(c->splice);
	}
	/* The edges of every range. */
	set_ok(f, "daemon.threads=1");
	set_ok(f, "daemon.threads=256");
	assert_int_equal(c->threads, 256);
	set_ok(f, "daemon.max_write=4K");
	set_ok(f, "daemon.max_write=1048576");
	assert_int_equal(c->max_write, 1 << 20);
	set_ok(f, "daemon.node_cache_ms=0");
	set_ok(f, "daemon.node_cache_ms=10000");
	set_ok(f, "daemon.oom_score_adj=1000");
	set_ok(f, "daemon.oom_score_adj=-1000");
	set_ok(f, "daemon.reserve=0");
	assert_int_equal(c->reserve, 0);
	set_ok(f, "daemon.reserve=64G");
	assert_int_equal(c->reserve, 64ull << 30);
	set_ok(f, "pool.max_zspage_pages=1");
	set_ok(f, "pool.max_zspage_pages=16");
	set_ok(f, "pool.chunk_bytes=64K");
	set_ok(f, "pool.chunk_bytes=1G");
	assert_int_equal(c->chunk_bytes, 1 << 30);
	set_ok(f, "pool.release_delay_ms=0");
	set_ok(f, "pool.release_delay_ms=3600000");
	set_ok(f, "pool.shards=16");
	set_ok(f, "volume.v.size=4K");
	assert_int_equal(c->volumes[0].size, 4096);
	set_ok(f, "volume.v.size=16T");
	assert_int_equal(c->volumes[0].size, ZPD_VOLUME_MAX_SIZE);
	set_ok(f, "volume.v.node=63");
	assert_int_equal(c->volumes[0].node, 63);
	set_ok(f, "volume.v.node=none");
	assert_int_equal(c->volumes[0].node, -1);
}

/* ------------------------------------------------------------------------ */
/* Syntax                                                                   */
/* ------------------------------------------------------------------------ */

static void test_quoting_and_comments(void **state)
{
	struct fixture *f = *state;
	struct zpd_config *c = &f->cfg;

	parse_ok(f, "; a comment\n"
		    "   # an indented comment\n"
		    "\n"
		    "  [daemon]   # comment after a header\n"
		    "\tthreads\t=\t8   # a trailing comment\n"
		    "mountpoint = \"/mnt/with space # and hash\"\n"
		    "[pool]\r\n"
		    "compressor=lz4hc\r\n");
	assert_int_equal(c->threads, 8);
	assert_string_equal(c->mountpoint, "/mnt/with space # and hash");
	assert_int_equal(c->compressor.backend, COMP_LZ4HC);
}

static void test_quoting(void **state)
{
	struct fixture *f = *state;
	struct zpd_config *c = &f->cfg;

	parse_ok(f,
		 "[daemon]\n"
		 "mountpoint = \"/a \\\"quoted\\\" \\\\ path\"  # comment\n");
	assert_string_equal(c->mountpoint, "/a \"quoted\" \\ path");

	/* A '#' not after a blank belongs to the value. */
	parse_ok(f, "[daemon]\nmountpoint = /mnt/a#b\n");
	assert_string_equal(c->mountpoint, "/mnt/a#b");
	/* An unquoted value keeps inner blanks and quotes. */
	parse_ok(f, "[daemon]\nmountpoint = /mnt/a b\"c  \n");
	assert_string_equal(c->mountpoint, "/mnt/a b\"c");
	/* Quotes around a plain value change nothing. */
	parse_ok(f, "[daemon]\nthreads = \"12\"\n");
	assert_int_equal(c->threads, 12);
	/* Blanks inside a header, a key without blanks around '='. */
	parse_ok(f, "[ volume   v1 ]\nsize=8K\n");
	assert_string_equal(c->volumes[c->nr_volumes - 1].name, "v1");
	/* No newline at the end. */
	parse_ok(f, "[pool]\nshards = 5");
	assert_int_equal(c->shards, 5);
}

static void test_comment_rules(void **state)
{
	struct fixture *f = *state;

	expect_error(f, "[pool]\nshards = 3 ; junk\n",
		     ORIGIN ":2:", "[pool] shards:", "bad number '3 ; junk'",
		     NULL);
	expect_error(f, "[pool]\nshards = # all comment\n",
		     ORIGIN ":2:", "[pool] shards:", "empty value", NULL);
	expect_error(f, "[pool]\nshards = \"\"\n", "empty value", NULL);
	expect_error(f, "[daemon]\nmountpoint = \"/a\" junk\n", ORIGIN ":2:",
		     "[daemon] mountpoint:", "junk after quoted value", NULL);
	expect_error(f, "[daemon]\nmountpoint = \"/a\"# no blank\n",
		     "junk after quoted value", NULL);
	expect_error(f, "[daemon]\nmountpoint = \"/a\n",
		     "unterminated quoted value", NULL);
	expect_error(f, "[daemon]\nmountpoint = \"/a\\\n",
		     "unterminated quoted value", NULL);
	expect_error(f, "[daemon]\nmountpoint = \"/a\\n\"\n",
		     ORIGIN ":2:", "bad escape '\\n'", NULL);
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

static void test_errors(void **state)
{
	struct fixture *f = *state;
	char allowed[512], text[8192];

	expect_error(f, "threads = 4\n", ORIGIN ":1:", "'threads'",
		     "before any section", NULL);
	expect_error(f, "# c\n\n[deamon]\n",
		     ORIGIN ":3:", "unknown section '[deamon]'",
		     "[daemon], [pool], [writeback] or "
		     "[volume NAME]",
		     NULL);
	expect_error(f, "[daemon\n",
		     ORIGIN ":1:", "unterminated section header", NULL);
	expect_error(f, "[daemon] x\n", ORIGIN ":1:", "junk after section",
		     NULL);
	expect_error(f, "[volume]\n", ORIGIN ":1:", "missing volume name",
		     NULL);
	expect_error(f, "[volume .hidden]\n",
		     ORIGIN ":1:", "bad volume name '.hidden'",
		     "not starting with '.'", NULL);
	expect_error(f, "[volume a/b]\n", "bad volume name 'a/b'", NULL);
	expect_error(f,
		     "[volume "
		     "a123456789012345678901234567890123456789012345678901234"
		     "567890123]\n",
		     "bad volume name", "1..63 characters", NULL);
	expect_error(f, "[daemon]\nthreds = 4\n",
		     ORIGIN ":2:", "[daemon] threds:", "unknown key", "threads",
		     NULL);
	expect_error(f, "[volume v]\nsize = 4G\nnodes = 1\n",
		     ORIGIN ":3:", "[volume v] nodes:", "unknown key",
		     "size, node or store", NULL);
	expect_error(f, "[pool]\nshards 4\n", ORIGIN ":2:", "[pool]",
		     "missing '='", NULL);
	expect_error(f, "[pool]\n= 4\n", ORIGIN ":2:", "missing key", NULL);
	expect_error(f, "[pool]\nshards =\n",
		     ORIGIN ":2:", "[pool] shards:", "empty value (0..16)",
		     NULL);
	expect_error(f, "[daemon]\nthreads = 4\n\nthreads = 5\n",
		     ORIGIN ":4:", "[daemon] threads:", "duplicate key",
		     "line 2", NULL);
	/* A repeated header is the same section. */
	expect_error(f, "[pool]\nshards = 1\n[daemon]\n[pool]\nshards = 2\n",
		     ORIGIN ":5:", "[pool] shards:", "line 2", NULL);
	expect_error(f, "[volume v]\nsize = 4K\nsize = 8K\n",
		     ORIGIN ":3:", "[volume v] size:", "duplicate key",
		     "line 2", NULL);
	expect_error(f, "[volume swap0]\nsize=1G\n\n[volume swap0]\n",
		     ORIGIN ":4:", "[volume swap0]", "defined twice",
		     ORIGIN ":1", NULL);

	/* Bad values of every type. */
	expect_error(f, "[volume swap0]\nsize = 12Q\n", ORIGIN ":2:",
		     ORIGIN ":2: [volume swap0] size: bad size '12Q' (bytes "
			    "with an optional K, M, G or T suffix)",
		     NULL);
	expect_error(f, "[volume v]\nsize = 5000\n", "[volume v] size:",
		     "size not aligned '5000' (a multiple of 4K", NULL);
	expect_error(f, "[volume v]\nsize = 32T\n", "size out of range '32T'",
		     "4K to 16T", NULL);
	expect_error(f, "[volume v]\nsize = 0\n", "out of range", NULL);
	expect_error(f, "[volume v]\nnode = 64\n",
		     "[volume v] node:", "bad node '64'", "0..63 or none",
		     NULL);
	expect_error(f, "[volume v]\nnode = -1\n", "bad node '-1'", NULL);
	expect_error(f, "[volume v]\nstore = disk\n",
		     "[volume v] store:", "unknown value 'disk'",
		     "pool or null", NULL);
	expect_error(f, "[daemon]\nmountpoint = run/zp\n",
		     "[daemon] mountpoint:", "relative path 'run/zp'", NULL);
	expect_error(f, "[daemon]\nthreads = 0\n",
		     "[daemon] threads:", "number out of range '0' (1..256)",
		     NULL);
	expect_error(f, "[daemon]\nthreads = 257\n", "(1..256)", NULL);
	expect_error(f, "[daemon]\nthreads = 4x\n", "bad number '4x'", NULL);
	expect_error(f, "[daemon]\nthreads = +4\n", "bad number '+4'", NULL);
	expect_error(f, "[daemon]\nthreads = 0x10\n", "bad number", NULL);
	expect_error(f, "[daemon]\nthreads = 99999999999999999999\n",
		     "bad number", NULL);
	expect_error(f, "[daemon]\nsplice = maybe\n",
		     "[daemon] splice:", "bad boolean 'maybe'",
		     "yes/no, true/false, on/off or 1/0", NULL);
	expect_error(f, "[daemon]\nmax_write = 12K\n",
		     "[daemon] max_write:", "size not a power of two '12K'",
		     "(a power of two from 4K to 1M)", NULL);
	expect_error(f, "[daemon]\nmax_write = 2M\n", "out of range", NULL);
	expect_error(f, "[daemon]\nnode_hint = cpu\n",
		     "[daemon] node_hint:", "volume, requester or worker",
		     NULL);
	expect_error(f, "[daemon]\nnode_cache_ms = 10001\n", "0..10000", NULL);
	expect_error(f, "[daemon]\npoll_us = 20000\n", "[daemon] poll_us:",
		     "0..10000", NULL);
	expect_error(f, "[daemon]\npoll_us = -1\n", "[daemon] poll_us:", NULL);
	expect_error(f, "[daemon]\noom_score_adj = -1001\n", "-1000..1000",
		     NULL);
	expect_error(f, "[daemon]\nreserve = 65G\n",
		     "[daemon] reserve:", "0..64G", NULL);
	expect_error(f, "[daemon]\nlog_level = warn\n", "[daemon] log_level:",
		     "err, warning, notice, info or debug", NULL);
	expect_error(f, "[pool]\npolicy = near\n",
		     "[pool] policy:", "preferred, strict, local or interleave",
		     NULL);
	expect_error(f, "[pool]\nmax_zspage_pages = 17\n", "1..16", NULL);
	expect_error(f, "[pool]\nchunk_bytes = 96K\n", "[pool] chunk_bytes:",
		     "size not aligned '96K' (a multiple of 64K", NULL);
	expect_error(f, "[pool]\nchunk_bytes = 2G\n", "out of range",
		     "64K to 1G", NULL);
	expect_error(f, "[pool]\nrelease_delay_ms = 3600001\n", "0..3600000",
		     NULL);
	expect_error(f, "[pool]\nshards = 17\n", "0..16", NULL);

	/* The compressor's message is the compressor module's own. */
	assert_int_equal(comp_spec_parse("lzo", &(struct comp_spec){0}, allowed,
					 sizeof(allowed)),
			 -EINVAL);
	expect_error(f, "[pool]\ncompressor = lzo\n", ORIGIN ":2:",
		     "[pool] compressor:", "unknown compressor 'lzo'", allowed,
		     NULL);
	expect_error(f, "[pool]\ncompressor = lz4:0\n",
		     "[pool] compressor:", "lz4", NULL);

	/* Lines up to 4096 bytes, newline not counted. */
	snprintf(text, sizeof(text), "[daemon]\nmountpoint = /%0*d\n",
		 4096 - 14, 0);
	zpd_config_defaults(&f->cfg);
	parse_ok(f, text);
	assert_int_equal(strlen(f->cfg.mountpoint), 4096 - 13);
	snprintf(text, sizeof(text), "[daemon]\nmountpoint = /%0*d\n",
		 4096 - 13, 0);
	expect_error(f, text, ORIGIN ":2:", "line too long",
		     "at most 4096 bytes", NULL);
}

static void test_too_many_volumes(void **state)
{
	struct fixture *f = *state;
	size_t len = 0, cap = 64 * (ZPD_MAX_VOLUMES + 1);
	char *text = malloc(cap);

	assert_non_null(text);
	for (int i = 0; i < ZPD_MAX_VOLUMES; i++)
		len += (size_t)snprintf(text + len, cap - len,
					"[volume v%d]\nsize = 1M\n", i);
	parse_ok(f, text);
	assert_int_equal(f->cfg.nr_volumes, ZPD_MAX_VOLUMES);
	assert_int_equal(zpd_config_check(&f->cfg, 1, f->err, sizeof(f->err)),
			 0);
	snprintf(text + len, cap - len, "[volume one_more]\n");
	expect_error(f, text, ORIGIN ":129:", "too many volumes", "at most 64",
		     NULL);
	/* The command line has the same limit. */
	zpd_config_defaults(&f->cfg);
	text[len] = '\0';
	parse_ok(f, text);
	expect_set_error(f, "volume.one_more.size=1M", "too many volumes");
	free(text);
}

/* ------------------------------------------------------------------------ */
/* Sizes                                                                    */
/* ------------------------------------------------------------------------ */

static void test_sizes(void **state)
{
	static const struct {
		const char *text;
		uint64_t value;
	} good[] = {
		{"0", 0},
		{"4096", 4096},
		{"4K", 4096},
		{"4k", 4096},
		{"4KiB", 4096},
		{"4kib", 4096},
		{"1M", 1 << 20},
		{"1MiB", 1 << 20},
		{"2G", 2ull << 30},
		{"1T", 1ull << 40},
		{"512B", 512},
		{"512b", 512},
		{"007K", 7 << 10},
		{"16777215T", 16777215ull << 40},
		{"18446744073709551615", UINT64_MAX},
	};
	static const char *const bad[] = {
		"",	     "-1",
		"+1",	     " 1",
		"1 ",	     "1.5G",
		"1,5G",	     "K",
		"1Q",	     "1KB",
		"1Ki",	     "1KiBs",
		"1 K",	     "0x10",
		"1e3",	     "18446744073709551616",
		"16777216T", "99999999999999999999999",
		"1GG",
	};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		v = 1;
		if (zpd_parse_size(good[i].text, &v))
			fail_msg("size '%s' refused", good[i].text);
		assert_int_equal(v, good[i].value);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		v = 12345;
		if (zpd_parse_size(bad[i], &v) != -EINVAL)
			fail_msg("size '%s' taken", bad[i]);
		assert_int_equal(v, 12345);
	}
}

/* ------------------------------------------------------------------------ */
/* Command line                                                             */
/* ------------------------------------------------------------------------ */

static void test_set(void **state)
{
	struct fixture *f = *state;
	struct zpd_config *c = &f->cfg;
	const char *path = fx_file(f, "conf", full_file, strlen(full_file));

	assert_int_equal(zpd_config_load(c, path, f->err, sizeof(f->err)), 0);
	/* Overrides after the file win. */
	set_ok(f, "daemon.threads=8");
	assert_int_equal(c->threads, 8);
	set_ok(f, "pool.compressor=lz4:3");
	assert_int_equal(c->compressor.backend, COMP_LZ4);
	assert_int_equal(c->compressor.level, 3);
	if (comp_backend_available(COMP_ZSTD)) {
		set_ok(f, "pool.compressor=zstd:3");
		assert_int_equal(c->compressor.backend, COMP_ZSTD);
		assert_int_equal(c->compressor.level, 3);
	}
	set_ok(f, "volume.swap0.size=1G");
	assert_int_equal(c->nr_volumes, 2);
	assert_int_equal(c->volumes[0].size, 1 << 30);
	/* Set twice: the last wins, no duplicate error. */
	set_ok(f, "daemon.threads=9");
	set_ok(f, " daemon.threads = 10 ");
	assert_int_equal(c->threads, 10);
	/* The value is taken as it is: '#' and quotes are no syntax here. */
	set_ok(f, "daemon.mountpoint=/mnt/a #b");
	assert_string_equal(c->mountpoint, "/mnt/a #b");
	/* A new volume; names may hold dots, the key follows the last. */
	set_ok(f, "volume.swap.1.size=2G");
	assert_int_equal(c->nr_volumes, 3);
	assert_string_equal(c->volumes[2].name, "swap.1");
	assert_int_equal(c->volumes[2].size, 2ull << 30);
	assert_int_equal(c->volumes[2].node, -1);
	assert_int_equal(c->volumes[2].store, ZPD_STORE_POOL);
	assert_string_equal(c->volumes[2].origin,
			    "command line: -o volume.swap.1.size=2G");
	set_ok(f, "volume.swap.1.node=0");
	assert_int_equal(c->nr_volumes, 3);
	assert_int_equal(c->volumes[2].node, 0);
	assert_int_equal(zpd_config_check(c, 1, f->err, sizeof(f->err)), 0);

	/* A volume made on the command line without a size. */
	set_ok(f, "volume.nosize.store=null");
	assert_int_equal(zpd_config_check(c, 1, f->err, sizeof(f->err)),
			 -EINVAL);
	assert_has(f->err, "[volume nosize] (command line: -o "
			   "volume.nosize.store=null): no size");
}

static void test_set_errors(void **state)
{
	struct fixture *f = *state;

	expect_set_error(f, "daemon.threads", "missing '='");
	expect_set_error(f, "threads=4", "missing section");
	expect_set_error(f, "demon.threads=4", "unknown section 'demon'");
	expect_set_error(f, "daemon.threds=4", "unknown key 'threds'");
	expect_set_error(f, "daemon.threads.x=4", "unknown key");
	expect_set_error(f, "daemon.threads=", "empty value (1..256)");
	expect_set_error(f, "daemon.threads=0",
			 "number out of range '0' (1..256)");
	expect_set_error(f, "pool.compressor=lzo", "unknown compressor 'lzo'");
	expect_set_error(f, "volume.size=1G", "missing volume name");
	expect_set_error(f, "volume..size=1G", "bad volume name ''");
	expect_set_error(f, "volume.-x/y.size=1G", "bad volume name '-x/y'");
	/* A failed assignment does not leave the volume it named behind. */
	expect_set_error(f, "volume.new.size=12Q", "bad size '12Q'");
	expect_set_error(f, "volume.new.sise=1G", "unknown key 'sise'");
	assert_int_equal(f->cfg.nr_volumes, 0);
	set_ok(f, "volume.old.size=1G");
	expect_set_error(f, "volume.old.size=1Q", "bad size '1Q'");
	assert_int_equal(f->cfg.nr_volumes, 1);
	assert_int_equal(f->cfg.volumes[0].size, 1 << 30);
}

/* ------------------------------------------------------------------------ */
/* Whole-configuration checks                                               */
/* ------------------------------------------------------------------------ */

static void test_check(void **state)
{
	struct fixture *f = *state;
	struct zpd_config *c = &f->cfg;

	parse_ok(f, "[volume swap0]\nnode = 3\n");
	assert_int_equal(zpd_config_check(c, 4, f->err, sizeof(f->err)),
			 -EINVAL);
	assert_has(f->err, "[volume swap0] (" ORIGIN ":1): no size");

	set_ok(f, "volume.swap0.size=1G");
	assert_int_equal(zpd_config_check(c, 4, f->err, sizeof(f->err)), 0);
	assert_int_equal(zpd_config_check(c, 1, f->err, sizeof(f->err)),
			 -EINVAL);
	assert_has(f->err, "[volume swap0] (" ORIGIN ":1): node 3 does not "
			   "exist (this machine has nodes 0..0)");
	assert_int_equal(zpd_config_check(c, 3, f->err, sizeof(f->err)),
			 -EINVAL);
	assert_has(f->err, "nodes 0..2");

	/* What a file cannot express but a caller might have filled in. */
	set_ok(f, "volume.swap0.node=none");
	strcpy(c->mountpoint, "relative");
	assert_int_equal(zpd_config_check(c, 1, f->err, sizeof(f->err)),
			 -EINVAL);
	assert_has(f->err, "[daemon] mountpoint:");
	assert_has(f->err, "'relative'");
	strcpy(c->mountpoint, "/ok");
	c->volumes[1] = c->volumes[0];
	strcpy(c->volumes[1].origin, "elsewhere:9");
	c->nr_volumes = 2;
	assert_int_equal(zpd_config_check(c, 1, f->err, sizeof(f->err)),
			 -EINVAL);
	assert_has(f->err, "[volume swap0] (elsewhere:9)");
	assert_has(f->err, ORIGIN ":1");
	/* No buffer for the message is fine. */
	assert_int_equal(zpd_config_check(c, 1, NULL, 0), -EINVAL);
}

/* ------------------------------------------------------------------------ */
/* Dump, help, files                                                        */
/* ------------------------------------------------------------------------ */

static char *dump(const struct zpd_config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	assert_non_null(fp);
	zpd_config_dump(cfg, fp);
	assert_int_equal(fclose(fp), 0);
	return text;
}

static void zero_origins(struct zpd_config *cfg)
{
	for (size_t i = 0; i < ARRAY_SIZE(cfg->volumes); i++)
		memset(cfg->volumes[i].origin, 0,
		       sizeof(cfg->volumes[i].origin));
}

/* Dump cfg, parse the dump on top of the defaults: the same struct. */
static void check_roundtrip(struct fixture *f)
{
	char *text = dump(&f->cfg);
	int ret;

	zpd_config_defaults(&f->other);
	ret = zpd_config_parse(&f->other, text, "dump", f->err, sizeof(f->err));
	if (ret)
		fail_msg("cannot parse the dump: %s\n%s", f->err, text);
	zero_origins(&f->cfg);
	zero_origins(&f->other);
	assert_memory_equal(&f->cfg, &f->other, sizeof(f->cfg));
	free(text);
}

static void test_roundtrip(void **state)
{
	struct fixture *f = *state;
	char *text;

	check_roundtrip(f);

	parse_ok(f, full_file);
	check_roundtrip(f);

	/* Paths that need quoting, sizes that no suffix divides. */
	zpd_config_defaults(&f->cfg);
	set_ok(f, "daemon.mountpoint=/mnt/a \"b\" \\c #d;e");
	set_ok(f, "daemon.reserve=12345");
	set_ok(f, "daemon.log_level=err");
	set_ok(f, "pool.compressor=lz4:17");
	set_ok(f, "volume.v.size=3M");
	set_ok(f, "volume.v.node=63");
	set_ok(f, "volume.x.y.z.size=1028K");
	check_roundtrip(f);

	/* Defaults dump every key, and a volume without size stays so. */
	zpd_config_defaults(&f->cfg);
	set_ok(f, "volume.nosize.store=null");
	text = dump(&f->cfg);
	assert_has(text, "[daemon]\n");
	assert_has(text, "mountpoint = /run/zpoold/volumes\n");
	assert_has(text, "control_socket = /run/zpoold/control.sock\n");
	assert_has(text, "control_group = \"\"\n");
	assert_has(text, "threads = 4\n");
	assert_has(text, "max_write = 1M\n");
	assert_has(text, "reserve = 16M\n");
	assert_has(text, "oom_score_adj = -1000\n");
	assert_has(text, "[pool]\n");
	assert_has(text, "compressor = lz4:1\n");
	assert_has(text, "[volume nosize]\n");
	assert_has(text, "store = null\n");
	free(text);
	check_roundtrip(f);
	assert_int_equal(f->other.volumes[0].size, 0);
}

/* The control socket's keys, and what `zpoolctl get` and `set` use. */
static void test_control_keys(void **state)
{
	struct fixture *f = *state;
	struct zpd_config *c = &f->cfg;
	char value[64];

	zpd_config_defaults(c);
	parse_ok(f, "[daemon]\ncontrol_socket =\ncontrol_group = adm\n");
	assert_string_equal(c->control_socket, "");
	assert_string_equal(c->control_group, "adm");
	/* No socket: nothing to hide under the mount point. */
	assert_int_equal(zpd_config_check(c, 1, f->err, sizeof(f->err)), 0);
	expect_error(f, "[daemon]\ncontrol_group = a b\n", ORIGIN ":2:",
		     "control_group", "bad name 'a b'", "letters, digits", NULL);
	expect_error(f, "[daemon]\ncontrol_group = a/b\n", "bad name", NULL);
	expect_error(f, "[daemon]\ncontrol_timeout = 0\n", "1..3600", NULL);
	expect_error(f, "[daemon]\ncontrol_socket = rel.sock\n",
		     "relative path", NULL);

	/* The socket may not be where the mount would hide it. */
	zpd_config_defaults(c);
	set_ok(f, "daemon.mountpoint=/run/zpoold");
	assert_int_equal(zpd_config_check(c, 1, f->err, sizeof(f->err)),
			 -EINVAL);
	assert_has(f->err, "control_socket");
	assert_has(f->err, "under the mount point '/run/zpoold'");
	set_ok(f, "daemon.mountpoint=/run/zpoold/");
	assert_int_equal(zpd_config_check(c, 1, f->err, sizeof(f->err)),
			 -EINVAL);
	set_ok(f, "daemon.mountpoint=/run/zpool");
	assert_int_equal(zpd_config_check(c, 1, f->err, sizeof(f->err)), 0);
	set_ok(f, "daemon.mountpoint=/");
	assert_int_equal(zpd_config_check(c, 1, f->err, sizeof(f->err)),
			 -EINVAL);

	/* get: a key's value as the file writes it. */
	zpd_config_defaults(c);
	assert_int_equal(zpd_config_get(c, "pool.max_pool_percent", value,
					sizeof(value)),
			 0);
	assert_string_equal(value, "20");
	assert_int_equal(zpd_config_get(c, "pool.compressor", value,
					sizeof(value)),
			 0);
	assert_string_equal(value, "lz4:1");
	assert_int_equal(zpd_config_get(c, "writeback.idle_seconds", value,
					sizeof(value)),
			 0);
	assert_string_equal(value, "0");
	assert_int_equal(zpd_config_get(c, "pool.nosuch", value,
					sizeof(value)),
			 -ENOENT);
	assert_int_equal(zpd_config_get(c, "max_pool_percent", value,
					sizeof(value)),
			 -ENOENT);
	assert_int_equal(zpd_config_get(c, "volume.size", value,
					sizeof(value)),
			 -ENOENT);

	/* assign: set's parser with its own origin in messages. */
	assert_int_equal(zpd_config_assign(c, "pool.max_pool_percent=30",
					   "set max_pool_percent=30", f->err,
					   sizeof(f->err)),
			 0);
	assert_int_equal(c->max_pool_percent, 30);
	assert_int_equal(zpd_config_assign(c, "pool.max_pool_percent=300",
					   "set max_pool_percent=300", f->err,
					   sizeof(f->err)),
			 -EINVAL);
	assert_has(f->err, "set max_pool_percent=300");
	assert_has(f->err, "1..100");
	assert_true(strstr(f->err, "command line") == NULL);
	assert_int_equal(c->max_pool_percent, 30);
}

/* The pool's limit and the [writeback] section. */
static void test_writeback_keys(void **state)
{
	struct fixture *f = *state;
	struct zpd_config *c = &f->cfg;
	char *text;

	zpd_config_defaults(c);
	assert_int_equal(c->max_pool_percent, 20);
	assert_int_equal(c->max_pool_size, 0);
	assert_int_equal(c->accept_threshold_percent, 90);
	assert_int_equal(c->max_node_size, 0);
	assert_int_equal(c->node_reserve, 0);
	assert_string_equal(c->wb_file, "");
	assert_int_equal(c->wb_size, 1ull << 30);
	assert_int_equal(c->wb_batch_pages, 256);
	assert_int_equal(c->idle_seconds, 0);
	assert_int_equal(c->psi_stall_ms, 200);
	assert_int_equal(c->psi_window_ms, 2000);
	assert_int_equal(c->psi_shrink_percent, 10);

	parse_ok(f, "[pool]\nmax_pool_size = 64M\naccept_threshold_percent = 50\n"
		    "max_node_size = 8M\nnode_reserve = 64M\n"
		    "[writeback]\nfile = /var/lib/zpoold/wb\nsize = 2G\n"
		    "batch_pages = 128\nidle_seconds = 600\n"
		    "psi_stall_ms = 0\n");
	assert_int_equal(c->max_pool_size, 64ull << 20);
	assert_int_equal(c->accept_threshold_percent, 50);
	assert_int_equal(c->max_node_size, 8ull << 20);
	assert_int_equal(c->node_reserve, 64ull << 20);
	assert_string_equal(c->wb_file, "/var/lib/zpoold/wb");
	assert_int_equal(c->wb_size, 2ull << 30);
	assert_int_equal(c->wb_batch_pages, 128);
	assert_int_equal(c->idle_seconds, 600);
	assert_int_equal(c->psi_stall_ms, 0);
	text = dump(c);
	assert_has(text, "[writeback]\nfile = /var/lib/zpoold/wb\n");
	assert_has(text, "\nnode_reserve = 64M\n");
	free(text);
	check_roundtrip(f);

	/* Empty means none, in a file and on the command line. */
	parse_ok(f, "[writeback]\nfile =\n");
	assert_string_equal(c->wb_file, "");
	set_ok(f, "writeback.file=/dev/vdb");
	assert_string_equal(c->wb_file, "/dev/vdb");
	set_ok(f, "writeback.file=");
	assert_string_equal(c->wb_file, "");
	set_ok(f, "pool.max_pool_percent=5");
	assert_int_equal(c->max_pool_percent, 5);

	expect_error(f, "[writeback]\nfile = relative\n", ORIGIN ":2:",
		     "[writeback] file:", "relative path",
		     "an absolute path, or empty for none", NULL);
	expect_error(f, "[writeback]\nsize = 1000\n", ORIGIN ":2:",
		     "[writeback] size:", "not aligned", NULL);
	expect_error(f, "[writeback]\nbatch_pages = 0\n", "1..1024", NULL);
	expect_error(f, "[pool]\nmax_pool_percent = 0\n", "1..100", NULL);
	expect_error(f, "[pool]\naccept_threshold_percent = 101\n",
		     "0..100", NULL);
	expect_error(f, "[writeback]\npsi_window_ms = 100\n", "500..10000",
		     NULL);
	expect_error(f, "[writeback]\nlimit = 1\n", ORIGIN ":2:",
		     "unknown key", "psi_stall_ms", NULL);
	zpd_config_defaults(c);
	expect_set_error(f, "writeback.batch_pages=2000", "1..1024");

	/* node_reserve: whole pages from 0 to 1024T, as max_node_size. */
	parse_ok(f, "[pool]\nnode_reserve = 4096\n");
	assert_int_equal(c->node_reserve, 4096);
	parse_ok(f, "[pool]\nnode_reserve = 0\n");
	assert_int_equal(c->node_reserve, 0);
	set_ok(f, "pool.node_reserve=1G");
	assert_int_equal(c->node_reserve, 1ull << 30);
	expect_error(f, "[pool]\nnode_reserve = 6000\n", ORIGIN ":2:",
		     "[pool] node_reserve:",
		     "size not aligned '6000' (a multiple of 4K", NULL);
	expect_error(f, "[pool]\nnode_reserve = 1025T\n",
		     "[pool] node_reserve:", "size out of range '1025T'",
		     "0 to 1024T", NULL);
	expect_error(f, "[pool]\nnode_reserve = -4K\n", ORIGIN ":2:",
		     "[pool] node_reserve:", "bad size '-4K'", NULL);
	expect_error(f, "[pool]\nnode_reserve = lots\n",
		     "[pool] node_reserve:",
		     "bad size 'lots' (bytes with an optional K, M, G or T "
		     "suffix)",
		     NULL);
	zpd_config_defaults(c);
	expect_set_error(f, "pool.node_reserve=1000", "not aligned '1000'");
	expect_set_error(f, "pool.node_reserve=-1", "bad size '-1'");

	/* A stall longer than its window is for the whole-file check. */
	zpd_config_defaults(c);
	set_ok(f, "writeback.psi_stall_ms=3000");
	assert_int_equal(zpd_config_check(c, 1, f->err, sizeof(f->err)),
			 -EINVAL);
	assert_has(f->err, "[writeback] psi_stall_ms: 3000 is longer than "
			   "psi_window_ms (2000)");
	set_ok(f, "writeback.psi_window_ms=4000");
	assert_int_equal(zpd_config_check(c, 1, f->err, sizeof(f->err)), 0);
}

static void test_help(void **state)
{
	static const char *const entries[] = {
		"[daemon] mountpoint = /run/zpoold/volumes\n    ",
		"[daemon] threads = 4\n    ",
		"[daemon] poll_us = 50\n    ",
		"[daemon] splice = no\n    ",
		"[daemon] max_write = 1M\n    ",
		"[daemon] node_hint = volume\n    ",
		"[daemon] node_cache_ms = 100\n    ",
		"[daemon] oom_score_adj = -1000\n    ",
		"[daemon] swapoff_on_stop = no\n    ",
		"[daemon] reserve = 16M\n    ",
		"[daemon] log_level = info\n    ",
		"[daemon] control_socket = /run/zpoold/control.sock\n    ",
		"[daemon] control_group = \"\"\n    ",
		"[daemon] control_timeout = 10\n    ",
		"[pool] compressor = lz4\n    ",
		"[pool] policy = preferred\n    ",
		"[pool] max_zspage_pages = 8\n    ",
		"[pool] chunk_bytes = 4M\n    ",
		"[pool] release_delay_ms = 1000\n    ",
		"[pool] shards = 0\n    ",
		"[pool] max_pool_percent = 20\n    ",
		"[pool] max_pool_size = 0\n    ",
		"[pool] accept_threshold_percent = 90\n    ",
		"[pool] max_node_size = 0\n    ",
		"[pool] node_reserve = 0\n    ",
		"[writeback] file = \"\"\n    ",
		"[writeback] size = 1G\n    ",
		"[writeback] batch_pages = 256\n    ",
		"[writeback] victims = lru\n    ",
		"[writeback] idle_seconds = 0\n    ",
		"[writeback] psi_stall_ms = 200\n    ",
		"[writeback] psi_window_ms = 2000\n    ",
		"[writeback] psi_shrink_percent = 10\n    ",
		"[volume NAME] size = (required)\n    ",
		"[volume NAME] node = none\n    ",
		"[volume NAME] store = pool\n    ",
	};
	char *text = NULL, *line;
	size_t len = 0, headers = 0;
	FILE *fp = open_memstream(&text, &len);

	(void)state;
	assert_non_null(fp);
	zpd_config_help(fp);
	assert_int_equal(fclose(fp), 0);
	for (size_t i = 0; i < ARRAY_SIZE(entries); i++)
		assert_has(text, entries[i]);
	/* Nothing beyond these keys, and each has its allowed values. */
	for (line = text; *line; line = strchr(line, '\n') + 1)
		headers += line[0] == '[';
	assert_int_equal(headers, ARRAY_SIZE(entries));
	assert_has(text, "(1..256)");
	assert_has(text, "(yes/no, true/false, on/off or 1/0)");
	assert_has(text, "volume, requester or worker");
	assert_has(text, "err, warning, notice, info or debug");
	assert_has(text, "preferred, strict, local or interleave");
	assert_has(text, "a multiple of 4K from 4K to 16T");
	assert_has(text, "a node id 0..63 or none");
	assert_has(text, "pool or null");
	assert_has(text, "lru or zspage");
	free(text);
}

static void test_load(void **state)
{
	struct fixture *f = *state;
	char missing[160], expect[256];
	static const char nul[] = "[pool]\nshards = 1\0\n";
	const char *path;

	/* Missing: -ENOENT and a message the caller may print or ignore. */
	snprintf(missing, sizeof(missing), "%s/missing.conf", f->dir);
	assert_int_equal(
		zpd_config_load(&f->cfg, missing, f->err, sizeof(f->err)),
		-ENOENT);
	snprintf(expect, sizeof(expect),
		 "cannot open config file '%s': No such file or directory",
		 missing);
	assert_string_equal(f->err, expect);

	/* A directory. */
	snprintf(f->path, sizeof(f->path), "%s/sub", f->dir);
	assert_int_equal(mkdir(f->path, 0700), 0);
	assert_int_equal(
		zpd_config_load(&f->cfg, f->path, f->err, sizeof(f->err)),
		-EISDIR);
	assert_has(f->err, "cannot open config file '");
	assert_has(f->err, "/sub': Is a directory");

	/* Empty: valid, nothing changes. */
	zpd_config_defaults(&f->other);
	path = fx_file(f, "empty", "", 0);
	assert_int_equal(zpd_config_load(&f->cfg, path, f->err, sizeof(f->err)),
			 0);
	assert_string_equal(f->err, "");
	assert_memory_equal(&f->cfg, &f->other, sizeof(f->cfg));

	/* A NUL byte in a line. */
	path = fx_file(f, "nul", nul, sizeof(nul) - 1);
	assert_int_equal(zpd_config_load(&f->cfg, path, f->err, sizeof(f->err)),
			 -EINVAL);
	assert_has(f->err, "/nul:2: NUL byte");

	/* A good file, its errors named by its path. */
	path = fx_file(f, "conf", full_file, strlen(full_file));
	assert_int_equal(zpd_config_load(&f->cfg, path, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(f->cfg.nr_volumes, 2);
	snprintf(expect, sizeof(expect), "%s:26", path);
	assert_string_equal(f->cfg.volumes[0].origin, expect);
	/* Loaded twice, its volumes are defined twice. */
	assert_int_equal(zpd_config_load(&f->cfg, path, f->err, sizeof(f->err)),
			 -EINVAL);
	snprintf(expect, sizeof(expect),
		 "%s:26: [volume swap0]: volume defined twice (first at %s:26)",
		 path, path);
	assert_string_equal(f->err, expect);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quoting_and_comments,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_quoting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_comment_rules, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writeback_keys, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_too_many_volumes, setup,
						teardown),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test_setup_teardown(test_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_keys, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip, setup,
						teardown),
		cmocka_unit_test(test_help),
		cmocka_unit_test_setup_teardown(test_load, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
