// SPDX-License-Identifier: GPL-2.0
/*
 * The statistics the host reads (QMP qom-get guest-stats) agree with the
 * guest's own /proc/meminfo and /proc/vmstat, and are refreshed.
 *
 * Needs the device property guest-stats-polling-interval (1 s).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kselftest.h"
#include "balloon_test.h"

/* How long to wait for the host to have fresh statistics. */
#define STATS_TIMEOUT_MS	20000
#define STATS_POLL_MS		500
/*
 * Free and available memory move a little between two reads.  The guest's
 * figures are read before and after the host's are fetched, and the host's
 * must lie between them, give or take this: on the debug kernel
 * MemAvailable once moved by 25 MiB between the driver's sample and a
 * later read.
 */
#define DRIFT_SLACK		(16 * BO_MIB)
/* Memory touched to see the free memory statistic follow. */
#define TOUCH_BYTES		(128 * BO_MIB)
#define STATS_CHECKS		11
/* Requests counted after a change before the host's figures show it. */
#define FRESH_REQUESTS		2

static char stats[BT_LINE_MAX];

/* Fetch the host's statistics once it has any. */
static bool fetch_stats(void)
{
	char val[BT_LINE_MAX];
	unsigned int waited;

	for (waited = 0; waited <= STATS_TIMEOUT_MS; waited += STATS_POLL_MS) {
		if (!host_cmd(stats, sizeof(stats), "guest-stats") &&
		    !json_get(stats, "last-update", val, sizeof(val)) &&
		    atoll(val) > 0)
			return true;
		msleep(STATS_POLL_MS);
	}
	return false;
}

/*
 * Fetch statistics the driver gathered after this call.  The request the
 * driver counted last may have been answered with older figures, so wait
 * for two more: the device asks again only after it has the answer to
 * the one before.
 */
static bool fetch_fresh_stats(void)
{
	long long seen = balloon_state("stats_requests");
	unsigned int waited;

	for (waited = 0; waited <= STATS_TIMEOUT_MS; waited += STATS_POLL_MS) {
		if (balloon_state("stats_requests") >= seen + FRESH_REQUESTS)
			return !host_cmd(stats, sizeof(stats), "guest-stats");
		msleep(STATS_POLL_MS);
	}
	return false;
}

static long long stat(const char *name)
{
	char val[BT_LINE_MAX];

	return json_get(stats, name, val, sizeof(val)) ? -1 : atoll(val);
}

/*
 * Whether @host, a figure the driver sampled between two reads of the
 * guest's own, @before and @after, is within DRIFT_SLACK of the range
 * they span.
 */
static void check_near(const char *name, long long host, long long before,
		       long long after)
{
	long long low = before < after ? before : after;
	long long high = before < after ? after : before;

	ksft_test_result(host >= 0 && host >= low - DRIFT_SLACK &&
			 host <= high + DRIFT_SLACK,
			 "%s: host %lld MiB, guest %lld-%lld MiB\n", name,
			 host / BO_MIB, low / BO_MIB, high / BO_MIB);
}

/* Page cache as the driver reports it, in bytes. */
static long long disk_caches(void)
{
	return (meminfo_kb("Cached") + meminfo_kb("Buffers") +
		meminfo_kb("SwapCached")) * 1024;
}

int main(void)
{
	long long guest_before, guest_after, free0, avail0, cached0;
	char *mem;

	ksft_print_header();
	harness_required();
	ksft_set_plan(STATS_CHECKS);

	if (!fetch_stats())
		ksft_exit_fail_msg("the host never got statistics: %s\n", stats);
	/* What the host has may predate this program (built in: probe). */
	free0 = meminfo_kb("MemFree") * 1024;
	avail0 = meminfo_kb("MemAvailable") * 1024;
	cached0 = disk_caches();
	if (!fetch_fresh_stats())
		ksft_exit_fail_msg("the statistics were not refreshed: %s\n",
				   stats);
	ksft_print_msg("%s\n", stats);

	ksft_test_result(stat("stat-total-memory") ==
			 meminfo_kb("MemTotal") * 1024,
			 "total memory equals MemTotal\n");
	check_near("free memory", stat("stat-free-memory"), free0,
		   meminfo_kb("MemFree") * 1024);
	check_near("available memory", stat("stat-available-memory"), avail0,
		   meminfo_kb("MemAvailable") * 1024);
	check_near("disk caches", stat("stat-disk-caches"), cached0,
		   disk_caches());
	ksft_test_result(stat("stat-major-faults") >= 0 &&
			 stat("stat-major-faults") <= vmstat_read("pgmajfault"),
			 "major faults within the guest's count\n");
	ksft_test_result(stat("stat-minor-faults") > 0 &&
			 stat("stat-minor-faults") <= vmstat_read("pgfault"),
			 "minor faults within the guest's count\n");
	ksft_test_result(stat("stat-swap-in") == vmstat_read("pswpin") * 4096 &&
			 stat("stat-swap-out") == vmstat_read("pswpout") * 4096,
			 "swap in and out match pswpin and pswpout\n");
	ksft_test_result(stat("stat-htlb-pgalloc") ==
			 vmstat_read("htlb_buddy_alloc_success") &&
			 stat("stat-htlb-pgfail") ==
			 vmstat_read("htlb_buddy_alloc_fail"),
			 "hugetlb allocations and failures match\n");

	/*
	 * Fresh figures: after memory is touched, the host's free memory is
	 * the guest's MemFree of now, not of before.  Comparing the host's
	 * fall with what was touched instead failed when pages freed
	 * meanwhile (per-CPU lists drained after an earlier test) made
	 * MemFree fall less.
	 */
	guest_before = meminfo_kb("MemFree") * 1024;
	mem = mmap(NULL, TOUCH_BYTES, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ksft_test_result(mem != MAP_FAILED && fetch_fresh_stats(),
			 "statistics refreshed\n");
	guest_after = meminfo_kb("MemFree") * 1024;
	ksft_test_result(guest_before - guest_after >= TOUCH_BYTES / 2 &&
			 llabs(stat("stat-free-memory") - guest_after) <=
			 DRIFT_SLACK,
			 "free memory followed %lld MiB touched: host %lld MiB, guest %lld -> %lld MiB\n",
			 TOUCH_BYTES / BO_MIB,
			 stat("stat-free-memory") / BO_MIB,
			 guest_before / BO_MIB, guest_after / BO_MIB);
	/* The first buffer is posted at probe; each refresh is a request. */
	ksft_test_result(balloon_state("stats_requests") > 0,
			 "driver answered %lld requests\n",
			 balloon_state("stats_requests"));
	ksft_finished();
}
