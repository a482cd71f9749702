/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-backing.c - the backing store (shrinker/backing.c) on a real file
 * in a private directory under $TMPDIR (default /tmp).
 *
 *   create    a missing file is made: mode 0600, its size in whole slots,
 *             preallocated (its blocks allocated before any write)
 *   transfer  runs of slots written and read back; written slots are not
 *             left in the page cache where O_DIRECT is available
 *   tmpfs     a new file on tmpfs (which refused O_DIRECT before Linux 6.6)
 *   reuse     an existing file is reused from scratch at a new size
 *   errors    no size, less than a slot, a directory, a missing parent
 *             directory, a size the disk cannot hold (refused before
 *             allocating, the file made for it removed again): each a
 *             -errno and a message that names the path
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "shrinker/shrinker.h"
#include "tests/testlib.h"

#define SLOT SHR_SLOT_SIZE

struct fixture {
	char dir[PATH_MAX];
	char path[PATH_MAX + 8];
	char err[512];
	struct shr_backing *b;
	unsigned char *buf; /* 16 slots, aligned */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/zp-backing.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(f->dir) ||
	    posix_memalign((void **)&f->buf, SLOT, 16 * SLOT)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/wb", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	shr_backing_close(f->b);
	unlink(f->path);
	rmdir(f->dir);
	free(f->buf);
	free(f);
	return 0;
}

static void open_ok(struct fixture *f, uint64_t size)
{
	int ret;

	shr_backing_close(f->b);
	f->b = NULL;
	ret = shr_backing_open(f->path, size, &f->b, f->err, sizeof(f->err));
	if (ret)
		fail_msg("shr_backing_open('%s', %llu): %d: %s", f->path,
			 (unsigned long long)size, ret, f->err);
}

/* The file system of the test directory refuses O_DIRECT (tmpfs). */
static bool no_direct_io(const char *dir)
{
	struct statfs sfs;

	return statfs(dir, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC;
}

static void test_create(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	open_ok(f, 10 * SLOT + 100);
	assert_int_equal(shr_backing_slots(f->b), 10);
	assert_string_equal(shr_backing_path(f->b), f->path);
	assert_int_equal(shr_backing_direct(f->b), !no_direct_io(f->dir));
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 10 * SLOT);
	/* Preallocated: the disk blocks are taken before any write. */
	if ((uint64_t)st.st_blocks * 512 < 10 * SLOT)
		fail_msg("a new backing file of %u bytes holds only %llu "
			 "bytes of disk",
			 10 * SLOT, (unsigned long long)st.st_blocks * 512);
}

/* A new file on tmpfs (/dev/shm). Before Linux 6.6 tmpfs refuses O_DIRECT
 * after it has created the file, and the file is made without it; later
 * kernels take it. (tests/vm/node-shrink.sh runs this on Linux 6.1.) */
static void test_tmpfs(void **state)
{
	struct fixture *f = *state;
	char path[64];
	struct shr_backing *b = NULL;
	int ret;

	snprintf(path, sizeof(path), "/dev/shm/zpoold-test-backing.%d",
		 (int)getpid());
	unlink(path);
	ret = shr_backing_open(path, 4 * SLOT, &b, f->err, sizeof(f->err));
	unlink(path);
	if (ret)
		fail_msg("a new backing file on tmpfs: %d: %s", ret, f->err);
	assert_int_equal(shr_backing_slots(b), 4);
	shr_backing_close(b);
}

static void fill_slot(unsigned char *p, uint64_t slot, unsigned int round)
{
	zt_pattern(p, zt_mix64(slot * 131 + round), 0, SLOT);
}

