// SPDX-License-Identifier: GPL-2.0
/*
 * Memory compaction migrates balloon pages (balloon_migrate in
 * /proc/vmstat, migrated_pages in debugfs) and the balloon keeps its size.
 *
 * Compaction's migration scanner walks a zone upwards from its start and
 * stops where it meets the free scanner coming down, so only balloon pages
 * below that point move.  The test therefore places them low: it fills
 * most free memory with anonymous pages, finds their frame numbers in
 * /proc/self/pagemap, frees the even frames of the lower half (single-page
 * holes: the allocator serves order-0 requests from order-0 free pages
 * first) and inflates the balloon into those holes.  Placing the holes by
 * virtual address instead left the balloon wherever the allocator had put
 * the filling, and on some runs above the meeting point: nothing moved.
 *
 * The free scanner takes its targets only from pageblocks that are partly
 * used: it passes over a wholly free one rather than break it up.  With
 * the filling gone, on about one run in three it found too few targets
 * near the top of the zone, migrate_pages() ran out of them (-ENOMEM) and
 * compaction gave up below the balloon.  So the test then frees the even
 * frames of the upper half too, which leaves every pageblock there half
 * used, and keeps the rest of the filling until compaction is over.
 * Proactive compaction is off meanwhile, so nothing but the test's own
 * request moves pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest.h"
#include "balloon_test.h"

/* Free memory left out of the filling, in KiB. */
#define FILL_RESERVE_KB		(64 * 1024)
/* The balloon takes 1/HOLE_SHARE of the holes punched in the filling. */
#define HOLE_SHARE		2
#define COMPACT_CHECKS		6
/* Compaction requests until the balloon moves; each starts from scratch. */
#define COMPACT_TRIES		3

#define COMPACT_SYSCTL		"/proc/sys/vm/compact_memory"
#define PROACTIVE_SYSCTL	"/proc/sys/vm/compaction_proactiveness"
#define PM_ENTRY_SIZE		sizeof(uint64_t)
#define PM_PRESENT_BIT		63
#define PM_PFN_MASK		((1ULL << 55) - 1)
/* /proc/kpageflags: the balloon's pages are PageOffline. */
#define KPF_OFFLINE_BIT		23
#define KPF_CHUNK		4096

/* What compaction did, for the log. */
static const char * const compact_counters[] = {
	"compact_migrate_scanned", "compact_free_scanned", "compact_isolated",
	"pgmigrate_success", "pgmigrate_fail", "balloon_migrate",
};

static void print_compaction(const char *when)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(compact_counters); i++)
		ksft_print_msg("%s: %s %lld\n", when, compact_counters[i],
			       vmstat_read(compact_counters[i]));
}

/* The proactive compaction setting found, restored at exit. */
static char proactive[32];

static void restore_proactive(void)
{
	if (proactive[0] && write_file(PROACTIVE_SYSCTL, proactive))
		ksft_print_msg("cannot restore proactive compaction\n");
}

