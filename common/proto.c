/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proto.c - the control protocol's command table and parsers, shared by
 * the daemon and zpoolctl (the grammar is in zp-proto.h).
 *
 * The request parser sees whatever a local user sends the daemon: it
 * reads only the len bytes it is given, writes only inside them, and
 * quotes at most a few dozen bytes of bad input in its messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zp-compiler.h"
#include "zp-proto.h"

static const char *const error_names[ZP_NR_ERRORS] = {
	[ZP_ERR_USAGE] = "usage",     [ZP_ERR_VERSION] = "version",
	[ZP_ERR_TOOLONG] = "toolong", [ZP_ERR_DENIED] = "denied",
	[ZP_ERR_NOTFOUND] = "notfound", [ZP_ERR_EXISTS] = "exists",
	[ZP_ERR_BUSY] = "busy",       [ZP_ERR_INVALID] = "invalid",
	[ZP_ERR_NOSPACE] = "nospace", [ZP_ERR_FAILED] = "failed",
	[ZP_ERR_NOTSUP] = "notsup",
};

const char *zp_proto_error_name(enum zp_proto_error code)
{
	if ((unsigned int)code >= ZP_NR_ERRORS)
		return NULL;
	return error_names[code];
}

enum zp_proto_error zp_proto_error_parse(const char *name)
{
	for (int i = 1; i < ZP_NR_ERRORS; i++)
		if (!strcmp(name, error_names[i]))
			return (enum zp_proto_error)i;
	return 0;
}

/* "*" as options: any KEY=VALUE (set's tunables, checked by the daemon). */
const struct zp_proto_command zp_proto_commands[] = {
	{ "version", ZP_ACCESS_READ, 0, 0, "", "" },
	{ "status", ZP_ACCESS_READ, 0, 0, "", "" },
	{ "stats", ZP_ACCESS_READ, 0, 2, "", "[classes] [resident]" },
	{ "volume-list", ZP_ACCESS_READ, 0, 0, "", "" },
	{ "get", ZP_ACCESS_READ, 0, 1, "", "[KEY]" },
	{ "volume-create", ZP_ACCESS_ADMIN, 2, 2, "node", "NAME SIZE [node=N]" },
	{ "volume-remove", ZP_ACCESS_ADMIN, 1, 1, "", "NAME" },
	{ "swapon", ZP_ACCESS_ADMIN, 1, 1, "priority,discard",
	  "NAME [priority=P] [discard=yes|no]" },
	{ "swapoff", ZP_ACCESS_ADMIN, 1, 1, "", "NAME" },
	{ "set", ZP_ACCESS_ADMIN, 0, 0, "*", "KEY=VALUE" },
	{ "compact", ZP_ACCESS_ADMIN, 0, 0, "node", "[node=N]" },
	{ "writeback", ZP_ACCESS_ADMIN, 0, 0, "bytes,idle,node",
	  "[bytes=N] [idle=SECONDS] [node=N]" },
	{ "reset-stats", ZP_ACCESS_ADMIN, 0, 0, "", "" },
};
const size_t zp_proto_nr_commands = ZP_ARRAY_SIZE(zp_proto_commands);

const struct zp_proto_command *zp_proto_command_find(const char *name)
{
	for (size_t i = 0; i < zp_proto_nr_commands; i++)
		if (!strcmp(name, zp_proto_commands[i].name))
			return &zp_proto_commands[i];
	return NULL;
}

