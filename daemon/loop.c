/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * loop.c - the request loop: worker threads that take requests from
 * /dev/fuse, one leader at a time, and poll briefly before sleeping.
 *
 * A swap-in is a synchronous round trip: the faulting task waits while
 * the loop device's worker sends a read to FUSE, a daemon thread takes it,
 * decompresses and replies. If that daemon thread was asleep, waking it
 * (an inter-processor interrupt, a halted virtual CPU brought back) costs
 * as much as the rest of the trip. So the thread that waits for the next
 * request first polls the device, without sleeping, for up to poll_us
 * microseconds, and only then sleeps in poll(2). Traffic that comes in
 * bursts (swap under memory pressure) finds a thread awake; an idle
 * daemon sleeps. poll_us = 0 never polls.
 *
 * Only one thread (the leader) waits on the device at a time, the others
 * wait on a condition variable: several sleeping readers would all be
 * woken by each request, and several polling ones would take every CPU.
 * The leader serves a small request that it waited for itself and goes
 * back to waiting. Before a large request it hands the device to the next
 * idle thread, so that large requests are served in parallel by up to the
 * configured number of threads; small ones too when they queue up, but by
 * at most one thread fewer than the machine has CPUs: the tasks that
 * issue them need a CPU as well, and a thread woken to share the work
 * would only take it from them (on two CPUs one thread serves small
 * requests).
 *
 * A request is never abandoned half-way: stopping waits for the requests
 * being served and then ends every thread where it waits.
 */
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "daemon/internal.h"

/* Reads and writes up to this size are served by the thread that waited
 * for them (see worker_main). */
#define SMALL_IO (32u << 10)
/* libfuse 3.14 reads a request into a buffer of FUSE_MAX_MAX_PAGES (256)
 * pages and a header page; a request is never larger. */
#define REQUEST_BUF_BYTES (257u * 4096u)

struct zpd_loop {
	struct fuse_session *se;
	int fd;                 /* /dev/fuse, non-blocking */
	int stop_fd;            /* eventfd: wakes a leader asleep in poll(2) */
	unsigned int nr_threads;
	uint64_t poll_ns;

