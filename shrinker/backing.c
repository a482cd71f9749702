/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * backing.c - the backing store: a file or block device of 4 KiB slots
 * that written-back blocks go to.
 *
 * The store is opened with O_DIRECT, so that a written-back block leaves
 * memory for good instead of lingering in the page cache (DESIGN.md,
 * "double caching"); every transfer is whole, aligned slots. A regular
 * file is created when missing (mode 0600) and preallocated to its size
 * with fallocate(2), so that a full disk shows at start and not at the
 * first writeback. Nothing in it survives a restart: an existing file is
 * reused from scratch, its old contents never read. A block device is used
 * as it is, up to its size.
 *
 * Transfers are plain pread/pwrite on one descriptor: the kernel keeps
 * them apart, so the store needs no lock of its own. Nothing here
 * allocates after shr_backing_open().
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "shrinker/shrinker.h"
#include "zp-assert.h"

struct shr_backing {
	int fd;
	bool direct;     /* opened with O_DIRECT */
	bool blockdev;
	uint64_t nr_slots;
	char path[];
};

static int open_direct(const char *path, int flags, bool *direct)
{
	int fd = open(path, flags | O_DIRECT | O_CLOEXEC, 0600);

	*direct = fd >= 0;
	/* Some file systems (tmpfs) refuse O_DIRECT: their page cache is
	 * their storage, so there is nothing to keep out of it. They refuse
	 * it after creating the file, which is ours then: no O_EXCL again. */
	if (fd < 0 && errno == EINVAL)
		fd = open(path, (flags & ~O_EXCL) | O_CLOEXEC, 0600);
	return fd;
}

/* Whether the file system of fd has bytes free for an unprivileged user
 * (root's reserve is for the system, not for written-back swap). */
static int check_room(int fd, uint64_t bytes, const char *path, char *err,
		      size_t errlen)
{
	struct statvfs sv;
	uint64_t avail;

	if (fstatvfs(fd, &sv) < 0)
		return 0; /* fallocate will tell */
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (bytes <= avail)
		return 0;
	snprintf(err, errlen,
		 "cannot allocate %llu bytes for backing file '%s': %s "
		 "(%llu bytes free)",
		 (unsigned long long)bytes, path, strerror(ENOSPC),
		 (unsigned long long)avail);
	return -ENOSPC;
}

int shr_backing_open(const char *path, uint64_t size,
		     struct shr_backing **out, char *err, size_t errlen)
{
	struct shr_backing *b;
	bool created = false;
	struct stat st;
	uint64_t bytes;
	int ret;

	b = calloc(1, sizeof(*b) + strlen(path) + 1);
	if (!b) {
		snprintf(err, errlen, "cannot open backing file '%s': %s", path,
			 strerror(ENOMEM));
		return -ENOMEM;
	}
	strcpy(b->path, path);

	b->fd = open_direct(path, O_RDWR, &b->direct);
	if (b->fd < 0 && errno == ENOENT) {
		b->fd = open_direct(path, O_RDWR | O_CREAT | O_EXCL, &b->direct);
		created = b->fd >= 0;
	}
	if (b->fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open backing file '%s': %s", path,
			 strerror(-ret));
		goto fail;
	}
	if (fstat(b->fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot stat backing file '%s': %s", path,
			 strerror(-ret));
		goto fail_close;
	}

	if (S_ISBLK(st.st_mode)) {
		uint64_t dev_bytes;

		b->blockdev = true;
		if (ioctl(b->fd, BLKGETSIZE64, &dev_bytes) < 0) {
			ret = -errno;
			snprintf(err, errlen,
				 "cannot get the size of backing device '%s': %s",
				 path, strerror(-ret));
			goto fail_close;
		}
		if (size > dev_bytes) {
			ret = -EINVAL;
			snprintf(err, errlen,
				 "backing device '%s' holds %llu bytes, fewer than "
				 "the %llu configured",
				 path, (unsigned long long)dev_bytes,
				 (unsigned long long)size);
			goto fail_close;
		}
		bytes = size ? size : dev_bytes;
	} else if (S_ISREG(st.st_mode)) {
		if (!size) {
			ret = -EINVAL;
			snprintf(err, errlen,
				 "backing file '%s' needs a size", path);
			goto fail_close;
		}
		bytes = size & ~(uint64_t)(SHR_SLOT_SIZE - 1);
		if (!bytes)
			goto too_small;
		/* Old contents mean nothing: drop them, then take the
		 * whole size now. */
		if (ftruncate(b->fd, 0) < 0) {
			ret = -errno;
			snprintf(err, errlen,
				 "cannot truncate backing file '%s': %s", path,
				 strerror(-ret));
			goto fail_close;
		}
		/* A size the disk cannot hold is refused before fallocate
		 * tries: it would fill the file system on its way to
		 * failing, and everyone else on it with it. */
		ret = check_room(b->fd, bytes, path, err, errlen);
		if (ret)
			goto fail_close;
		if (fallocate(b->fd, 0, 0, (off_t)bytes) < 0) {
			ret = -errno;
			snprintf(err, errlen,
				 "cannot allocate %llu bytes for backing file "
				 "'%s': %s",
				 (unsigned long long)bytes, path,
				 strerror(-ret));
			goto fail_close;
		}
	} else {
		ret = -EINVAL;
		snprintf(err, errlen,
			 "backing file '%s' is neither a regular file nor a "
			 "block device",
			 path);
		goto fail_close;
	}

	b->nr_slots = bytes / SHR_SLOT_SIZE;
	if (!b->nr_slots)
		goto too_small;
	*out = b;
	return 0;

too_small:
	ret = -EINVAL;
	snprintf(err, errlen,
		 "backing file '%s' is smaller than one slot (%u bytes)", path,
		 SHR_SLOT_SIZE);

fail_close:
	close(b->fd);
	if (created)
		unlink(path);
fail:
	free(b);
	return ret;
}

void shr_backing_close(struct shr_backing *b)
{
	if (!b)
		return;
	close(b->fd);
	free(b);
}

uint64_t shr_backing_slots(const struct shr_backing *b)
{
	return b->nr_slots;
}

bool shr_backing_direct(const struct shr_backing *b)
{
	return b->direct;
}

const char *shr_backing_path(const struct shr_backing *b)
{
	return b->path;
}

/* Move n slots at slot first, whole: a short transfer goes on from where
 * it stopped, a transfer that makes no progress is an I/O error. */
static int transfer(struct shr_backing *b, bool write, uint64_t first,
		    void *buf, unsigned int n)
{
	size_t len = (size_t)n * SHR_SLOT_SIZE, done = 0;
	off_t off = (off_t)(first * SHR_SLOT_SIZE);

	zp_assert(n && first + n <= b->nr_slots);
	zp_assert(((uintptr_t)buf & (SHR_SLOT_SIZE - 1)) == 0);
	while (done < len) {
		ssize_t r = write ? pwrite(b->fd, (char *)buf + done,
					   len - done, off + (off_t)done)
				  : pread(b->fd, (char *)buf + done, len - done,
					  off + (off_t)done);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		done += (size_t)r;
	}
	return 0;
}

int shr_backing_write(struct shr_backing *b, uint64_t first, const void *buf,
		      unsigned int n)
{
	return transfer(b, true, first, (void *)buf, n);
}

int shr_backing_read(struct shr_backing *b, uint64_t slot, void *buf)
{
	return transfer(b, false, slot, buf, 1);
}
