/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * notify.c - logging, and telling systemd how the daemon is doing.
 *
 * zpoold runs in the foreground and logs to stderr. Under systemd,
 * JOURNAL_STREAM names the journal's stream, and a "<N>" prefix gives each
 * line its priority there; elsewhere lines read "zpoold: warning: ...".
 * sd_notify(3) does nothing when NOTIFY_SOCKET is unset, so the same calls
 * serve both.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "daemon/internal.h"

static int log_level = LOG_INFO;
static int journal = -1; /* unknown until the first message */

void zpd_log_set_level(int priority)
{
	__atomic_store_n(&log_level, priority, __ATOMIC_RELAXED);
}

/* Whether stderr is the journal: JOURNAL_STREAM is "device:inode" of it. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%lu:%lu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st))
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

void zpd_log(int priority, const char *fmt, ...)
{
	static const char *const names[] = {
		[LOG_EMERG] = "emergency: ", [LOG_ALERT] = "alert: ",
		[LOG_CRIT] = "critical: ",   [LOG_ERR] = "error: ",
		[LOG_WARNING] = "warning: ", [LOG_NOTICE] = "",
		[LOG_INFO] = "",             [LOG_DEBUG] = "debug: ",
	};
	char line[1024];
	va_list ap;

	if (priority > __atomic_load_n(&log_level, __ATOMIC_RELAXED))
		return;
	if (journal < 0)
		journal = stderr_is_journal();
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (journal)
		fprintf(stderr, "<%d>%s\n", priority, line);
	else
		fprintf(stderr, "zpoold: %s%s\n",
			names[priority & LOG_PRIMASK], line);
}

void zpd_notify_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void zpd_notify_status(const char *status)
{
	sd_notifyf(0, "STATUS=%s", status);
}

void zpd_notify_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

uint64_t zpd_watchdog_usec(void)
{
	uint64_t usec = 0;

	return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

void zpd_notify_watchdog(void)
{
	sd_notify(0, "WATCHDOG=1");
}
