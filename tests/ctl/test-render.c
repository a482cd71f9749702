/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-render.c - zpoolctl's pieces that need no daemon: replies read from
 * a socketpair (whole, errors, cut short, too long, late), the request
 * line it sends, sizes for people, the JSON form and the tables.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl/ctl.h"
#include "tests/check.h"

struct fixture {
	struct ctl_conn c;
	int peer;
	struct ctl_reply r;
	char err[512];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int sv[2];

	if (!f || socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return -1;
	f->c.fd = sv[0];
	f->c.timeout = 5;
	f->peer = sv[1];
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ctl_reply_free(&f->r);
	ctl_close(&f->c);
	if (f->peer >= 0)
		close(f->peer);
	free(f);
	return 0;
}

/* What the daemon would send. */
static void daemon_says(struct fixture *f, const char *text)
{
	assert_int_equal(write(f->peer, text, strlen(text)),
			 (ssize_t)strlen(text));
}

static char *render(void (*fn)(FILE *, const struct ctl_reply *, bool),
		    const struct ctl_reply *r, bool bytes)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	fn(out, r, bytes);
	assert_int_equal(fclose(out), 0);
	return text;
}

static void print_json(FILE *out, const struct ctl_reply *r, bool bytes)
{
	(void)bytes;
	ctl_print_json(out, r);
}

static void print_records(FILE *out, const struct ctl_reply *r, bool bytes)
{
	(void)bytes;
	ctl_print_records(out, r);
}

static void test_human(void **state)
{
	static const struct {
		uint64_t v;
		const char *text;
	} cases[] = {
		{ 0, "0B" },
		{ 1023, "1023B" },
		{ 4096, "4K" },
		{ 1536 * 1024, "1.5M" },
		{ 1ull << 30, "1G" },
		{ 13 * (1ull << 40) / 10, "1.3T" },
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < ZP_ARRAY_SIZE(cases); i++) {
		ctl_human(cases[i].v, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].text);
	}
}

/* A request goes out as one line; its reply comes back parsed. */
static void test_request(void **state)
{
	struct fixture *f = *state;
	static const char *const words[] = { "stats", "classes" };
	char sent[128];
	ssize_t n;

	daemon_says(f, "zpoold/1 ok\npool.pages 12\nvolume.a.b.size 4096\n"
		       "compressor.algorithm lz4:1\nempty \n.\n");
	assert_int_equal(ctl_request(&f->c, words, 2, &f->r, f->err,
				     sizeof(f->err)),
			 0);
	n = read(f->peer, sent, sizeof(sent) - 1);
	assert_true(n > 0);
	sent[n] = '\0';
	assert_string_equal(sent, "zpoold/1 stats classes\n");
	check_eq(f->r.code, 0);
	check_eq(f->r.n, 4);
	assert_string_equal(ctl_find(&f->r, "volume.a.b.size"), "4096");
	check_eq(ctl_num(&f->r, "pool.pages"), 12);
	assert_string_equal(ctl_find(&f->r, "compressor.algorithm"), "lz4:1");
	assert_string_equal(ctl_find(&f->r, "empty"), "");
	assert_null(ctl_find(&f->r, "pool"));
	check_eq(ctl_num(&f->r, "missing"), 0);

	/* The next reply on the same connection. */
	ctl_reply_free(&f->r);
	daemon_says(f, "zpoold/1 error busy volume 'a' is attached to "
		       "/dev/loop0\n.\n");
	assert_int_equal(ctl_read_reply(&f->c, &f->r, f->err, sizeof(f->err)),
			 0);
	check_eq(f->r.code, ZP_ERR_BUSY);
	assert_string_equal(f->r.message,
			    "volume 'a' is attached to /dev/loop0");
	check_eq(f->r.n, 0);
}

static void expect_broken(struct fixture *f, const char *text, int err,
			  const char *why)
{
	if (text)
		daemon_says(f, text);
	assert_int_equal(ctl_read_reply(&f->c, &f->r, f->err, sizeof(f->err)),
			 err);
	assert_has(f->err, why);
	check_eq(f->r.n, 0);
}

static void test_broken(void **state)
{
	struct fixture *f = *state;

	expect_broken(f, "HTTP/1.0 200 OK\n", -EPROTO, "breaks the protocol");
	expect_broken(f, "zpoold/1 error nosuchcode x\n", -EPROTO,
		      "breaks the protocol");
	expect_broken(f, "zpoold/1 ok\n.starts with a dot\n", -EPROTO,
		      "breaks the protocol");
	expect_broken(f, "zpoold/1 ok\nnovalue\n", -EPROTO,
		      "breaks the protocol");
}

static void test_too_long(void **state)
{
	struct fixture *f = *state;
	char *line = malloc(ZP_PROTO_LINE_MAX + 16);

	assert_non_null(line);
	memset(line, 'a', ZP_PROTO_LINE_MAX + 15);
	line[ZP_PROTO_LINE_MAX + 15] = '\0';
	daemon_says(f, "zpoold/1 ok\nx ");
	daemon_says(f, line);
	free(line);
	expect_broken(f, NULL, -EPROTO, "breaks the protocol");
}

