/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctlpoke - a raw client of the control socket, for the tests that send
 * what zpoolctl never would: garbage, requests over the limit, half a
 * request, requests whose replies are never read.
 *
 *   ctlpoke [-t SECS] [-r N] [-p SECS] [-H SECS] SOCKET DATA
 *
 * DATA is sent as given, with the escapes \n, \r, \t, \\ and \xNN, N
 * times with -r. Then, by default, everything the daemon sends is printed
 * until it closes the connection or SECS (-t, default 5) pass without a
 * byte. -p SECS pauses that long after sending, before reading. -H SECS
 * holds the connection for up to SECS without reading a byte and prints
 * "closed after N s" when the daemon dropped it, or "still open" (the
 * daemon's unread bytes are drained first: a dropped connection then
 * reads as its end). A send that fails (the daemon closed the
 * connection) prints "send failed: ..." and goes on to the reading. Exit
 * status 0, or 2 for bad usage and 1 when the socket cannot be reached.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static size_t unescape(const char *in, char *out)
{
	size_t n = 0;

	while (*in) {
		if (*in != '\\' || !in[1]) {
			out[n++] = *in++;
			continue;
		}
		in++;
		switch (*in) {
		case 'n': out[n++] = '\n'; in++; break;
		case 'r': out[n++] = '\r'; in++; break;
		case 't': out[n++] = '\t'; in++; break;
		case 'x': {
			char hex[3] = { in[1], in[1] ? in[2] : 0, 0 };

			out[n++] = (char)strtol(hex, NULL, 16);
			in += 1 + strlen(hex);
			break;
		}
		default: out[n++] = *in++; break;
		}
	}
	return n;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Whether the peer closed: a read that returns its end or a reset. */
static int peer_closed(int fd)
{
	char buf[65536];
	ssize_t n;

	for (;;) {
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return 1;
		return 0;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	double timeout = 5, pause = 0, hold = -1, start;
	long repeat = 1;
	bool failed = false;
	char *data;
	size_t len;
	int fd, c;

	while ((c = getopt(argc, argv, "t:r:p:H:")) != -1) {
		switch (c) {
		case 't': timeout = atof(optarg); break;
		case 'r': repeat = atol(optarg); break;
		case 'p': pause = atof(optarg); break;
		case 'H': hold = atof(optarg); break;
		default: return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: ctlpoke [-t SECS] [-r N] [-p SECS] "
				"[-H SECS] SOCKET DATA\n");
		return 2;
	}
	data = malloc(strlen(argv[optind + 1]) + 1);
	if (!data)
		return 1;
	len = unescape(argv[optind + 1], data);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[optind]);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("ctlpoke: connect");
		free(data);
		return 1;
	}
	for (long i = 0; i < repeat && !failed; i++) {
		size_t off = 0;

		while (off < len) {
			ssize_t n = send(fd, data + off, len - off,
					 MSG_NOSIGNAL);

			if (n < 0) {
				/* The daemon closed on us: say so, then read
				 * what it said before. */
				printf("send failed: %s\n", strerror(errno));
				failed = true;
				break;
			}
			off += (size_t)n;
		}
	}
	free(data);
	if (pause > 0)
		usleep((useconds_t)(pause * 1e6));
	if (hold >= 0) {
		/* Not a byte read until the daemon gives up or hold is
		 * over. */
		start = now();
		while (now() - start < hold) {
			struct pollfd p = { .fd = fd, .events = POLLRDHUP };

			if (poll(&p, 1, 100) > 0 &&
			    (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) &&
			    peer_closed(fd)) {
				printf("closed after %.0f s\n", now() - start);
				return 0;
			}
		}
		printf("still open\n");
		return 0;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char buf[65536];
		ssize_t n;

		if (poll(&p, 1, (int)(timeout * 1000)) <= 0)
			break;
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		fwrite(buf, 1, (size_t)n, stdout);
	}
	return 0;
}
