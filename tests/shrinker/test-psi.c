/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-psi.c - the memory pressure trigger (shrinker/psi.c), on a stand-in
 * file and on the kernel's /proc/pressure/memory.
 *
 *   values    stall and window out of range refused with -EINVAL before
 *             any file is opened, with a message giving the range
 *   format    the trigger as written to a regular file standing in for the
 *             pressure file: microseconds, one write with its NUL, the
 *             limits (1 ms in 500 ms, 10 s in 10 s) accepted; the
 *             descriptor read-write, non-blocking, close-on-exec; events
 *             counted
 *   errors    a path that does not exist, a directory, a file that refuses
 *             the write, a window the kernel refuses to this process:
 *             -errno and a message naming the path
 *   quiet     without pressure, a trigger of 1.6 s of stall in 2 s stays
 *             quiet (after the few events a kernel bug sends at start,
 *             see STARTUP_EVENTS)
 *   pressure  a child thrashing the page cache of a 16 MiB memory cgroup
 *             (cgroup v1, made and removed here): a trigger of 50 ms in
 *             2 s fires within 20 s, then three more times, a window or
 *             more apart; the kernel's own stall counter agrees
 *
 * The last two need root, /proc/pressure and the cgroup v1 memory
 * controller; without them they are skipped, saying why.
 *
 * How the pressure is made (found by measuring on a 6.18 kernel without
 * swap): three threads read a 32 MiB file round and round, each from its
 * own place, in a cgroup of 16 MiB. Every read charges the cgroup, which
 * reclaims pages of the file in the reader's context, and each reader's
 * pages come back as refaults of the working set after another reader
 * pushed them out: both count as memory stall. That makes 15 to 30% "some"
 * stall on an idle machine, six times and more the 2.5% the trigger wants.
 * One reader alone made 2 to 9%. Anonymous memory that fills most of the
 * cgroup makes as much stall with one reader, but with two it sometimes
 * met the cgroup's OOM killer: page cache alone can always be reclaimed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shrinker/psi.h"
#include "tests/testlib.h"

#define MIB (1024ul * 1024)
#define MEMCG_ROOT "/sys/fs/cgroup/memory"
#define MEMCG_PREFIX "zt-psi-"

/* The pressure: NR_READERS threads reading a file of THRASH_FILE bytes
 * through a cgroup of CG_LIMIT bytes. The file must be well larger than
 * the cgroup, or it would simply stay cached. ThreadSanitizer gives each
 * thread of the child about 5 MiB of its own (its anonymous memory came
 * to 18 MiB), which the limit must leave room for besides the cache. */
#if defined(__SANITIZE_THREAD__)
#define CG_LIMIT (48 * MIB)
#define THRASH_FILE (96 * MIB)
#else
#define CG_LIMIT (16 * MIB)
#define THRASH_FILE (32 * MIB)
#endif
#define NR_READERS 3

/* The trigger under pressure: 50 ms of stall in 2 s; the pressure above
 * makes 300 ms or more in 2 s here. 2 s is the shortest window a process
 * without CAP_SYS_RESOURCE may use (root in a container often lacks it),
 * and the kernel then checks the trigger every 2 s only. */
#define LOW_STALL_MS 50u
#define LOW_WINDOW_MS 2000u
/* The first event may take a while on a loaded machine (the child must
 * fill its cgroup first); on an idle one it comes within 2 s. */
#define FIRE_TIMEOUT_MS 20000
/* Events in a row under pressure, each within a few windows of the last:
 * more than the kernel's start-up events (below) can account for. */
#define PRESSURE_EVENTS 4
#define NEXT_TIMEOUT_MS (5 * LOW_WINDOW_MS)

/* Without pressure: 80% of 2 s stalled is a machine in trouble, never the
 * background of an idle one. The trigger must stay quiet for longer than
 * one check of an unprivileged trigger. */
#define HIGH_STALL_MS 1600u
#define HIGH_WINDOW_MS 2000u
#define QUIET_WAIT_MS 2500
/*
 * Kernels up to 6.18 at least start the window of an unprivileged trigger
 * from the wrong counter (the real-time poller's, not the averager's; the
 * fix "psi: fix avg trigger being fired unexpectedly" was posted in 2024
 * and again in 2025). The first checks that see any stall at all then
 * find seconds of it and fire, until the window has moved on twice: a few
 * events, at most one per window, however little the stall.
 */
