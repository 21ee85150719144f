/*
 * The smallest application VSS agent a C programmer would write: open the device, poll(2) for
 * a request, IOCHVVSSREAD it, IOCHVVSSWRITE the answer (success, opt and msgid echoed). No
 * logging, no allocation, no timers. The benchmarks use it as the floor an agent can reach on
 * the emulated kernel, so everything above it is the cost of hvvss itself.
 *
 * Built by bench/lib/c-build.ts into a temporary directory at bench time; never committed.
 * Usage: responder DEVICE   (prints "registered" once the device is open; SIGTERM ends it)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

struct hv_vss_opt_msg {
	uint32_t opt;
	uint32_t status;
	uint64_t msgid;
	uint8_t reserved[48];
};
_Static_assert(sizeof(struct hv_vss_opt_msg) == 64, "the driver's message is 64 bytes");

#define IOCHVVSSREAD _IOR('v', 2, struct hv_vss_opt_msg)
#define IOCHVVSSWRITE _IOW('v', 3, struct hv_vss_opt_msg)

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: %s DEVICE\n", argv[0]);
		return 2;
	}
	int fd = open(argv[1], O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	printf("registered on %s\n", argv[1]);
	fflush(stdout);
	for (;;) {
		/* The driver raises POLLIN only; Linux filters revents by the asked bits. */
		struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLRDNORM};
		if (poll(&pfd, 1, -1) < 0) {
			if (errno == EINTR) continue;
			perror("poll");
			return 1;
		}
		if (pfd.revents & POLLNVAL) return 1;
		struct hv_vss_opt_msg msg;
		memset(&msg, 0, sizeof msg);
		if (ioctl(fd, IOCHVVSSREAD, &msg) < 0) {
			perror("ioctl(IOCHVVSSREAD)");
			return 1;
		}
		if (msg.status != 0) continue; /* nothing queued, or already timed out in the kernel */
		msg.status = 0;                /* VSS_SUCCESS; opt and msgid stay as read */
		memset(msg.reserved, 0, sizeof msg.reserved);
		if (ioctl(fd, IOCHVVSSWRITE, &msg) < 0) {
			perror("ioctl(IOCHVVSSWRITE)");
			return 1;
		}
	}
}
