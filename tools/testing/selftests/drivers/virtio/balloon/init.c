// SPDX-License-Identifier: GPL-2.0
/*
 * PID 1 of the virtio-balloon test guest.
 *
 * Mounts the pseudo file systems, loads the modules listed in
 * /modules.order, runs every program of /plan with its output on the test
 * serial port and a time limit, then powers the machine off.  Begin/end
 * markers go to the test port and to /dev/kmsg so that the host can
 * attribute kernel messages to the program that was running.
 *
 * /modules.order: one module per line, "<path.ko> [parameters]", or
 * "-<name>" to take driver <name> away (unload it, or unbind it if it is
 * built in).
 * /plan: one program per line, "<name> <timeout seconds> <path> [args...]".
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "balloon_test.h"

#define TEST_TTY		"/dev/ttyS1"
#define PLAN_PATH		"/plan"
#define MODULES_ORDER_PATH	"/modules.order"
#define MARKER			"balloon-test:"
/* printk level of the markers: KERN_NOTICE, shown on the console. */
#define KMSG_LEVEL		"<5>"
/* Largest /plan or /modules.order file accepted. */
#define LIST_MAX		16384
#define ARGS_MAX		64
/* Exit status of a child whose exec failed, as in the shell. */
#define EXIT_EXEC_FAILED	127
#define DIR_MODE		0755
#define NSEC_PER_SEC		1000000000L

static int test_fd = -1;
static int kmsg_fd = -1;

/**
 * say() - Print an init message on the console and the test port.
 * @fmt: printf format, without the marker prefix and newline.
 */
