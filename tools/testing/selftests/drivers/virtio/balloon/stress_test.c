// SPDX-License-Identifier: GPL-2.0
/*
 * Stress and fault injection: the driver taken away and brought back many
 * times while it is busy, and allocations failing under it.
 *
 * Usage: stress_test rebind <module> <cycles>
 *        stress_test rebind-hint <module> <cycles>
 *        stress_test faults <module> <rounds>
 *
 * rebind  <cycles> unbind/bind cycles (unload/load for a module) with the
 *         balloon inflated, every other one while it is still inflating.
 * rebind-hint
 *         <cycles> cycles while a hinting run is under way, during
 *         migrations that are cancelled in the end (so that the guest
 *         stays on this QEMU); skipped without free page hinting.
 * faults  the kernel's fault injection (failslab, fail_page_alloc), limited
 *         to call chains through the driver's code, fails allocations
 *         during probe (<rounds> binds at each failure rate), inflate,
 *         hinting and statistics: every failure is survived and reported
 *         once, and the driver recovers as soon as allocations succeed
 *         again.  Skipped on a kernel without fault injection.
 * <module> is the driver's module file, or "builtin".  vmtest.py's kmemleak
 * scan at the end of the boot checks that nothing leaked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest.h"
#include "balloon_test.h"

#define STRINGIFY_(x)		#x
#define STRINGIFY(x)		STRINGIFY_(x)

/* rebind: the balloon every bind inflates again (QEMU keeps the target). */
#define REBIND_BALLOON		(64 * BO_MIB)
/* Unbind deflates and bind inflates: slow on a KASAN kernel under TCG. */
#define BIND_TIMEOUT_MS		120000
/* Free memory may move by this much between two reads, in KiB. */
#define FREE_SLACK_KB		(32 * 1024)
/*
 * rebind during hinting: each migration runs this long, then is cancelled.
 * At this bandwidth its first round (where the run starts, with the guest's
 * used memory to send: 70 MB on a tinyconfig kernel, 100 MB and more on a
 * distribution's) lasts longer than that.  A child rewriting memory did not
 * keep faster migrations from converging here, so the test does not rely on
 * one.
 */
#define HINT_WINDOW_MS		8000
#define HINT_MIGRATE_OPTS	"max-bandwidth=4194304 cancel-after-ms=" \
				STRINGIFY(HINT_WINDOW_MS)
/* The child stops binding this long before the window ends. */
#define HINT_WINDOW_MARGIN_MS	2000
/* How long a run takes to give its blocks back after the cancel (DONE). */
#define DONE_TIMEOUT_MS		60000
/* A small balloon that tells whether the driver hears config changes. */
#define PROBE_BALLOON		(16 * BO_MIB)
#define CONFIG_TIMEOUT_MS	30000
#define POLL_MS			100

/* Failures allowed per phase: read back, the rest says how many were made. */
#define FAULT_BUDGET		1000000
/* Failure rates (percent) probe is run at. */
static const int probe_rates[] = { 100, 50, 10, 2 };
/* Inflate: by this much, at each rate, with faults on for the window. */
#define FAULT_INFLATE		(64 * BO_MIB)
#define FAULT_WINDOW_MS		3000
static const int inflate_rates[] = { 100, 50 };
/* Statistics requests answered while allocations fail. */
#define FAULT_STATS_REQUESTS	2
#define STATS_TIMEOUT_MS	20000

/* Kernel messages: the driver core's, when a probe fails; the driver's. */
#define MSG_PROBE_FAILED	"failed with error"
#define MSG_DRIVER		BT_DRIVER_NAME " virtio"
#define KMSG_MAX		(256 * 1024)

#define REBIND_CHECKS		5
#define REBIND_HINT_CHECKS	3
/* faults: per probe rate, per inflate rate, and the fixed checks. */
#define FAULT_CHECKS		(ARRAY_SIZE(probe_rates) + 1 +		\
				 ARRAY_SIZE(inflate_rates) + 2 +	\
				 FAULT_HINT_CHECKS + 1)