static int cmp_pfn(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The frame number of each of @n pages at @mem, or NULL (reported). */
static uint64_t *frames_of(const char *mem, size_t n, long page)
{
	size_t len = n * PM_ENTRY_SIZE, i;
	uint64_t *pfns = malloc(len);
	ssize_t got = -1;
	int fd;

	fd = open("/proc/self/pagemap", O_RDONLY);
	if (pfns && fd >= 0)
		got = pread(fd, pfns, len,
			    (uintptr_t)mem / page * PM_ENTRY_SIZE);
	if (fd >= 0)
		close(fd);
	if (got != (ssize_t)len) {
		ksft_print_msg("/proc/self/pagemap: %s\n",
			       got < 0 ? strerror(errno) : "short read");
		free(pfns);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if (!(pfns[i] >> PM_PRESENT_BIT & 1) ||
		    !(pfns[i] & PM_PFN_MASK)) {
			ksft_print_msg("pagemap hides frame numbers\n");
			free(pfns);
			return NULL;
		}
		pfns[i] &= PM_PFN_MASK;
	}
	return pfns;
}

/*
 * Log where the balloon's pages are: how many lie below @limit, and their
 * lowest and highest frame.  Diagnostics only: nothing fails on it.
 */
static void print_placement(uint64_t limit)
{
	uint64_t flags[KPF_CHUNK], pfn = 0, low = 0, high = 0, below = 0;
	uint64_t total = 0;
	ssize_t got;
	size_t i;
	int fd;

	fd = open("/proc/kpageflags", O_RDONLY);
	if (fd < 0) {
		ksft_print_msg("/proc/kpageflags: %s\n", strerror(errno));
		return;
	}
	while ((got = pread(fd, flags, sizeof(flags),
			    pfn * PM_ENTRY_SIZE)) > 0) {
		for (i = 0; i < got / PM_ENTRY_SIZE; i++, pfn++) {
			if (!(flags[i] >> KPF_OFFLINE_BIT & 1))
				continue;
			if (!total++)
				low = pfn;
			high = pfn;
			below += pfn < limit;
		}
	}
	close(fd);
	ksft_print_msg("balloon frames: %llu, %llu below %#llx, from %#llx to %#llx\n",
		       (unsigned long long)total, (unsigned long long)below,
		       (unsigned long long)limit, (unsigned long long)low,
		       (unsigned long long)high);
}

/*
 * Free the pages of @mem (@n pages of @page bytes, at frames @pfns) whose
 * frame is even and in [@from, @to); returns how many.
 */
static size_t punch_holes(char *mem, const uint64_t *pfns, size_t n,
			  long page, uint64_t from, uint64_t to)
{
	size_t i, holes = 0;

	for (i = 0; i < n; i++) {
		if (pfns[i] < from || pfns[i] >= to || pfns[i] & 1)
			continue;
		if (madvise(mem + i * page, page, MADV_DONTNEED))
			ksft_exit_fail_msg("madvise: %s\n", strerror(errno));
		holes++;
	}
	return holes;
}

int main(void)
{
	long long ram, fill, balloon, pages, vm0, dbg0;
	long page = sysconf(_SC_PAGESIZE);
	uint64_t *pfns, *sorted, limit;
	size_t n, i, holes, targets;
	char *mem;
	int writes, err;

	ksft_print_header();
	harness_required();
	ksft_set_plan(COMPACT_CHECKS);
	ram = host_guest_size();
	if (ram <= 0)
		ksft_exit_fail_msg("no answer from the host\n");
	if (read_file(PROACTIVE_SYSCTL, proactive, sizeof(proactive)) <= 0 ||
	    atexit(restore_proactive) || write_file(PROACTIVE_SYSCTL, "0"))
		ksft_exit_fail_msg("cannot turn proactive compaction off\n");

	fill = (meminfo_kb("MemFree") - FILL_RESERVE_KB) * 1024;
	n = fill / page;
	mem = mmap(NULL, fill, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		ksft_exit_fail_msg("cannot fill %lld MiB\n", fill / BO_MIB);
	/*
	 * Base pages: a hole punched in a transparent huge page stays
	 * allocated until the huge page is split.  EINVAL: no THP at all.
	 */
	if (madvise(mem, fill, MADV_NOHUGEPAGE) && errno != EINVAL)
		ksft_exit_fail_msg("MADV_NOHUGEPAGE: %s\n", strerror(errno));
	for (i = 0; i < n; i++)
		mem[i * page] = 1;
	pfns = frames_of(mem, n, page);
	sorted = malloc(n * sizeof(*sorted));
	if (!pfns || !sorted)
		ksft_exit_fail_msg("cannot tell where the filling is\n");
	memcpy(sorted, pfns, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_pfn);
	limit = sorted[n / 2];
	free(sorted);
	holes = punch_holes(mem, pfns, n, page, 0, limit);
	/* Whole MiB: QEMU rounds the balloon to 4 KiB pages. */
	balloon = holes * page / HOLE_SHARE / BO_MIB * BO_MIB;
	ksft_test_result(!balloon_resize(ram - balloon, BO_RESIZE_TIMEOUT_MS),
			 "balloon inflated to %lld MiB among %lld MiB of holes below frame %#llx\n",
			 balloon / BO_MIB, holes * page / BO_MIB,
			 (unsigned long long)limit);
	targets = punch_holes(mem, pfns, n, page, limit, UINT64_MAX);
	free(pfns);
	ksft_print_msg("%lld MiB freed above frame %#llx for compaction's targets\n",
		       (long long)targets * page / BO_MIB,
		       (unsigned long long)limit);
	print_placement(limit);

	pages = balloon_state("balloon_pages");
	vm0 = vmstat_read("balloon_migrate");
	dbg0 = balloon_state("migrated_pages");
	print_compaction("before");
	err = 0;
	for (writes = 0; !err && writes < COMPACT_TRIES &&
	     vmstat_read("balloon_migrate") == vm0; writes++)
		err = write_file(COMPACT_SYSCTL, "1");
	ksft_test_result(!err, "compact_memory written %d times%s%s\n",
			 writes, err ? ": " : "", err ? strerror(-err) : "");
	print_compaction("after");
	munmap(mem, fill);

	ksft_test_result(vmstat_read("balloon_migrate") > vm0,
			 "balloon_migrate %lld -> %lld\n", vm0,
			 vmstat_read("balloon_migrate"));
	ksft_test_result(balloon_state("migrated_pages") > dbg0,
			 "driver migrated %lld pages\n",
			 balloon_state("migrated_pages") - dbg0);
	ksft_test_result(balloon_state("balloon_pages") == pages &&
			 host_guest_size() == ram - balloon,
			 "balloon size unchanged\n");
	ksft_test_result(!balloon_resize(ram, BO_RESIZE_TIMEOUT_MS),
			 "balloon deflated\n");
	ksft_finished();
}
