/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main.c - zpoold: start-up, the main loop, and shutdown.
 *
 * Start-up, in the order that keeps it safe (each step unwinds the ones
 * before it on failure):
 *   configuration (file, then -o overrides, then whole-config checks)
 *   signals blocked, so every thread inherits the mask and only the main
 *   loop sees SIGTERM/SIGINT (through libev's signalfd)
 *   memory locked, I/O flusher, oom_score_adj (before any thread exists)
 *   mount point made, a stale mount of a killed daemon detached
 *   store: pool (its reserve faulted in and locked), volumes, workers,
 *   the backing store; then the shrinker thread
 *   mount, then the FUSE loop in its own thread
 *   READY=1
 * The main thread then runs a libev loop: signals, the watchdog, and a
 * status line every few seconds. SIGUSR1 logs every statistic, one
 * "stats: NAME VALUE" line each and a last "stats: end".
 *
 * On SIGTERM or SIGINT the daemon stops only if no volume is active swap:
 * a swapped-out page lives nowhere but here. It says which loop device to
 * swapoff, keeps serving, and stops by itself once no volume is swap any
 * more (checked every second); with swapoff_on_stop it runs swapoff first.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <numa.h>

#include "daemon/internal.h"

/* How often the status line is refreshed for systemd. */
#define STATUS_INTERVAL 10.0
/* Pool housekeeping (compaction, returning free pages): every second, or
 * every release_delay_ms when that is longer. */
#define MAINTAIN_INTERVAL 1.0
/* How often a stop put off by active swap looks again. */
#define STOP_RETRY_INTERVAL 1.0
/* How long a stop may wait for the FUSE loop before giving up on it. */
#define STOP_TIMEOUT_MS 10000

struct daemon {
	struct zpd_config cfg;
	struct zpd_store *store;
	struct zpd_fuse *fuse;
	pthread_t fuse_thread;
	bool fuse_started;
	int fuse_ret;
	struct ev_loop *loop;
	ev_signal sigterm, sigint, sigusr1;
	ev_timer status, watchdog, maintain, stop_retry;
	struct zpd_ctl_env env;
	struct zpd_control *control;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: zpoold [options]\n"
		"\n"
		"Serve compressed volumes over FUSE; see zpoold(8).\n"
		"\n"
		"  -c, --config FILE      configuration file (default %s;\n"
		"                         a missing default file means defaults)\n"
		"  -o, --set SECTION.KEY=VALUE\n"
		"                         override one key, e.g. -o pool.compressor=zstd\n"
		"                         or -o volume.swap0.size=4G (repeatable)\n"
		"  -m, --mountpoint DIR   same as -o daemon.mountpoint=DIR\n"
		"  -t, --threads N        same as -o daemon.threads=N\n"
		"  -v, --verbose          same as -o daemon.log_level=debug\n"
		"      --check-config     check the configuration, print it, exit\n"
		"      --help-config      list every configuration key, exit\n"
		"  -f, --foreground       run in the foreground (always the case)\n"
		"  -h, --help             show this help\n"
		"  -V, --version          show the version\n"
		"\n"
		"Signals: SIGTERM and SIGINT stop the daemon (refused while a volume\n"
		"is active swap, unless swapoff_on_stop is set); SIGUSR1 logs every\n"
		"statistic, a \"stats: NAME VALUE\" line each, then \"stats: end\".\n",
		ZPD_DEFAULT_CONFIG);
}

/* Status for systemd and the log: volumes, data stored, pool size. */
static void status_line(struct daemon *d, char *buf, size_t len)
{
	uint64_t written = 0, stored = 0;
	uint64_t pages = zp_pool_total_pages(d->store->pool);
	unsigned int i;

	pthread_rwlock_rdlock(&d->store->volumes_lock);
	for (i = 0; i < ZPD_MAX_VOLUMES; i++) {
		struct zpd_volume_stats st;

		if (!d->store->volumes[i])
			continue;
		zpd_volume_stats(d->store->volumes[i], &st);
		written += (st.blocks_same + st.blocks_raw +
			    st.blocks_compressed) *
			   ZPD_BLOCK_SIZE;
		stored += st.stored_bytes;
	}
	pthread_rwlock_unlock(&d->store->volumes_lock);
	snprintf(buf, len,
		 "%u volume%s at %s; %.1f MiB of blocks in %.1f MiB of pool "
		 "(%.1f MiB compressed)",
		 d->store->nr_volumes, d->store->nr_volumes == 1 ? "" : "s",
		 d->cfg.mountpoint, written / 1048576.0,
		 pages * (double)ZP_PAGE_SIZE / 1048576.0, stored / 1048576.0);
}

