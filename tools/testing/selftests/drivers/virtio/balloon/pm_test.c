// SPDX-License-Identifier: GPL-2.0
/*
 * Suspend the guest's devices with the balloon inflated: the driver's
 * freeze gives every page back and stops, restore brings the device back
 * and inflates to the device's target again.
 *
 * The kernel's PM test mode (CONFIG_PM_DEBUG, /sys/power/pm_test set to
 * "devices") runs every driver's suspend and resume path and comes back by
 * itself after a few seconds, so no wake-up source is needed.
 */
#include <stdio.h>
#include <string.h>

#include "kselftest.h"
#include "balloon_test.h"

#define SHARE			4
#define PM_TEST			"/sys/power/pm_test"
#define POWER_STATE		"/sys/power/state"
#define REFILL_POLL_MS		200
#define PM_CHECKS		5

int main(void)
{
	long long ram, balloon, pages, deflated0;
	unsigned int waited;

	ksft_print_header();
	harness_required();
	ksft_set_plan(PM_CHECKS);
	ram = host_guest_size();
	if (ram <= 0)
		ksft_exit_fail_msg("no answer from the host\n");
	balloon = balloon_align(ram / SHARE);
	ksft_test_result(!balloon_resize(ram - balloon, BO_RESIZE_TIMEOUT_MS),
			 "balloon inflated to %lld MiB\n", balloon / BO_MIB);
	pages = balloon_state("balloon_pages");
	deflated0 = balloon_state("deflated_pages");

	ksft_test_result(!write_file(PM_TEST, "devices") &&
			 !write_file(POWER_STATE, "freeze") &&
			 !write_file(PM_TEST, "none"),
			 "devices suspended and resumed (pm_test)\n");

	/* Freeze emptied the balloon: the pages were deflated once. */
	ksft_test_result(balloon_state("deflated_pages") - deflated0 >= pages,
			 "freeze gave back %lld pages\n",
			 balloon_state("deflated_pages") - deflated0);
	for (waited = 0; waited < BO_RESIZE_TIMEOUT_MS;
	     waited += REFILL_POLL_MS) {
		if (balloon_state("balloon_pages") == pages &&
		    host_guest_size() == ram - balloon)
			break;
		msleep(REFILL_POLL_MS);
	}
	ksft_test_result(balloon_state("balloon_pages") == pages,
			 "restore inflated back to %lld MiB\n", balloon / BO_MIB);
	ksft_test_result(!balloon_resize(ram, BO_RESIZE_TIMEOUT_MS),
			 "balloon deflated\n");
	ksft_finished();
}
