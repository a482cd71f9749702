/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * control.c - the control socket: zpoolctl's requests, served by the main
 * thread's libev loop (the protocol is in common/zp-proto.h).
 *
 * The loop never blocks on a client. Sockets are non-blocking; a client's
 * requests are read into a buffer of ZP_PROTO_REQUEST_MAX bytes and
 * served one at a time, in order; its replies go to an output buffer that
 * is written as the client reads. A client that stalls (a request half
 * sent, or replies it does not read) for control_timeout seconds, or
 * stays idle for IDLE_TIMEOUT, is dropped, and so is one whose unread
 * replies pass OUT_MAX. A request longer than the limit gets its error
 * reply and the connection is closed after it.
 *
 * Who may do what is decided at accept from the peer's credentials
 * (SO_PEERCRED, SO_PEERGROUPS): root or CAP_SYS_ADMIN may send every
 * command; a member of the socket's group (primary or supplementary) the
 * read-only ones; anyone else nothing (the socket's mode 0660 normally
 * keeps them out already).
 *
 * Commands that may take long (swapon, swapoff, volume-remove, compact,
 * writeback) run in a job thread, one at a time, in the order they came;
 * the loop hears of a finished one through an ev_async and sends its
 * reply. The client waits meanwhile (no stall timeout), and a client that
 * goes away does not stop its job. `writeback idle=S` runs in two steps S
 * seconds apart, with an ev_timer between them.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <ev.h>

#include "daemon/internal.h"
#include "zp-assert.h"

/* Clients at once; more are told so and closed. */
#define MAX_CLIENTS 32
/* Unread reply bytes a client may leave before it is dropped. */
#define OUT_MAX (8u << 20)
/* Seconds a connection may sit idle between requests. */
#define IDLE_TIMEOUT 300.0
/* CAP_SYS_ADMIN's bit in /proc/PID/status CapEff. */
#define CAP_SYS_ADMIN_BIT 21

struct job;

struct client {
	struct zpd_control *ctl;
	int fd;
	ev_io rio, wio;
	ev_timer timer;
	ev_tstamp last;       /* of the last byte read or written */
	char in[ZP_PROTO_REQUEST_MAX + 1];
	size_t in_len;
	struct zpd_reply out; /* replies not yet written */
	size_t out_off;
	struct job *job;      /* its request in the job thread, or NULL */
	bool closing;         /* close once out is written */
	bool admin, reader;
	pid_t pid;
	uid_t uid;
	struct client *prev, *next;
};

struct job {
	struct client *client; /* NULL once the client went away */
	char line[ZP_PROTO_REQUEST_MAX + 1];
	struct zp_request req;
	unsigned int stage;
	int code;
	struct zpd_reply reply;
	ev_timer later;        /* between two stages */
	struct zpd_control *ctl;
	struct job *next;
	struct job *later_prev, *later_next; /* on ctl->waiting */
};

struct zpd_control {
	struct ev_loop *loop;
	struct zpd_ctl_env *env;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	gid_t gid;
	double timeout;
	int fd;
	ev_io accept_w;
	struct client *clients;
	unsigned int nr_clients;

	/* The job thread */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *queue, **queue_tail; /* protected by lock */
	struct job *done;                /* protected by lock */
	bool stop;                       /* protected by lock */
	ev_async done_w;
	struct job *waiting; /* jobs between two stages, on their timer */
};

/* ---------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------ */

