/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-swapdev.c - a volume as swap (daemon/swapdev.c) on real loop
 * devices: the swap header as blkid(8) and the kernel read it, loop
 * devices attached with and without direct I/O and detached again, swapon
 * and swapoff, and the errors.
 *
 * The tests:
 *   header   the page blkid recognises (type, label, UUID) with the bytes
 *            where the kernel reads them; a fresh UUID each time; sizes
 *            and labels that do not fit are refused
 *   attach   a file on a loop device with and without direct I/O, as sysfs
 *            shows it; detached, the device is free again
 *   swap     swapon with a priority, detach refused while it is swap,
 *            swapoff, detach; swapon of a file without a header and
 *            swapoff of a device that is not swap fail
 *   errors   a missing file, a device that is no loop device, a free one
 *
 * Needs root (loop devices, swapon). Files go to a directory of their own
 * in /var/tmp, which must be a file system that does direct I/O (ext4,
 * xfs; not tmpfs). Every device a test attaches is recorded in its fixture
 * at once, so that teardown takes it out of swap and detaches it even when
 * the test fails: /proc/swaps and losetup -a are as before.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/loop.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "daemon/internal.h"
#include "tests/check.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BLOCK	      ZPD_BLOCK_SIZE
#define MiB	      ((uint64_t)1 << 20)
#define FILE_SIZE     (16 * MiB)
#define LABEL	      "zpoold-t"
#define LOOP_MAJOR    7

/* ------------------------------------------------------------------------ */
/* Fixture                                                                  */
/* ------------------------------------------------------------------------ */

#define FX_MAX_DEVS  2
#define FX_MAX_FILES 4

struct fixture {
	char dir[64];
	char real_dir[PATH_MAX]; /* dir as the kernel names it */
	char files[FX_MAX_FILES][PATH_MAX];
	unsigned int nr_files;
	/* Loop devices attached and not yet detached: "" when free. */
	char devs[FX_MAX_DEVS][ZPD_DEV_MAX];
};

static bool loop_attr(const char *dev, const char *attr, char *buf, size_t len);
static bool still_attached(const char *dev);

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/var/tmp/test-swapdev.XXXXXX");
	if (!mkdtemp(f->dir)) {
		fprintf(stderr, "test-swapdev: mkdtemp %s: %s\n", f->dir,
			strerror(errno));
		free(f);
		return -1;
	}
	if (!realpath(f->dir, f->real_dir))
		snprintf(f->real_dir, sizeof(f->real_dir), "%s", f->dir);
	*state = f;
	return 0;
}

/* Take dev out of swap and off its file, whatever the code under test
 * left, if the file is one of f's (never somebody else's device); the
 * kernel may hold it a moment after swapoff. */
static void release_dev(struct fixture *f, const char *dev)
{
	char file[PATH_MAX];
	size_t len = strlen(f->real_dir);
	int fd;

	if (!loop_attr(dev, "backing_file", file, sizeof(file)) ||
	    strncmp(file, f->real_dir, len) || file[len] != '/')
		return;
	swapoff(dev);
	fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	for (int i = 0; i < 100; i++) {
		if (!ioctl(fd, LOOP_CLR_FD, 0) || errno != EBUSY)
			break;
		usleep(20 * 1000);
	}
	close(fd);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < FX_MAX_DEVS; i++)
		if (f->devs[i][0])
			release_dev(f, f->devs[i]);
	for (unsigned int i = 0; i < f->nr_files; i++)
		unlink(f->files[i]);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void need_root(void)
{
	if (geteuid()) {
		print_message("test-swapdev: not root, skipped\n");
		skip();
	}
}

/* A path in the test's directory, removed at teardown. */
static const char *fx_path(struct fixture *f, const char *name)
{
	char dir[sizeof(f->dir)], *p;

	assert_true(f->nr_files < FX_MAX_FILES);
	/* A copy: the compiler cannot tell the two arrays of f apart. */
	memcpy(dir, f->dir, sizeof(dir));
	p = f->files[f->nr_files++];
	snprintf(p, PATH_MAX, "%s/%s", dir, name);
	return p;
}

/* A file of size bytes with real blocks (written, not a hole), so that
 * the loop driver can do direct I/O on it; page, if given, is its first
 * block. */
