/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * psi.c - the memory pressure trigger: one descriptor of a pressure file
 * (/proc/pressure/memory, or a cgroup's memory.pressure) with one trigger
 * written to it.
 *
 * The kernel keeps the trigger for as long as the descriptor is open and
 * reports crossings of its threshold as POLLPRI; there is nothing to read.
 * The trigger is written in microseconds, in one write(2) that includes the
 * terminating NUL: the kernel copies at most a small buffer and overwrites
 * its last byte with a NUL, so without ours the last digit of the window
 * would be lost (psi.rst writes strlen(trig) + 1 bytes for that reason).
 *
 * The values are checked here before the file is opened, against the
 * limits psi.rst gives, so that a bad configuration reads as such and not
 * as the kernel's bare EINVAL.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shrinker/psi.h"

struct shr_psi {
	int fd;
	uint64_t events; /* acknowledged so far; only the polling thread */
};

/* Why a pressure file can be missing or refuse a trigger. */
#define NO_PSI_HINT \
	" (kernel without pressure stall information: CONFIG_PSI off or " \
	"booted with psi=0)"

int shr_psi_open(const char *path, unsigned int stall_ms,
		 unsigned int window_ms, struct shr_psi **out, char *err,
		 size_t errlen)
{
	/* "some " and two numbers of at most 8 digits (10 s in us), a space,
	 * a NUL: 23 bytes, within the 32 the kernel reads. */
	char trig[32];
	const char *hint = "";
	struct shr_psi *p;
	ssize_t written;
	size_t len;
	int ret;

	if (!path)
		path = SHR_PSI_MEMORY;
	if (window_ms < SHR_PSI_WINDOW_MIN_MS ||
	    window_ms > SHR_PSI_WINDOW_MAX_MS || !stall_ms ||
	    stall_ms > window_ms) {
		snprintf(err, errlen,
			 "cannot arm pressure trigger on '%s': a stall of %u "
			 "ms in a window of %u ms is out of range (stall 1 ms "
			 "up to the window, window %u to %u ms)",
			 path, stall_ms, window_ms, SHR_PSI_WINDOW_MIN_MS,
			 SHR_PSI_WINDOW_MAX_MS);
		return -EINVAL;
	}
	len = (size_t)snprintf(trig, sizeof(trig), "some %u %u",
			       stall_ms * 1000, window_ms * 1000) + 1;

	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "cannot arm pressure trigger on '%s': %s",
			 path, strerror(ENOMEM));
		return -ENOMEM;
	}

	p->fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (p->fd < 0) {
		ret = -errno;
		/* A missing file the caller named is a typo, not a kernel
		 * without PSI; only the default path says that. */
		if (ret == -EOPNOTSUPP ||
		    (ret == -ENOENT && !strcmp(path, SHR_PSI_MEMORY)))
			hint = NO_PSI_HINT;
		snprintf(err, errlen, "cannot open pressure file '%s': %s%s",
			 path, strerror(-ret), hint);
		goto fail;
	}

	do
		written = write(p->fd, trig, len);
	while (written < 0 && errno == EINTR);
	if (written != (ssize_t)len) {
		ret = written < 0 ? -errno : -EIO;
		/* Kernels before 6.5 let only CAP_SYS_RESOURCE arm
		 * triggers; later ones let anyone, in 2 s steps. */
		if (ret == -EOPNOTSUPP)
			hint = NO_PSI_HINT;
		else if (ret == -EPERM)
			hint = " (arming a trigger needs CAP_SYS_RESOURCE)";
		else if (ret == -EINVAL && window_ms % 2000)
			hint = " (without CAP_SYS_RESOURCE the window must "
			       "be a whole multiple of 2000 ms)";
		snprintf(err, errlen,
			 "cannot arm pressure trigger '%s' on '%s': %s%s", trig,
			 path, strerror(-ret), hint);
		goto fail_close;
	}

	*out = p;
	return 0;

fail_close:
	close(p->fd);
fail:
	free(p);
	return ret;
}

int shr_psi_fd(const struct shr_psi *p)
{
	return p->fd;
}

uint64_t shr_psi_ack(struct shr_psi *p)
{
	return ++p->events;
}

void shr_psi_close(struct shr_psi *p)
{
	if (!p)
		return;
	close(p->fd);
	free(p);
}
