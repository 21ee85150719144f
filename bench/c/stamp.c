/*
 * A hook that records when it started: its first instruction reads CLOCK_MONOTONIC, then it
 * appends "OP NANOSECONDS" to STAMP_LOG (a path fixed at compile time, because the daemon gives
 * hooks a fixed environment). CLOCK_MONOTONIC is the clock Node's process.hrtime.bigint()
 * reads on Linux, so the bench compares the two directly; bench/thaw-reaction.ts checks that
 * agreement at run time before trusting it. Being C, it starts ~10x sooner than a #!/bin/sh
 * hook that forks date(1), so the figure is the daemon's reaction, not the shell's start-up.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef STAMP_LOG
#error "compile with -DSTAMP_LOG=\"/path/to/log\""
#endif

int main(int argc, char **argv) {
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	char line[96];
	int n = snprintf(line, sizeof line, "%s %lld%09ld\n", argc > 1 ? argv[1] : "-", (long long)now.tv_sec, now.tv_nsec);
	int fd = open(STAMP_LOG, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) return 1;
	/* One write(2) with O_APPEND: lines from concurrent runs never interleave. */
	int ok = write(fd, line, (size_t)n) == n;
	close(fd);
	return ok ? 0 : 1;
}