static const char *fx_file(struct fixture *f, const char *name, uint64_t size,
			   const void *page)
{
	const char *path = fx_path(f, name);
	static unsigned char buf[1 * MiB];
	int fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0)
		fail_msg("cannot create %s: %s", path, strerror(errno));
	if (ftruncate(fd, (off_t)size))
		fail_msg("ftruncate %s: %s", path, strerror(errno));
	memset(buf, 0, sizeof(buf));
	for (uint64_t off = 0; off < size; off += sizeof(buf)) {
		size_t n = size - off < sizeof(buf) ? size - off : sizeof(buf);

		if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
			fail_msg("write %s: %s", path, strerror(errno));
	}
	if (page && pwrite(fd, page, BLOCK, 0) != BLOCK)
		fail_msg("write %s: %s", path, strerror(errno));
	if (fsync(fd))
		fail_msg("fsync %s: %s", path, strerror(errno));
	close(fd);
	return path;
}

/* Attach path and record the device in f at once; its slot. */
static int fx_attach(struct fixture *f, const char *path, bool dio)
{
	char err[ZPD_ERR_MAX] = "", dev[ZPD_DEV_MAX] = "";
	size_t slot;
	int ret;

	for (slot = 0; slot < FX_MAX_DEVS && f->devs[slot][0]; slot++)
		;
	assert_true(slot < FX_MAX_DEVS);
	ret = zpd_loopdev_attach(path, dio, dev, err, sizeof(err));
	if (ret && dev[0] && !strncmp(dev, "/dev/loop", 9) &&
	    strlen(dev) < ZPD_DEV_MAX)
		/* For teardown, which checks that the file is ours. */
		snprintf(f->devs[slot], ZPD_DEV_MAX, "%s", dev);
	if (ret)
		fail_msg("attach %s (dio %d): %s (%s)", path, dio, err,
			 strerror(-ret));
	snprintf(f->devs[slot], ZPD_DEV_MAX, "%s", dev);
	return (int)slot;
}

/* Detach the device in slot, which must succeed and leave the device
 * free, and forget it. */
static void fx_detach(struct fixture *f, int slot)
{
	char err[ZPD_ERR_MAX] = "";
	int ret = zpd_loopdev_detach(f->devs[slot], err, sizeof(err));

	if (ret)
		fail_msg("detach %s: %s (%s)", f->devs[slot], err,
			 strerror(-ret));
	if (still_attached(f->devs[slot]))
		fail_msg("%s still has a backing file 2 s after detach",
			 f->devs[slot]);
	f->devs[slot][0] = '\0';
}

/* The number N of "/dev/loopN", failing on anything else. */
static int loop_nr(const char *dev)
{
	int nr = -1, end = 0;

	if (sscanf(dev, "/dev/loop%d%n", &nr, &end) != 1 || dev[end] || nr < 0)
		fail_msg("'%s' is not /dev/loopN", dev);
	return nr;
}

/* The contents of /sys/block/loopN/loop/attr without the newline; false
 * when it does not exist (the device is not attached). */
static bool loop_attr(const char *dev, const char *attr, char *buf, size_t len)
{
	char path[128];
	int nr = -1, end = 0;
	FILE *fp;

	/* No fail_msg() here: teardown uses it too. */
	if (sscanf(dev, "/dev/loop%d%n", &nr, &end) != 1 || dev[end] || nr < 0)
		return false;
	snprintf(path, sizeof(path), "/sys/block/loop%d/loop/%s", nr, attr);
	fp = fopen(path, "re");
	if (!fp)
		return false;
	if (!fgets(buf, (int)len, fp))
		buf[0] = '\0';
	fclose(fp);
	buf[strcspn(buf, "\n")] = '\0';
	return true;
}

/* Whether dev is still attached after up to 2 s (the kernel lets go of a
 * detached device's sysfs entries a little later). */
static bool still_attached(const char *dev)
{
	char buf[PATH_MAX];

	for (int i = 0; i < 200; i++) {
		if (!loop_attr(dev, "backing_file", buf, sizeof(buf)))
			return false;
		usleep(10 * 1000);
	}
	return true;
}

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* ------------------------------------------------------------------------ */
/* header                                                                   */
/* ------------------------------------------------------------------------ */

struct probe {
	char type[256], label[256], uuid[256];
};

/* What blkid finds in path, from its low-level probe (no cache). */
static struct probe blkid_probe(const char *path)
{
	struct probe pr = {"", "", ""};
	char cmd[PATH_MAX + 64], line[256];
	FILE *p;
	int status;

	snprintf(cmd, sizeof(cmd), "blkid -p -o export '%s' 2>&1", path);
	p = popen(cmd, "r");
	if (!p)
		fail_msg("cannot run blkid: %s", strerror(errno));
	while (fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "TYPE=", 5))
			snprintf(pr.type, sizeof(pr.type), "%s", line + 5);
		else if (!strncmp(line, "LABEL=", 6))
			snprintf(pr.label, sizeof(pr.label), "%s", line + 6);
		else if (!strncmp(line, "UUID=", 5))
			snprintf(pr.uuid, sizeof(pr.uuid), "%s", line + 5);
	}
	status = pclose(p);
	if (status)
		fail_msg("'%s' exited with status %d", cmd, status);
	return pr;
}

