/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * safety.c - what keeps a swap daemon alive when memory runs out, and
 * what keeps it from dropping swapped pages.
 *
 * A swap device served from user space deadlocks as soon as serving a
 * swap-out needs memory that only a swap-out could free. So:
 *  - all memory is locked (mlockall with MCL_ONFAULT: locked as it is
 *    touched, so the lazily mapped block index does not become resident at
 *    once), and the pool locks its own chunks;
 *  - PR_SET_IO_FLUSHER makes the kernel treat our allocations like a block
 *    driver's (no reclaim that waits for I/O, throttled only locally);
 *  - oom_score_adj keeps the OOM killer away (-1000 by default);
 *  - what the I/O path needs is made before the mount (workers, buffers,
 *    the pool's reserve), and faulted in then: MCL_ONFAULT locks a page
 *    only when it is first touched, and a first touch when memory has run
 *    out waits forever (the fault's reclaim may not write to swap, the OOM
 *    killer does not act for an I/O flusher's allocations, and the
 *    swap-outs that would free memory wait on the daemon). So every
 *    thread has a small stack that it faults in whole as it starts
 *    (zpd_thread_prefault), malloc keeps one arena and what it was given
 *    back, and once set up the daemon faults in every private writable
 *    mapping it has, but for the sparse ones it reserved with
 *    MAP_NORESERVE: the block indexes (made resident when a volume
 *    becomes swap) and the pool's, which asks the kernel before it grows
 *    (pool/numa.c) (zpd_prefault_self).
 * And on stop: a volume that is active swap (through a loop device) holds
 * pages that exist nowhere else, so main.c asks zpd_loops_of() and
 * zpd_is_swap() before unmounting.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon/internal.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57 /* Linux 5.6 */
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4 /* Linux 4.4 */
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/* Stacks of the daemon's threads, faulted in whole: no path of the daemon
 * is deep (its largest frames hold a page or two). */
#define THREAD_STACK_BYTES (512u << 10)
/* How much of the main thread's stack is faulted in ahead. */
#define MAIN_STACK_BYTES (256u << 10)
/* The heap grown ahead of need and kept: what control replies, libfuse's
 * request records and the like take from malloc is there already. */
#define HEAP_AHEAD_BYTES (4u << 20)

static int write_file(const char *path, const char *text)
{
	size_t len = strlen(text);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, len);
	if (n < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	close(fd);
	return (size_t)n == len ? 0 : -EIO;
}

/* Fault in the range of the calling thread's stack, guard excluded. */
void zpd_thread_prefault(void)
{
	pthread_attr_t attr;
	size_t size, guard = 0;
	void *addr;

	if (pthread_getattr_np(pthread_self(), &attr))
		return;
	if (!pthread_attr_getstack(&attr, &addr, &size) &&
	    !pthread_attr_getguardsize(&attr, &guard) && size > guard &&
	    size <= 4 * THREAD_STACK_BYTES)
		(void)madvise((char *)addr + guard, size - guard,
			      MADV_POPULATE_WRITE);
	pthread_attr_destroy(&attr);
}

/* The main thread's stack grows as it is touched: touch it now. */
__attribute__((noinline)) static void grow_main_stack(void)
{
	volatile char frame[MAIN_STACK_BYTES];

	for (size_t i = 0; i < sizeof(frame); i += 4096)
		frame[i] = 0;
}

/* "7f..-7f.. rw-p ..." and, later in its block, "VmFlags: rd wr ... nr".
 * Private writable mappings are faulted in for writing, the others that
 * can be read (code, read-only data) for reading: a page of the program
 * that is not mapped yet may have to come back from swap, which may be
 * the daemon's own. */
static void *prefaulted_heap_end; /* main thread only */

int zpd_prefault_self(void)
{
	FILE *f;

	prefaulted_heap_end = sbrk(0);
	f = fopen("/proc/self/smaps", "re");
	char line[PATH_MAX + 256], perms[8] = "";
	unsigned long start = 0, end = 0;
	size_t faulted = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		char p[8];
		int advice;

		if (sscanf(line, "%lx-%lx %7s ", &a, &b, p) == 3 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			start = a, end = b;
			memcpy(perms, p, sizeof(perms));
			continue;
		}
		if (strncmp(line, "VmFlags:", 8) || end <= start)
			continue;
		/* Not reserved sparse (nr), not I/O or PFN mappings (io,
		 * pf), not inaccessible. */
		if (strstr(line, " nr") || strstr(line, " io") ||
		    strstr(line, " pf") || perms[0] != 'r')
			continue;
		advice = perms[1] == 'w' && perms[3] == 'p' ?
				 MADV_POPULATE_WRITE : MADV_POPULATE_READ;
		if (madvise((void *)start, end - start, advice) == 0)
			faulted += end - start;
		end = start;
	}
	fclose(f);
	zpd_log(LOG_DEBUG, "faulted in %.1f MiB of the daemon's memory",
		faulted / 1048576.0);
	return 0;
}

