// SPDX-License-Identifier: GPL-2.0
/*
 * Targets the guest cannot or should not meet: bigger than its memory,
 * zero, most of its memory, and quick oscillation.  None may crash or
 * wedge the guest, and the balloon must still follow a sane target after.
 */
#include <stdio.h>
#include <string.h>

#include "kselftest.h"
#include "balloon_test.h"

/* Quick oscillation: this many targets, this far apart. */
#define OSCILLATIONS		20
#define OSCILLATION_MS		50
/* The guest is asked to keep only 1/GREEDY_SHARE of its memory (guest_keep()). */
#define GREEDY_SHARE		4
/* How long the driver tries to meet the greedy target. */
#define GREEDY_MS		10000
/* How long a target above guest RAM is given to (not) change anything. */
#define HUGE_TARGET_MS		2000
#define RANGE_CHECKS		8

int main(void)
{
	char reply[BT_LINE_MAX];
	long long ram, keep, greedy_pages;
	int i, err;

	ksft_print_header();
	harness_required();
	ksft_set_plan(RANGE_CHECKS);
	ram = host_guest_size();
	if (ram <= 0)
		ksft_exit_fail_msg("no answer from the host\n");
	keep = guest_keep(ram, GREEDY_SHARE);

	/*
	 * QEMU clamps a target above guest RAM to guest RAM: empty balloon.
	 * (Waiting for the host to report 2 x RAM would wait in vain.)
	 */
	err = host_cmd(reply, sizeof(reply), "balloon %lld", 2 * ram);
	msleep(HUGE_TARGET_MS);
	ksft_test_result(!err && host_guest_size() == ram,
			 "target above guest RAM leaves the balloon empty\n");
	ksft_test_result(balloon_state("balloon_pages") == 0,
			 "driver holds nothing\n");

	err = host_cmd(reply, sizeof(reply), "balloon 0");
	ksft_test_result(err && host_guest_size() == ram,
			 "target 0 refused by the host, guest unchanged (%s)\n",
			 reply);

	for (i = 0; i < OSCILLATIONS; i++) {
		host_cmd(reply, sizeof(reply), "balloon %lld",
			 i % 2 ? ram / 2 : ram * 3 / 4);
		msleep(OSCILLATION_MS);
	}
	ksft_test_result(!balloon_resize(ram * 5 / 8, BO_RESIZE_TIMEOUT_MS),
			 "after %d quick changes the last target is met\n",
			 OSCILLATIONS);

	host_cmd(reply, sizeof(reply), "balloon %lld", keep);
	msleep(GREEDY_MS);
	greedy_pages = balloon_state("balloon_pages");
	ksft_test_result(greedy_pages > 0,
			 "greedy target: balloon took %lld MiB, guest alive\n",
			 greedy_pages * balloon_state("page_size") / BO_MIB);
	ksft_print_msg("inflate_fails: %lld\n", balloon_state("inflate_fails"));
	ksft_test_result(host_guest_size() >= keep,
			 "host sees no more than the guest gave\n");

	ksft_test_result(!balloon_resize(ram, BO_RESIZE_TIMEOUT_MS),
			 "back to full size\n");
	ksft_test_result(balloon_state("balloon_pages") == 0,
			 "balloon empty again\n");
	ksft_finished();
}