static void reply_vappend(struct zpd_reply *r, const char *fmt, va_list ap)
{
	va_list copy;
	int n;

	if (r->oom)
		return;
	va_copy(copy, ap);
	n = vsnprintf(r->buf ? r->buf + r->len : NULL,
		      r->buf ? r->cap - r->len : 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		return;
	if (!r->buf || r->len + (size_t)n + 1 > r->cap) {
		size_t cap = ZP_MAX(r->cap * 2, r->len + (size_t)n + 1);
		char *buf = cap <= OUT_MAX + ZP_PROTO_LINE_MAX
				    ? realloc(r->buf, ZP_MAX(cap, (size_t)256))
				    : NULL;

		if (!buf) {
			r->oom = true;
			return;
		}
		r->buf = buf;
		r->cap = ZP_MAX(cap, (size_t)256);
		vsnprintf(r->buf + r->len, r->cap - r->len, fmt, ap);
	}
	r->len += (size_t)n;
}

static void reply_append(struct zpd_reply *r, const char *fmt, ...)
	zp_printf(2, 3);
static void reply_append(struct zpd_reply *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_vappend(r, fmt, ap);
	va_end(ap);
}

/* Whatever the value holds, it stays on its line. */
static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

void zpd_reply_add(struct zpd_reply *r, const char *name, const char *fmt,
		   ...)
{
	char value[ZP_PROTO_LINE_MAX - 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	printable(value);
	reply_append(r, "%s %s\n", name, value);
}

void zpd_reply_u64(struct zpd_reply *r, const char *name, uint64_t value)
{
	reply_append(r, "%s %llu\n", name, (unsigned long long)value);
}

int zpd_reply_error(struct zpd_reply *r, enum zp_proto_error code,
		    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	printable(r->msg);
	return (int)code;
}

void zpd_reply_free(struct zpd_reply *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* ---------------------------------------------------------------------------
 * Clients
 * ------------------------------------------------------------------------ */

static void client_close(struct client *c, const char *why)
{
	struct zpd_control *ctl = c->ctl;

	if (why)
		zpd_log(LOG_INFO, "control: dropped client (pid %d, uid %u): %s",
			(int)c->pid, (unsigned int)c->uid, why);
	ev_io_stop(ctl->loop, &c->rio);
	ev_io_stop(ctl->loop, &c->wio);
	ev_timer_stop(ctl->loop, &c->timer);
	if (c->job)
		c->job->client = NULL;
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ctl->nr_clients--;
	zpd_reply_free(&c->out);
	free(c);
}

/* Queue one reply: its head, its records or error, the end line. */
static void client_reply(struct client *c, int code, struct zpd_reply *r)
{
	if (r->oom) {
		code = ZP_ERR_FAILED;
		snprintf(r->msg, sizeof(r->msg),
			 "the reply did not fit in the daemon's memory");
	}
	if (code) {
		reply_append(&c->out, ZP_PROTO_MAGIC "%d error %s %s\n",
			     ZP_PROTO_VERSION, zp_proto_error_name(code),
			     r->msg[0] ? r->msg : "failed");
	} else {
		reply_append(&c->out, ZP_PROTO_OK "\n");
		if (r->len)
			reply_append(&c->out, "%.*s", (int)r->len, r->buf);
	}
	reply_append(&c->out, ZP_PROTO_END "\n");
	if (c->out.oom) {
		/* What it was sent so far, then the end of it. */
		zpd_log(LOG_WARNING, "control: no memory for a reply to pid %d",
			(int)c->pid);
		c->closing = true;
	}
	ev_io_start(c->ctl->loop, &c->wio);
}

static void client_serve(struct client *c);

static void enqueue_job(struct zpd_control *ctl, struct job *j)
{
	pthread_mutex_lock(&ctl->lock);
	j->next = NULL;
	*ctl->queue_tail = j;
	ctl->queue_tail = &j->next;
	pthread_cond_signal(&ctl->cond);
	pthread_mutex_unlock(&ctl->lock);
}

/* Serve one request line of len bytes (its newline included). */
static void client_request(struct client *c, char *line, size_t len)
{
	struct zpd_control *ctl = c->ctl;
	struct zpd_reply r = { 0 };
	char buf[ZP_PROTO_REQUEST_MAX + 1];
	struct zp_request req;
	struct job *j;
	int code;

	/* Parsed in a copy, which the parser cuts up: a job gets the line
	 * as it came. */
	memcpy(buf, line, len);
	code = zp_proto_parse_request(buf, len, &req, r.msg, sizeof(r.msg));
	if (!code && !c->reader)
		code = zpd_reply_error(
			&r, ZP_ERR_DENIED,
			"permission denied: uid %u is not root and not in the "
			"group of %s",
			(unsigned int)c->uid, ctl->path);
	if (!code && req.cmd->access == ZP_ACCESS_ADMIN && !c->admin)
		code = zpd_reply_error(
			&r, ZP_ERR_DENIED,
			"permission denied: %s changes the daemon's state, "
			"which needs root or CAP_SYS_ADMIN",
			req.cmd->name);
	if (code || !zpd_command_slow(&req)) {
		if (!code)
			code = zpd_command_run(ctl->env, &req, 0, &r);
		zp_assert(code != ZPD_CMD_LATER);
		client_reply(c, code, &r);
		zpd_reply_free(&r);
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		code = zpd_reply_error(&r, ZP_ERR_FAILED, "out of memory");
		client_reply(c, code, &r);
		return;
	}
	/* The request again, parsed in the job's own copy of the line. */
	memcpy(j->line, line, len);
	zp_proto_parse_request(j->line, len, &j->req, r.msg, sizeof(r.msg));
	j->client = c;
	j->ctl = ctl;
	c->job = j;
	enqueue_job(ctl, j);
}

/* Serve the complete requests in c->in, one at a time: not while a job of
 * c runs or its replies wait to be written. */
static void client_serve(struct client *c)
{
	while (!c->job && !c->closing && c->out.len == c->out_off) {
		char *nl = memchr(c->in, '\n', c->in_len);
		size_t len;

		if (!nl) {
			if (c->in_len >= ZP_PROTO_REQUEST_MAX) {
				struct zpd_reply r = { 0 };
				int code = zpd_reply_error(
					&r, ZP_ERR_TOOLONG,
					"request longer than %d bytes",
					ZP_PROTO_REQUEST_MAX);

				client_reply(c, code, &r);
				c->closing = true;
				ev_io_stop(c->ctl->loop, &c->rio);
			}
			return;
		}
		len = (size_t)(nl - c->in) + 1;
		client_request(c, c->in, len);
		memmove(c->in, c->in + len, c->in_len - len);
		c->in_len -= len;
	}
}

static void on_client_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *c = w->data;
	ssize_t n;

	(void)loop, (void)revents;
	n = read(c->fd, c->in + c->in_len, ZP_PROTO_REQUEST_MAX - c->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* Gone: a running job goes on, its reply with nobody. */
		client_close(c, NULL);
		return;
	}
	c->in_len += (size_t)n;
	c->last = ev_now(c->ctl->loop);
	client_serve(c);
	/* The buffer is full of a request not yet served: wait for the
	 * reply to be read before reading on. */
	if (c->in_len >= ZP_PROTO_REQUEST_MAX && !c->closing)
		ev_io_stop(c->ctl->loop, &c->rio);
}

static void on_client_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *c = w->data;
	ssize_t n;

	(void)revents;
	while (c->out_off < c->out.len) {
		n = send(c->fd, c->out.buf + c->out_off,
			 c->out.len - c->out_off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			client_close(c, NULL);
			return;
		}
		c->out_off += (size_t)n;
		c->last = ev_now(loop);
	}
	if (c->out_off < c->out.len) {
		if (c->out.len - c->out_off > OUT_MAX)
			client_close(c, "it does not read its replies");
		return;
	}
	c->out.len = c->out_off = 0;
	ev_io_stop(loop, &c->wio);
	if (c->closing) {
		client_close(c, NULL);
		return;
	}
	client_serve(c);
	if (c->in_len < ZP_PROTO_REQUEST_MAX)
		ev_io_start(loop, &c->rio);
}

static void on_client_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct client *c = w->data;
	double idle = ev_now(loop) - c->last;
	bool stalled = c->in_len || c->out_off < c->out.len;

	(void)revents;
	if (c->job) {
		/* Waiting for its job is not stalling. */
	} else if (stalled && idle >= c->ctl->timeout) {
		client_close(c, c->out_off < c->out.len ? "its reply not read"
							: "a request half sent");
		return;
	} else if (!stalled && idle >= IDLE_TIMEOUT) {
		client_close(c, NULL);
		return;
	}
	ev_timer_again(loop, w);
}

