// SPDX-License-Identifier: GPL-2.0
/*
 * Deflate-on-OOM: the balloon gives memory back when the guest really runs
 * out of it, and only then.
 *
 * Usage: oom_test cache|anon|anon-kept
 *   cache      with the balloon inflated, stream several times the free
 *              memory through the page cache of /dev/vda (reads, then
 *              writes): the balloon keeps at least 95% of its pages
 *   anon       with the balloon inflated and deflate-on-oom negotiated, a
 *              child allocates more anonymous memory than is available: it
 *              succeeds, nobody is OOM-killed, the balloon shrank by about
 *              what was missing, the host saw it, and the balloon does not
 *              inflate back while the host's target stays the same; once
 *              the host has asked for another size, the same target as
 *              before is a new request that the balloon follows again
 *   anon-kept  the same allocation without deflate-on-oom: the balloon
 *              keeps every page (the OOM killer may take the child)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest.h"
#include "balloon_test.h"

#define DISK			"/dev/vda"
/* The balloon takes this much of the guest... */
#define BALLOON_MIB		512
/* ...the cache test streams this many times the free memory... */
#define CACHE_PASSES		3
#define IO_CHUNK		(1024 * 1024)
/* ...and the balloon must keep this share of its pages (percent). */
#define CACHE_KEEP_PCT		95
/* The anonymous allocation: what is available plus this much. */
#define ANON_EXTRA_MIB		192
/* Deflated beyond what was missing: at most this much (MiB). */
#define ANON_SLACK_MIB		128
/* How long the balloon must stay deflated with an unchanged target. */
#define SETTLE_MS		3000
/* kswapd may still be deflating when the child is done: wait this long. */
#define AGREE_TIMEOUT_MS	10000
#define POLL_MS			100

static long long page_size;

static long long balloon_mib(void)
{
	return balloon_state("balloon_pages") * page_size / BO_MIB;
}

/*
 * Wait until the host's view (query-balloon) matches the guest's balloon
 * exactly; return the balloon in MiB, or -1 if they never agree.
 */
static long long host_agrees(long long full)
{
	unsigned int waited;
	long long pages;

	for (waited = 0; waited < AGREE_TIMEOUT_MS; waited += POLL_MS) {
		pages = balloon_state("balloon_pages");
		if (host_guest_size() == full - pages * page_size)
			return pages * page_size / BO_MIB;
		msleep(POLL_MS);
	}
	return -1;
}

/* Stream @bytes through the page cache of the disk, wrapping around. */
static int stream(long long bytes, int writing)
{
	long long done = 0, disk;
	static char buf[IO_CHUNK];
	ssize_t n;
	int fd;

	fd = open(DISK, writing ? O_WRONLY : O_RDONLY);
	if (fd < 0)
		return -1;
	disk = lseek(fd, 0, SEEK_END);
	memset(buf, 0x5a, sizeof(buf));
	while (done < bytes && disk > 0) {
		if (lseek(fd, done % disk, SEEK_SET) < 0)
			break;
		n = writing ? write(fd, buf, sizeof(buf)) :
			      read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		done += n;
	}
	if (writing)
		fsync(fd);
	close(fd);
	return done < bytes ? -1 : 0;
}

static void mode_cache(long long before)
{
	long long free_b = meminfo_kb("MemFree") * 1024, after;

	ksft_print_msg("balloon %lld MiB, free %lld MiB, streaming %d x that\n",
		       before, free_b / BO_MIB, CACHE_PASSES);
	ksft_test_result(!stream(CACHE_PASSES * free_b, 0),
			 "read %lld MiB through the page cache\n",
			 CACHE_PASSES * free_b / BO_MIB);
	ksft_test_result(!stream(CACHE_PASSES * free_b, 1),
			 "wrote %lld MiB through the page cache\n",
			 CACHE_PASSES * free_b / BO_MIB);
	after = balloon_mib();
	ksft_test_result(after * 100 >= before * CACHE_KEEP_PCT,
			 "balloon kept %lld of %lld MiB (at least %d%%)\n",
			 after, before, CACHE_KEEP_PCT);
}