void zpd_prefault_again(void)
{
	if (sbrk(0) != prefaulted_heap_end)
		zpd_prefault_self();
}

int zpd_safety_setup(const struct zpd_config *cfg, char *err, size_t errlen)
{
	pthread_attr_t attr;
	char value[16];
	void *heap;
	int ret;

	/* One arena (threads' own arenas are sparse reservations, faulted
	 * in as used), nothing given back, and the heap grown ahead. */
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_TRIM_THRESHOLD, INT32_MAX);
	mallopt(M_MMAP_THRESHOLD, 2 * HEAP_AHEAD_BYTES);
	heap = malloc(HEAP_AHEAD_BYTES);
	free(heap);
#ifndef __SANITIZE_THREAD__
	/* (ThreadSanitizer's pthread_create() refuses threads made with a
	 * default stack size set this way: EINVAL.) */
	if (!pthread_attr_init(&attr)) {
		if (!pthread_attr_setstacksize(&attr, THREAD_STACK_BYTES))
			pthread_setattr_default_np(&attr);
		pthread_attr_destroy(&attr);
	}
#else
	(void)attr;
#endif
	grow_main_stack();

	if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)) {
		snprintf(err, errlen,
			 "cannot lock the daemon's memory (mlockall): %s",
			 strerror(errno));
		return -errno;
	}
	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0))
		zpd_log(LOG_WARNING,
			"cannot mark the daemon an I/O flusher "
			"(PR_SET_IO_FLUSHER): %s; swap-out under memory "
			"pressure may stall",
			strerror(errno));
	snprintf(value, sizeof(value), "%d", cfg->oom_score_adj);
	ret = write_file("/proc/self/oom_score_adj", value);
	if (ret)
		zpd_log(LOG_WARNING, "cannot set oom_score_adj to %d: %s",
			cfg->oom_score_adj, strerror(-ret));
	return 0;
}

int zpd_make_dirs(const char *path, char *err, size_t errlen)
{
	char buf[PATH_MAX], *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1;; p++) {
		if (*p && *p != '/')
			continue;
		bool last = !*p;

		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST) {
			int ret = -errno;

			snprintf(err, errlen, "cannot make directory '%s': %s",
				 buf, strerror(errno));
			return ret;
		}
		if (last)
			return 0;
		*p = '/';
	}
}

/* Read a sysfs attribute into buf, without its newline. */
static int read_attr(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	return 0;
}

int zpd_loops_of(const char *path, char *buf, size_t len)
{
	DIR *dir = opendir("/sys/block");
	struct dirent *de;
	size_t used = 0;
	int count = 0;

	if (len)
		buf[0] = '\0';
	if (!dir)
		return 0;
	while ((de = readdir(dir))) {
		char attr[PATH_MAX], backing[PATH_MAX];
		int n;

		if (strncmp(de->d_name, "loop", 4))
			continue;
		snprintf(attr, sizeof(attr), "/sys/block/%s/loop/backing_file",
			 de->d_name);
		if (read_attr(attr, backing, sizeof(backing)))
			continue;
		if (strcmp(backing, path))
			continue;
		n = snprintf(buf + used, len > used ? len - used : 0,
			     "/dev/%s", de->d_name);
		if (n > 0 && used + (size_t)n + 1 < len)
			used += (size_t)n + 1;
		count++;
	}
	closedir(dir);
	return count;
}

bool zpd_is_swap(const char *dev)
{
	FILE *f = fopen("/proc/swaps", "re");
	char line[PATH_MAX + 128], name[PATH_MAX];
	bool found = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%4095s", name) == 1 && !strcmp(name, dev))
			found = true;
	fclose(f);
	return found;
}

/* Whether a FUSE file system is mounted exactly at path. */
static bool fuse_mounted_at(const char *path)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char line[2 * PATH_MAX + 256], dir[PATH_MAX], type[256];
	bool found = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %4095s %255s", dir, type) == 2 &&
		    !strcmp(dir, path) && !strncmp(type, "fuse", 4))
			found = true;
	fclose(f);
	return found;
}

int zpd_clean_stale_mount(const char *mountpoint)
{
	struct statfs sfs;
	int cleaned = 0;

	/* stat() may be answered from attributes the kernel cached while
	 * the daemon lived; statfs() always asks the file system, and a
	 * connection without a daemon answers ENOTCONN. Mounts may be
	 * stacked, so repeat. */
	while (fuse_mounted_at(mountpoint)) {
		if (!statfs(mountpoint, &sfs))
			return -EBUSY;
		if (errno != ENOTCONN)
			return -errno;
		if (umount2(mountpoint, MNT_DETACH))
			return -errno;
		cleaned = 1;
	}
	return cleaned;
}