/* Whether the peer holds CAP_SYS_ADMIN (its effective set). */
static bool peer_has_admin(pid_t pid)
{
	char path[64], line[256];
	unsigned long long caps;
	bool admin = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1) {
			admin = caps & (1ull << CAP_SYS_ADMIN_BIT);
			break;
		}
	fclose(f);
	return admin;
}

static bool peer_in_group(int fd, gid_t primary, gid_t gid)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (primary == gid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len))
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct zpd_control *ctl = w->data;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct client *c;
	int fd;

	(void)revents;
	fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (ctl->nr_clients >= MAX_CLIENTS) {
		static const char busy[] =
			ZP_PROTO_MAGIC "1 error busy too many clients\n.\n";

		if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL) < 0) {
			/* It learns it from the closed connection. */
		}
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		free(c);
		close(fd);
		return;
	}
	c->ctl = ctl;
	c->fd = fd;
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->admin = cred.uid == 0 || peer_has_admin(cred.pid);
	c->reader = c->admin || peer_in_group(fd, cred.gid, ctl->gid);
	c->last = ev_now(loop);
	ev_io_init(&c->rio, on_client_read, fd, EV_READ);
	ev_io_init(&c->wio, on_client_write, fd, EV_WRITE);
	ev_timer_init(&c->timer, on_client_timer, 0, 1.0);
	c->rio.data = c->wio.data = c->timer.data = c;
	ev_io_start(loop, &c->rio);
	ev_timer_again(loop, &c->timer);
	c->next = ctl->clients;
	if (c->next)
		c->next->prev = c;
	ctl->clients = c;
	ctl->nr_clients++;
}