static void test_cut_short(void **state)
{
	struct fixture *f = *state;

	daemon_says(f, "zpoold/1 ok\npool.pages 12\n");
	close(f->peer);
	f->peer = -1;
	expect_broken(f, NULL, -EPIPE, "closed the connection");
}

static void test_late(void **state)
{
	struct fixture *f = *state;

	f->c.timeout = 0.2;
	daemon_says(f, "zpoold/1 ok\npool.pages 12\n");
	expect_broken(f, NULL, -ETIMEDOUT, "no reply in time");
}

/* Parse text as a reply into f->r. */
static void reply_of(struct fixture *f, const char *text)
{
	daemon_says(f, text);
	assert_int_equal(ctl_read_reply(&f->c, &f->r, f->err, sizeof(f->err)),
			 0);
}

static void test_json(void **state)
{
	struct fixture *f = *state;
	char *text;

	reply_of(f, "zpoold/1 ok\n"
		    "written_back_pages 3\n"
		    "pool.pages 12\n"
		    "node0.lru_length 5\n"
		    "volume.swap.0.size 4096\n"
		    "volume.swap.0.loop /dev/loop0\n"
		    "volume.b.node -1\n"
		    "class.12.size 224\n"
		    "pool.policy preferred\n"
		    "odd say \"hi\"\\\n"
		    "big 99999999999999999999999\n"
		    ".\n");
	text = render(print_json, &f->r, false);
	assert_string_equal(text,
			    "{\n"
			    "  \"version\": 1,\n"
			    "  \"written_back_pages\": 3,\n"
			    "  \"pool\": {\n"
			    "    \"pages\": 12,\n"
			    "    \"policy\": \"preferred\"\n"
			    "  },\n"
			    "  \"node0\": {\n"
			    "    \"lru_length\": 5\n"
			    "  },\n"
			    "  \"volume\": {\n"
			    "    \"swap.0\": {\n"
			    "      \"size\": 4096,\n"
			    "      \"loop\": \"/dev/loop0\"\n"
			    "    },\n"
			    "    \"b\": {\n"
			    "      \"node\": -1\n"
			    "    }\n"
			    "  },\n"
			    "  \"class\": {\n"
			    "    \"12\": {\n"
			    "      \"size\": 224\n"
			    "    }\n"
			    "  },\n"
			    "  \"odd\": \"say \\\"hi\\\"\\\\\",\n"
			    "  \"big\": \"99999999999999999999999\"\n"
			    "}\n");
	free(text);
	text = render(print_records, &f->r, false);
	assert_has(text, "written_back_pages 3\n");
	assert_has(text, "pool.pages         12\n");
	free(text);
}

static void test_status(void **state)
{
	struct fixture *f = *state;
	char *text;

	reply_of(f, "zpoold/1 ok\n"
		    "volume.swap0.size 1073741824\n"
		    "volume.swap0.data 20971520\n"
		    "volume.swap0.compr 4194304\n"
		    "volume.swap0.total 6291456\n"
		    "volume.swap0.disk 8388608\n"
		    "volume.swap0.node -1\n"
		    "volume.swap0.loop /dev/loop3\n"
		    "volume.swap0.swap 1\n"
		    "volume.empty.size 4096\n"
		    "volume.empty.data 0\n"
		    "volume.empty.compr 0\n"
		    "volume.empty.total 0\n"
		    "volume.empty.disk 0\n"
		    "volume.empty.node 1\n"
		    "volume.empty.loop /dev/loop4\n"
		    "volume.empty.swap 0\n"
		    "total.data 20971520\n"
		    "pool.pages 1536\n"
		    "pool.limit_pages 6144\n"
		    "pool.full 1\n"
		    "backing.slots_used 2048\n"
		    "backing.slots_total 262144\n"
		    ".\n");
	text = render(ctl_print_status, &f->r, false);
	assert_has(text, "NAME      SIZE     DATA    COMPR    TOTAL  RATIO  "
			 "ON-DISK NODE SWAP\n");
	/* (20M - 8M) in memory over 6M of memory. */
	assert_has(text, "swap0       1G      20M       4M       6M   2.00"
			 "       8M    - /dev/loop3 (swap)\n");
	assert_has(text, "empty       4K       0B       0B       0B      -"
			 "       0B    1 /dev/loop4 (attached)\n");
	assert_has(text, "pool: 6M of 24M (25% of the limit), full");
	assert_has(text, "backing store: 8M of 1G in use\n");
	free(text);
	text = render(ctl_print_status, &f->r, true);
	assert_has(text, "1073741824");
	assert_has(text, "20971520");
	free(text);
	text = render(ctl_print_volumes, &f->r, false);
	assert_has(text, "NAME      SIZE NODE OPEN SWAP\n");
	assert_has(text, "swap0       1G    - ");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_human),
		cmocka_unit_test_setup_teardown(test_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_short, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_late, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