static void test_transfer(void **state)
{
	struct fixture *f = *state;
	const unsigned int nr = 64;
	unsigned char *map, vec[64];
	unsigned int resident = 0;

	open_ok(f, nr * SLOT);
	/* Runs of 1, 8 and 16 slots, the last one ending the file. */
	for (unsigned int first = 0; first < nr;) {
		unsigned int n = first < 8 ? 1 : first < 48 ? 8 : 16;

		for (unsigned int i = 0; i < n; i++)
			fill_slot(f->buf + i * SLOT, first + i, 1);
		assert_int_equal(shr_backing_write(f->b, first, f->buf, n), 0);
		first += n;
	}
	/* An overwrite of one slot in the middle of a run. */
	fill_slot(f->buf, 20, 2);
	assert_int_equal(shr_backing_write(f->b, 20, f->buf, 1), 0);

	for (unsigned int s = 0; s < nr; s++) {
		unsigned char want[SLOT];

		fill_slot(want, s, s == 20 ? 2 : 1);
		memset(f->buf, 0xee, SLOT);
		assert_int_equal(shr_backing_read(f->b, s, f->buf), 0);
		if (memcmp(f->buf, want, SLOT))
			fail_msg("slot %u does not read back what was written",
				 s);
	}

	/* Direct I/O leaves nothing of the file in the page cache. */
	if (shr_backing_direct(f->b)) {
		int fd = open(f->path, O_RDONLY);

		assert_true(fd >= 0);
		map = mmap(NULL, nr * SLOT, PROT_READ, MAP_SHARED, fd, 0);
		close(fd);
		assert_true(map != MAP_FAILED);
		assert_int_equal(mincore(map, nr * SLOT, vec), 0);
		for (unsigned int i = 0; i < nr; i++)
			resident += vec[i] & 1;
		munmap(map, nr * SLOT);
		if (resident)
			fail_msg("%u of %u written slots are in the page cache",
				 resident, nr);
	}
}

static void test_reuse(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	open_ok(f, 8 * SLOT);
	memset(f->buf, 0x5a, 8 * SLOT);
	assert_int_equal(shr_backing_write(f->b, 0, f->buf, 8), 0);
	shr_backing_close(f->b);
	f->b = NULL;

	/* Reopened larger: the old contents are gone, the size is new. */
	open_ok(f, 32 * SLOT);
	assert_int_equal(shr_backing_slots(f->b), 32);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_size, 32 * SLOT);
	for (unsigned int s = 0; s < 32; s++) {
		assert_int_equal(shr_backing_read(f->b, s, f->buf), 0);
		for (unsigned int i = 0; i < SLOT; i++)
			if (f->buf[i])
				fail_msg("slot %u of a reused file holds old "
					 "data (0x%02x at byte %u)",
					 s, f->buf[i], i);
	}
	/* And smaller. */
	open_ok(f, 2 * SLOT);
	assert_int_equal(shr_backing_slots(f->b), 2);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_size, 2 * SLOT);
}

static void expect_open_error(struct fixture *f, const char *path,
			      uint64_t size, int want, const char *text)
{
	struct shr_backing *b = NULL;
	int ret;

	f->err[0] = '\0';
	ret = shr_backing_open(path, size, &b, f->err, sizeof(f->err));
	if (ret != want) {
		shr_backing_close(b);
		fail_msg("shr_backing_open('%s', %llu) returned %d, not %d (%s)",
			 path, (unsigned long long)size, ret, want, f->err);
	}
	if (!strstr(f->err, path) || !strstr(f->err, text))
		fail_msg("the message for '%s' is \"%s\": it should name the "
			 "path and say '%s'",
			 path, f->err, text);
}

static void test_errors(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + 32];
	struct stat st;

	expect_open_error(f, f->path, 0, -EINVAL, "needs a size");
	expect_open_error(f, f->path, SLOT - 1, -EINVAL,
			  "smaller than one slot");
	expect_open_error(f, f->dir, SLOT, -EISDIR, strerror(EISDIR));
	snprintf(path, sizeof(path), "%s/missing/wb", f->dir);
	expect_open_error(f, path, SLOT, -ENOENT, strerror(ENOENT));
	expect_open_error(f, "/dev/null", SLOT, -EINVAL,
			  "neither a regular file nor a block device");

	/* More than the disk holds (less than ext4's or xfs's largest
	 * file): refused before anything is allocated, and the file made
	 * for it is gone again. */
	expect_open_error(f, f->path, 8ull << 40, -ENOSPC, "bytes free");
	if (stat(f->path, &st) == 0)
		fail_msg("a backing file that could not be allocated was left "
			 "behind");
	/* The errors changed nothing: the path still works. */
	open_ok(f, 4 * SLOT);
	assert_int_equal(shr_backing_slots(f->b), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tmpfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transfer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