static void test_header(void **state)
{
	struct fixture *f = *state;
	static unsigned char page[BLOCK], page2[BLOCK];
	char err[ZPD_ERR_MAX] = "";
	const char *path = fx_path(f, "header");
	struct probe a, b;
	int fd, ret;

	ret = zpd_swap_header(page, FILE_SIZE, LABEL, err, sizeof(err));
	if (ret)
		fail_msg("zpd_swap_header: %s (%s)", err, strerror(-ret));
	check_eq(get_u32(page + 1024), 1);
	check_eq(get_u32(page + 1028), FILE_SIZE / BLOCK - 1);
	check_eq(get_u32(page + 1032), 0);
	assert_memory_equal(page + 1052, LABEL, sizeof(LABEL));
	assert_memory_equal(page + BLOCK - 10, "SWAPSPACE2", 10);

	/* blkid reads it as a swap area with that label and a UUID. */
	fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, FILE_SIZE), 0);
	assert_int_equal(pwrite(fd, page, BLOCK, 0), BLOCK);
	a = blkid_probe(path);
	assert_string_equal(a.type, "swap");
	assert_string_equal(a.label, LABEL);
	assert_int_equal(strlen(a.uuid), 36);

	/* Another header, another UUID. */
	ret = zpd_swap_header(page2, FILE_SIZE, LABEL, err, sizeof(err));
	if (ret)
		fail_msg("zpd_swap_header: %s (%s)", err, strerror(-ret));
	assert_memory_not_equal(page + 1036, page2 + 1036, 16);
	assert_int_equal(pwrite(fd, page2, BLOCK, 0), BLOCK);
	close(fd);
	b = blkid_probe(path);
	assert_string_equal(b.type, "swap");
	assert_int_equal(strlen(b.uuid), 36);
	assert_string_not_equal(a.uuid, b.uuid);

	/* No label, and the smallest area: 10 pages, the last one 9. */
	ret = zpd_swap_header(page, 10 * BLOCK, NULL, err, sizeof(err));
	if (ret)
		fail_msg("zpd_swap_header: %s (%s)", err, strerror(-ret));
	check_eq(get_u32(page + 1028), 9);
	for (size_t i = 1052; i < 1052 + 16; i++)
		check_eq(page[i], 0);
	/* A label of exactly 16 bytes fits. */
	ret = zpd_swap_header(page, FILE_SIZE, "0123456789abcdef", err,
			      sizeof(err));
	if (ret)
		fail_msg("zpd_swap_header: %s (%s)", err, strerror(-ret));
	assert_memory_equal(page + 1052, "0123456789abcdef", 16);

	/* Refused: 9 pages, a label of 17 bytes. */
	err[0] = '\0';
	assert_int_equal(
		zpd_swap_header(page, 9 * BLOCK, LABEL, err, sizeof(err)),
		-EINVAL);
	assert_has(err, "36864");
	err[0] = '\0';
	assert_int_equal(zpd_swap_header(page, FILE_SIZE, "0123456789abcdefg",
					 err, sizeof(err)),
			 -EINVAL);
	assert_has(err, "0123456789abcdefg");
}

/* ------------------------------------------------------------------------ */
/* attach                                                                   */
/* ------------------------------------------------------------------------ */

static void check_attach(struct fixture *f, const char *name, bool dio)
{
	const char *path = fx_file(f, name, FILE_SIZE, NULL);
	char buf[PATH_MAX], real[PATH_MAX], dev[ZPD_DEV_MAX];
	struct stat st;
	int slot;

	slot = fx_attach(f, path, dio);
	snprintf(dev, sizeof(dev), "%s", f->devs[slot]);
	loop_nr(dev);
	assert_int_equal(stat(dev, &st), 0);
	assert_true(S_ISBLK(st.st_mode));
	check_eq(major(st.st_rdev), LOOP_MAJOR);

	assert_non_null(realpath(path, real));
	if (!loop_attr(dev, "backing_file", buf, sizeof(buf)))
		fail_msg("%s has no backing_file after attach", dev);
	assert_string_equal(buf, real);
	assert_true(loop_attr(dev, "dio", buf, sizeof(buf)));
	assert_string_equal(buf, dio ? "1" : "0");

	fx_detach(f, slot);
}

static void test_attach(void **state)
{
	struct fixture *f = *state;

	need_root();
	check_attach(f, "dio", true);
	check_attach(f, "buffered", false);
}

/* ------------------------------------------------------------------------ */
/* swap                                                                     */
/* ------------------------------------------------------------------------ */

