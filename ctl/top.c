/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * top.c - zpoolctl top: the daemon's statistics every interval, on one
 * connection. On a terminal a full-screen view (ANSI escapes, no curses)
 * sized to the terminal: the pool against its limit, the ratio, store,
 * load and writeback rates, a memory bar per node and the busiest
 * volumes; q quits at once (the terminal is in raw mode meanwhile and
 * restored on every way out). Anywhere else, one plain line per refresh.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"

#define MAX_NODES 64
#define MAX_VOLUMES 64

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* What one refresh needs of a stats reply. */
struct sample {
	double t;
	uint64_t pool_pages, limit_pages, slots_used, slots_total;
	uint64_t stored, written, read, wb_pages;
	uint64_t data_in_pool;
	int nodes;
	uint64_t node_pages[MAX_NODES], node_lru[MAX_NODES];
	size_t nvol;
	char vol[MAX_VOLUMES][64];
	uint64_t vol_read[MAX_VOLUMES], vol_written[MAX_VOLUMES];
	uint64_t vol_data[MAX_VOLUMES];
};

static uint64_t vnum(const struct ctl_reply *r, const char *vol,
		     const char *field)
{
	char key[160];

	snprintf(key, sizeof(key), "volume.%s.%s", vol, field);
	return (uint64_t)ctl_num(r, key);
}

static void take(const struct ctl_reply *r, struct sample *s)
{
	char key[64];

	memset(s, 0, sizeof(*s));
	s->t = ctl_now();
	s->pool_pages = (uint64_t)ctl_num(r, "pool_pages");
	s->limit_pages = (uint64_t)ctl_num(r, "pool_limit_pages");
	s->slots_used = (uint64_t)ctl_num(r, "slots_used");
	s->slots_total = (uint64_t)ctl_num(r, "slots_total");
	s->wb_pages = (uint64_t)ctl_num(r, "written_back_pages");
	for (s->nodes = 0; s->nodes < MAX_NODES; s->nodes++) {
		snprintf(key, sizeof(key), "node%d.pages", s->nodes);
		if (!ctl_find(r, key))
			break;
		s->node_pages[s->nodes] = (uint64_t)ctl_num(r, key);
		snprintf(key, sizeof(key), "node%d.lru_length", s->nodes);
		s->node_lru[s->nodes] = (uint64_t)ctl_num(r, key);
	}
	/* stats has no .size records: the volumes are those with reads. */
	for (size_t i = 0; i < r->n && s->nvol < MAX_VOLUMES; i++) {
		const char *n = r->rec[i].name;
		size_t len = strlen(n);

		if (strncmp(n, "volume.", 7) || len < 14 ||
		    strcmp(n + len - 6, ".reads") || len - 13 >= 64)
			continue;
		memcpy(s->vol[s->nvol], n + 7, len - 13);
		s->vol[s->nvol][len - 13] = '\0';
		s->nvol++;
	}
	for (size_t i = 0; i < s->nvol; i++) {
		const char *v = s->vol[i];
		uint64_t mem = vnum(r, v, "blocks_same") +
			       vnum(r, v, "blocks_raw") +
			       vnum(r, v, "blocks_compressed");

		s->vol_read[i] = vnum(r, v, "bytes_read");
		s->vol_written[i] = vnum(r, v, "bytes_written");
		s->vol_data[i] = (mem + vnum(r, v, "blocks_disk")) * 4096;
		s->read += s->vol_read[i];
		s->written += s->vol_written[i];
		s->data_in_pool += mem * 4096;
	}
}

/* Bytes per second between two samples (0 without an earlier one, or
 * after a reset). */
static double rate(uint64_t a, uint64_t b, double dt)
{
	return dt > 0 && b >= a ? (double)(b - a) / dt : 0;
}

static void human_rate(double v, char *buf, size_t len)
{
	char h[24];

	ctl_human((uint64_t)v, h, sizeof(h));
	snprintf(buf, len, "%s/s", h);
}

static void ratio_text(const struct sample *s, char *buf, size_t len)
{
	if (s->pool_pages)
		snprintf(buf, len, "%.2f",
			 (double)s->data_in_pool / (double)(s->pool_pages * 4096));
	else
		snprintf(buf, len, "-");
}

static void plain_line(FILE *out, const struct sample *p,
		       const struct sample *s)
{
	double dt = p ? s->t - p->t : 0;
	char pool[32], limit[32], st[32], ld[32], wb[32], ratio[16], disk[32];
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	ctl_human(s->pool_pages * 4096, pool, sizeof(pool));
	ctl_human(s->limit_pages * 4096, limit, sizeof(limit));
	ctl_human(s->slots_used * 4096, disk, sizeof(disk));
	human_rate(p ? rate(p->written, s->written, dt) : 0, st, sizeof(st));
	human_rate(p ? rate(p->read, s->read, dt) : 0, ld, sizeof(ld));
	human_rate(p ? rate(p->wb_pages * 4096, s->wb_pages * 4096, dt) : 0,
		   wb, sizeof(wb));
	ratio_text(s, ratio, sizeof(ratio));
	fprintf(out,
		"%02d:%02d:%02d pool %s/%s ratio %s store %s load %s "
		"writeback %s disk %s\n",
		tm.tm_hour, tm.tm_min, tm.tm_sec, pool, limit, ratio, st, ld,
		wb, disk);
	fflush(out);
}

/* Print at most cols characters of a line, and its end. */
static void put_line(FILE *out, int cols, const char *fmt, ...)
	zp_printf(3, 4);
static void put_line(FILE *out, int cols, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(out, "%.*s\x1b[K\r\n", cols, line);
}