#define STARTUP_EVENTS 3

struct fixture {
	char dir[PATH_MAX];       /* for files: not tmpfs */
	char file[PATH_MAX + 32]; /* a stand-in, or the file to thrash */
	char cgroup[PATH_MAX];    /* the test cgroup, "" when not made */
	int thrash_fd;            /* the file thrashed, unlinked; or -1 */
	pid_t child;              /* the thrashing child, 0 when none */
	int go;                   /* write end of the child's start pipe */
	struct shr_psi *psi;
	char err[512];
};

/* A directory for test files on a disk-backed file system: the page cache
 * of a tmpfs file is its storage and cannot be thrashed. */
static void pick_dir(char *dir, size_t len)
{
	const char *tmp = getenv("TMPDIR");
	struct statfs sfs;

	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (statfs(tmp, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC)
		tmp = "/var/tmp";
	snprintf(dir, len, "%s", tmp);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	pick_dir(f->dir, sizeof(f->dir));
	f->go = -1;
	f->thrash_fd = -1;
	*state = f;
	return 0;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		ret = -errno;
	close(fd);
	return ret;
}

/* The memory cgroup this process runs in, where tasks left in the test
 * cgroup go back to. */
static void own_memcg(char *path, size_t len)
{
	char line[PATH_MAX];
	FILE *fp = fopen("/proc/self/cgroup", "re");

	snprintf(path, len, "%s", MEMCG_ROOT);
	if (!fp)
		return;
	while (fgets(line, sizeof(line), fp)) {
		char *sub = strstr(line, ":memory:");

		if (!sub)
			continue;
		sub += strlen(":memory:");
		sub[strcspn(sub, "\n")] = '\0';
		snprintf(path, len, "%s%s", MEMCG_ROOT, sub);
		break;
	}
	fclose(fp);
}

/* Empty the cgroup at path of tasks (there should be none once the child
 * is reaped) and remove it. */
static int remove_cgroup(const char *path)
{
	char procs[PATH_MAX + 16], home[PATH_MAX], dest[PATH_MAX + 16];
	char pid[32];
	FILE *fp;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", path);
	own_memcg(home, sizeof(home));
	snprintf(dest, sizeof(dest), "%s/cgroup.procs", home);
	for (int tries = 0; tries < 50; tries++) {
		if (rmdir(path) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -errno;
		fp = fopen(procs, "re");
		if (fp) {
			while (fgets(pid, sizeof(pid), fp))
				if (write_str(dest, pid) < 0)
					write_str(MEMCG_ROOT "/cgroup.procs",
						  pid);
			fclose(fp);
		}
		usleep(20000);
	}
	return -EBUSY;
}

/* The child and its cgroup are gone, whatever became of the test. */
static void stop_pressure(struct fixture *f)
{
	if (f->child > 0) {
		kill(f->child, SIGKILL);
		waitpid(f->child, NULL, 0);
		f->child = 0;
	}
	if (f->go >= 0) {
		close(f->go);
		f->go = -1;
	}
	if (f->cgroup[0]) {
		int ret = remove_cgroup(f->cgroup);

		if (ret < 0)
			fprintf(stderr, "test-psi: cannot remove '%s': %s\n",
				f->cgroup, strerror(-ret));
		f->cgroup[0] = '\0';
	}
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	stop_pressure(f);
	shr_psi_close(f->psi);
	if (f->file[0])
		unlink(f->file);
	if (f->thrash_fd >= 0)
		close(f->thrash_fd);
	free(f);
	return 0;
}

/* A test cgroup of a run that was killed before its teardown: its child
 * died with it (PR_SET_PDEATHSIG), the empty cgroup is removed here. */
static void remove_stale_cgroups(void)
{
	DIR *d = opendir(MEMCG_ROOT);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[PATH_MAX];
		uint64_t pid;

		if (strncmp(de->d_name, MEMCG_PREFIX, strlen(MEMCG_PREFIX)) ||
		    !zt_parse_u64(de->d_name + strlen(MEMCG_PREFIX), &pid) ||
		    pid > INT_MAX || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", MEMCG_ROOT, de->d_name);
		remove_cgroup(path);
	}
	closedir(d);
}

static void make_file(struct fixture *f, size_t size)
{
	static unsigned char buf[MIB];
	int fd;

	snprintf(f->file, sizeof(f->file), "%s/zt-psi.XXXXXX", f->dir);
	fd = mkstemp(f->file);
	if (fd < 0) {
		int e = errno;

		f->file[0] = '\0';
		fail_msg("cannot make a file in '%s': %s", f->dir, strerror(e));
	}
	zt_pattern(buf, 0x9e1, 0, sizeof(buf));
	for (size_t done = 0; done < size; done += sizeof(buf))
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			fail_msg("cannot write '%s': %s", f->file,
				 strerror(errno));
	close(fd);
}

/* The file's contents, at most cap bytes: its length. */
static size_t read_back(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, cap);
	close(fd);
	assert_true(n >= 0);
	return (size_t)n;
}

static void expect_error(struct fixture *f, const char *path,
			 unsigned int stall_ms, unsigned int window_ms,
			 int want, const char *text)
{
	struct shr_psi *p = (struct shr_psi *)f; /* must stay untouched */
	int ret;

	f->err[0] = '\0';
	ret = shr_psi_open(path, stall_ms, window_ms, &p, f->err,
			   sizeof(f->err));
	if (ret != want) {
		if (!ret)
			shr_psi_close(p);
		fail_msg("shr_psi_open('%s', %u, %u) returned %d, not %d (%s)",
			 path, stall_ms, window_ms, ret, want, f->err);
	}
	assert_ptr_equal(p, f);
	if (!strstr(f->err, path) || !strstr(f->err, text))
		fail_msg("the message for '%s' (%u ms in %u ms) is \"%s\": it "
			 "should name the path and say '%s'",
			 path, stall_ms, window_ms, f->err, text);
}

static void test_values(void **state)
{
	static const struct {
		unsigned int stall_ms, window_ms;
	} bad[] = {
		{ 0, 500 },     /* no stall */
		{ 10, 499 },    /* window too short */
		{ 10, 10001 },  /* window too long */
		{ 0, 0 },
		{ 501, 500 },   /* stall longer than the window */
		{ 10001, 10000 },
		{ UINT_MAX, UINT_MAX }, /* would overflow in microseconds */
	};
	struct fixture *f = *state;
	char text[64], path[PATH_MAX + 32];

	/* Checked before anything is opened: a path that does not exist
	 * gives -EINVAL, not -ENOENT. */
	snprintf(path, sizeof(path), "%s/zt-psi-missing/memory", f->dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
			 "stall of %u ms in a window of %u ms",
			 bad[i].stall_ms, bad[i].window_ms);
		expect_error(f, path, bad[i].stall_ms, bad[i].window_ms,
			     -EINVAL, text);
		/* And the message gives the range. */
		expect_error(f, path, bad[i].stall_ms, bad[i].window_ms,
			     -EINVAL, "window 500 to 10000 ms");
	}
	/* NULL is the system's memory pressure, named in the message. */
	f->err[0] = '\0';
	assert_int_equal(shr_psi_open(NULL, 0, 500, &f->psi, f->err,
				      sizeof(f->err)),
			 -EINVAL);
	assert_null(f->psi);
	assert_non_null(strstr(f->err, "'" SHR_PSI_MEMORY "'"));
}

