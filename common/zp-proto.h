/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * zp-proto.h - the control protocol of zpoold, version 1: what zpoolctl
 * (or any client) and the daemon say over the control socket.
 *
 * The socket is a UNIX stream socket (default ZP_PROTO_DEFAULT_SOCKET). A
 * client sends requests, one line each, and reads one reply per request,
 * in order; it may send several requests on one connection (zpoolctl top
 * does) and close it whenever it likes.
 *
 * Request, at most ZP_PROTO_REQUEST_MAX bytes with its newline:
 *
 *   request = "zpoold/" VERSION 1*BLANK COMMAND *(1*BLANK WORD) LF
 *   WORD    = 1*(%x21-7E)      printable ASCII, no blanks
 *   BLANK   = SP / HTAB
 *
 * A CR before the LF is ignored. Words after the command are its
 * arguments: positional ones (a volume name, a size) and options written
 * KEY=VALUE, in any order after the positional ones.
 *
 * Reply:
 *
 *   reply   = HEAD LF *(RECORD LF) "." LF
 *   HEAD    = "zpoold/1 ok"
 *           / "zpoold/1 error " CODE SP MESSAGE
 *   RECORD  = NAME SP VALUE
 *   NAME    = 1*(%x21-7E), not starting with "."
 *   VALUE   = *(%x20-7E)       the rest of the line
 *
 * CODE is one of the names of enum zp_proto_error ("usage", "denied",
 * ...); MESSAGE says in words what went wrong. A value that is a decimal
 * integer (optionally negative) is a number, anything else a string.
 * Names are dotted paths ("pool.pages", "volume.swap0.size"); records
 * that share a prefix come together, so a client can nest them (zpoolctl
 * stats --json does). Bytes are bytes, pages are 4 KiB pages.
 *
 * A request the daemon cannot parse (not text, too long, no version, an
 * unknown command, wrong arguments) gets an error reply and the
 * connection stays usable, except after a request longer than the limit:
 * that reply is sent, then the connection is closed. A client that sends
 * nothing for a while with a request half written, or does not read its
 * replies, is dropped.
 *
 * The commands, their arguments, records and who may send them are in
 * the table zp_proto_commands[] (proto.c) and listed here:
 *
 *   version                          protocol, daemon
 *   status                           per volume: volume.NAME.{size, data,
 *                                    compr, total, disk, node, loop, swap};
 *                                    totals: total.{data, compr, memory,
 *                                    disk}, pool.{pages, limit_pages,
 *                                    full}, backing.{slots_used,
 *                                    slots_total}
 *   stats [classes] [resident]       every counter: the store's, pool.*,
 *                                    nodeN.*, volume.NAME.*, fuse.*,
 *                                    compressor.*; with "classes" also
 *                                    class.N.* for each size class; with
 *                                    "resident" nodeN.resident_pages,
 *                                    where the kernel says the pool's
 *                                    pages are (a walk of every zspage)
 *   volume-list                      volume.NAME.{size, node, open, loop,
 *                                    swap}
 *   get [KEY]                        KEY VALUE for one tunable, or all
 *   volume-create NAME SIZE [node=N] admin; volume.NAME.{size, node}
 *   volume-remove NAME               admin
 *   swapon NAME [priority=P] [discard=yes|no]
 *                                    admin; loop, priority, discard
 *   swapoff NAME                     admin; loop
 *   set KEY=VALUE                    admin; KEY VALUE as get would show it
 *   compact [node=N]                 admin; pages_freed
 *   writeback [bytes=N] [idle=SECONDS] [node=N]
 *                                    admin; written_back (blocks)
 *   reset-stats                      admin
 *
 * "admin" commands change state: only root or a process with
 * CAP_SYS_ADMIN may send them (the daemon checks the peer's credentials
 * with SO_PEERCRED); anyone else gets "error denied permission denied:
 * ..." and nothing changes. The others are read-only: root and the
 * members of the socket's group (the socket is mode 0660).
 */
#ifndef ZP_PROTO_H
#define ZP_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#define ZP_PROTO_VERSION 1
#define ZP_PROTO_MAGIC "zpoold/"
/* The head of a successful reply and the line that ends every reply. */
#define ZP_PROTO_OK "zpoold/1 ok"
#define ZP_PROTO_END "."

