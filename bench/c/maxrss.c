/* maxrss COMMAND [ARGS...]: runs COMMAND with standard output and error on /dev/null, waits for
 * it, and prints "MAXRSS_KIB EXIT_STATUS" on its own standard output. MAXRSS_KIB is the peak
 * resident set of COMMAND's process (ru_maxrss from wait4(2), which also covers the children it
 * waited for: the peak of the largest of them). For the bench's peak-RSS figures, which /proc
 * cannot give once the process has exited. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: maxrss COMMAND [ARGS...]\n");
    return 2;
  }
  pid_t pid = fork();
  if (pid < 0) {
    perror("maxrss: fork");
    return 1;
  }
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0) _exit(126);
    execvp(argv[1], argv + 1);
    _exit(127);
  }
  int status = 0;
  struct rusage usage;
  if (wait4(pid, &status, 0, &usage) < 0) {
    perror("maxrss: wait4");
    return 1;
  }
  printf("%ld %d\n", usage.ru_maxrss, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  return 0;
}