#define FAULT_HINT_CHECKS	3

static const char *module;

/* Unbind (unload) and bind (load) the driver; 0 once it is bound again. */
static int rebind(void)
{
	return module_unload(BT_DRIVER_NAME) || module_load(module, NULL) ||
	       balloon_wait_bound(1, BIND_TIMEOUT_MS);
}

/*
 * Cycles with the balloon inflated: the target stays set on the host, so
 * each bind inflates the balloon again; even cycles wait until it is full,
 * odd ones unbind at once, while it is still inflating.
 */
static void rebind_inflated(long long ram, int cycles)
{
	long long total = meminfo_kb("MemTotal"), want, pages;
	int c, failed = 0, not_back = 0, full = 0;

	want = REBIND_BALLOON / balloon_state("page_size");
	ksft_test_result(!balloon_resize(ram - REBIND_BALLOON,
					 BO_RESIZE_TIMEOUT_MS),
			 "balloon inflated by %lld MiB\n",
			 REBIND_BALLOON / BO_MIB);
	for (c = 0; c < cycles; c++) {
		if (c % 2 == 0) {
			if (balloon_resize(ram - REBIND_BALLOON,
					   BO_RESIZE_TIMEOUT_MS))
				failed++;
			pages = balloon_state("balloon_pages");
			full += pages == want;
		}
		if (module_unload(BT_DRIVER_NAME) ||
		    balloon_wait_bound(0, BIND_TIMEOUT_MS)) {
			failed++;
			break;
		}
		not_back += meminfo_kb("MemTotal") != total;
		if (module_load(module, NULL) ||
		    balloon_wait_bound(1, BIND_TIMEOUT_MS)) {
			failed++;
			break;
		}
	}
	ksft_test_result(!failed && c == cycles,
			 "%d of %d unbind/bind cycles with the balloon inflated (%d full)\n",
			 c, cycles, full);
	ksft_test_result(!not_back,
			 "MemTotal back after every unbind (%d not)\n",
			 not_back);
}

/*
 * Child of rebind_hinting(): until @until_ms from now, unbind and bind the
 * driver each time a run is under way; write the count to @fd.
 */
static void __noreturn rebind_child(int fd, unsigned int until_ms)
{
	unsigned int elapsed = 0;
	struct timespec t0, t;
	int count = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (elapsed < until_ms &&
	       !balloon_wait_hinting(until_ms - elapsed)) {
		if (rebind())
			_exit(EXIT_FAILURE);
		count++;
		clock_gettime(CLOCK_MONOTONIC, &t);
		elapsed = (t.tv_sec - t0.tv_sec) * MSEC_PER_SEC +
			  (t.tv_nsec - t0.tv_nsec) / NSEC_PER_MSEC;
	}
	if (write(fd, &count, sizeof(count)) != sizeof(count))
		_exit(EXIT_FAILURE);
	_exit(EXIT_SUCCESS);
}

/* Wait until no hinted block is held or in flight; 0 on success. */
static int wait_hint_idle(void)
{
	unsigned int waited;

	for (waited = 0; waited <= DONE_TIMEOUT_MS; waited += POLL_MS) {
		if (balloon_state("hint_held_pages") == 0 &&
		    balloon_state("hint_in_flight_buffers") == 0)
			return 0;
		msleep(POLL_MS);
	}
	return -1;
}

/* Migrate with @opts and return whether the migration ended cancelled. */
static bool migrate_cancelled(const char *opts)
{
	char reply[BT_LINE_MAX], status[BT_LINE_MAX];

	if (host_cmd(reply, sizeof(reply), "migrate %s", opts) ||
	    json_get(reply, "status", status, sizeof(status))) {
		ksft_print_msg("migration: %s\n", reply);
		return false;
	}
	return !strcmp(status, "cancelled");
}

/* What the guest and QEMU show of a driver that hears no config change. */
static void show_lost_config(void)
{
	char line[BT_LINE_MAX * 4];
	FILE *f = fopen("/proc/interrupts", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "virtio"))
			ksft_print_msg("%s", line);
	if (f)
		fclose(f);
	if (!host_cmd(line, sizeof(line), "virtio-status"))
		ksft_print_msg("QEMU: %s\n", line);
}

