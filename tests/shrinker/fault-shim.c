/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fault-shim.c - an LD_PRELOAD library that makes I/O on one file fail on
 * demand, for the daemon's writeback error tests.
 *
 *   gcc -shared -fPIC -O2 -o fault-shim.so fault-shim.c -ldl
 *   LD_PRELOAD=./fault-shim.so ZT_FAULT_PATH=/path/of/backing \
 *       ZT_FAULT_CTL=/path/of/ctl [ZT_FAULT_COUNT=/path/of/count] zpoold ...
 *
 * ZT_FAULT_PATH names the file, exactly as the program opens it: every
 * descriptor that open, open64, openat or openat64 (and the fortified
 * __open_2 & co.) return for that path is remembered until it is closed,
 * and pread, pread64, pwrite, pwrite64 and the preadv/pwritev family on
 * those descriptors are intercepted. Descriptors made from them with dup
 * or fcntl are not followed.
 *
 * ZT_FAULT_CTL names a control file, looked at on every intercepted call
 * (a stat(2); it is read again only when its inode, size, mtime or ctime
 * changed). Its content is one line:
 *
 *   off | (empty) | (missing file)   nothing fails
 *   write ERR [N]                    pwrite fails with ERR
 *   read ERR [N]                     pread fails with ERR
 *   both ERR [N]                     both fail
 *
 * ERR is EIO, ENOSPC, EROFS, EFBIG or a number; with N only the next N
 * calls of that kind fail (counted from when the change was seen), then
 * nothing does until the file changes again. Write a different content
 * (or wait 10 ms: timestamps are coarse) to give the same order twice.
 * Failing means returning -1 with errno set, without doing the I/O. A line
 * that does not parse is reported once on stderr and taken for "off".
 *
 * ZT_FAULT_COUNT, if set, names a file that holds, after every injected
 * fault (and from the start), "writes W reads R": the faults injected so
 * far. It is replaced by rename(2), so a reader never sees half of it.
 *
 * The library removes LD_PRELOAD from the environment when it loads, so
 * that programs the daemon starts (swapoff) run without it.
 *
 * Thread-safe: descriptors are tracked in an array of atomic flags, and the
 * decision to fail is taken under one mutex (the I/O itself runs outside
 * it). Nothing here allocates after start-up: the I/O path of the daemon
 * must not allocate, and neither may its fault injector.
 */
#undef _FORTIFY_SOURCE
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FDS 65536

/* The interposed functions, also those that no header declares unless
 * _FORTIFY_SOURCE is on. */
int open(const char *path, int flags, ...);
int open64(const char *path, int flags, ...);
int openat(int dirfd, const char *path, int flags, ...);
int openat64(int dirfd, const char *path, int flags, ...);
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
int close(int fd);
ssize_t pread(int fd, void *buf, size_t len, off_t off);
ssize_t pread64(int fd, void *buf, size_t len, off64_t off);
ssize_t pwrite(int fd, const void *buf, size_t len, off_t off);
ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off);
ssize_t preadv(int fd, const struct iovec *iov, int n, off_t off);
ssize_t preadv64(int fd, const struct iovec *iov, int n, off64_t off);
ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off);
ssize_t pwritev64(int fd, const struct iovec *iov, int n, off64_t off);
ssize_t preadv2(int fd, const struct iovec *iov, int n, off_t off, int fl);
ssize_t pwritev2(int fd, const struct iovec *iov, int n, off_t off, int fl);

static struct {
	int (*open)(const char *, int, ...);
	int (*open64)(const char *, int, ...);
	int (*openat)(int, const char *, int, ...);
	int (*openat64)(int, const char *, int, ...);
	int (*open_2)(const char *, int);
	int (*open64_2)(const char *, int);
	int (*openat_2)(int, const char *, int);
	int (*openat64_2)(int, const char *, int);
	int (*close)(int);
	ssize_t (*pread)(int, void *, size_t, off_t);
	ssize_t (*pread64)(int, void *, size_t, off64_t);
	ssize_t (*pwrite)(int, const void *, size_t, off_t);
	ssize_t (*pwrite64)(int, const void *, size_t, off64_t);
	ssize_t (*preadv)(int, const struct iovec *, int, off_t);
	ssize_t (*preadv64)(int, const struct iovec *, int, off64_t);
	ssize_t (*pwritev)(int, const struct iovec *, int, off_t);
	ssize_t (*pwritev64)(int, const struct iovec *, int, off64_t);
	ssize_t (*preadv2)(int, const struct iovec *, int, off_t, int);
	ssize_t (*pwritev2)(int, const struct iovec *, int, off_t, int);
} real;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char fault_path[PATH_MAX];
static char ctl_path[PATH_MAX];
static char count_path[PATH_MAX];
static char count_tmp[PATH_MAX + 8];
static _Atomic unsigned char tracked[MAX_FDS];

