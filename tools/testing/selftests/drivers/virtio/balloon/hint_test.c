// SPDX-License-Identifier: GPL-2.0
/*
 * Free page hinting across real live migrations.
 *
 * Usage: hint_test <mode> [module path] [migrate options...]
 *   basic      one migration: a run started, blocks were hinted, the run
 *              ended, everything was given back on DONE, and the guest's
 *              free memory is back to where it was; free memory split
 *              into blocks below the largest order (a buffer freed in
 *              pieces just before) was hinted too, contiguous blocks
 *              sharing buffers, and the pieces kept between them were not
 *              touched
 *   integrity  a child churns memory with known patterns while the guest
 *              is migrated several times (ping-pong) and once cancelled:
 *              every byte verifies on the destination, and the driver
 *              hinted during them if and only if hinting was negotiated
 *   pressure   while hinted blocks are held, a child allocates more than
 *              the memory left outside them: it succeeds, nobody is
 *              OOM-killed
 *   unbind     the driver is unbound while a run is in progress
 *   unload     the module is removed while a run is in progress (give the
 *              module's path as an argument), then loaded again
 *   remove     the guest removes the device's PCI function while a run is
 *              in progress, as a hot-unplug does, then finds it again
 *   postcopy   with postcopy-ram on the host does not hint; migration
 *              completes
 * Options (key=value) are passed on to the host's migrate command, except
 * pingpong=<n>: the integrity mode's count of migrations (default 4).  (QEMU
 * refuses device_del during a migration, and runs only happen during one:
 * the remove mode takes the device away from the guest's side, through the
 * same PCI removal an ACPI hot-unplug ends in.)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest.h"
#include "balloon_test.h"

/* Migrations of the integrity mode, then one cancelled migration. */
#define PINGPONG		4
/* Option giving another count of them (make stress). */
#define PINGPONG_OPT		"pingpong="
/* Integrity checker: chunks of memory it keeps and churns. */
#define CHECK_CHUNKS		96
#define CHECK_CHUNK		(1024 * 1024)
/* Free memory after DONE is back to within this of where it was, in KiB. */
#define FREE_SLACK_KB		(48 * 1024)
/* How long a child waits for hinted blocks to be held. */
#define HELD_TIMEOUT_MS		60000
#define POLL_MS			50
/* Pressure: allocate MemFree plus this share of the held blocks... */
#define PRESSURE_HELD_SHARE	2
/* ...once a run has ended holding at least this much (MiB). */
#define PRESSURE_MIN_HELD_MIB	64
/* Migration speed that leaves time to act during a run (bytes/s). */
#define SLOW_BANDWIDTH		"max-bandwidth=33554432"
/*
 * Pressure: slower still, so that the migration (and with it the hinting
 * run) cannot end while the child is still faulting its memory in.
 */
#define PRESSURE_BANDWIDTH	"max-bandwidth=8388608"
#define MIGRATE_OPTS_MAX	1024
/* Results each mode reports (integrity: one more per ping-pong migration). */
#define BASIC_CHECKS		10
#define INTEGRITY_CHECKS	4
#define PRESSURE_CHECKS		4
#define TEARDOWN_CHECKS		5
#define POSTCOPY_CHECKS		2
/*
 * Basic: memory written just before migrating (MiB), every other piece of
 * which is freed, so that free memory is also split into small blocks.
 */
#define FRAG_MIB		32
/* What the pieces hold. */
#define PIECE_BYTE		0x5a

static char opts[MIGRATE_OPTS_MAX];
static const char *module_path;
static int pingpong = PINGPONG;

/* Migrate with the test's options plus @extra; return the final status. */
static int host_migrate(const char *extra, char *status, size_t len)
{
	char reply[BT_LINE_MAX];

	if (host_cmd(reply, sizeof(reply), "migrate %s %s", opts, extra)) {
		snprintf(status, len, "%s", reply);
		return -1;
	}
	ksft_print_msg("migration: %s\n", reply);
	return json_get(reply, "status", status, len);
}

static int migrate_completed(const char *extra)
{
	char status[BT_LINE_MAX];

	return !host_migrate(extra, status, sizeof(status)) &&
	       !strcmp(status, "completed");
}

/*
 * Wait until a run has ended (nothing in flight) with at least @min_bytes
 * of hinted blocks held, and read MemFree while they stay held, so that
 * it leaves them out; 0 on success, with both in bytes.
 */