/* Cycles while a hinting run is under way, in cancelled migrations. */
static void rebind_hinting(long long ram, int cycles)
{
	int done = 0, migrations = 0, count, fds[2], wstatus;
	pid_t pid;
	bool ok = true, heard;

	if (balloon_negotiated(VIRTIO_BALLOON_F_FREE_PAGE_HINT) != 1) {
		ksft_test_result_skip("free page hinting not negotiated\n");
		ksft_test_result_skip("free page hinting not negotiated\n");
		return;
	}

	/* Every migration must make one cycle at least. */
	while (ok && done < cycles && migrations++ < cycles) {
		if (pipe(fds))
			ksft_exit_fail_msg("pipe: %s\n", strerror(errno));
		pid = fork();
		if (pid < 0)
			ksft_exit_fail_msg("fork: %s\n", strerror(errno));
		if (!pid) {
			close(fds[0]);
			rebind_child(fds[1],
				     HINT_WINDOW_MS - HINT_WINDOW_MARGIN_MS);
		}
		close(fds[1]);
		ok = migrate_cancelled(HINT_MIGRATE_OPTS);
		if (read(fds[0], &count, sizeof(count)) != sizeof(count))
			count = 0;
		close(fds[0]);
		waitpid(pid, &wstatus, 0);
		ok = ok && WIFEXITED(wstatus) && !WEXITSTATUS(wstatus) &&
		     count > 0;
		done += count;
		/* The driver bound last must hear config changes. */
		heard = !balloon_resize(ram - PROBE_BALLOON, CONFIG_TIMEOUT_MS) &&
			!balloon_resize(ram, CONFIG_TIMEOUT_MS);
		ksft_print_msg("migration %d: %d cycles, cmd %lld, config changes %lld, %s\n",
			       migrations, count, balloon_state("hint_cmd_id"),
			       balloon_state("config_changes"),
			       heard ? "resize seen" : "resize NOT seen");
		if (!heard)
			show_lost_config();
		ok = ok && heard;
	}
	ksft_test_result(ok && done >= cycles,
			 "%d unbind/bind cycles during hinting runs in %d migrations\n",
			 done, migrations);
	ksft_test_result(!balloon_wait_bound(1, BIND_TIMEOUT_MS) &&
			 !wait_hint_idle(),
			 "driver bound, no hinted block held after the cancel\n");
}

static void mode_rebind(int cycles, bool hinting)
{
	long long ram = host_guest_size(), free0 = free_memory_kb(), free1;

	ksft_set_plan(hinting ? REBIND_HINT_CHECKS : REBIND_CHECKS);
	if (ram <= 0)
		ksft_exit_fail_msg("the host does not answer query-balloon\n");
	if (hinting) {
		rebind_hinting(ram, cycles);
	} else {
		rebind_inflated(ram, cycles);
		ksft_test_result(!balloon_resize(ram, BO_RESIZE_TIMEOUT_MS),
				 "balloon deflated\n");
	}
	free1 = free_memory_kb();
	ksft_test_result(free1 + FREE_SLACK_KB >= free0,
			 "free memory back: %lld -> %lld kB\n", free0, free1);
}

/* ---- fault injection ---- */

static void fault_on(int percent)
{
	char val[BT_LINE_MAX];
	size_t i;

	snprintf(val, sizeof(val), "%d", FAULT_BUDGET);
	for (i = 0; i < ARRAY_SIZE(fault_dirs); i++)
		fault_set(fault_dirs[i], "times", val);
	snprintf(val, sizeof(val), "%d", percent);
	for (i = 0; i < ARRAY_SIZE(fault_dirs); i++)
		fault_set(fault_dirs[i], "probability", val);
}

/* Stop failing allocations; return how many failed since fault_on(). */
static long long fault_off(void)
{
	long long made = 0;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fault_dirs); i++) {
		fault_set(fault_dirs[i], "probability", "0");
		made += FAULT_BUDGET - fault_get(fault_dirs[i], "times");
	}
	return made;
}