/* Whether key is in the comma-separated list. */
static bool in_list(const char *list, const char *key)
{
	size_t n = strlen(key);

	if (!strcmp(list, "*"))
		return true;
	while (*list) {
		const char *end = strchr(list, ',');
		size_t len = end ? (size_t)(end - list) : strlen(list);

		if (len == n && !strncmp(list, key, n))
			return true;
		if (!end)
			break;
		list = end + 1;
	}
	return false;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Bad input quoted in a message: at most this many bytes of it. */
#define QUOTE_MAX 40

int zp_proto_parse_request(char *line, size_t len, struct zp_request *req,
			   char *err, size_t errlen)
{
	char *words[ZP_PROTO_ARGS_MAX + 2];
	unsigned int nwords = 0, i;
	char *p, *end;
	unsigned long version;

	memset(req, 0, sizeof(*req));
	if (len > ZP_PROTO_REQUEST_MAX) {
		snprintf(err, errlen,
			 "request of %zu bytes is over the limit of %d", len,
			 ZP_PROTO_REQUEST_MAX);
		return ZP_ERR_TOOLONG;
	}
	if (len && line[len - 1] == '\n')
		len--;
	if (len && line[len - 1] == '\r')
		len--;
	line[len] = '\0';
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\t') || c > 0x7e) {
			snprintf(err, errlen,
				 "a request is one line of printable text "
				 "(byte 0x%02x at offset %u)",
				 c, i);
			return ZP_ERR_USAGE;
		}
	}

	/* Split at blanks, in place. */
	p = line;
	end = line + len;
	while (p < end) {
		while (p < end && is_blank(*p))
			*p++ = '\0';
		if (p == end)
			break;
		if (nwords == ZP_ARRAY_SIZE(words)) {
			snprintf(err, errlen,
				 "too many words in the request (at most %d "
				 "after the command)",
				 ZP_PROTO_ARGS_MAX);
			return ZP_ERR_USAGE;
		}
		words[nwords++] = p;
		while (p < end && !is_blank(*p))
			p++;
	}
	if (!nwords) {
		snprintf(err, errlen, "empty request");
		return ZP_ERR_USAGE;
	}

	if (strncmp(words[0], ZP_PROTO_MAGIC, strlen(ZP_PROTO_MAGIC)) ||
	    !words[0][strlen(ZP_PROTO_MAGIC)] ||
	    strspn(words[0] + strlen(ZP_PROTO_MAGIC), "0123456789") !=
		    strlen(words[0] + strlen(ZP_PROTO_MAGIC)) ||
	    strlen(words[0] + strlen(ZP_PROTO_MAGIC)) > 9) {
		snprintf(err, errlen,
			 "a request starts with " ZP_PROTO_MAGIC "%d, not "
			 "'%.*s'",
			 ZP_PROTO_VERSION, QUOTE_MAX, words[0]);
		return ZP_ERR_USAGE;
	}
	version = strtoul(words[0] + strlen(ZP_PROTO_MAGIC), NULL, 10);
	req->version = (unsigned int)version;
	if (version != ZP_PROTO_VERSION) {
		snprintf(err, errlen,
			 "protocol version %lu is not spoken here (this "
			 "daemon speaks %d)",
			 version, ZP_PROTO_VERSION);
		return ZP_ERR_VERSION;
	}
	if (nwords < 2) {
		snprintf(err, errlen, "no command in the request");
		return ZP_ERR_USAGE;
	}
	req->cmd = zp_proto_command_find(words[1]);
	if (!req->cmd) {
		snprintf(err, errlen, "unknown command '%.*s'", QUOTE_MAX,
			 words[1]);
		return ZP_ERR_USAGE;
	}

	for (i = 2; i < nwords; i++) {
		char *eq = strchr(words[i], '=');

		if (!eq) {
			req->argv[req->argc++] = words[i];
			continue;
		}
		*eq = '\0';
		if (!*words[i] || !in_list(req->cmd->options, words[i])) {
			snprintf(err, errlen,
				 "%s takes no option '%.*s' (usage: %s %s)",
				 req->cmd->name, QUOTE_MAX, words[i],
				 req->cmd->name, req->cmd->usage);
			return ZP_ERR_USAGE;
		}
		if (zp_proto_option(req, words[i])) {
			snprintf(err, errlen, "option '%.*s' given twice",
				 QUOTE_MAX, words[i]);
			return ZP_ERR_USAGE;
		}
		req->opt_key[req->nopts] = words[i];
		req->opt_val[req->nopts++] = eq + 1;
	}
	if (req->argc < req->cmd->min_args || req->argc > req->cmd->max_args) {
		snprintf(err, errlen, "usage: %s %s", req->cmd->name,
			 req->cmd->usage);
		return ZP_ERR_USAGE;
	}
	return 0;
}

const char *zp_proto_option(const struct zp_request *req, const char *key)
{
	for (unsigned int i = 0; i < req->nopts; i++)
		if (!strcmp(req->opt_key[i], key))
			return req->opt_val[i];
	return NULL;
}

int zp_proto_parse_head(const char *line, const char **message)
{
	static const char err_head[] = "zpoold/1 error ";
	char code[16];
	const char *sp;
	enum zp_proto_error e;

	*message = "";
	if (!strcmp(line, ZP_PROTO_OK))
		return 0;
	if (strncmp(line, err_head, sizeof(err_head) - 1))
		return -1;
	line += sizeof(err_head) - 1;
	sp = strchr(line, ' ');
	if (!sp || (size_t)(sp - line) >= sizeof(code))
		return -1;
	memcpy(code, line, (size_t)(sp - line));
	code[sp - line] = '\0';
	e = zp_proto_error_parse(code);
	if (!e)
		return -1;
	*message = sp + 1;
	return (int)e;
}

bool zp_proto_parse_record(char *line, const char **name, const char **value)
{
	char *sp = strchr(line, ' ');

	if (!sp || sp == line || line[0] == '.')
		return false;
	*sp = '\0';
	*name = line;
	*value = sp + 1;
	return true;
}