static int wait_held(long long min_bytes, long long *held, long long *free)
{
	long long page = balloon_state("page_size");
	unsigned int waited;

	for (waited = 0; waited < HELD_TIMEOUT_MS; waited += POLL_MS) {
		*held = balloon_state("hint_held_pages") * page;
		*free = meminfo_kb("MemFree") * 1024;
		if (*held >= min_bytes &&
		    balloon_state("hint_in_flight_buffers") == 0 &&
		    balloon_state("hint_held_pages") * page == *held)
			return 0;
		msleep(POLL_MS);
	}
	return -1;
}

/*
 * Write FRAG_MIB of memory and free every other piece of it: blocks below
 * the largest order.  Returns the mapping, whose other pieces stay in use.
 */
static char *free_pieces(void)
{
	size_t len = (size_t)FRAG_MIB * BO_MIB;
	char *buf;

	buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		ksft_exit_fail_msg("mmap %d MiB: %s\n", FRAG_MIB,
				   strerror(errno));
	memset(buf, PIECE_BYTE, len);
	free_every_other_piece(buf, len);
	return buf;
}

/* Bytes of the pieces free_pieces() kept that no longer hold PIECE_BYTE. */
static size_t pieces_damaged(const char *buf)
{
	size_t len = (size_t)FRAG_MIB * BO_MIB, off, i, bad = 0;

	for (off = 0; off + BO_FRAG_PIECE <= len; off += 2 * BO_FRAG_PIECE)
		for (i = 0; i < BO_FRAG_PIECE; i++)
			bad += buf[off + i] != PIECE_BYTE;
	return bad;
}

/*
 * Wait until DONE has given every hinted block back; true if it did.  DONE
 * reaches the destination guest with the device state.
 */
static bool wait_released(void)
{
	unsigned int waited;

	for (waited = 0; waited < HELD_TIMEOUT_MS; waited += POLL_MS) {
		if (!balloon_state("hint_held_pages") &&
		    !balloon_state("hint_in_flight_buffers"))
			return true;
		msleep(POLL_MS);
	}
	return false;
}

static void mode_basic(void)
{
	long long free0, free1, runs0, pages0, us0, small0, released0, small;
	long long blocks0, buffers0, blocks, buffers;
	size_t damaged;
	bool released;
	char *pieces;

	ksft_set_plan(BASIC_CHECKS);
	free0 = free_memory_kb();
	runs0 = balloon_state("hint_runs");
	pages0 = balloon_state("hint_pages");
	us0 = balloon_state("hint_us");
	small0 = balloon_state("hint_small_pages");
	blocks0 = balloon_state("hint_blocks");
	buffers0 = balloon_state("hint_buffers");
	released0 = balloon_state("hint_released_pages");
	pieces = free_pieces();

	/* Slow enough that the first run gets to the small blocks. */
	ksft_test_result(migrate_completed(SLOW_BANDWIDTH),
			 "migration completed\n");
	ksft_test_result(balloon_state("hint_runs") > runs0,
			 "hinting runs: %lld\n",
			 balloon_state("hint_runs") - runs0);
	ksft_test_result(balloon_state("hint_pages") > pages0,
			 "pages hinted: %lld in %lld us\n",
			 balloon_state("hint_pages") - pages0,
			 balloon_state("hint_us") - us0);
	small = balloon_state("hint_small_pages") - small0;
	ksft_test_result(small > 0,
			 "pages in blocks below the largest order: %lld\n",
			 small);
	/* Contiguous blocks share a buffer; a buffer has at least one. */
	blocks = balloon_state("hint_blocks") - blocks0;
	buffers = balloon_state("hint_buffers") - buffers0;
	ksft_test_result(buffers > 0 && buffers <= blocks,
			 "%lld blocks hinted in %lld buffers\n", blocks, buffers);
	/* A buffer that reached past its blocks would lose kept memory. */
	damaged = pieces_damaged(pieces);
	ksft_test_result(!damaged,
			 "pieces kept between the hinted ones intact (%zu bytes changed)\n",
			 damaged);
	munmap(pieces, (size_t)FRAG_MIB * BO_MIB);
	released = wait_released();
	ksft_test_result(balloon_state("hint_cmd_id") == 1,
			 "device said DONE\n");
	ksft_test_result(released, "no hinted block held after DONE\n");
	ksft_test_result(balloon_state("hint_released_pages") > released0,
			 "hinted pages given back: %lld\n",
			 balloon_state("hint_released_pages") - released0);
	free1 = free_memory_kb();
	ksft_test_result(free1 + FREE_SLACK_KB >= free0,
			 "free memory back: %lld -> %lld kB\n", free0, free1);
}