/* /dev/kmsg, positioned at its end: what the kernel says from now on. */
static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/* Read the kernel's new messages into @buf (what fits of them). */
static void kmsg_read(int fd, char *buf, size_t len)
{
	char rec[BT_LINE_MAX];
	size_t used = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* records overwritten meanwhile */
		if (n <= 0)
			break;
		if (used + n < len) {
			memcpy(buf + used, rec, n);
			used += n;
		}
	}
	buf[used] = '\0';
}

/* Count the messages (lines) in @msgs with @what but without @unless. */
static int msg_count(const char *msgs, const char *what, const char *unless)
{
	const char *line, *eol;
	int count = 0;

	for (line = msgs; *line; line = eol + 1) {
		eol = strchrnul(line, '\n');
		if (memmem(line, eol - line, what, strlen(what)) &&
		    (!unless || !memmem(line, eol - line, unless,
					strlen(unless))))
			count++;
		if (!*eol)
			break;
	}
	return count;
}

/*
 * Bind with allocations failing at each rate, then bind normally.  Each
 * failed probe must be reported once by the driver core, and by the
 * driver at most once; an unbind after a probe that worked says nothing.
 */
static void faults_probe(int rounds)
{
	static char msgs[KMSG_MAX];
	char dev[BT_DEVNAME_MAX];
	int r, failed, core, ours, kmsg;
	long long made;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(probe_rates); i++) {
		failed = 0;
		made = 0;
		kmsg = kmsg_open();
		for (r = 0; r < rounds; r++) {
			module_unload(BT_DRIVER_NAME);
			fault_on(probe_rates[i]);
			module_load(module, NULL);
			made += fault_off();
			/*
			 * The load probed: the device's link to the driver
			 * says whether that worked, and is there even if a
			 * failed allocation kept the debugfs file from being
			 * made, which balloon_wait_bound() would wait for.
			 */
			failed += !!balloon_find_device(dev, sizeof(dev));
		}
		module_unload(BT_DRIVER_NAME);
		kmsg_read(kmsg, msgs, sizeof(msgs));
		close(kmsg);
		core = msg_count(msgs, MSG_PROBE_FAILED, NULL);
		ours = msg_count(msgs, MSG_DRIVER, MSG_PROBE_FAILED);
		/* At 100% every probe fails: its first allocation does. */
		ksft_test_result(core == failed && ours <= failed &&
				 (probe_rates[i] < 100 || failed == rounds),
				 "probe at %d%%: %d of %d failed, %lld allocations failed, %d reports, %d driver messages\n",
				 probe_rates[i], failed, rounds, made, core,
				 ours);
	}
	ksft_test_result(!module_load(module, NULL) &&
			 !balloon_wait_bound(1, BIND_TIMEOUT_MS) &&
			 balloon_state("host_errors") == 0,
			 "bound without faults, no host errors\n");
}

/* Inflate with allocations failing; it completes once they succeed. */
static void faults_inflate(long long ram)
{
	long long made, pages0, fails0, target = ram;
	static char msgs[KMSG_MAX];
	int kmsg = kmsg_open(), said;
	char reply[BT_LINE_MAX];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(inflate_rates); i++) {
		target -= FAULT_INFLATE;
		pages0 = balloon_state("balloon_pages");
		fails0 = balloon_state("inflate_fails");
		fault_on(inflate_rates[i]);
		host_cmd(reply, sizeof(reply), "balloon %lld",
			 balloon_align(target));
		msleep(FAULT_WINDOW_MS);
		made = fault_off();
		ksft_print_msg("inflate at %d%%: %lld pages, %lld backoffs, %lld failed\n",
			       inflate_rates[i],
			       balloon_state("balloon_pages") - pages0,
			       balloon_state("inflate_fails") - fails0, made);
		ksft_test_result(made > 0 &&
				 balloon_state("inflate_fails") > fails0 &&
				 (inflate_rates[i] < 100 ||
				  balloon_state("balloon_pages") == pages0) &&
				 !balloon_resize(target, BO_RESIZE_TIMEOUT_MS),
				 "inflate at %d%% failing allocations backs off, completes after\n",
				 inflate_rates[i]);
	}
	ksft_test_result(!balloon_resize(ram, BO_RESIZE_TIMEOUT_MS),
			 "balloon deflated\n");
	kmsg_read(kmsg, msgs, sizeof(msgs));
	close(kmsg);
	said = msg_count(msgs, MSG_DRIVER, NULL);
	ksft_test_result(!said, "inflate failures counted, not logged (%d messages)\n",
			 said);
}