/* The current order and what is known of the control file: under lock. */
enum { DIR_READ = 1, DIR_WRITE = 2 };
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
} ctl_seen;
static int fault_dirs;        /* DIR_READ | DIR_WRITE, 0 = off */
static int fault_errno;
static long fault_left;       /* calls still to fail; -1 = all of them */
static unsigned long nr_write_faults, nr_read_faults;

static void say(const char *a, const char *b)
{
	/* write(2) directly: no stdio buffer, no allocation. */
	ssize_t r = write(STDERR_FILENO, "fault-shim: ", 12);

	r = write(STDERR_FILENO, a, strlen(a));
	if (b)
		r = write(STDERR_FILENO, b, strlen(b));
	r = write(STDERR_FILENO, "\n", 1);
	(void)r;
}

static void *must_sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p) {
		say("cannot find the real ", name);
		abort();
	}
	return p;
}

/* Some of these exist only in some C libraries: NULL is fine for those,
 * they are only ever called through their own wrapper. */
static void resolve(void)
{
	real.open = must_sym("open");
	real.open64 = dlsym(RTLD_NEXT, "open64");
	real.openat = must_sym("openat");
	real.openat64 = dlsym(RTLD_NEXT, "openat64");
	real.open_2 = dlsym(RTLD_NEXT, "__open_2");
	real.open64_2 = dlsym(RTLD_NEXT, "__open64_2");
	real.openat_2 = dlsym(RTLD_NEXT, "__openat_2");
	real.openat64_2 = dlsym(RTLD_NEXT, "__openat64_2");
	real.close = must_sym("close");
	real.pread = must_sym("pread");
	real.pread64 = dlsym(RTLD_NEXT, "pread64");
	real.pwrite = must_sym("pwrite");
	real.pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
	real.preadv = dlsym(RTLD_NEXT, "preadv");
	real.preadv64 = dlsym(RTLD_NEXT, "preadv64");
	real.pwritev = dlsym(RTLD_NEXT, "pwritev");
	real.pwritev64 = dlsym(RTLD_NEXT, "pwritev64");
	real.preadv2 = dlsym(RTLD_NEXT, "preadv2");
	real.pwritev2 = dlsym(RTLD_NEXT, "pwritev2");
}

static void copy_env(char *dst, size_t len, const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v)
		return;
	if (strlen(v) >= len) {
		say("path too long in ", name);
		abort();
	}
	strcpy(dst, v);
}

static void write_count(void);

static void init(void)
{
	resolve();
	copy_env(fault_path, sizeof(fault_path), "ZT_FAULT_PATH");
	copy_env(ctl_path, sizeof(ctl_path), "ZT_FAULT_CTL");
	copy_env(count_path, sizeof(count_path), "ZT_FAULT_COUNT");
	if (*count_path) {
		strcpy(count_tmp, count_path);
		strcat(count_tmp, ".tmp");
		pthread_mutex_lock(&lock);
		write_count();
		pthread_mutex_unlock(&lock);
	}
	if (!*fault_path)
		say("ZT_FAULT_PATH is not set: no file is watched", NULL);
	/* Only the program it was preloaded into, not what that runs. */
	unsetenv("LD_PRELOAD");
}

static void ensure_init(void)
{
	pthread_once(&once, init);
}

__attribute__((constructor)) static void shim_ctor(void)
{
	ensure_init();
}

/* --- the descriptors of the file ------------------------------------------------ */

static void note_open(const char *path, int fd)
{
	if (fd < 0 || !*fault_path || !path || strcmp(path, fault_path) != 0)
		return;
	if (fd >= MAX_FDS) {
		say("descriptor too high to follow for ", path);
		return;
	}
	atomic_store(&tracked[fd], 1);
}

static bool is_tracked(int fd)
{
	return fd >= 0 && fd < MAX_FDS && atomic_load_explicit(&tracked[fd],
							       memory_order_relaxed);
}

static bool needs_mode(int flags)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

/* Each open passes a mode only when the flags say it was given one. */
#define MODE_ARG(flags)                                                       \
	mode_t mode = 0;                                                      \
	if (needs_mode(flags)) {                                              \
		va_list ap;                                                   \
		va_start(ap, flags);                                          \
		mode = va_arg(ap, mode_t);                                    \
		va_end(ap);                                                   \
	}

