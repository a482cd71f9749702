/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctl.h - what the files of zpoolctl share, grouped by the file that
 * defines it.
 *
 * client.c  the connection to the daemon: requests and replies
 * render.c  replies as tables, aligned records and JSON
 * top.c     the live view
 */
#ifndef ZP_CTL_H
#define ZP_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "zp-compiler.h"
#include "zp-proto.h"

/* ---------------------------------------------------------------------------
 * client.c
 * ------------------------------------------------------------------------ */

struct ctl_conn {
	int fd;
	double timeout; /* seconds a reply may take; 0: no limit */
	char buf[ZP_PROTO_LINE_MAX * 2]; /* bytes read, not yet a line */
	size_t len;
};

struct ctl_record {
	const char *name, *value; /* into the reply's storage */
};

struct ctl_reply {
	int code;            /* 0, or enum zp_proto_error */
	char *message;       /* of an error reply */
	struct ctl_record *rec;
	size_t n, cap;
	char **lines;        /* the storage of names and values */
	size_t nlines, lines_cap;
};

/* Connect to the socket at path. 0, or -errno with a message saying what
 * an operator can do (no daemon there, no permission). */
int ctl_connect(struct ctl_conn *c, const char *path, double timeout,
		char *err, size_t errlen);
void ctl_close(struct ctl_conn *c);

/*
 * Send one request (words joined with blanks after "zpoold/1 ") and read
 * its reply into r. 0 when a whole reply came (r->code tells whether it
 * is an error); -errno with a message when the daemon could not be
 * talked to (-ETIMEDOUT, -EPIPE, -EPROTO for a reply that breaks the
 * protocol).
 */
int ctl_request(struct ctl_conn *c, const char *const *words, size_t nwords,
		struct ctl_reply *r, char *err, size_t errlen);

/* Read one reply from c (what ctl_request does after sending). */
int ctl_read_reply(struct ctl_conn *c, struct ctl_reply *r, char *err,
		   size_t errlen);

void ctl_reply_free(struct ctl_reply *r);

/* Seconds on the monotonic clock. */
double ctl_now(void);

/* The value of record name, or NULL. */
const char *ctl_find(const struct ctl_reply *r, const char *name);
/* The value of record name as a number; 0 when it is missing. */
int64_t ctl_num(const struct ctl_reply *r, const char *name);

/* ---------------------------------------------------------------------------
 * render.c
 * ------------------------------------------------------------------------ */

/* A size as zramctl shows it: "0B", "4K", "1.5G" (powers of 1024). */
void ctl_human(uint64_t bytes, char *buf, size_t len);

/* Every record, "name  value", names padded to one column. */
void ctl_print_records(FILE *out, const struct ctl_reply *r);

/*
 * The records as one JSON object: {"version": 1, ...}, names nested at
 * their dots ("pool.pages" is {"pool": {"pages": ...}}), except that in
 * "volume.NAME.FIELD" and "class.N.FIELD" the middle part is one name
 * whatever dots it holds. A value that is a decimal integer is a number,
 * anything else a string.
 */
void ctl_print_json(FILE *out, const struct ctl_reply *r);

/* The status table (NAME SIZE DATA COMPR TOTAL RATIO ON-DISK NODE SWAP)
 * and the pool's totals under it; bytes: sizes in bytes. */
void ctl_print_status(FILE *out, const struct ctl_reply *r, bool bytes);

/* The volume list table (NAME SIZE NODE OPEN LOOP SWAP). */
void ctl_print_volumes(FILE *out, const struct ctl_reply *r, bool bytes);

/* The volume names of a reply, in order (volume.NAME.size records); at
 * most max, returns how many. */
size_t ctl_volume_names(const struct ctl_reply *r, const char **names,
			size_t max);

/* ---------------------------------------------------------------------------
 * top.c
 * ------------------------------------------------------------------------ */

/* Refresh every interval seconds, count times (0: until q or a signal).
 * A full-screen view on a terminal, one line per refresh otherwise.
 * Returns an exit code. */
int ctl_top(struct ctl_conn *c, double interval, long count);

#endif /* ZP_CTL_H */