/* A hinting run with every allocation failing, then one without faults. */
static void faults_hint(void)
{
	long long runs0, blocks0, made;
	bool cancelled;
	int i;

	if (balloon_negotiated(VIRTIO_BALLOON_F_FREE_PAGE_HINT) != 1) {
		for (i = 0; i < FAULT_HINT_CHECKS; i++)
			ksft_test_result_skip("free page hinting not negotiated\n");
		return;
	}
	runs0 = balloon_state("hint_runs");
	blocks0 = balloon_state("hint_blocks");
	fault_on(100);
	cancelled = migrate_cancelled(HINT_MIGRATE_OPTS);
	made = fault_off();
	ksft_test_result(cancelled && balloon_state("hint_runs") > runs0 &&
			 balloon_state("hint_blocks") == blocks0 && made > 0,
			 "hinting with every allocation failing: %lld runs, %lld blocks, %lld allocations failed\n",
			 balloon_state("hint_runs") - runs0,
			 balloon_state("hint_blocks") - blocks0, made);
	ksft_test_result(!wait_hint_idle(), "nothing held after the cancel\n");
	cancelled = migrate_cancelled(HINT_MIGRATE_OPTS);
	ksft_test_result(cancelled && balloon_state("hint_blocks") > blocks0 &&
			 !wait_hint_idle(),
			 "hinting after the faults: %lld blocks, given back\n",
			 balloon_state("hint_blocks") - blocks0);
}

/* Statistics requests keep being answered while allocations fail. */
static void faults_stats(void)
{
	long long seen = balloon_state("stats_requests"), made;
	unsigned int waited;

	fault_on(100);
	for (waited = 0; waited <= STATS_TIMEOUT_MS; waited += POLL_MS) {
		if (balloon_state("stats_requests") >= seen + FAULT_STATS_REQUESTS)
			break;
		msleep(POLL_MS);
	}
	made = fault_off();
	ksft_test_result(balloon_state("stats_requests") >= seen + FAULT_STATS_REQUESTS,
			 "statistics answered with every allocation failing (%lld failed)\n",
			 made);
}

static void mode_faults(int rounds)
{
	long long ram = host_guest_size();

	if (!fault_available())
		ksft_exit_skip("no fault injection (failslab, fail_page_alloc) in this kernel\n");
	if (ram <= 0)
		ksft_exit_fail_msg("the host does not answer query-balloon\n");
	if (fault_setup())
		ksft_exit_fail_msg("cannot set up fault injection for the driver\n");
	ksft_set_plan(FAULT_CHECKS);
	faults_probe(rounds);
	faults_inflate(ram);
	faults_hint();
	faults_stats();
}

int main(int argc, char **argv)
{
	int count;

	ksft_print_header();
	harness_required();
	if (argc != 4 || atoi(argv[3]) <= 0)
		ksft_exit_fail_msg("usage: %s rebind|rebind-hint|faults <module> <count>\n",
				   argv[0]);
	module = argv[2];
	count = atoi(argv[3]);
	if (!strcmp(argv[1], "rebind"))
		mode_rebind(count, false);
	else if (!strcmp(argv[1], "rebind-hint"))
		mode_rebind(count, true);
	else if (!strcmp(argv[1], "faults"))
		mode_faults(count);
	else
		ksft_exit_fail_msg("unknown mode %s\n", argv[1]);
	ksft_finished();
}