int open(const char *path, int flags, ...)
{
	int fd;
	MODE_ARG(flags)

	ensure_init();
	fd = real.open(path, flags, mode);
	note_open(path, fd);
	return fd;
}

int open64(const char *path, int flags, ...)
{
	int fd;
	MODE_ARG(flags)

	ensure_init();
	fd = real.open64 ? real.open64(path, flags, mode)
			 : real.open(path, flags | O_LARGEFILE, mode);
	note_open(path, fd);
	return fd;
}

int openat(int dirfd, const char *path, int flags, ...)
{
	int fd;
	MODE_ARG(flags)

	ensure_init();
	fd = real.openat(dirfd, path, flags, mode);
	note_open(path, fd);
	return fd;
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	int fd;
	MODE_ARG(flags)

	ensure_init();
	fd = real.openat64 ? real.openat64(dirfd, path, flags, mode)
			   : real.openat(dirfd, path, flags | O_LARGEFILE, mode);
	note_open(path, fd);
	return fd;
}

int __open_2(const char *path, int flags)
{
	int fd;

	ensure_init();
	fd = real.open_2 ? real.open_2(path, flags) : real.open(path, flags);
	note_open(path, fd);
	return fd;
}

int __open64_2(const char *path, int flags)
{
	int fd;

	ensure_init();
	fd = real.open64_2 ? real.open64_2(path, flags)
			   : real.open(path, flags | O_LARGEFILE);
	note_open(path, fd);
	return fd;
}

int __openat_2(int dirfd, const char *path, int flags)
{
	int fd;

	ensure_init();
	fd = real.openat_2 ? real.openat_2(dirfd, path, flags)
			   : real.openat(dirfd, path, flags);
	note_open(path, fd);
	return fd;
}

int __openat64_2(int dirfd, const char *path, int flags)
{
	int fd;

	ensure_init();
	fd = real.openat64_2 ? real.openat64_2(dirfd, path, flags)
			     : real.openat(dirfd, path, flags | O_LARGEFILE);
	note_open(path, fd);
	return fd;
}

int close(int fd)
{
	ensure_init();
	/* Forgotten before the number can be reused by another open. */
	if (is_tracked(fd))
		atomic_store(&tracked[fd], 0);
	return real.close(fd);
}

/* --- the control file ----------------------------------------------------------------- */

static int parse_errno(const char *s)
{
	static const struct {
		const char *name;
		int err;
	} names[] = {
		{ "EIO", EIO },     { "ENOSPC", ENOSPC }, { "EROFS", EROFS },
		{ "EFBIG", EFBIG }, { "EDQUOT", EDQUOT }, { "ENXIO", ENXIO },
	};
	char *end;
	long v;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0)
			return names[i].err;
	v = strtol(s, &end, 10);
	return *s && !*end && v > 0 && v < 4096 ? (int)v : 0;
}

/* Parse one order into the fault state; false if it is not one. */
static bool parse_ctl(char *text)
{
	char *word[4], *save = NULL, *t;
	int n = 0, dirs, err;
	long left = -1;

	for (t = strtok_r(text, " \t\r\n", &save); t && n < 4;
	     t = strtok_r(NULL, " \t\r\n", &save))
		word[n++] = t;
	if (t)
		return false;
	if (n == 0 || (n == 1 && strcmp(word[0], "off") == 0)) {
		fault_dirs = 0;
		return true;
	}
	if (strcmp(word[0], "write") == 0)
		dirs = DIR_WRITE;
	else if (strcmp(word[0], "read") == 0)
		dirs = DIR_READ;
	else if (strcmp(word[0], "both") == 0)
		dirs = DIR_READ | DIR_WRITE;
	else
		return false;
	if (n < 2 || !(err = parse_errno(word[1])))
		return false;
	if (n == 3) {
		char *end;

		left = strtol(word[2], &end, 10);
		if (!*word[2] || *end || left < 0)
			return false;
	}
	fault_dirs = dirs;
	fault_errno = err;
	fault_left = left;
	return true;
}

