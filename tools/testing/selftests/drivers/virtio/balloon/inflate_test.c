// SPDX-License-Identifier: GPL-2.0
/*
 * Inflate the balloon to a quarter of the guest's memory and back: the host
 * sees the target reached, the guest's accounting follows, programs get
 * correspondingly less memory, and everything comes back on deflate.
 */
#include <stdio.h>
#include <unistd.h>

#include "kselftest.h"
#include "balloon_test.h"

/* The balloon takes 1/BALLOON_SHARE of the guest's memory. */
#define BALLOON_SHARE		4
/*
 * What a program can allocate must drop by at least this percentage of the
 * balloon (the rest is measurement noise: page cache, kernel allocations).
 */
#define ALLOC_DROP_MIN_PCT	85
/*
 * Measures of what a program can get with the balloon empty; the largest
 * counts.  One alone came out 24 MiB short once, right after a hinting run
 * had given its memory back (780 MiB, then 804 after the deflate), which
 * put the drop below ALLOC_DROP_MIN_PCT.
 */
#define EMPTY_PROBES		2
/*
 * And come back to within this percentage of the balloon of where it was:
 * page cache and slab drift by a few tens of MiB across the probes, a
 * balloon that did not come back would cost all of it.
 */
#define ALLOC_BACK_SLACK_PCT	25
#define INFLATE_CHECKS		9

/* The most of EMPTY_PROBES allocatable_bytes(), or -1 if one failed. */
static long long allocatable_most(void)
{
	long long most = -1, probe;
	int i;

	for (i = 0; i < EMPTY_PROBES; i++) {
		probe = allocatable_bytes();
		if (probe < 0)
			return -1;
		if (probe > most)
			most = probe;
	}
	return most;
}

int main(void)
{
	long long ram, balloon, total0, total1, alloc0, alloc1, alloc2, page;
	long long oom_deflated;
	int oom;

	ksft_print_header();
	harness_required();
	ksft_set_plan(INFLATE_CHECKS);

	ram = host_guest_size();
	oom = balloon_negotiated(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
	page = balloon_state("page_size");
	if (ram <= 0 || oom < 0 || page <= 0)
		ksft_exit_fail_msg("no balloon device or no host (ram %lld)\n",
				   ram);
	balloon = balloon_align(ram / BALLOON_SHARE);
	total0 = meminfo_kb("MemTotal");
	alloc0 = allocatable_most();
	ksft_print_msg("guest %lld MiB, balloon %lld MiB, allocatable %lld MiB\n",
		       ram / BO_MIB, balloon / BO_MIB, alloc0 / BO_MIB);

	ksft_test_result(!balloon_resize(ram - balloon, BO_RESIZE_TIMEOUT_MS),
			 "query-balloon reaches %lld MiB\n",
			 (ram - balloon) / BO_MIB);
	ksft_test_result(balloon_state("balloon_pages") * page == balloon,
			 "driver holds %lld MiB\n", balloon / BO_MIB);

	total1 = meminfo_kb("MemTotal");
	if (oom)
		ksft_test_result(total1 == total0,
				 "MemTotal unchanged with deflate-on-oom (%lld kB)\n",
				 total1);
	else
		ksft_test_result(total0 - total1 == balloon / 1024,
				 "MemTotal down by the balloon (%lld -> %lld kB)\n",
				 total0, total1);

	/*
	 * The probe pushes the guest into reclaim at its end; with
	 * deflate-on-oom the balloon may then give some pages back, as it
	 * should, and the program gets those too.
	 */
	oom_deflated = balloon_state("oom_deflated_pages");
	alloc1 = allocatable_bytes();
	oom_deflated = (balloon_state("oom_deflated_pages") - oom_deflated) *
		       page;
	ksft_test_result(alloc0 > 0 && alloc1 >= 0 &&
			 (alloc0 - alloc1) * 100 >=
			 (balloon - oom_deflated) * ALLOC_DROP_MIN_PCT,
			 "a program gets less memory: %lld -> %lld MiB (%lld MiB deflated on OOM)\n",
			 alloc0 / BO_MIB, alloc1 / BO_MIB, oom_deflated / BO_MIB);

	ksft_test_result(!balloon_resize(ram, BO_RESIZE_TIMEOUT_MS),
			 "query-balloon back to %lld MiB\n", ram / BO_MIB);
	ksft_test_result(balloon_state("balloon_pages") == 0,
			 "balloon empty\n");
	ksft_test_result(meminfo_kb("MemTotal") == total0,
			 "MemTotal back to %lld kB\n", total0);
	ksft_test_result(balloon_state("inflated_pages") ==
			 balloon_state("deflated_pages"),
			 "every inflated page was deflated\n");
	alloc2 = allocatable_most();
	ksft_test_result(alloc2 >= 0 &&
			 (alloc0 - alloc2) * 100 <= balloon * ALLOC_BACK_SLACK_PCT,
			 "a program gets its memory back: %lld -> %lld MiB\n",
			 alloc0 / BO_MIB, alloc2 / BO_MIB);
	ksft_finished();
}