static void on_status(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;
	char buf[PATH_MAX + 256];

	(void)loop, (void)revents;
	status_line(d, buf, sizeof(buf));
	zpd_notify_status(buf);
}

/* Compaction of a wasteful pool (trimming is the refill thread's), and
 * memory the main thread's heap grew by faulted in. */
static void on_maintain(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;

	(void)loop, (void)revents;
	zpd_store_compact_idle(d->store);
	zpd_prefault_again();
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	zpd_notify_watchdog();
}

/*
 * Whether the daemon may stop: no volume is active swap, or (with
 * swapoff_on_stop) every such swap was turned off. With act, says why not
 * and runs swapoff where configured; without, only looks.
 */
static bool may_stop(struct daemon *d, bool act)
{
	char names[ZPD_MAX_VOLUMES][ZPD_VOLUME_NAME_MAX + 1];
	unsigned int i, n = 0;
	bool ok = true;

	/* The names first: swapoff must not run under the lock that volume
	 * commands take. */
	pthread_rwlock_rdlock(&d->store->volumes_lock);
	for (i = 0; i < ZPD_MAX_VOLUMES; i++)
		if (d->store->volumes[i] && !d->store->volumes[i]->removing)
			memcpy(names[n++], d->store->volumes[i]->name,
			       sizeof(names[0]));
	pthread_rwlock_unlock(&d->store->volumes_lock);
	for (i = 0; i < n; i++) {
		char path[PATH_MAX + ZPD_VOLUME_NAME_MAX + 2], loops[1024];
		const char *name = names[i], *dev;
		int nr;

		snprintf(path, sizeof(path), "%s/%.*s", d->cfg.mountpoint,
			 ZPD_VOLUME_NAME_MAX, name);
		nr = zpd_loops_of(path, loops, sizeof(loops));
		for (dev = loops; nr > 0; nr--, dev += strlen(dev) + 1) {
			if (!zpd_is_swap(dev)) {
				if (!act)
					continue;
				zpd_log(LOG_WARNING,
					"volume '%s' is still attached to %s; "
					"its data goes away with the daemon",
					name, dev);
				continue;
			}
			if (!act) {
				ok = false;
				continue;
			}
			if (d->cfg.swapoff_on_stop) {
				zpd_log(LOG_NOTICE,
					"volume '%s' is swap on %s: running "
					"swapoff",
					name, dev);
				if (!swapoff(dev))
					continue;
				zpd_log(LOG_ERR,
					"cannot stop: swapoff '%s' failed: %s",
					dev, strerror(errno));
			} else {
				zpd_log(LOG_ERR,
					"refusing to stop: volume '%s' is "
					"active swap on %s, whose pages exist "
					"only here; run 'swapoff %s' first (or "
					"set swapoff_on_stop = yes in [daemon])",
					name, dev, dev);
			}
			ok = false;
		}
	}
	return ok;
}

static void on_stop_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;

	(void)revents;
	zpd_log(LOG_NOTICE, "%s received", strsignal(w->signum));
	if (!may_stop(d, true)) {
		zpd_log(LOG_NOTICE, "stopping once no volume is active swap");
		zpd_notify_status("refusing to stop: a volume is active swap; "
				  "stopping once it is not");
		ev_timer_again(loop, &d->stop_retry);
		return;
	}
	ev_break(loop, EVBREAK_ALL);
}

/* A stop put off by active swap: go once the swap is gone (swapped off by
 * hand, or by systemd at shutdown). */
static void on_stop_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;

	(void)revents;
	if (!may_stop(d, false))
		return;
	zpd_log(LOG_NOTICE, "no volume is active swap any more: stopping");
	ev_timer_stop(loop, w);
	ev_break(loop, EVBREAK_ALL);
}

static void log_stat(const char *name, uint64_t value, void *arg)
{
	(void)arg;
	zpd_log(LOG_NOTICE, "stats: %s %llu", name,
		(unsigned long long)value);
}

static void on_stats_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;

	(void)loop, (void)revents;
	zpd_stats_walk(d->store, log_stat, NULL);
	zpd_log(LOG_NOTICE, "stats: end");
}

static void *fuse_main_thread(void *arg)
{
	struct daemon *d = arg;

	zpd_thread_prefault();
	d->fuse_ret = zpd_fuse_run(d->fuse);
	/* The loop may end on its own (unmounted from outside): stop the
	 * daemon then too. */
	kill(getpid(), SIGTERM);
	return NULL;
}