/* Look at the control file; read it again if it changed. Under lock. */
static void refresh_ctl(void)
{
	char buf[256];
	struct stat st;
	ssize_t len = 0, r;
	int fd;

	if (!*ctl_path || stat(ctl_path, &st) < 0) {
		if (ctl_seen.exists)
			fault_dirs = 0;
		ctl_seen.exists = false;
		return;
	}
	if (ctl_seen.exists && st.st_dev == ctl_seen.dev &&
	    st.st_ino == ctl_seen.ino && st.st_size == ctl_seen.size &&
	    st.st_mtim.tv_sec == ctl_seen.mtime.tv_sec &&
	    st.st_mtim.tv_nsec == ctl_seen.mtime.tv_nsec &&
	    st.st_ctim.tv_sec == ctl_seen.ctime.tv_sec &&
	    st.st_ctim.tv_nsec == ctl_seen.ctime.tv_nsec)
		return;
	ctl_seen.exists = true;
	ctl_seen.dev = st.st_dev;
	ctl_seen.ino = st.st_ino;
	ctl_seen.size = st.st_size;
	ctl_seen.mtime = st.st_mtim;
	ctl_seen.ctime = st.st_ctim;

	fd = real.open(ctl_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fault_dirs = 0;
		return;
	}
	while (len < (ssize_t)sizeof(buf) - 1 &&
	       (r = read(fd, buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
		len += r;
	real.close(fd);
	buf[len] = 0;
	if (!parse_ctl(buf)) {
		say("cannot parse the control file, taken for 'off': ",
		    ctl_path);
		fault_dirs = 0;
	}
}

static void put_num(char **p, unsigned long v)
{
	char digits[24];
	int n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*(*p)++ = digits[--n];
}

/* Under lock. */
static void write_count(void)
{
	char buf[64], *p = buf;
	ssize_t r;
	int fd;

	if (!*count_path)
		return;
	memcpy(p, "writes ", 7);
	p += 7;
	put_num(&p, nr_write_faults);
	memcpy(p, " reads ", 7);
	p += 7;
	put_num(&p, nr_read_faults);
	*p++ = '\n';
	fd = real.open(count_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		       0644);
	if (fd < 0)
		return;
	r = write(fd, buf, (size_t)(p - buf));
	(void)r;
	real.close(fd);
	rename(count_tmp, count_path);
}

/* 0, or the errno this call on fd is to fail with. */
static int fault(int fd, int dir)
{
	int err = 0, saved = errno;

	if (!is_tracked(fd))
		return 0;
	pthread_mutex_lock(&lock);
	refresh_ctl();
	if ((fault_dirs & dir) && fault_left != 0) {
		if (fault_left > 0)
			fault_left--;
		err = fault_errno;
		if (dir == DIR_WRITE)
			nr_write_faults++;
		else
			nr_read_faults++;
		write_count();
	}
	pthread_mutex_unlock(&lock);
	errno = saved;
	return err;
}

/* --- the transfers ------------------------------------------------------------------ */

#define FAIL_IF(fd, dir)                                                      \
	do {                                                                  \
		int e_ = (ensure_init(), fault(fd, dir));                     \
		if (e_) {                                                     \
			errno = e_;                                           \
			return -1;                                            \
		}                                                             \
	} while (0)

ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	FAIL_IF(fd, DIR_READ);
	return real.pread(fd, buf, len, off);
}

ssize_t pread64(int fd, void *buf, size_t len, off64_t off)
{
	FAIL_IF(fd, DIR_READ);
	return real.pread64 ? real.pread64(fd, buf, len, off)
			    : real.pread(fd, buf, len, (off_t)off);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	FAIL_IF(fd, DIR_WRITE);
	return real.pwrite(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	FAIL_IF(fd, DIR_WRITE);
	return real.pwrite64 ? real.pwrite64(fd, buf, len, off)
			     : real.pwrite(fd, buf, len, (off_t)off);
}

/* The vectored calls exist in every glibc this builds against; should one
 * be missing, the call fails with ENOSYS rather than crash. */
#define VEC_CALL(fn, ...)                                                     \
	(real.fn ? real.fn(__VA_ARGS__) : (errno = ENOSYS, -1))

ssize_t preadv(int fd, const struct iovec *iov, int n, off_t off)
{
	FAIL_IF(fd, DIR_READ);
	return VEC_CALL(preadv, fd, iov, n, off);
}

ssize_t preadv64(int fd, const struct iovec *iov, int n, off64_t off)
{
	FAIL_IF(fd, DIR_READ);
	return VEC_CALL(preadv64, fd, iov, n, off);
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	FAIL_IF(fd, DIR_WRITE);
	return VEC_CALL(pwritev, fd, iov, n, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int n, off64_t off)
{
	FAIL_IF(fd, DIR_WRITE);
	return VEC_CALL(pwritev64, fd, iov, n, off);
}

ssize_t preadv2(int fd, const struct iovec *iov, int n, off_t off, int fl)
{
	FAIL_IF(fd, DIR_READ);
	return VEC_CALL(preadv2, fd, iov, n, off, fl);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int n, off_t off, int fl)
{
	FAIL_IF(fd, DIR_WRITE);
	return VEC_CALL(pwritev2, fd, iov, n, off, fl);
}
