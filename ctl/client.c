/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * client.c - zpoolctl's side of the control socket: connect, send a
 * request line, read the reply (zp-proto.h) with a time limit.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"

int ctl_connect(struct ctl_conn *c, const char *path, double timeout,
		char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int ret;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->timeout = timeout;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path '%s' is too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot make a socket: %s",
			 strerror(errno));
		return ret;
	}
	if (!connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)))
		return 0;
	ret = -errno;
	switch (errno) {
	case ENOENT:
	case ECONNREFUSED:
		snprintf(err, errlen,
			 "no zpoold answers at %s (is it running? -s names "
			 "another socket)",
			 path);
		break;
	case EACCES:
	case EPERM:
		snprintf(err, errlen,
			 "cannot reach zpoold at %s: permission denied (not "
			 "root and not in the socket's group)",
			 path);
		break;
	default:
		snprintf(err, errlen, "cannot reach zpoold at %s: %s", path,
			 strerror(errno));
	}
	close(c->fd);
	c->fd = -1;
	return ret;
}

void ctl_close(struct ctl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

double ctl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The next line into line (without its newline). 0, -ETIMEDOUT, -EPIPE
 * (the daemon closed), -EPROTO (a line too long). */
static int read_line(struct ctl_conn *c, double deadline, char *line,
		     size_t max)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		ssize_t n;
		int wait = -1;

		if (nl) {
			size_t len = (size_t)(nl - c->buf);

			if (len >= max)
				return -EPROTO;
			memcpy(line, c->buf, len);
			line[len] = '\0';
			memmove(c->buf, nl + 1, c->len - len - 1);
			c->len -= len + 1;
			return 0;
		}
		if (c->len >= max)
			return -EPROTO;
		if (deadline > 0) {
			double left = deadline - ctl_now();

			if (left <= 0)
				return -ETIMEDOUT;
			wait = (int)(left * 1000) + 1;
		}
		n = poll(&p, 1, wait);
		if (n < 0 && errno == EINTR)
			return -EINTR;
		if (n == 0)
			return -ETIMEDOUT;
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n < 0 && errno == EINTR)
			return -EINTR;
		if (n <= 0)
			return -EPIPE;
		c->len += (size_t)n;
	}
}

static int keep_line(struct ctl_reply *r, const char *line, char **copy)
{
	if (r->nlines == r->lines_cap) {
		size_t cap = r->lines_cap ? 2 * r->lines_cap : 64;
		char **lines = realloc(r->lines, cap * sizeof(*lines));

		if (!lines)
			return -ENOMEM;
		r->lines = lines;
		r->lines_cap = cap;
	}
	*copy = strdup(line);
	if (!*copy)
		return -ENOMEM;
	r->lines[r->nlines++] = *copy;
	return 0;
}

static int add_record(struct ctl_reply *r, const char *line)
{
	char *copy;
	int ret = keep_line(r, line, &copy);

	if (ret)
		return ret;
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		struct ctl_record *rec = realloc(r->rec, cap * sizeof(*rec));

		if (!rec)
			return -ENOMEM;
		r->rec = rec;
		r->cap = cap;
	}
	if (!zp_proto_parse_record(copy, &r->rec[r->n].name,
				   &r->rec[r->n].value))
		return -EPROTO;
	r->n++;
	return 0;
}

static const char *why(int ret)
{
	switch (-ret) {
	case ETIMEDOUT:
		return "no reply in time (--timeout)";
	case EPIPE:
		return "the daemon closed the connection";
	case EPROTO:
		return "the reply breaks the protocol";
	case EINTR:
		return "interrupted";
	default:
		return strerror(-ret);
	}
}

int ctl_read_reply(struct ctl_conn *c, struct ctl_reply *r, char *err,
		   size_t errlen)
{
	double deadline = c->timeout > 0 ? ctl_now() + c->timeout : 0;
	char line[ZP_PROTO_LINE_MAX + 1];
	const char *msg;
	int ret, code;

	memset(r, 0, sizeof(*r));
	ret = read_line(c, deadline, line, sizeof(line));
	if (!ret) {
		code = zp_proto_parse_head(line, &msg);
		if (code < 0) {
			ret = -EPROTO;
		} else {
			r->code = code;
			if (code)
				ret = keep_line(r, msg, &r->message);
		}
	}
	while (!ret) {
		ret = read_line(c, deadline, line, sizeof(line));
		if (ret || !strcmp(line, ZP_PROTO_END))
			break;
		ret = add_record(r, line);
	}
	if (ret) {
		snprintf(err, errlen, "cannot talk to zpoold: %s", why(ret));
		ctl_reply_free(r);
	}
	return ret;
}

int ctl_request(struct ctl_conn *c, const char *const *words, size_t nwords,
		struct ctl_reply *r, char *err, size_t errlen)
{
	char line[ZP_PROTO_REQUEST_MAX + 1];
	size_t len, off = 0;
	int n;

	n = snprintf(line, sizeof(line), "%s%d", ZP_PROTO_MAGIC,
		     ZP_PROTO_VERSION);
	len = (size_t)n;
	for (size_t i = 0; i < nwords && len < sizeof(line); i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, " %s",
					words[i]);
	if (len + 1 >= sizeof(line)) {
		snprintf(err, errlen, "request longer than %d bytes",
			 ZP_PROTO_REQUEST_MAX);
		return -E2BIG;
	}
	line[len++] = '\n';
	while (off < len) {
		ssize_t w = send(c->fd, line + off, len - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int ret = -errno;

			snprintf(err, errlen, "cannot talk to zpoold: %s",
				 strerror(errno));
			return ret;
		}
		off += (size_t)w;
	}
	return ctl_read_reply(c, r, err, errlen);
}

void ctl_reply_free(struct ctl_reply *r)
{
	for (size_t i = 0; i < r->nlines; i++)
		free(r->lines[i]);
	free(r->lines);
	free(r->rec);
	memset(r, 0, sizeof(*r));
}

const char *ctl_find(const struct ctl_reply *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->rec[i].name, name))
			return r->rec[i].value;
	return NULL;
}

int64_t ctl_num(const struct ctl_reply *r, const char *name)
{
	const char *v = ctl_find(r, name);

	return v ? strtoll(v, NULL, 10) : 0;
}