/* Open on the stand-in file, from empty, and check what was written. */
static void expect_written(struct fixture *f, unsigned int stall_ms,
			   unsigned int window_ms, const char *want)
{
	char buf[64];
	size_t n;
	int ret;

	assert_int_equal(truncate(f->file, 0), 0);
	shr_psi_close(f->psi);
	f->psi = NULL;
	ret = shr_psi_open(f->file, stall_ms, window_ms, &f->psi, f->err,
			   sizeof(f->err));
	if (ret)
		fail_msg("shr_psi_open('%s', %u, %u): %d: %s", f->file,
			 stall_ms, window_ms, ret, f->err);
	n = read_back(f->file, buf, sizeof(buf));
	/* One write, the trigger and its NUL, nothing else. */
	if (n != strlen(want) + 1 || memcmp(buf, want, n))
		fail_msg("%u ms in %u ms wrote \"%.*s\" (%zu bytes), not "
			 "\"%s\" and a NUL",
			 stall_ms, window_ms, (int)n, buf, n, want);
}

static void test_format(void **state)
{
	struct fixture *f = *state;
	int fd, fl;

	make_file(f, 0);
	expect_written(f, 100, 2000, "some 100000 2000000");
	expect_written(f, 1, 500, "some 1000 500000");
	expect_written(f, 10000, 10000, "some 10000000 10000000");
	expect_written(f, 150, 1000, "some 150000 1000000");

	fd = shr_psi_fd(f->psi);
	assert_true(fd > STDERR_FILENO);
	fl = fcntl(fd, F_GETFL);
	assert_true(fl >= 0);
	assert_int_equal(fl & O_ACCMODE, O_RDWR);
	assert_true(fl & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);

	assert_int_equal(shr_psi_ack(f->psi), 1);
	assert_int_equal(shr_psi_ack(f->psi), 2);
	assert_int_equal(shr_psi_ack(f->psi), 3);

	/* Closing closes the descriptor. */
	shr_psi_close(f->psi);
	f->psi = NULL;
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	shr_psi_close(NULL);
}