static void screen(FILE *out, const struct sample *p, const struct sample *s,
		   double interval, int rows, int cols)
{
	double dt = p ? s->t - p->t : 0;
	char a[32], b[32], c[32], ratio[16], bar[128];
	uint64_t scale = s->limit_pages;
	int row = 0, barw = cols - 40;
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	if (barw > 50)
		barw = 50;
	if (barw < 10)
		barw = 10;
	fputs("\x1b[H", out);
	put_line(out, cols, "zpoolctl top - %02d:%02d:%02d, every %.1f s "
			    "(q quits)",
		 tm.tm_hour, tm.tm_min, tm.tm_sec, interval);
	ctl_human(s->pool_pages * 4096, a, sizeof(a));
	ctl_human(s->limit_pages * 4096, b, sizeof(b));
	ratio_text(s, ratio, sizeof(ratio));
	put_line(out, cols, "pool %s of %s limit (%.0f%%), ratio %s", a, b,
		 s->limit_pages ? 100.0 * (double)s->pool_pages /
					  (double)s->limit_pages
				: 0.0,
		 ratio);
	human_rate(p ? rate(p->written, s->written, dt) : 0, a, sizeof(a));
	human_rate(p ? rate(p->read, s->read, dt) : 0, b, sizeof(b));
	human_rate(p ? rate(p->wb_pages * 4096, s->wb_pages * 4096, dt) : 0,
		   c, sizeof(c));
	put_line(out, cols, "store %s, load %s, writeback %s", a, b, c);
	if (s->slots_total) {
		ctl_human(s->slots_used * 4096, a, sizeof(a));
		ctl_human(s->slots_total * 4096, b, sizeof(b));
		put_line(out, cols, "backing store %s of %s", a, b);
	} else {
		put_line(out, cols, "backing store: none");
	}
	put_line(out, cols, "%s", "");
	row = 5;
	for (int n = 0; n < s->nodes; n++)
		if (s->node_pages[n] > scale)
			scale = s->node_pages[n];
	for (int n = 0; n < s->nodes && row < rows - 4; n++, row++) {
		int fill = scale ? (int)((double)s->node_pages[n] * barw /
					 (double)scale)
				 : 0;

		if (s->node_pages[n] && !fill)
			fill = 1;
		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(barw - fill));
		bar[barw] = '\0';
		ctl_human(s->node_pages[n] * 4096, a, sizeof(a));
		put_line(out, cols, "node%-2d [%s] %7s lru %" PRIu64, n, bar,
			 a, s->node_lru[n]);
	}
	put_line(out, cols, "%s", "");
	put_line(out, cols, "%-24s %9s %11s %11s", "VOLUME", "DATA", "READ",
		 "WRITE");
	row += 2;
	for (size_t i = 0; i < s->nvol && row < rows - 1; i++, row++) {
		size_t j;

		/* The same volume in the previous sample, by name. */
		for (j = 0; p && j < p->nvol && strcmp(p->vol[j], s->vol[i]);
		     j++)
			;
		ctl_human(s->vol_data[i], a, sizeof(a));
		human_rate(p && j < p->nvol ? rate(p->vol_read[j],
						   s->vol_read[i], dt)
					    : 0,
			   b, sizeof(b));
		human_rate(p && j < p->nvol ? rate(p->vol_written[j],
						   s->vol_written[i], dt)
					    : 0,
			   c, sizeof(c));
		put_line(out, cols, "%-24.24s %9s %11s %11s", s->vol[i], a, b,
			 c);
	}
	fputs("\x1b[J", out);
	fflush(out);
}

int ctl_top(struct ctl_conn *c, double interval, long count)
{
	static const char *const words[] = { "stats" };
	bool tty = isatty(STDOUT_FILENO), keys = tty && isatty(STDIN_FILENO);
	struct sample a, b, *prev = NULL, *cur = &a;
	struct termios saved, raw;
	struct sigaction sa = { .sa_handler = on_signal };
	int ret = ZP_EXIT_OK;
	char err[512];

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (keys && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	} else {
		keys = false;
	}
	if (tty)
		fputs("\x1b[?1049h\x1b[?25l\x1b[2J", stdout);
	for (long n = 0; !stop && (!count || n < count); n++) {
		struct ctl_reply r;
		struct winsize ws = { .ws_row = 24, .ws_col = 80 };
		double until;

		if (ctl_request(c, words, 1, &r, err, sizeof(err))) {
			ret = ZP_EXIT_UNREACHABLE;
			break;
		}
		if (r.code) {
			snprintf(err, sizeof(err), "%s", r.message);
			ctl_reply_free(&r);
			ret = ZP_EXIT_ERROR;
			break;
		}
		take(&r, cur);
		ctl_reply_free(&r);
		if (tty) {
			ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws);
			screen(stdout, prev, cur, interval,
			       ws.ws_row ? ws.ws_row : 24,
			       ws.ws_col ? ws.ws_col : 80);
		} else {
			plain_line(stdout, prev, cur);
		}
		prev = cur;
		cur = cur == &a ? &b : &a;
		if (count && n + 1 >= count)
			break;
		/* Wait for the next refresh, or a key. */
		until = ctl_now() + interval;
		while (!stop && ctl_now() < until) {
			struct pollfd p = { .fd = keys ? STDIN_FILENO : -1,
					    .events = POLLIN };
			char key;

			if (poll(&p, 1, (int)((until - ctl_now()) * 1000) + 1) >
				    0 &&
			    (p.revents & POLLIN) &&
			    read(STDIN_FILENO, &key, 1) == 1 &&
			    (key == 'q' || key == 'Q'))
				stop = 1;
		}
	}
	if (tty)
		fputs("\x1b[?25h\x1b[?1049l", stdout);
	if (keys)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	fflush(stdout);
	if (ret != ZP_EXIT_OK)
		fprintf(stderr, "zpoolctl: %s\n", err);
	return ret;
}