static void test_swap(void **state)
{
	struct fixture *f = *state;
	static unsigned char page[BLOCK];
	char err[ZPD_ERR_MAX] = "", dev[ZPD_DEV_MAX];
	const char *path;
	int slot, ret;

	need_root();
	ret = zpd_swap_header(page, FILE_SIZE, LABEL, err, sizeof(err));
	if (ret)
		fail_msg("zpd_swap_header: %s (%s)", err, strerror(-ret));
	path = fx_file(f, "swap", FILE_SIZE, page);
	slot = fx_attach(f, path, true);
	snprintf(dev, sizeof(dev), "%s", f->devs[slot]);
	check_eq(zpd_swap_priority(dev), INT_MIN);

	ret = zpd_swap_on(dev, 7, true, err, sizeof(err));
	if (ret)
		fail_msg("zpd_swap_on %s: %s (%s)", dev, err, strerror(-ret));
	assert_int_equal(zpd_swap_priority(dev), 7);
	assert_true(zpd_is_swap(dev));

	/* Swap already: swapon again fails, and so does detaching it. */
	err[0] = '\0';
	assert_int_equal(zpd_swap_on(dev, 7, false, err, sizeof(err)), -EBUSY);
	assert_has(err, dev);
	err[0] = '\0';
	assert_int_equal(zpd_loopdev_detach(dev, err, sizeof(err)), -EBUSY);
	assert_has(err, dev);
	assert_int_equal(zpd_swap_priority(dev), 7);
	if (!loop_attr(dev, "backing_file", err, sizeof(err)))
		fail_msg("%s lost its file to a refused detach", dev);

	ret = zpd_swap_off(dev, err, sizeof(err));
	if (ret)
		fail_msg("zpd_swap_off %s: %s (%s)", dev, err, strerror(-ret));
	assert_int_equal(zpd_swap_priority(dev), INT_MIN);
	assert_false(zpd_is_swap(dev));
	fx_detach(f, slot);

	/* A file without a header is no swap area. */
	path = fx_file(f, "noheader", FILE_SIZE, NULL);
	slot = fx_attach(f, path, true);
	snprintf(dev, sizeof(dev), "%s", f->devs[slot]);
	err[0] = '\0';
	assert_int_equal(zpd_swap_on(dev, -1, false, err, sizeof(err)),
			 -EINVAL);
	assert_has(err, "not a swap area");
	assert_has(err, dev);
	assert_int_equal(zpd_swap_priority(dev), INT_MIN);

	/* swapoff of a device that is not swap. */
	err[0] = '\0';
	assert_int_equal(zpd_swap_off(dev, err, sizeof(err)), -EINVAL);
	assert_has(err, "not swap");
	assert_has(err, dev);
	fx_detach(f, slot);
}

/* ------------------------------------------------------------------------ */
/* errors                                                                   */
/* ------------------------------------------------------------------------ */

static void test_errors(void **state)
{
	struct fixture *f = *state;
	char err[ZPD_ERR_MAX] = "", dev[ZPD_DEV_MAX] = "";
	const char *missing = fx_path(f, "missing");
	int ctl, nr;

	need_root();
	/* A file that is not there. */
	assert_int_equal(
		zpd_loopdev_attach(missing, true, dev, err, sizeof(err)),
		-ENOENT);
	assert_has(err, missing);
	err[0] = '\0';
	assert_int_equal(
		zpd_loopdev_attach(missing, false, dev, err, sizeof(err)),
		-ENOENT);
	assert_has(err, missing);

	/* Not a loop device. */
	err[0] = '\0';
	assert_int_equal(zpd_loopdev_detach("/dev/null", err, sizeof(err)),
			 -ENOTTY);
	assert_has(err, "/dev/null");
	assert_has(err, "not a loop device");

	/* A loop device with nothing attached. */
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		fail_msg("cannot open /dev/loop-control: %s", strerror(errno));
	nr = ioctl(ctl, LOOP_CTL_GET_FREE);
	close(ctl);
	if (nr < 0)
		fail_msg("LOOP_CTL_GET_FREE: %s", strerror(errno));
	snprintf(dev, sizeof(dev), "/dev/loop%d", nr);
	err[0] = '\0';
	assert_int_equal(zpd_loopdev_detach(dev, err, sizeof(err)), -ENXIO);
	assert_has(err, dev);
	assert_has(err, "not attached");
}

/* Swap is machine-wide: the swap tests take this lock (lib.sh lock_swap),
 * so that one's swap area never takes another's pages. */
#define SWAP_LOCK "/run/lock/zpoold-tests-swap.lock"

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};
	int lock = open(SWAP_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (lock >= 0)
		flock(lock, LOCK_EX);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
