/*
 * hvvss-fsfreeze: holds file systems frozen for hvvss, and lets them go when told to, when its
 * standard input closes (hvvss is gone) or on a signal. hvvss drives it like a resident hook.
 *
 *   hvvss-fsfreeze MOUNTPOINT...
 *
 * It freezes the mount points in the order given, printing one line per mount on stdout:
 *   frozen N            the Nth mount point (from 1) is frozen
 *   failed N ERRNO TEXT it could not be frozen: the ones before it are thawed, then exit 1
 * then "ready", and waits. A line on stdin ("thaw"), end of file on stdin, SIGTERM, SIGINT, SIGHUP
 * or SIGPIPE thaws them all in reverse order ("thawed N" or "thaw-failed N ERRNO TEXT"), then
 * "done", and it exits 0 (1 if a thaw failed).
 *
 * FreeBSD (sys/ufs/ffs/ffs_suspend.c): UFSSUSPEND on /dev/ufssuspend with the mount's fsid. It
 * must be called by a single-threaded process (else EDEADLK): that is why this is a small C
 * program and not Node.js. One suspended mount per open descriptor (a second one on the same
 * descriptor is EBUSY), so one descriptor per mount. UFSRESUME, or closing the descriptor,
 * resumes the mount; so does this process's death, whatever kills it. The caller must not hold
 * a file open for writing on the mount (EDEADLK): everything but stdio is closed at start.
 *
 * Linux: FIFREEZE/FITHAW on a descriptor of the mount point. The kernel keeps a file system
 * frozen after its freezer dies: on Linux only the thaw paths above thaw, and hvvss's journal
 * and recovery cover a SIGKILL.
 *
 * Linux with -DHVVSS_EMULATED_UFSSUSPEND (tests only): the FreeBSD code path, against the hvvss
 * emulator's ufssuspend device (docs/emulator.md), found at $HVVSS_UFSSUSPEND. Only what Linux
 * lacks is substituted: the ioctl numbers in Linux's encoding (what the emulator receives), and
 * the mount-point check, since Linux's statfs names neither the mount point nor the type.
 *
 * Build: cc -O2 -Wall -Wextra -o hvvss-fsfreeze hvvss-fsfreeze.c (the port: ${CC} ${CFLAGS})
 */
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__FreeBSD__)
#include <sys/param.h>
#include <sys/mount.h>
#include <ufs/ffs/fs.h>
#include <paths.h>
#define	HVVSS_UFS	1
#elif defined(__linux__) && defined(HVVSS_EMULATED_UFSSUSPEND)
#include <sys/statfs.h>
#include <limits.h>
/* sys/ufs/ffs/fs.h; glibc's fsid_t is FreeBSD's: two 32-bit ints. */
#define	UFSSUSPEND	_IOW('U', 1, fsid_t)
#define	UFSRESUME	_IO('U', 2)
#define	HVVSS_UFS	1
#elif defined(__linux__)
#include <linux/fs.h>
#else
#error "hvvss-fsfreeze supports FreeBSD and Linux"
#endif

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* Whole lines with write(2): no stdio buffering between us and hvvss. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* A closed stdout (hvvss gone) is not a reason to stop thawing. */
	if (write(STDOUT_FILENO, line, (size_t)n) == -1)
		return;
}

static const char *
errno_name(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EBUSY: return "EBUSY";
	case EINVAL: return "EINVAL";
	case EDEADLK: return "EDEADLK";
	case EACCES: return "EACCES";
	case ENOTTY: return "ENOTTY";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EIO: return "EIO";
	case ENXIO: return "ENXIO";
	default: return "EOTHER";
	}
}

#if defined(HVVSS_UFS)
#if defined(__FreeBSD__)
#define	ufssuspend_path()	_PATH_UFSSUSPEND

/* The path must be the mount point itself, of a UFS file system. */
static int
is_ufs_mountpoint(const char *path, const struct statfs *sf)
{

	return (strcmp(sf->f_mntonname, path) == 0 &&
	    strcmp(sf->f_fstypename, "ufs") == 0);
}
#else
static const char *
ufssuspend_path(void)
{
	const char *path = getenv("HVVSS_UFSSUSPEND");

	return (path != NULL && *path != '\0' ? path : "/dev/ufssuspend");
}