static bool have_psi(void)
{
	return access(SHR_PSI_MEMORY, R_OK | W_OK) == 0;
}

/* Whether this process may use any window (psi.rst: others only whole
 * multiples of 2 s). */
static bool has_cap_sys_resource(void)
{
	char line[256];
	uint64_t caps = 0;
	FILE *fp = fopen("/proc/self/status", "re");

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "CapEff: %" SCNx64, &caps) == 1)
			break;
	fclose(fp);
	return caps >> 24 & 1; /* CAP_SYS_RESOURCE */
}

static void test_errors(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/zt-psi-missing/memory", f->dir);
	expect_error(f, path, 100, 1000, -ENOENT, strerror(ENOENT));
	expect_error(f, "/proc/pressure/zt-missing", 100, 1000, -ENOENT,
		     strerror(ENOENT));
	/* Only the default path blames the kernel for a missing file. */
	assert_null(strstr(f->err, "CONFIG_PSI"));
	expect_error(f, f->dir, 100, 1000, -EISDIR, strerror(EISDIR));
	/* Opens, but the write fails: the message shows the trigger. */
	expect_error(f, "/dev/full", 100, 1000, -ENOSPC,
		     "'some 100000 1000000' on '/dev/full'");
	expect_error(f, "/dev/full", 100, 1000, -ENOSPC, strerror(ENOSPC));

	/* A window the kernel refuses to this process: the message says
	 * why. */
	if (!have_psi())
		return;
	if (has_cap_sys_resource()) {
		assert_int_equal(shr_psi_open(NULL, 100, 1000, &f->psi, f->err,
					      sizeof(f->err)),
				 0);
	} else {
		expect_error(f, SHR_PSI_MEMORY, 100, 1000, -EINVAL,
			     "window must be a whole multiple of 2000 ms");
		expect_error(f, SHR_PSI_MEMORY, 100, 1000, -EINVAL,
			     "'some 100000 1000000'");
	}
}