static __printf(1, 2) void say(const char *fmt, ...)
{
	char line[BT_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	dprintf(STDOUT_FILENO, MARKER " %s\n", line);
	if (test_fd >= 0)
		dprintf(test_fd, MARKER " %s\n", line);
}

/**
 * mark() - Write a begin/end marker on the test port and in the kernel log.
 * @fmt: printf format, without the marker prefix and newline.
 */
static __printf(1, 2) void mark(const char *fmt, ...)
{
	char line[BT_LINE_MAX];
	va_list ap;
	int len;

	len = snprintf(line, sizeof(line), KMSG_LEVEL MARKER " ");
	va_start(ap, fmt);
	len += vsnprintf(line + len, sizeof(line) - len - 1, fmt, ap);
	va_end(ap);
	if (len > (int)sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	line[len] = '\0';
	/* /dev/kmsg takes one record per write(), so no stdio here. */
	if (kmsg_fd >= 0 && write(kmsg_fd, line, len) < 0)
		say("writing to /dev/kmsg: %s", strerror(errno));
	if (test_fd >= 0) {
		dprintf(test_fd, "%s", line + strlen(KMSG_LEVEL));
		tcdrain(test_fd);
	}
}

/**
 * power_off() - Flush everything and turn the machine off; never returns.
 */
static __noreturn void power_off(void)
{
	if (test_fd >= 0)
		tcdrain(test_fd);
	sync();
	reboot(RB_POWER_OFF);
	/* The host runs QEMU with -no-reboot: a reboot ends the VM too. */
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}

static __noreturn __printf(1, 2) void fatal(const char *fmt, ...)
{
	char line[BT_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	say("init failed: %s", line);
	power_off();
}

static void mount_fs(const char *type, const char *dir)
{
	if (mkdir(dir, DIR_MODE) < 0 && errno != EEXIST)
		fatal("mkdir %s: %s", dir, strerror(errno));
	if (mount(type, dir, type, 0, NULL) < 0)
		fatal("mount %s on %s: %s", type, dir, strerror(errno));
}

static int open_raw_tty(const char *path)
{
	struct termios tio;
	int fd;

	fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (tcgetattr(fd, &tio) == 0) {
		cfmakeraw(&tio);
		tio.c_cflag |= CLOCAL;
		tcsetattr(fd, TCSANOW, &tio);
	}
	return fd;
}

/**
 * load_modules() - Load every module listed in MODULES_ORDER_PATH, in order.
 *
 * A missing list means nothing to load; a module that fails to load (other
 * than being loaded already) or a driver that cannot be taken away is fatal.
 */
static void load_modules(void)
{
	char buf[LIST_MAX], *line, *save, *params;
	int ret;

	if (read_file(MODULES_ORDER_PATH, buf, sizeof(buf)) < 0)
		return;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '-') {
			ret = module_unload(line + 1);
			if (ret && ret != -ENOENT)
				fatal("taking driver %s away: %s", line + 1,
				      strerror(-ret));
			say("no driver %s", line + 1);
			continue;
		}
		params = strchr(line, ' ');
		if (params)
			*params++ = '\0';
		ret = module_load(line, params);
		if (ret && ret != -EEXIST)
			fatal("loading module %s: %s", line, strerror(-ret));
		say("loaded %s", line);
	}
}

/**
 * run_child() - Start a plan program in its own session.
 * @argv: program path and arguments.
 * @oldmask: signal mask to restore in the child.
 *
 * Return: child pid, or -1 if fork failed.
 */
static pid_t run_child(char **argv, const sigset_t *oldmask)
{
	pid_t pid = fork();
	int null_fd;

	if (pid)
		return pid;
	sigprocmask(SIG_SETMASK, oldmask, NULL);
	setsid();
	null_fd = open("/dev/null", O_RDONLY);
	dup2(null_fd, STDIN_FILENO);
	dup2(test_fd, STDOUT_FILENO);
	dup2(test_fd, STDERR_FILENO);
	if (chdir("/tmp"))
		perror("chdir /tmp");
	execv(argv[0], argv);
	fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(EXIT_EXEC_FAILED);
}

/**
 * wait_child() - Wait for a child with a time limit, reaping orphans.
 * @pid: child to wait for.
 * @timeout_s: time limit in seconds.
 * @status: wait status of the child.
 *
 * Return: 0 if the child ended in time, -1 if it was killed on timeout.
 */
static int wait_child(pid_t pid, unsigned int timeout_s, int *status)
{
	struct timespec now, deadline, left;
	sigset_t chld;
	pid_t done;
	int st;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_s;
	for (;;) {
		while ((done = waitpid(-1, &st, WNOHANG)) > 0) {
			if (done == pid) {
				*status = st;
				return 0;
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		left.tv_sec = deadline.tv_sec - now.tv_sec;
		left.tv_nsec = deadline.tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_sec--;
			left.tv_nsec += NSEC_PER_SEC;
		}
		if (left.tv_sec < 0)
			break;
		sigtimedwait(&chld, NULL, &left);
	}
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return -1;
}

/**
 * run_plan() - Run every program listed in PLAN_PATH.
 * @oldmask: signal mask to give to the children.
 */
static void run_plan(const sigset_t *oldmask)
{
	char buf[LIST_MAX], *line, *save, *argv[ARGS_MAX + 1];
	unsigned int timeout_s;
	char *name, *tok, *targs;
	int argc, status;
	pid_t pid;

	if (read_file(PLAN_PATH, buf, sizeof(buf)) < 0)
		fatal("reading %s: %s", PLAN_PATH, strerror(errno));
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		name = strtok_r(line, " ", &targs);
		tok = strtok_r(NULL, " ", &targs);
		if (!name || !tok)
			fatal("bad plan line for %s", name ? name : "?");
		timeout_s = strtoul(tok, NULL, 10);
		argc = 0;
		while (argc < ARGS_MAX &&
		       (tok = strtok_r(NULL, " ", &targs)))
			argv[argc++] = tok;
		argv[argc] = NULL;
		if (!argc)
			fatal("no program for %s", name);

		mark("begin %s", name);
		pid = run_child(argv, oldmask);
		if (pid < 0) {
			mark("end %s error fork: %s", name, strerror(errno));
			continue;
		}
		if (wait_child(pid, timeout_s, &status))
			mark("end %s timeout %u", name, timeout_s);
		else if (WIFEXITED(status))
			mark("end %s exit %d", name, WEXITSTATUS(status));
		else
			mark("end %s signal %d", name, WTERMSIG(status));
	}
}

int main(void)
{
	sigset_t chld, oldmask;

	mount_fs("proc", "/proc");
	mount_fs("sysfs", "/sys");
	mount_fs("devtmpfs", "/dev");
	mount_fs("debugfs", "/sys/kernel/debug");
	mount_fs("tmpfs", "/tmp");

	test_fd = open_raw_tty(TEST_TTY);
	if (test_fd < 0)
		fatal("open %s: %s", TEST_TTY, strerror(errno));
	kmsg_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (kmsg_fd < 0)
		fatal("open /dev/kmsg: %s", strerror(errno));

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &oldmask);

	say("init started");
	/* The programs run by hand, without this harness, skip. */
	if (setenv(BT_HARNESS_ENV, "1", 1))
		fatal("setenv: %s", strerror(errno));
	load_modules();
	run_plan(&oldmask);
	say("done");
	power_off();
}
