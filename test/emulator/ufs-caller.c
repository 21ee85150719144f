/*
 * ufs-caller: calls a ufssuspend device the way other programs do, to test the emulator's rules.
 *
 *   ufs-caller [-t] [-w FILE] [-r] DEVICE MOUNTPOINT...
 *
 * Opens DEVICE once and issues UFSSUSPEND with each mount point's fsid in turn on that one
 * descriptor, as hv_vss_daemon's freeze() does, printing "suspend N ERRNO" per mount (0 for
 * success). -t starts a second thread first; -w FILE holds FILE open for writing; -r sends
 * UFSRESUME first ("resume ERRNO"). Then it prints "held" and waits for a line or end of file
 * on stdin, and exits (closing the descriptor). Linux encodings, like the emulated helper.
 */
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define	UFSSUSPEND	_IOW('U', 1, fsid_t)
#define	UFSRESUME	_IO('U', 2)

static void *
idle(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return (NULL);
}

int
main(int argc, char **argv)
{
	pthread_t thread;
	struct statfs sf;
	char buf[64];
	int ch, fd, i, resume = 0;

	while ((ch = getopt(argc, argv, "tw:r")) != -1) {
		switch (ch) {
		case 't':
			if (pthread_create(&thread, NULL, idle, NULL) != 0)
				return (1);
			break;
		case 'w':
			if (open(optarg, O_WRONLY | O_CREAT, 0644) == -1)
				return (1);
			break;
		case 'r':
			resume = 1;
			break;
		default:
			return (2);
		}
	}
	if (argc - optind < 1)
		return (2);
	fd = open(argv[optind], O_RDWR);
	if (fd == -1) {
		printf("open %d\n", errno);
		return (1);
	}
	if (resume)
		printf("resume %d\n", ioctl(fd, UFSRESUME) == 0 ? 0 : errno);
	for (i = optind + 1; i < argc; i++) {
		if (statfs(argv[i], &sf) != 0)
			return (1);
		printf("suspend %d %d\n", i - optind, ioctl(fd, UFSSUSPEND, &sf.f_fsid) == 0 ? 0 : errno);
	}
	printf("held\n");
	fflush(stdout);
	(void)!read(STDIN_FILENO, buf, sizeof(buf));
	return (0);
}
