/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * swapdev.c - a volume as swap: the swap area's header, loop devices,
 * swapon and swapoff, done by the daemon itself so that `zpoolctl swapon`
 * needs neither mkswap nor losetup and the daemon's own permission checks
 * decide who may.
 *
 * The header is the one mkswap(8) writes and the kernel reads (union
 * swap_header in include/linux/swap.h): in the first 4 KiB page, after
 * 1024 bytes left for boot loaders, the version (1), the last usable page,
 * the number of bad pages (0), a UUID and a 16-byte label; the magic
 * "SWAPSPACE2" ends the page.
 *
 * A loop device is taken with LOOP_CTL_GET_FREE and set up in one call
 * with LOOP_CONFIGURE (Linux 5.8), which also switches direct I/O on: no
 * window in which the device runs through the page cache. Another process
 * may take the same free device between the two calls: LOOP_CONFIGURE
 * then fails with EBUSY, and the next free one is tried.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/sysmacros.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon/internal.h"

/* The layout of the version 1 header (offsets in the first page). */
#define SWAP_VERSION_OFF 1024
#define SWAP_LAST_PAGE_OFF 1028
#define SWAP_NR_BADPAGES_OFF 1032
#define SWAP_UUID_OFF 1036
#define SWAP_LABEL_OFF 1052
#define SWAP_LABEL_LEN 16
#define SWAP_MAGIC "SWAPSPACE2"
#define SWAP_MAGIC_OFF (ZPD_BLOCK_SIZE - (sizeof(SWAP_MAGIC) - 1))
/* mkswap's smallest swap area. */
#define SWAP_MIN_PAGES 10
/* Free loop devices tried before giving up on EBUSY races. */
#define ATTACH_TRIES 8

static void put_u32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v)); /* the kernel reads it in host order */
}

int zpd_swap_header(void *page, uint64_t size, const char *label, char *err,
		    size_t errlen)
{
	unsigned char *p = page, uuid[16];
	uint64_t pages = size / ZPD_BLOCK_SIZE;

	if (pages < SWAP_MIN_PAGES || pages - 1 > UINT32_MAX) {
		snprintf(err, errlen,
			 "a swap area of %llu bytes is not possible (%d to "
			 "%llu pages of 4 KiB)",
			 (unsigned long long)size, SWAP_MIN_PAGES,
			 (unsigned long long)UINT32_MAX + 1);
		return -EINVAL;
	}
	if (label && strlen(label) > SWAP_LABEL_LEN) {
		snprintf(err, errlen, "swap label '%s' is longer than %d bytes",
			 label, SWAP_LABEL_LEN);
		return -EINVAL;
	}
	if (getrandom(uuid, sizeof(uuid), 0) != (ssize_t)sizeof(uuid)) {
		snprintf(err, errlen, "cannot make a UUID: %s",
			 strerror(errno));
		return -EIO;
	}
	uuid[6] = (uuid[6] & 0x0f) | 0x40; /* version 4: random */
	uuid[8] = (uuid[8] & 0x3f) | 0x80; /* the RFC 4122 variant */
	memset(p, 0, ZPD_BLOCK_SIZE);
	put_u32(p + SWAP_VERSION_OFF, 1);
	put_u32(p + SWAP_LAST_PAGE_OFF, (uint32_t)(pages - 1));
	put_u32(p + SWAP_NR_BADPAGES_OFF, 0);
	memcpy(p + SWAP_UUID_OFF, uuid, sizeof(uuid));
	if (label)
		memcpy(p + SWAP_LABEL_OFF, label, strlen(label));
	memcpy(p + SWAP_MAGIC_OFF, SWAP_MAGIC, sizeof(SWAP_MAGIC) - 1);
	return 0;
}

/* Whether the kernel runs dev with direct I/O (its sysfs attribute). */
static int loop_dio(const char *dev)
{
	char path[64], buf[8] = "";
	int fd, n;

	snprintf(path, sizeof(path), "/sys/block/%s/loop/dio",
		 strrchr(dev, '/') + 1);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = (int)read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && buf[0] == '1';
}