/* ---------------------------------------------------------------------------
 * The job thread
 * ------------------------------------------------------------------------ */

static void *job_main(void *arg)
{
	struct zpd_control *ctl = arg;

	zpd_thread_prefault();
	pthread_mutex_lock(&ctl->lock);
	for (;;) {
		struct job *j;

		while (!ctl->queue && !ctl->stop)
			pthread_cond_wait(&ctl->cond, &ctl->lock);
		if (ctl->stop)
			break;
		j = ctl->queue;
		ctl->queue = j->next;
		if (!ctl->queue)
			ctl->queue_tail = &ctl->queue;
		pthread_mutex_unlock(&ctl->lock);

		j->code = zpd_command_run(ctl->env, &j->req, j->stage,
					  &j->reply);

		pthread_mutex_lock(&ctl->lock);
		j->next = ctl->done;
		ctl->done = j;
		ev_async_send(ctl->loop, &ctl->done_w);
	}
	pthread_mutex_unlock(&ctl->lock);
	return NULL;
}

static void job_free(struct job *j)
{
	if (j->client)
		j->client->job = NULL;
	zpd_reply_free(&j->reply);
	free(j);
}

static void waiting_remove(struct job *j)
{
	if (j->later_prev)
		j->later_prev->later_next = j->later_next;
	else
		j->ctl->waiting = j->later_next;
	if (j->later_next)
		j->later_next->later_prev = j->later_prev;
}

static void on_job_later(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job *j = w->data;

	(void)loop, (void)revents;
	waiting_remove(j);
	enqueue_job(j->ctl, j);
}

static void on_job_done(struct ev_loop *loop, ev_async *w, int revents)
{
	struct zpd_control *ctl = w->data;
	struct job *done, *next;

	(void)revents;
	pthread_mutex_lock(&ctl->lock);
	done = ctl->done;
	ctl->done = NULL;
	pthread_mutex_unlock(&ctl->lock);
	for (; done; done = next) {
		struct client *c = done->client;

		next = done->next;
		if (done->code == ZPD_CMD_LATER) {
			/* The next stage, after the delay it asked for. */
			done->stage++;
			ev_timer_init(&done->later, on_job_later,
				      done->reply.later, 0);
			done->later.data = done;
			ev_timer_start(loop, &done->later);
			done->later_prev = NULL;
			done->later_next = ctl->waiting;
			if (ctl->waiting)
				ctl->waiting->later_prev = done;
			ctl->waiting = done;
			continue;
		}
		if (c) {
			c->job = NULL;
			c->last = ev_now(loop);
			client_reply(c, done->code, &done->reply);
		}
		done->client = NULL;
		job_free(done);
	}
}

/* ---------------------------------------------------------------------------
 * Start and stop
 * ------------------------------------------------------------------------ */

/* Another daemon answering at path? */
static bool socket_alive(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	alive = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return alive;
}

static int listen_at(struct zpd_control *ctl, const char *group, char *err,
		     size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(ctl->path)], *slash;
	struct stat st;
	mode_t mask;
	int ret;

	if (*group) {
		struct group gr, *found = NULL;
		char buf[4096];

		getgrnam_r(group, &gr, buf, sizeof(buf), &found);
		if (!found) {
			snprintf(err, errlen,
				 "[daemon] control_group: no group named '%s'",
				 group);
			return -EINVAL;
		}
		ctl->gid = gr.gr_gid;
	} else {
		ctl->gid = getegid();
	}
	snprintf(dir, sizeof(dir), "%s", ctl->path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		ret = zpd_make_dirs(dir, err, errlen);
		if (ret)
			return ret;
	}
	if (lstat(ctl->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen,
				 "cannot make the control socket '%s': a file "
				 "that is not a socket is in the way",
				 ctl->path);
			return -EEXIST;
		}
		if (socket_alive(ctl->path)) {
			snprintf(err, errlen,
				 "another daemon answers at the control socket "
				 "'%s' (another zpoold?)",
				 ctl->path);
			return -EADDRINUSE;
		}
		/* Left by a daemon that is gone. */
		unlink(ctl->path);
	}
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			 0);
	if (ctl->fd < 0)
		goto fail;
	memcpy(sa.sun_path, ctl->path, strlen(ctl->path) + 1);
	/* The mode comes from the umask at bind: never a moment of 0777. */
	mask = umask(0117);
	ret = bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(mask);
	if (ret)
		goto fail;
	if (chown(ctl->path, (uid_t)-1, ctl->gid) ||
	    chmod(ctl->path, 0660) || listen(ctl->fd, 16))
		goto fail_unlink;
	return 0;