/*
 * A mount point is where the device changes (or the root). Whether it is "UFS" is the
 * emulator's to say: an fsid outside its allow-list is ENOENT.
 */
static int
is_ufs_mountpoint(const char *path, const struct statfs *sf)
{
	char parent[PATH_MAX];
	struct stat here, up;

	(void)sf;
	if (snprintf(parent, sizeof(parent), "%s/..", path) >= (int)sizeof(parent))
		return (0);
	if (stat(path, &here) != 0 || stat(parent, &up) != 0)
		return (0);
	return (here.st_dev != up.st_dev || here.st_ino == up.st_ino);
}
#endif
#endif

/* Freezes one mount point; returns the descriptor that holds it, or -1 with errno set. */
static int
freeze_one(const char *path)
{
	int fd, saved;
#if defined(HVVSS_UFS)
	struct statfs sf;

	if (statfs(path, &sf) != 0)
		return (-1);
	if (!is_ufs_mountpoint(path, &sf)) {
		errno = EINVAL;
		return (-1);
	}
	/* One descriptor per mount: the suspension is the descriptor's (devfs cdevpriv). */
	fd = open(ufssuspend_path(), O_RDWR | O_CLOEXEC);
	if (fd == -1)
		return (-1);
	if (ioctl(fd, UFSSUSPEND, &sf.f_fsid) != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
#else
	fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
	if (fd == -1)
		return (-1);
	if (ioctl(fd, FIFREEZE, 0) != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
#endif
}

/* Thaws one mount; returns 0, or -1 with errno set. */
static int
thaw_one(int fd)
{
#if defined(HVVSS_UFS)
	int error = ioctl(fd, UFSRESUME);
	int saved = errno;

	/* Closing resumes it too (ffs_susp_dtor), whatever UFSRESUME said. */
	(void)close(fd);
	errno = saved;
	return (error);
#else
	int error = ioctl(fd, FITHAW, 0);
	int saved = errno;

	close(fd);
	/* EINVAL: not frozen (someone thawed it): nothing is held, which is the goal. */
	if (error != 0 && saved == EINVAL)
		return (0);
	errno = saved;
	return (error);
#endif
}

static int
thaw_all(int *fds, int count)
{
	int i, failed = 0;

	for (i = count - 1; i >= 0; i--) {
		if (thaw_one(fds[i]) == 0) {
			say("thawed %d", i + 1);
		} else {
			say("thaw-failed %d %s %s", i + 1, errno_name(errno), strerror(errno));
			failed = 1;
		}
	}
	return (failed);
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	int *fds;
	int count = argc - 1, i, failed;
	char buf[64];
	ssize_t n;

	if (count < 1) {
		fprintf(stderr, "usage: hvvss-fsfreeze MOUNTPOINT...\n");
		return (2);
	}
	/* No inherited descriptor may be open for writing on a mount we suspend. */
#if defined(__FreeBSD__)
	closefrom(3);
#else
	for (i = 3; i < 1024; i++)
		(void)close(i);
#endif
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a signal must interrupt the read below. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);

	fds = calloc((size_t)count, sizeof(int));
	if (fds == NULL)
		return (1);
	for (i = 0; i < count; i++) {
		if (stop_requested) {
			say("failed %d EINTR stopped by a signal", i + 1);
			thaw_all(fds, i);
			say("done");
			return (1);
		}
		fds[i] = freeze_one(argv[i + 1]);
		if (fds[i] == -1) {
			int e = errno;

			say("failed %d %s %s", i + 1, errno_name(e), strerror(e));
			thaw_all(fds, i);
			say("done");
			return (1);
		}
		say("frozen %d", i + 1);
	}
	say("ready");
	/* Hold until "thaw", end of file (hvvss gone) or a signal. */
	while (!stop_requested) {
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (memchr(buf, '\n', (size_t)n) != NULL)
			break;
	}
	failed = thaw_all(fds, count);
	say("done");
	return (failed);
}
