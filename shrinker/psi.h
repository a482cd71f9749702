/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * psi.h - a memory pressure trigger: the kernel's pressure stall
 * information (PSI, Documentation/accounting/psi.rst) tells the shrinker
 * when tasks have waited for memory for longer than it allows.
 *
 * A trigger is "some STALL WINDOW": an event comes when, within any window
 * of WINDOW, at least one task was stalled on memory (reclaim, refaults of
 * the working set, compaction) for STALL in total. The kernel sends at
 * most one event per window while the pressure lasts.
 *
 * Without CAP_SYS_RESOURCE (which root in a container often lacks) the
 * kernel takes only windows of whole multiples of 2 s and checks such a
 * trigger with its 2 s averages: an event comes up to 2 s after the
 * crossing. Those checks go wrong in two ways worth knowing (in
 * kernel/sched/psi.c up to 6.18 at least; the first one was seen here
 * too): the window starts from another counter than the one it is
 * checked against, so the first checks that see any stall at all may fire,
 * a few events in the first windows however little the stall; and reading
 * the pressure file (its averages) at the moment a check is due makes the
 * kernel skip that check. So an event is a reason to look, not a measure,
 * and the file is best read no more than every few seconds.
 *
 * One thread polls the descriptor and acknowledges the events; nothing
 * here locks. Nothing here allocates memory after shr_psi_open().
 */
#ifndef SHR_PSI_H
#define SHR_PSI_H

#include <stddef.h>
#include <stdint.h>

/* The kernel's limits for a trigger's window (psi.rst): at least 500 ms, so
 * that its polling stays cheap, and at most 10 s. */
#define SHR_PSI_WINDOW_MIN_MS 500u
#define SHR_PSI_WINDOW_MAX_MS 10000u

/* Where the memory pressure of the whole system is. */
#define SHR_PSI_MEMORY "/proc/pressure/memory"

struct shr_psi;

/**
 * shr_psi_open() - arm the trigger "some STALL WINDOW" on a pressure file.
 * @path:      the file, NULL for SHR_PSI_MEMORY; a cgroup v2 group's
 *             memory.pressure works the same way
 * @stall_ms:  stall time that fires the trigger, 1 ms up to the window
 * @window_ms: the window, SHR_PSI_WINDOW_MIN_MS to SHR_PSI_WINDOW_MAX_MS
 *
 * Returns 0 and the trigger in *out, or -errno with a message naming the
 * file and the values in err: -EINVAL for values out of range (checked
 * before the file is opened; the message gives the allowed range),
 * -ENOENT or -EOPNOTSUPP when the kernel has no pressure stall information
 * (built without CONFIG_PSI or booted with psi=0), the error of open(2) or
 * write(2) otherwise (-ENOENT for a path that does not exist, -EACCES,
 * -EPERM, -EINVAL for a window an unprivileged user may not use: without
 * CAP_SYS_RESOURCE the kernel wants whole multiples of 2 s), or -ENOMEM.
 * *out is left alone on an error.
 */
int shr_psi_open(const char *path, unsigned int stall_ms,
		 unsigned int window_ms, struct shr_psi **out, char *err,
		 size_t errlen);

/**
 * shr_psi_fd() - the descriptor to poll(2) or epoll for POLLPRI (EPOLLPRI):
 * an event means the stall crossed the threshold. POLLERR means the
 * trigger is gone (its cgroup was removed) and will never fire again.
 * The descriptor belongs to the trigger: do not close it.
 */
int shr_psi_fd(const struct shr_psi *p);

/**
 * shr_psi_ack() - after poll reported POLLPRI: count the event. There is
 * nothing to read (poll itself consumes a PSI event); returns the number
 * of events acknowledged since shr_psi_open(), this one included.
 */
uint64_t shr_psi_ack(struct shr_psi *p);

/** shr_psi_close() - disarm the trigger and free it. NULL is fine. */
void shr_psi_close(struct shr_psi *p);

#endif /* SHR_PSI_H */
