/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz-proto.c - the input is what a client sends the control socket: a
 * request line for zp_proto_parse_request(), and the same bytes as reply
 * lines for zpoolctl's parsers (zp_proto_parse_head, _record).
 *
 * The request parser gets the bytes in a buffer of exactly len + 1 bytes
 * (what its contract asks for) with an inaccessible page right after it,
 * so that a read or write past the end faults at once. A parsed request
 * must make sense: a command from the table, positional words within its
 * counts, options it takes, every word inside the buffer and free of
 * blanks; an error must come with a message and a code the protocol
 * names.
 *
 * Seeds: a valid request of every command with every option, and a few
 * broken ones.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"
#include "zp-proto.h"

/* Two pages for the line, then an inaccessible one. */
static char *area;

static char *guarded(size_t need)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (!area) {
		area = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (area == MAP_FAILED || mprotect(area + 2 * page, page,
						   PROT_NONE))
			fuzz_fail("cannot map the guarded buffer");
	}
	return area + 2 * page - need;
}

static void check_word(const char *w, const char *buf, size_t cap)
{
	if (w < buf || w >= buf + cap)
		fuzz_fail("a word points outside the line");
	if (strpbrk(w, " \t\n"))
		fuzz_fail("a word holds a blank: '%s'", w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zp_request req;
	char err[512], *line, copy[ZP_PROTO_LINE_MAX + 1];
	const char *msg, *name, *value;
	size_t n = size > ZP_PROTO_REQUEST_MAX + 16 ? ZP_PROTO_REQUEST_MAX + 16
						    : size;
	int code;

	line = guarded(n + 1);
	memcpy(line, data, n);
	line[n] = 'X'; /* the parser may write here, nothing says what */
	err[0] = '\0';
	code = zp_proto_parse_request(line, n, &req, err, sizeof(err));
	if (code) {
		if (!zp_proto_error_name(code) || !err[0])
			fuzz_fail("error %d without a name or message", code);
		if (n > ZP_PROTO_REQUEST_MAX && code != ZP_ERR_TOOLONG)
			fuzz_fail("a request of %zu bytes: error %d, not "
				  "toolong",
				  n, code);
	} else {
		if (!req.cmd || req.version != ZP_PROTO_VERSION)
			fuzz_fail("a parsed request without a command");
		if (req.argc < req.cmd->min_args ||
		    req.argc > req.cmd->max_args)
			fuzz_fail("%s with %u positional words", req.cmd->name,
				  req.argc);
		for (unsigned int i = 0; i < req.argc; i++)
			check_word(req.argv[i], line, n + 1);
		for (unsigned int i = 0; i < req.nopts; i++) {
			check_word(req.opt_key[i], line, n + 1);
			check_word(req.opt_val[i], line, n + 1);
			if (!*req.opt_key[i])
				fuzz_fail("an option without a name");
		}
	}

	/* The reply parsers get one line without its newline, as the
	 * client cuts them. */
	n = size > ZP_PROTO_LINE_MAX ? ZP_PROTO_LINE_MAX : size;
	memcpy(copy, data, n);
	copy[n] = '\0';
	code = zp_proto_parse_head(copy, &msg);
	if (code > 0 && !zp_proto_error_name(code))
		fuzz_fail("head parsed to unknown error %d", code);
	if (zp_proto_parse_record(copy, &name, &value) &&
	    (!*name || *name == '.' || strchr(name, ' ')))
		fuzz_fail("a record with a bad name '%s'", name);
	return 0;
}

static void add(struct fuzz_seeds *s, const char *text)
{
	fuzz_seeds_add(s, text, strlen(text), NULL, 0);
}

static void make_seeds(struct fuzz_seeds *s)
{
	static const char *const seeds[] = {
		"zpoold/1 version\n",
		"zpoold/1 status\n",
		"zpoold/1 stats classes resident\n",
		"zpoold/1 volume-list\n",
		"zpoold/1 get max_pool_percent\n",
		"zpoold/1 volume-create swap1 4G node=1\n",
		"zpoold/1 volume-remove swap1\n",
		"zpoold/1 swapon swap0 priority=10 discard=yes\r\n",
		"zpoold/1 swapoff swap0\n",
		"zpoold/1 set compressor=zstd:3\n",
		"zpoold/1 compact node=0\n",
		"zpoold/1 writeback bytes=1M node=0\n",
		"zpoold/1 writeback idle=60\n",
		"zpoold/1\treset-stats\n",
		"zpoold/2 status\n",
		"zpoold/1 status extra\n",
		"zpoold/1 compact node=1 node=2\n",
		"zpoold/1 =x\n",
		"zpoold/1 ok",
		"zpoold/1 error busy volume 'swap0' is attached",
		"volume.swap0.size 1073741824",
	};

	for (size_t i = 0; i < ZP_ARRAY_SIZE(seeds); i++)
		add(s, seeds[i]);
}

const struct fuzz_target fuzz_target = {
	.name = "proto",
	.runs = 200000,
	.make_seeds = make_seeds,
};