/* The kernel's count of "some" memory stall since boot, in us. */
static uint64_t stall_total(void)
{
	char buf[256], *t;
	uint64_t total = 0;
	size_t n = read_back(SHR_PSI_MEMORY, buf, sizeof(buf) - 1);

	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0'; /* the "some" line */
	t = strstr(buf, "total=");
	if (!t || !zt_parse_u64(t + strlen("total="), &total))
		fail_msg("cannot parse '%s': \"%s\"", SHR_PSI_MEMORY, buf);
	return total;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Fail if the thrashing child is gone: it was meant to run until killed. */
static void check_child(struct fixture *f)
{
	int status;

	if (f->child <= 0 || waitpid(f->child, &status, WNOHANG) != f->child)
		return;
	f->child = 0;
	if (WIFSIGNALED(status))
		fail_msg("the pressure child was killed by signal %d (the "
			 "OOM killer of '%s'?)",
			 WTERMSIG(status), f->cgroup);
	fail_msg("the pressure child exited with status %d",
		 WEXITSTATUS(status));
}

/* Poll the trigger for up to timeout_ms: its revents, 0 on timeout. */
static short wait_event(struct fixture *f, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	struct pollfd pfd = { .fd = shr_psi_fd(f->psi), .events = POLLPRI };

	for (;;) {
		uint64_t now = now_ms();
		int r;

		check_child(f);
		if (now >= end)
			return 0;
		/* In slices, to see the child die. */
		r = poll(&pfd, 1, (int)(end - now < 100 ? end - now : 100));
		if (r < 0 && errno != EINTR)
			fail_msg("poll on the trigger: %s", strerror(errno));
		if (r > 0)
			return pfd.revents;
	}
}

static void arm(struct fixture *f, unsigned int stall_ms,
		unsigned int window_ms)
{
	int ret;

	shr_psi_close(f->psi);
	f->psi = NULL;
	ret = shr_psi_open(NULL, stall_ms, window_ms, &f->psi, f->err,
			   sizeof(f->err));
	if (ret)
		fail_msg("shr_psi_open(NULL, %u, %u): %d: %s", stall_ms,
			 window_ms, ret, f->err);
}

static void test_quiet(void **state)
{
	struct fixture *f = *state;
	uint64_t start, before;
	unsigned int events = 0;

	if (!have_psi()) {
		print_message("cannot use '%s': no pressure stall "
			      "information, or not root\n",
			      SHR_PSI_MEMORY);
		skip();
	}
	arm(f, HIGH_STALL_MS, HIGH_WINDOW_MS);
	start = now_ms();
	before = stall_total();
	/* Quiet for QUIET_WAIT_MS, after the kernel's start-up events if
	 * there was stall enough to provoke them. */
	while (wait_event(f, QUIET_WAIT_MS)) {
		uint64_t stalled = stall_total() - before;

		if (++events <= STARTUP_EVENTS)
			continue;
		fail_msg("a trigger of %u ms in %u ms fired %u times in %llu "
			 "ms without pressure (%llu us of stall in all)",
			 HIGH_STALL_MS, HIGH_WINDOW_MS, events,
			 (unsigned long long)(now_ms() - start),
			 (unsigned long long)stalled);
	}
	if (events)
		print_message("quiet after %u start-up events\n", events);
}

struct reader {
	int fd;
	off_t start;
};

/* Read a file round and round from start, until the process is killed. */
static void *read_loop(void *arg)
{
	const struct reader *r = arg;
	off_t off = r->start;

	for (;;) {
		char buf[64 * 1024];
		ssize_t n = pread(r->fd, buf, sizeof(buf), off);

		if (n < 0)
			_exit(4);
		off = n ? off + n : 0;
	}
	return NULL;
}

/* The child: once released into its cgroup, NR_READERS threads read the
 * file at fd round and round, each from its own place, until killed. */
static void thrash(int go, int fd, pid_t parent)
{
	static struct reader readers[NR_READERS];
	pthread_t tid;
	char c;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent || read(go, &c, 1) != 1)
		_exit(2); /* the test went away or gave up */
	for (unsigned int i = 0; i < NR_READERS; i++) {
		readers[i].fd = fd;
		readers[i].start = (off_t)(THRASH_FILE / NR_READERS * i);
	}
	for (unsigned int i = 1; i < NR_READERS; i++)
		if (pthread_create(&tid, NULL, read_loop, &readers[i]))
			_exit(3);
	read_loop(&readers[0]);
	_exit(0);
}