	pthread_mutex_t lock;
	pthread_cond_t idle;    /* threads that are not the leader */
	bool have_leader;       /* someone waits on the device */
	bool stopping;
	unsigned int busy;      /* threads serving a request */
	/* Threads that serve small requests at once: one CPU fewer than the
	 * machine has (at least one), the rest are the issuers'. */
	unsigned int small_max;
	int error;              /* first error from the device, -errno */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool loop_stopping(struct zpd_loop *l)
{
	return __atomic_load_n(&l->stopping, __ATOMIC_ACQUIRE);
}

/* Wait for the next request: poll the device for up to poll_ns, then
 * sleep until it (or the stop eventfd) is readable. Returns the request's
 * size, 0 when the loop ends (stopped, or the file system was unmounted)
 * or -errno; *queued tells whether the request was there at once. */
static int wait_request(struct zpd_loop *l, struct fuse_buf *buf,
			bool *queued)
{
	uint64_t deadline = 0;
	struct pollfd pfd[2] = {
		{ .fd = l->fd, .events = POLLIN },
		{ .fd = l->stop_fd, .events = POLLIN },
	};
	int res;

	*queued = true;
	for (;;) {
		res = fuse_session_receive_buf(l->se, buf);
		if (res > 0 || (res < 0 && res != -EAGAIN && res != -EINTR))
			return res;
		if (res == 0 || loop_stopping(l))
			return 0;
		*queued = false;
		if (l->poll_ns && !__atomic_load_n(&l->busy, __ATOMIC_RELAXED)) {
			uint64_t now = mono_ns();

			if (!deadline)
				deadline = now + l->poll_ns;
			if (now < deadline) {
				sched_yield();
				continue;
			}
		}
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			return -errno;
		if (pfd[1].revents)
			return 0;
		/* Woken by a request: poll again after it if the next one
		 * is not there yet. */
		deadline = 0;
	}
}

/* A request that takes long to serve: reads and writes of more than
 * SMALL_IO bytes, and anything libfuse left in a pipe (splice). */
static bool request_is_large(const struct fuse_buf *buf)
{
	const struct fuse_in_header *in = buf->mem;
	const struct fuse_read_in *rd = (const void *)(in + 1);

	if (buf->flags & FUSE_BUF_IS_FD)
		return true;
	if (buf->size > SMALL_IO)
		return true;
	return in->opcode == FUSE_READ && buf->size >= sizeof(*in) + sizeof(*rd) &&
	       rd->size > SMALL_IO;
}

static void *worker_main(void *arg)
{
	struct zpd_loop *l = arg;
	struct fuse_buf buf;
	bool leader = false, queued;
	void *mem; /* the request buffer libfuse reads into */
	int res;

	/* "top -H" and the tests tell the workers apart by this name. */
	pthread_setname_np(pthread_self(), ZPD_WORKER_NAME);
	/* The stack and the request buffer, faulted in before the first
	 * request (libfuse would malloc the buffer then, and its pages
	 * would be faulted in as requests fill it). */
	zpd_thread_prefault();
	mem = malloc(REQUEST_BUF_BYTES);
	if (mem)
		memset(mem, 0, REQUEST_BUF_BYTES);

	for (;;) {
		if (!leader) {
			pthread_mutex_lock(&l->lock);
			while (l->have_leader && !l->stopping)
				pthread_cond_wait(&l->idle, &l->lock);
			if (l->stopping) {
				pthread_mutex_unlock(&l->lock);
				break;
			}
			l->have_leader = true;
			pthread_mutex_unlock(&l->lock);
			leader = true;
		}

		/* Spliced requests come back in a pipe, without the buffer. */
		buf = (struct fuse_buf){ .mem = mem };
		res = wait_request(l, &buf, &queued);
		if (buf.mem)
			mem = buf.mem;
		if (res <= 0) {
			pthread_mutex_lock(&l->lock);
			l->have_leader = false;
			if (res < 0 && !l->error)
				l->error = res;
			__atomic_store_n(&l->stopping, true, __ATOMIC_RELEASE);
			pthread_cond_broadcast(&l->idle);
			pthread_mutex_unlock(&l->lock);
			break;
		}
		/*
		 * A small request that came while this thread waited is
		 * served by the leader itself, which then waits for the next
		 * one: a stream of synchronous requests (swap-ins) stays on
		 * one polling thread. A large request goes with the device
		 * handed to the next idle thread first; so does a small one
		 * that was already queued (more come than one thread serves)
		 * while fewer than small_max threads serve.
		 */
		if (request_is_large(&buf) ||
		    (queued && __atomic_load_n(&l->busy, __ATOMIC_RELAXED) + 1 <
				       l->small_max)) {
			pthread_mutex_lock(&l->lock);
			l->have_leader = false;
			pthread_cond_signal(&l->idle);
			pthread_mutex_unlock(&l->lock);
			leader = false;
		}
		__atomic_add_fetch(&l->busy, 1, __ATOMIC_RELAXED);
		fuse_session_process_buf(l->se, &buf);
		__atomic_sub_fetch(&l->busy, 1, __ATOMIC_RELAXED);
	}
	free(mem);
	return NULL;
}

int zpd_loop_new(struct fuse_session *se, unsigned int threads,
		 unsigned int poll_us, struct zpd_loop **out)
{
	struct zpd_loop *l;
	long cpus;
	int flags, ret;

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->se = se;
	l->fd = fuse_session_fd(se);
	l->nr_threads = threads ? threads : 1;
	l->poll_ns = (uint64_t)poll_us * 1000u;
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	l->small_max = cpus > 2 ? (unsigned int)cpus - 1 : 1;
	flags = fcntl(l->fd, F_GETFL);
	if (flags < 0 || fcntl(l->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		ret = -errno;
		free(l);
		return ret;
	}
	l->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->stop_fd < 0) {
		ret = -errno;
		free(l);
		return ret;
	}
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->idle, NULL);
	*out = l;
	return 0;
}

int zpd_loop_run(struct zpd_loop *l)
{
	pthread_t *threads;
	unsigned int i, started = 0;
	int ret = 0;

	threads = calloc(l->nr_threads, sizeof(*threads));
	if (!threads)
		return -ENOMEM;
	/* The calling thread is one of the workers. */
	for (i = 1; i < l->nr_threads; i++) {
		ret = pthread_create(&threads[i], NULL, worker_main, l);
		if (ret) {
			zpd_loop_stop(l);
			ret = -ret;
			break;
		}
		started++;
	}
	if (!ret)
		worker_main(l);
	for (i = 1; i <= started; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	return ret ? ret : l->error;
}

void zpd_loop_stop(struct zpd_loop *l)
{
	uint64_t one = 1;

	fuse_session_exit(l->se);
	pthread_mutex_lock(&l->lock);
	__atomic_store_n(&l->stopping, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&l->idle);
	pthread_mutex_unlock(&l->lock);
	if (write(l->stop_fd, &one, sizeof(one)) < 0) {
		/* Only a full counter fails, and then it is readable. */
	}
}

void zpd_loop_free(struct zpd_loop *l)
{
	if (!l)
		return;
	close(l->stop_fd);
	pthread_cond_destroy(&l->idle);
	pthread_mutex_destroy(&l->lock);
	free(l);
}