/* The pattern of byte @i of chunk @c in generation @gen. */
static uint8_t pattern(unsigned int c, unsigned int gen, size_t i)
{
	return (uint8_t)(c * 131 + gen * 29 + i * 7 + (i >> 12));
}

static void fill(uint8_t *p, unsigned int c, unsigned int gen)
{
	size_t i;

	for (i = 0; i < CHECK_CHUNK; i++)
		p[i] = pattern(c, gen, i);
}

static long long verify(const uint8_t *p, unsigned int c, unsigned int gen)
{
	long long bad = 0;
	size_t i;

	for (i = 0; i < CHECK_CHUNK; i++)
		bad += p[i] != pattern(c, gen, i);
	return bad;
}

/* The parent closes its end of @stop_fd to stop the churn. */
static bool told_to_stop(int stop_fd)
{
	struct pollfd pfd = { .fd = stop_fd, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0;
}

/*
 * Integrity child: keep CHECK_CHUNKS chunks filled; again and again verify
 * one, unmap it (its pages become free, to be hinted) and map and fill a
 * new one.  When told to stop, verify everything; write the count of wrong
 * bytes and of rounds to @fd; exit code 0 if every byte was right.
 */
static void __noreturn churn(int stop_fd, int fd)
{
	uint8_t *chunk[CHECK_CHUNKS];
	unsigned int gen[CHECK_CHUNKS] = { 0 };
	long long bad = 0, rounds = 0;
	unsigned int c;

	for (c = 0; c < CHECK_CHUNKS; c++) {
		chunk[c] = mmap(NULL, CHECK_CHUNK, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (chunk[c] == MAP_FAILED)
			_exit(EXIT_FAILURE);
		fill(chunk[c], c, 0);
	}
	while (!told_to_stop(stop_fd)) {
		c = rounds++ % CHECK_CHUNKS;
		bad += verify(chunk[c], c, gen[c]);
		munmap(chunk[c], CHECK_CHUNK);
		chunk[c] = mmap(NULL, CHECK_CHUNK, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (chunk[c] == MAP_FAILED)
			_exit(EXIT_FAILURE);
		fill(chunk[c], c, ++gen[c]);
	}
	for (c = 0; c < CHECK_CHUNKS; c++)
		bad += verify(chunk[c], c, gen[c]);
	if (write(fd, &bad, sizeof(bad)) != sizeof(bad) ||
	    write(fd, &rounds, sizeof(rounds)) != sizeof(rounds))
		_exit(EXIT_FAILURE);
	_exit(bad ? 1 : 0);
}

static void mode_integrity(void)
{
	long long runs0 = balloon_state_or("hint_runs", 0);
	long long pages0 = balloon_state_or("hint_pages", 0);
	int hinting = balloon_negotiated(VIRTIO_BALLOON_F_FREE_PAGE_HINT) == 1;
	long long bad = -1, rounds = -1, runs;
	char status[BT_LINE_MAX];
	int result[2], stop[2], i, ok, wstatus;
	pid_t pid;

	ksft_set_plan(pingpong + INTEGRITY_CHECKS);
	if (pipe(result) || pipe(stop))
		ksft_exit_fail_msg("pipe: %s\n", strerror(errno));
	pid = fork();
	if (pid < 0)
		ksft_exit_fail_msg("fork: %s\n", strerror(errno));
	if (!pid) {
		close(result[0]);
		close(stop[1]);
		churn(stop[0], result[1]);
	}
	close(result[1]);
	close(stop[0]);

	for (i = 0; i < pingpong; i++)
		ksft_test_result(migrate_completed(""),
				 "migration %d completed\n", i + 1);
	ok = !host_migrate(SLOW_BANDWIDTH " cancel-after-ms=2000", status,
			   sizeof(status)) && !strcmp(status, "cancelled");
	ksft_test_result(ok, "migration cancelled (%s)\n", status);
	ksft_test_result(migrate_completed(""),
			 "migration after the cancel completed\n");

	close(stop[1]);
	if (read(result[0], &bad, sizeof(bad)) != sizeof(bad) ||
	    read(result[0], &rounds, sizeof(rounds)) != sizeof(rounds))
		bad = -1;
	waitpid(pid, &wstatus, 0);
	ksft_test_result(bad == 0,
			 "every byte verified: %lld wrong in %lld rounds of %d chunks\n",
			 bad, rounds, CHECK_CHUNKS);
	/* The migrations really were hinted, or really were not. */
	runs = balloon_state_or("hint_runs", 0) - runs0;
	ksft_test_result(runs0 >= 0 && (hinting ? runs > 0 : runs == 0),
			 "hinting %s: %lld runs, %lld pages hinted\n",
			 hinting ? "on" : "off", runs,
			 balloon_state_or("hint_pages", 0) - pages0);
}

/*
 * Pressure child: once hinted blocks are held, allocate MemFree plus a
 * share of them.  Exit code 0 if the allocation was made.
 */
static void __noreturn pressure(void)
{
	long long held, free, want;

	if (wait_held(PRESSURE_MIN_HELD_MIB * BO_MIB, &held, &free))
		_exit(2);
	want = free + held / PRESSURE_HELD_SHARE;
	ksft_print_msg("held %lld MiB, allocating %lld MiB\n", held / BO_MIB,
		       want / BO_MIB);
	if (mmap(NULL, want, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0) ==
	    MAP_FAILED)
		_exit(1);
	_exit(0);
}

/*
 * Run @child in its own process during a migration with @how (one test
 * result); return the child's wait status.
 */
static int migrate_with_child(void (*child)(void), const char *how)
{
	int wstatus = 0;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		ksft_exit_fail_msg("fork: %s\n", strerror(errno));
	if (!pid)
		child();
	ksft_test_result(migrate_completed(how), "migration completed\n");
	waitpid(pid, &wstatus, 0);
	return wstatus;
}

static void mode_pressure(void)
{
	long long kills0 = vmstat_read("oom_kill");
	long long shrunk0 = balloon_state("hint_shrunk_pages");
	int wstatus;

	ksft_set_plan(PRESSURE_CHECKS);
	wstatus = migrate_with_child(pressure, PRESSURE_BANDWIDTH);
	ksft_print_msg("runs %lld (stopped %lld), hinted %lld pages\n",
		       balloon_state("hint_runs"),
		       balloon_state("hint_runs_stopped"),
		       balloon_state("hint_pages"));
	ksft_print_msg("shrunk %lld pages, released %lld pages\n",
		       balloon_state("hint_shrunk_pages"),
		       balloon_state("hint_released_pages"));
	ksft_test_result(WIFEXITED(wstatus) && !WEXITSTATUS(wstatus),
			 "allocation beyond the memory outside hinted blocks succeeded (status %#x)\n",
			 wstatus);
	ksft_test_result(balloon_state("hint_shrunk_pages") > shrunk0,
			 "shrinker gave back %lld hinted pages\n",
			 balloon_state("hint_shrunk_pages") - shrunk0);
	ksft_test_result(vmstat_read("oom_kill") == kills0, "no OOM kill\n");
}

/* Unbind child: unbind the driver as soon as hinting is under way. */
static void __noreturn unbind_child(void)
{
	char dev[BT_DEVNAME_MAX];
	int fd;

	if (balloon_wait_hinting(HELD_TIMEOUT_MS) ||
	    balloon_find_device(dev, sizeof(dev)))
		_exit(2);
	fd = open(BT_DRIVER_DIR "/unbind", O_WRONLY);
	if (fd < 0 || write(fd, dev, strlen(dev)) < 0)
		_exit(1);
	close(fd);
	_exit(0);
}

/* Unload child: remove the module as soon as hinting is under way. */
static void __noreturn unload_child(void)
{
	if (balloon_wait_hinting(HELD_TIMEOUT_MS))
		_exit(2);
	_exit(module_unload(BT_DRIVER_NAME) ? 1 : 0);
}

/* The PCI function of the balloon's virtio device: its sysfs parent. */
static char pci_dev[BT_LINE_MAX];

/* Remove child: remove the PCI function as soon as hinting is under way. */
static void __noreturn remove_child(void)
{
	char path[BT_LINE_MAX + sizeof("/remove")];

	if (balloon_wait_hinting(HELD_TIMEOUT_MS))
		_exit(2);
	snprintf(path, sizeof(path), "%s/remove", pci_dev);
	_exit(write_file(path, "1") ? 1 : 0);
}

enum teardown { TEARDOWN_UNBIND, TEARDOWN_UNLOAD, TEARDOWN_REMOVE };

static const char * const teardown_done[] = {
	[TEARDOWN_UNBIND] = "driver unbound",
	[TEARDOWN_UNLOAD] = "driver unloaded",
	[TEARDOWN_REMOVE] = "PCI function removed",
};

/* Take the driver away during a run, then have it bound again. */
static void mode_teardown(enum teardown how)
{
	static void (* const children[])(void) = {
		[TEARDOWN_UNBIND] = unbind_child,
		[TEARDOWN_UNLOAD] = unload_child,
		[TEARDOWN_REMOVE] = remove_child,
	};
	long long free0 = free_memory_kb(), free1;
	char dev[BT_DEVNAME_MAX], path[BT_LINE_MAX];
	int wstatus, err;

	ksft_set_plan(TEARDOWN_CHECKS);
	if (balloon_find_device(dev, sizeof(dev)))
		ksft_exit_fail_msg("no balloon device bound\n");
	if (how == TEARDOWN_UNLOAD && !module_path)
		ksft_exit_fail_msg("unload: give the module's path\n");
	snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s/..", dev);
	if (!realpath(path, pci_dev))
		ksft_exit_fail_msg("%s: %s\n", path, strerror(errno));
	wstatus = migrate_with_child(children[how], SLOW_BANDWIDTH);
	ksft_test_result(WIFEXITED(wstatus) && !WEXITSTATUS(wstatus),
			 "%s during hinting (status %#x)\n", teardown_done[how],
			 wstatus);
	ksft_test_result(!balloon_wait_bound(0, 0), "device unbound\n");
	free1 = free_memory_kb();
	ksft_test_result(free1 + FREE_SLACK_KB >= free0,
			 "free memory back: %lld -> %lld kB\n", free0, free1);
	switch (how) {
	case TEARDOWN_UNLOAD:
		err = module_load(module_path, NULL);
		break;
	case TEARDOWN_REMOVE:
		/* Bus 0 holds the device: a rescan finds it again. */
		err = write_file("/sys/bus/pci/rescan", "1");
		break;
	default:
		err = write_file(BT_DRIVER_DIR "/bind", dev);
		break;
	}
	ksft_test_result(!err && !balloon_wait_bound(1, HELD_TIMEOUT_MS),
			 "device bound again\n");
}

static void mode_unbind(void)
{
	mode_teardown(TEARDOWN_UNBIND);
}

static void mode_unload(void)
{
	mode_teardown(TEARDOWN_UNLOAD);
}

static void mode_remove(void)
{
	mode_teardown(TEARDOWN_REMOVE);
}

static void mode_postcopy(void)
{
	long long runs0 = balloon_state("hint_runs");

	ksft_set_plan(POSTCOPY_CHECKS);
	ksft_test_result(migrate_completed("postcopy=on"),
			 "migration with postcopy-ram completed\n");
	ksft_test_result(balloon_state("hint_runs") == runs0,
			 "no hinting run with postcopy-ram\n");
}

static const struct {
	const char *name;
	void (*run)(void);
} modes[] = {
	{ "basic", mode_basic },
	{ "integrity", mode_integrity },
	{ "pressure", mode_pressure },
	{ "unbind", mode_unbind },
	{ "unload", mode_unload },
	{ "remove", mode_remove },
	{ "postcopy", mode_postcopy },
};

int main(int argc, char **argv)
{
	size_t m;
	int i;

	ksft_print_header();
	harness_required();
	if (argc < 2)
		ksft_exit_fail_msg("usage: %s <mode> [module path] [key=value...]\n", argv[0]);
	for (i = 2; i < argc; i++) {
		if (!strchr(argv[i], '=')) {
			module_path = argv[i];
			continue;
		}
		if (!strncmp(argv[i], PINGPONG_OPT, strlen(PINGPONG_OPT))) {
			pingpong = atoi(argv[i] + strlen(PINGPONG_OPT));
			continue;
		}
		snprintf(opts + strlen(opts), sizeof(opts) - strlen(opts),
			 "%s ", argv[i]);
	}
	for (m = 0; m < ARRAY_SIZE(modes); m++) {
		if (!strcmp(argv[1], modes[m].name)) {
			/* Integrity is also the baseline without hinting. */
			if (modes[m].run != mode_integrity &&
			    balloon_negotiated(VIRTIO_BALLOON_F_FREE_PAGE_HINT) != 1)
				ksft_exit_skip("free page hinting not negotiated\n");
			modes[m].run();
			ksft_finished();
		}
	}
	ksft_exit_fail_msg("unknown mode %s\n", argv[1]);
}