fail_unlink:
	ret = -errno;
	unlink(ctl->path);
	errno = -ret;
fail:
	ret = -errno;
	snprintf(err, errlen, "cannot make the control socket '%s': %s",
		 ctl->path, strerror(errno));
	if (ctl->fd >= 0)
		close(ctl->fd);
	ctl->fd = -1;
	return ret;
}

int zpd_control_start(struct ev_loop *loop, struct zpd_ctl_env *env,
		      struct zpd_control **out, char *err, size_t errlen)
{
	const struct zpd_config *cfg = env->cfg;
	struct zpd_control *ctl;
	int ret;

	*out = NULL;
	if (!cfg->control_socket[0])
		return 0;
	if (strlen(cfg->control_socket) >= sizeof(ctl->path)) {
		snprintf(err, errlen,
			 "[daemon] control_socket: '%s' is longer than a "
			 "socket's path may be (%zu bytes)",
			 cfg->control_socket, sizeof(ctl->path) - 1);
		return -ENAMETOOLONG;
	}
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl) {
		snprintf(err, errlen, "cannot start the control socket: %s",
			 strerror(ENOMEM));
		return -ENOMEM;
	}
	ctl->loop = loop;
	ctl->env = env;
	ctl->fd = -1;
	ctl->timeout = cfg->control_timeout;
	ctl->queue_tail = &ctl->queue;
	snprintf(ctl->path, sizeof(ctl->path), "%s", cfg->control_socket);
	pthread_mutex_init(&ctl->lock, NULL);
	pthread_cond_init(&ctl->cond, NULL);
	ret = listen_at(ctl, cfg->control_group, err, errlen);
	if (ret)
		goto fail;
	ret = pthread_create(&ctl->thread, NULL, job_main, ctl);
	if (ret) {
		snprintf(err, errlen, "cannot start the control thread: %s",
			 strerror(ret));
		ret = -ret;
		goto fail;
	}
	pthread_setname_np(ctl->thread, "zpoold-ctl");
	ctl->thread_started = true;
	ev_async_init(&ctl->done_w, on_job_done);
	ctl->done_w.data = ctl;
	ev_async_start(loop, &ctl->done_w);
	ev_io_init(&ctl->accept_w, on_accept, ctl->fd, EV_READ);
	ctl->accept_w.data = ctl;
	ev_io_start(loop, &ctl->accept_w);
	*out = ctl;
	return 0;

fail:
	zpd_control_stop(ctl);
	return ret;
}

void zpd_control_stop(struct zpd_control *ctl)
{
	struct job *j, *next;

	if (!ctl)
		return;
	if (ctl->fd >= 0) {
		ev_io_stop(ctl->loop, &ctl->accept_w);
		close(ctl->fd);
		unlink(ctl->path);
	}
	while (ctl->clients)
		client_close(ctl->clients, NULL);
	if (ctl->thread_started) {
		/* A job in progress finishes first; queued ones do not
		 * start. */
		pthread_mutex_lock(&ctl->lock);
		ctl->stop = true;
		pthread_cond_signal(&ctl->cond);
		pthread_mutex_unlock(&ctl->lock);
		pthread_join(ctl->thread, NULL);
		ev_async_stop(ctl->loop, &ctl->done_w);
	}
	for (j = ctl->queue; j; j = next) {
		next = j->next;
		job_free(j);
	}
	for (j = ctl->done; j; j = next) {
		next = j->next;
		job_free(j);
	}
	while ((j = ctl->waiting)) {
		ev_timer_stop(ctl->loop, &j->later);
		waiting_remove(j);
		job_free(j);
	}
	pthread_cond_destroy(&ctl->cond);
	pthread_mutex_destroy(&ctl->lock);
	free(ctl);
}