/* Child: map and touch @bytes; exit 0 if every page was touched. */
static void __noreturn hog(long long bytes)
{
	char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long long off;

	if (p == MAP_FAILED)
		_exit(2);
	for (off = 0; off < bytes; off += page_size)
		p[off] = 1;
	_exit(0);
}

static void mode_anon(long long full, long long before, int deflate_on_oom)
{
	long long avail = meminfo_kb("MemAvailable") * 1024;
	long long want = avail + ANON_EXTRA_MIB * BO_MIB;
	long long kills = vmstat_read("oom_kill"), host0 = host_guest_size();
	long long after, host1;
	int status = 0;
	pid_t pid;

	ksft_print_msg("balloon %lld MiB, available %lld MiB, child allocates %lld MiB\n",
		       before, avail / BO_MIB, want / BO_MIB);
	pid = fork();
	if (pid < 0)
		ksft_exit_fail_msg("fork: %s\n", strerror(errno));
	if (!pid)
		hog(want);
	waitpid(pid, &status, 0);
	after = host_agrees(full);
	host1 = host_guest_size();

	if (!deflate_on_oom) {
		ksft_print_msg("child %s, OOM kills %lld\n",
			       WIFEXITED(status) && !WEXITSTATUS(status) ?
			       "succeeded" : "failed or was killed",
			       vmstat_read("oom_kill") - kills);
		ksft_test_result(after == before,
				 "balloon kept all %lld MiB (now %lld)\n",
				 before, after);
		ksft_test_result(host1 == host0,
				 "host sees the same guest size (%lld MiB)\n",
				 host1 / BO_MIB);
		return;
	}
	ksft_test_result(WIFEXITED(status) && !WEXITSTATUS(status),
			 "allocation beyond available memory succeeded (status %#x)\n",
			 status);
	ksft_test_result(vmstat_read("oom_kill") == kills, "no OOM kill\n");
	ksft_test_result(after < before &&
			 before - after <= ANON_EXTRA_MIB + ANON_SLACK_MIB,
			 "balloon deflated %lld MiB for %d MiB missing (at most %d more)\n",
			 before - after, ANON_EXTRA_MIB, ANON_SLACK_MIB);
	ksft_test_result(after >= 0,
			 "host sees the guest %lld MiB larger, as the balloon is\n",
			 (host1 - host0) / BO_MIB);
	msleep(SETTLE_MS);
	ksft_test_result(balloon_mib() == after,
			 "no inflate back towards the same target (%lld MiB)\n",
			 balloon_mib());
}

int main(int argc, char **argv)
{
	long long full, before;
	const char *mode;

	ksft_print_header();
	harness_required();
	if (argc != 2)
		ksft_exit_fail_msg("usage: %s cache|anon|anon-kept\n", argv[0]);
	mode = argv[1];
	page_size = sysconf(_SC_PAGESIZE);
	full = host_guest_size();
	ksft_set_plan(!strcmp(mode, "cache") ? 5 :
		      !strcmp(mode, "anon") ? 9 : 4);

	ksft_test_result(!balloon_resize(full - BALLOON_MIB * BO_MIB,
					 BO_RESIZE_TIMEOUT_MS),
			 "balloon inflated by %d MiB\n", BALLOON_MIB);
	before = balloon_mib();
	if (!strcmp(mode, "cache"))
		mode_cache(before);
	else
		mode_anon(full, before, !strcmp(mode, "anon"));
	/* A new target: the balloon follows it again. */
	ksft_test_result(!balloon_resize(full, BO_RESIZE_TIMEOUT_MS),
			 "balloon back to empty\n");
	if (!strcmp(mode, "anon")) {
		/* The target deflate-on-OOM left behind, asked for anew. */
		ksft_test_result(!balloon_resize(full - BALLOON_MIB * BO_MIB,
						 BO_RESIZE_TIMEOUT_MS),
				 "the same target again: inflated by %d MiB\n",
				 BALLOON_MIB);
		ksft_test_result(!balloon_resize(full, BO_RESIZE_TIMEOUT_MS),
				 "balloon back to empty again\n");
	}
	ksft_finished();
}
