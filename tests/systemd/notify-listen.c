/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * notify-listen.c - stands in for systemd's notification socket.
 *
 * Usage: notify-listen SOCKET
 * Binds a datagram socket at SOCKET and prints every message that
 * arrives as one line, "PID MESSAGE", with the sender's pid from its
 * credentials (SO_PASSCRED) and the message's newlines shown as '|'.
 * Prints "listening" first, then runs until SIGTERM or SIGINT.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct sigaction sa = { .sa_handler = on_signal };
	int fd, one = 1;

	if (argc != 2 || strlen(argv[1]) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "usage: notify-listen SOCKET\n");
		return 2;
	}
	/* No SA_RESTART: a signal ends the wait in recvmsg(). */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	strcpy(addr.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one,
				 sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		fprintf(stderr, "notify-listen: %s: %s\n", argv[1],
			strerror(errno));
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	while (!stop) {
		char buf[4096], cbuf[CMSG_SPACE(sizeof(struct ucred))];
		struct iovec iov = { buf, sizeof(buf) - 1 };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
		};
		struct cmsghdr *c;
		pid_t pid = 0;
		ssize_t n = recvmsg(fd, &msg, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "notify-listen: %s\n", strerror(errno));
			return 1;
		}
		for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
			if (c->cmsg_level == SOL_SOCKET &&
			    c->cmsg_type == SCM_CREDENTIALS) {
				struct ucred cred;

				memcpy(&cred, CMSG_DATA(c), sizeof(cred));
				pid = cred.pid;
			}
		buf[n] = '\0';
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\n')
				buf[i] = '|';
		printf("%d %s\n", (int)pid, buf);
		fflush(stdout);
	}
	unlink(argv[1]);
	return 0;
}