/* Stop the FUSE loop: keep waking its thread until it returns. */
static void stop_fuse(struct daemon *d)
{
	struct timespec ts;
	int waited = 0;

	while (waited < STOP_TIMEOUT_MS) {
		zpd_fuse_stop(d->fuse);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (!pthread_timedjoin_np(d->fuse_thread, NULL, &ts))
			return;
		waited += 100;
	}
	zpd_log(LOG_ERR, "the file system loop did not stop in %d s; "
			 "unmounting anyway",
		STOP_TIMEOUT_MS / 1000);
}

static int make_mountpoint(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int ret;

	ret = zpd_make_dirs(path, err, errlen);
	if (ret)
		return ret;
	if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "cannot mount at '%s': %s", path,
			 strerror(ENOTDIR));
		return -ENOTDIR;
	}
	ret = zpd_clean_stale_mount(path);
	if (ret == -EBUSY) {
		snprintf(err, errlen,
			 "cannot mount at '%s': a file system that is alive "
			 "is mounted there (another zpoold?)",
			 path);
		return ret;
	}
	if (ret < 0) {
		snprintf(err, errlen,
			 "cannot detach the stale mount at '%s': %s", path,
			 strerror(-ret));
		return ret;
	}
	if (ret > 0)
		zpd_log(LOG_NOTICE,
			"detached a stale mount of a daemon that is gone at "
			"'%s'",
			path);
	return 0;
}

enum { OPT_CHECK = 256, OPT_HELP_CONFIG };

/* Read the configuration: the file, then the command line. Exits on
 * --help, --version and --help-config. 0, 1 (bad configuration), 2 (bad
 * usage). */