static void start_child(struct fixture *f)
{
	char path[PATH_MAX + 32], num[32];
	pid_t parent = getpid();
	int pipefd[2], fd, ret;

	/* Not in the page cache, or the child would find it charged to us
	 * and never pay for it. Open only: no file is left behind, whatever
	 * becomes of the test. */
	fd = open(f->file, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	unlink(f->file);
	f->file[0] = '\0';
	f->thrash_fd = fd;
	assert_int_equal(fdatasync(fd), 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);

	snprintf(f->cgroup, sizeof(f->cgroup), "%s/%s%d", MEMCG_ROOT,
		 MEMCG_PREFIX, (int)parent);
	if (mkdir(f->cgroup, 0755) < 0) {
		int e = errno;

		f->cgroup[0] = '\0';
		fail_msg("cannot make cgroup '%s/%s%d': %s", MEMCG_ROOT,
			 MEMCG_PREFIX, (int)parent, strerror(e));
	}
	snprintf(path, sizeof(path), "%s/memory.limit_in_bytes", f->cgroup);
	snprintf(num, sizeof(num), "%lu", CG_LIMIT);
	ret = write_str(path, num);
	if (ret)
		fail_msg("cannot write %s to '%s': %s", num, path,
			 strerror(-ret));

	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	f->child = fork();
	if (f->child == 0) {
		close(pipefd[1]);
		thrash(pipefd[0], fd, parent);
	}
	close(pipefd[0]);
	if (f->child < 0) {
		f->child = 0;
		close(pipefd[1]);
		fail_msg("cannot fork: %s", strerror(errno));
	}
	f->go = pipefd[1];

	snprintf(path, sizeof(path), "%s/cgroup.procs", f->cgroup);
	snprintf(num, sizeof(num), "%d", (int)f->child);
	ret = write_str(path, num);
	if (ret)
		fail_msg("cannot move the child into '%s': %s", f->cgroup,
			 strerror(-ret));
}

static void release_child(struct fixture *f)
{
	assert_int_equal(write(f->go, "g", 1), 1);
	close(f->go);
	f->go = -1;
}

/* An event within timeout_ms, POLLPRI and nothing else: the time it took. */
static uint64_t expect_event(struct fixture *f, int timeout_ms,
			     unsigned int nr)
{
	uint64_t start = now_ms();
	short ev = wait_event(f, timeout_ms);

	if (!ev)
		fail_msg("no event %u of a trigger of %u ms in %u ms within "
			 "%d ms of memory pressure",
			 nr, LOW_STALL_MS, LOW_WINDOW_MS, timeout_ms);
	if (ev != POLLPRI)
		fail_msg("event %u of the trigger is 0x%x, not POLLPRI", nr,
			 ev);
	return now_ms() - start;
}

static void test_pressure(void **state)
{
	struct fixture *f = *state;
	uint64_t before, stalled, first_ms, all_ms;

	if (!have_psi() || access(MEMCG_ROOT "/memory.limit_in_bytes",
				  W_OK) < 0) {
		print_message("cannot use '%s' and the cgroup v1 memory "
			      "controller at '%s': not there, or not root\n",
			      SHR_PSI_MEMORY, MEMCG_ROOT);
		skip();
	}
	remove_stale_cgroups();
	make_file(f, THRASH_FILE);
	start_child(f);

	arm(f, LOW_STALL_MS, LOW_WINDOW_MS);
	before = stall_total();
	release_child(f);

	first_ms = expect_event(f, FIRE_TIMEOUT_MS, 1);
	assert_int_equal(shr_psi_ack(f->psi), 1);
	all_ms = first_ms;
	/* Pressure that lasts fires again and again, at most once a
	 * window: more often than the start-up events alone would. */
	for (unsigned int nr = 2; nr <= PRESSURE_EVENTS; nr++) {
		all_ms += expect_event(f, NEXT_TIMEOUT_MS, nr);
		assert_int_equal(shr_psi_ack(f->psi), nr);
	}
	/* Read right after an event, so as not to take the kernel's next
	 * check of the trigger (reading the file updates the averages, and
	 * triggers are checked only with an update that is due). */
	stalled = stall_total() - before;
	/* The kernel counted the stall the events stand for. */
	if (stalled < (PRESSURE_EVENTS - 1) * LOW_STALL_MS * 1000ull)
		fail_msg("%u events of a trigger of %u ms in %u ms came with "
			 "only %llu us of stall",
			 PRESSURE_EVENTS, LOW_STALL_MS, LOW_WINDOW_MS,
			 (unsigned long long)stalled);
	stop_pressure(f);
	print_message("first event after %llu ms, %u after %llu ms, with "
		      "%llu us of stall\n",
		      (unsigned long long)first_ms, PRESSURE_EVENTS,
		      (unsigned long long)all_ms, (unsigned long long)stalled);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pressure, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