int zpd_loopdev_attach(const char *path, bool dio, char *dev, char *err,
		       size_t errlen)
{
	struct loop_config lc = { 0 };
	int ctl, file, fd = -1, nr, ret = 0;

	file = open(path, O_RDWR | O_CLOEXEC | (dio ? O_DIRECT : 0));
	if (file < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open '%s': %s", path,
			 strerror(errno));
		return ret;
	}
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open /dev/loop-control: %s",
			 strerror(errno));
		close(file);
		return ret;
	}
	lc.fd = (uint32_t)file;
	lc.block_size = dio ? ZPD_BLOCK_SIZE : 0;
	lc.info.lo_flags = dio ? LO_FLAGS_DIRECT_IO : 0;
	snprintf((char *)lc.info.lo_file_name, sizeof(lc.info.lo_file_name),
		 "%s", path);
	for (int tries = 0; tries < ATTACH_TRIES; tries++) {
		nr = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (nr < 0) {
			ret = -errno;
			snprintf(err, errlen, "no free loop device: %s",
				 strerror(errno));
			break;
		}
		snprintf(dev, ZPD_DEV_MAX, "/dev/loop%d", nr);
		fd = open(dev, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
			snprintf(err, errlen, "cannot open %s: %s", dev,
				 strerror(errno));
			break;
		}
		if (ioctl(fd, LOOP_CONFIGURE, &lc) == 0) {
			ret = 0;
			break;
		}
		ret = -errno;
		snprintf(err, errlen, "cannot attach '%s' to %s: %s", path, dev,
			 strerror(errno));
		close(fd);
		fd = -1;
		if (ret != -EBUSY)
			break;
	}
	close(ctl);
	close(file);
	if (fd < 0)
		return ret ? ret : -EBUSY;
	close(fd);
	/* A kernel that cannot do direct I/O on the file says nothing and
	 * goes through the page cache: not what was asked for. */
	if (dio && loop_dio(dev) != 1) {
		char msg[256];

		zpd_loopdev_detach(dev, msg, sizeof(msg));
		snprintf(err, errlen,
			 "%s would not use direct I/O on '%s'; detached it",
			 dev, path);
		return -EOPNOTSUPP;
	}
	return 0;
}

int zpd_loopdev_detach(const char *dev, char *err, size_t errlen)
{
	int fd, ret;

	/* Busy devices are switched to autoclear by the kernel and detached
	 * later: refuse rather than leave swap on a device going away. */
	if (zpd_is_swap(dev)) {
		snprintf(err, errlen,
			 "%s is active swap: swapoff first, then detach it",
			 dev);
		return -EBUSY;
	}
	fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open %s: %s", dev,
			 strerror(errno));
		return ret;
	}
	if (ioctl(fd, LOOP_CLR_FD, 0)) {
		ret = -errno;
		snprintf(err, errlen, "cannot detach %s: %s", dev,
			 errno == ENXIO ? "it is not attached"
			 : errno == ENOTTY ? "not a loop device"
					   : strerror(errno));
		close(fd);
		return ret;
	}
	close(fd);
	return 0;
}

int zpd_swap_on(const char *dev, int priority, bool discard, char *err,
		size_t errlen)
{
	int flags = 0, ret;

	if (priority >= 0)
		flags |= SWAP_FLAG_PREFER |
			 ((priority << SWAP_FLAG_PRIO_SHIFT) & SWAP_FLAG_PRIO_MASK);
	if (discard)
		flags |= SWAP_FLAG_DISCARD;
	if (!swapon(dev, flags))
		return 0;
	ret = -errno;
	snprintf(err, errlen, "swapon %s: %s", dev,
		 errno == EINVAL ? "not a swap area (or swap is off in this "
				   "kernel)"
		 : errno == EBUSY ? "it is swap already"
				  : strerror(errno));
	return ret;
}

int zpd_swap_off(const char *dev, char *err, size_t errlen)
{
	int ret;

	if (!swapoff(dev))
		return 0;
	ret = -errno;
	/* Another swapoff of it in progress (systemd's at shutdown, say):
	 * the kernel still lists it, but no longer as one to swap off. Done
	 * when that one is. */
	if (ret == -EINVAL && zpd_is_swap(dev)) {
		zpd_log(LOG_NOTICE, "%s is being swapped off already: waiting",
			dev);
		while (zpd_is_swap(dev))
			usleep(200 * 1000);
		return 0;
	}
	snprintf(err, errlen, "swapoff %s: %s", dev,
		 errno == ENOMEM ? "its pages do not fit back into memory"
		 : errno == EINVAL ? "it is not swap"
				   : strerror(errno));
	return ret;
}

int zpd_swap_priority(const char *dev)
{
	FILE *f = fopen("/proc/swaps", "re");
	char line[PATH_MAX + 128], name[PATH_MAX];
	int prio = INT_MIN, p;

	if (!f)
		return INT_MIN;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%4095s %*s %*s %*s %d", name, &p) == 2 &&
		    !strcmp(name, dev)) {
			prio = p;
			break;
		}
	fclose(f);
	return prio;
}