static int configure(struct daemon *d, int argc, char **argv, bool *check)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 'o' },
		{ "mountpoint", required_argument, NULL, 'm' },
		{ "threads", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "help-config", no_argument, NULL, OPT_HELP_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	char **sets = calloc((size_t)argc + 1, sizeof(char *));
	char err[ZPD_ERR_MAX], buf[PATH_MAX + 64];
	int nr_sets = 0, c, i, ret, nodes;

	if (!sets) {
		fprintf(stderr, "zpoold: %s\n", strerror(ENOMEM));
		return 1;
	}
	*check = false;
	while ((c = getopt_long(argc, argv, "c:o:m:t:vfhV", opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'o':
			sets[nr_sets++] = strdup(optarg);
			break;
		case 'm':
			snprintf(buf, sizeof(buf), "daemon.mountpoint=%s",
				 optarg);
			sets[nr_sets++] = strdup(buf);
			break;
		case 't':
			snprintf(buf, sizeof(buf), "daemon.threads=%s", optarg);
			sets[nr_sets++] = strdup(buf);
			break;
		case 'v':
			sets[nr_sets++] = strdup("daemon.log_level=debug");
			break;
		case 'f':
			break;
		case OPT_CHECK:
			*check = true;
			break;
		case OPT_HELP_CONFIG:
			zpd_config_help(stdout);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("zpoold %s\n", PACKAGE_VERSION);
			exit(0);
		default:
			usage(stderr);
			ret = 2;
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "zpoold: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		ret = 2;
		goto out;
	}
	zpd_config_defaults(&d->cfg);
	ret = zpd_config_load(&d->cfg, path ? path : ZPD_DEFAULT_CONFIG, err,
			      sizeof(err));
	/* Without -c, no file at the default place means the defaults. */
	if (ret && !(ret == -ENOENT && !path)) {
		fprintf(stderr, "zpoold: %s\n", err);
		ret = 1;
		goto out;
	}
	for (i = 0; i < nr_sets; i++) {
		if (!sets[i] ||
		    zpd_config_set(&d->cfg, sets[i], err, sizeof(err))) {
			fprintf(stderr, "zpoold: %s\n",
				sets[i] ? err : strerror(ENOMEM));
			ret = 1;
			goto out;
		}
	}
	nodes = numa_available() < 0 ? 1 : numa_max_node() + 1;
	if (zpd_config_check(&d->cfg, nodes, err, sizeof(err))) {
		fprintf(stderr, "zpoold: %s\n", err);
		ret = 1;
		goto out;
	}
	ret = 0;
out:
	for (i = 0; i < nr_sets; i++)
		free(sets[i]);
	free(sets);
	return ret;
}

int main(int argc, char **argv)
{
	struct daemon d = { 0 };
	char err[ZPD_ERR_MAX], status[PATH_MAX + 256];
	sigset_t mask;
	uint64_t wd;
	bool check;
	int ret;

	ret = configure(&d, argc, argv, &check);
	if (ret)
		return ret;
	zpd_log_set_level(d.cfg.log_level);
	if (check) {
		zpd_config_dump(&d.cfg, stdout);
		return 0;
	}
	if (!d.cfg.nr_volumes)
		zpd_log(LOG_WARNING, "no volumes configured: the mount will "
				     "be empty");

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (zpd_safety_setup(&d.cfg, err, sizeof(err)))
		goto fail;
	if (make_mountpoint(d.cfg.mountpoint, err, sizeof(err)))
		goto fail;
	/* A worker for each FUSE thread, the control thread and two
	 * spare. */
	if (zpd_store_create(&d.cfg, d.cfg.threads + 3, &d.store, err,
			     sizeof(err)))
		goto fail;
	if (zpd_shrinker_start(d.store, &d.cfg, err, sizeof(err)))
		goto fail_store;
	if (zpd_fuse_start(d.store, &d.cfg, &d.fuse, err, sizeof(err)))
		goto fail_store;
	ret = pthread_create(&d.fuse_thread, NULL, fuse_main_thread, &d);
	if (ret) {
		snprintf(err, sizeof(err), "cannot start the file system "
					   "thread: %s",
			 strerror(ret));
		goto fail_fuse;
	}
	d.fuse_started = true;

	d.loop = ev_default_loop(EVFLAG_SIGNALFD);
	if (!d.loop) {
		snprintf(err, sizeof(err), "cannot start the event loop");
		goto fail_thread;
	}
	ev_signal_init(&d.sigterm, on_stop_signal, SIGTERM);
	ev_signal_init(&d.sigint, on_stop_signal, SIGINT);
	d.sigterm.data = d.sigint.data = &d;
	ev_signal_start(d.loop, &d.sigterm);
	ev_signal_start(d.loop, &d.sigint);
	ev_signal_init(&d.sigusr1, on_stats_signal, SIGUSR1);
	d.sigusr1.data = &d;
	ev_signal_start(d.loop, &d.sigusr1);
	ev_timer_init(&d.status, on_status, STATUS_INTERVAL, STATUS_INTERVAL);
	d.status.data = &d;
	ev_timer_start(d.loop, &d.status);
	ev_timer_init(&d.maintain, on_maintain, MAINTAIN_INTERVAL,
		      ZP_MAX(MAINTAIN_INTERVAL, d.cfg.release_delay_ms / 1e3));
	d.maintain.data = &d;
	ev_timer_start(d.loop, &d.maintain);
	ev_init(&d.stop_retry, on_stop_retry);
	d.stop_retry.repeat = STOP_RETRY_INTERVAL;
	d.stop_retry.data = &d;
	wd = zpd_watchdog_usec();
	if (wd) {
		/* Ping at half the interval, as sd_watchdog_enabled(3)
		 * advises. */
		ev_timer_init(&d.watchdog, on_watchdog, 0, wd / 2e6);
		ev_timer_start(d.loop, &d.watchdog);
	}

	d.env.store = d.store;
	d.env.cfg = &d.cfg;
	d.env.fuse = d.fuse;
	d.env.nr_nodes = numa_available() < 0 ? 1 : numa_max_node() + 1;
	if (zpd_control_start(d.loop, &d.env, &d.control, err, sizeof(err)))
		goto fail_loop;

	/* Everything the daemon needs is made: fault it in now, while
	 * memory is there to have. */
	zpd_prefault_self();
	status_line(&d, status, sizeof(status));
	zpd_log(LOG_INFO, "ready: %s%s%s", status,
		d.control ? "; control socket " : "",
		d.control ? d.cfg.control_socket : "");
	zpd_notify_ready(status);
	ev_run(d.loop, 0);

	zpd_notify_stopping();
	zpd_log(LOG_INFO, "stopping");
	zpd_control_stop(d.control);
	stop_fuse(&d);
	zpd_fuse_destroy(d.fuse);
	zpd_store_destroy(d.store);
	ev_loop_destroy(d.loop);
	zpd_log(LOG_INFO, "stopped");
	return 0;

fail_loop:
	ev_loop_destroy(d.loop);
fail_thread:
	stop_fuse(&d);
fail_fuse:
	zpd_fuse_destroy(d.fuse);
fail_store:
	zpd_store_destroy(d.store);
fail:
	zpd_log(LOG_ERR, "%s", err);
	return 1;
}