#define ZP_PROTO_DEFAULT_SOCKET "/run/zpoold/control.sock"

/* Bytes of a request line, its newline included. */
#define ZP_PROTO_REQUEST_MAX 4096
/* Words after the command. */
#define ZP_PROTO_ARGS_MAX 16
/* Bytes of any reply line, its newline included. */
#define ZP_PROTO_LINE_MAX 4096

/* zpoolctl's exit codes. */
enum {
	ZP_EXIT_OK = 0,          /* the daemon did it */
	ZP_EXIT_ERROR = 1,       /* the daemon replied with an error */
	ZP_EXIT_USAGE = 2,       /* a wrong command line; nothing was sent */
	ZP_EXIT_UNREACHABLE = 3, /* no daemon at the socket, or no access */
};

/* Error codes of a reply, sent by name. */
enum zp_proto_error {
	ZP_ERR_USAGE = 1, /* malformed request, unknown command, bad args */
	ZP_ERR_VERSION,   /* a protocol version this daemon does not speak */
	ZP_ERR_TOOLONG,   /* a request over ZP_PROTO_REQUEST_MAX */
	ZP_ERR_DENIED,    /* the peer may not send this command */
	ZP_ERR_NOTFOUND,  /* no such volume or key */
	ZP_ERR_EXISTS,    /* the name is taken */
	ZP_ERR_BUSY,      /* in use: open, attached, active swap */
	ZP_ERR_INVALID,   /* a value out of its range */
	ZP_ERR_NOSPACE,   /* no room: volumes, memory, disk */
	ZP_ERR_FAILED,    /* the daemon tried and the system refused */
	ZP_ERR_NOTSUP,    /* not possible in this configuration */
	ZP_NR_ERRORS
};

/* "usage", "version", ...; NULL for an unknown code. */
const char *zp_proto_error_name(enum zp_proto_error code);
/* The code of a name, or 0. */
enum zp_proto_error zp_proto_error_parse(const char *name);

/* Who may send a command. */
enum zp_proto_access {
	ZP_ACCESS_READ,  /* root and the socket's group */
	ZP_ACCESS_ADMIN, /* root or CAP_SYS_ADMIN */
};

struct zp_proto_command {
	const char *name;
	enum zp_proto_access access;
	unsigned int min_args, max_args; /* positional words */
	/* The options it takes, "key,key,..." ("" for none); "node" takes
	 * node=N, and so on. */
	const char *options;
	const char *usage; /* its arguments, for messages */
};

extern const struct zp_proto_command zp_proto_commands[];
extern const size_t zp_proto_nr_commands;

/* The command of that name, or NULL. */
const struct zp_proto_command *zp_proto_command_find(const char *name);

/* A parsed request: pointers into the line it was parsed from. */
struct zp_request {
	unsigned int version;
	const struct zp_proto_command *cmd;
	unsigned int argc; /* positional words */
	const char *argv[ZP_PROTO_ARGS_MAX];
	unsigned int nopts; /* KEY=VALUE words, split at the '=' */
	const char *opt_key[ZP_PROTO_ARGS_MAX];
	const char *opt_val[ZP_PROTO_ARGS_MAX];
};

/*
 * Parse one request line of len bytes (its LF, if there, included) in
 * place: blanks and '=' become NULs, and so may line[len] (the buffer
 * has len + 1 bytes). Checks the version, the command,
 * the number of positional words and the option names against the table.
 * Returns 0, or an error code with a message in err.
 */
int zp_proto_parse_request(char *line, size_t len, struct zp_request *req,
			   char *err, size_t errlen);

/* The value of option key, or NULL when the request has none. */
const char *zp_proto_option(const struct zp_request *req, const char *key);

/*
 * Parse a reply's head line (without its LF). Returns 0 for "ok", the
 * error code (message in *message, pointing into line) for an error, -1
 * for a line that is not a head.
 */
int zp_proto_parse_head(const char *line, const char **message);

/*
 * Split a record line (without its LF) in place into name and value.
 * false when it is not a record.
 */
bool zp_proto_parse_record(char *line, const char **name, const char **value);

#endif /* ZP_PROTO_H */
