// SPDX-License-Identifier: GPL-2.0
/*
 * Take the driver away while the balloon is inflated, by unloading the
 * module or by unplugging the device: every page comes back to the guest.
 *
 * Usage: teardown_test unload <path to virtio_balloon.ko>
 *        teardown_test device-del <qdev id>
 *        teardown_test device-del-busy <qdev id>
 * device-del-busy unplugs the device while the balloon is still inflating.
 */
#include <stdio.h>
#include <string.h>

#include "kselftest.h"
#include "balloon_test.h"

#define SHARE			4
/* device-del-busy: keep 1/BUSY_SHARE (guest_keep()), unplug after a delay. */
#define BUSY_SHARE		4
#define BUSY_DELAY_MS		200
/* Teardown deflates the whole balloon: minutes on a KASAN kernel under TCG. */
#define BIND_TIMEOUT_MS		120000
/* Free memory may move by this much between the two reads. */
#define FREE_SLACK_KB		(32 * 1024)
#define TEARDOWN_CHECKS		6

int main(int argc, char **argv)
{
	long long ram, total0, free0, free1, memfree0;
	char reply[BT_LINE_MAX];
	int unload, busy, err;

	ksft_print_header();
	harness_required();
	if (argc != 3 || (strcmp(argv[1], "unload") &&
			  strcmp(argv[1], "device-del") &&
			  strcmp(argv[1], "device-del-busy")))
		ksft_exit_fail_msg("usage: %s unload <module> | device-del[-busy] <id>\n",
				   argv[0]);
	unload = !strcmp(argv[1], "unload");
	busy = !strcmp(argv[1], "device-del-busy");
	ksft_set_plan(TEARDOWN_CHECKS);

	ram = host_guest_size();
	total0 = meminfo_kb("MemTotal");
	free0 = free_memory_kb();
	memfree0 = meminfo_kb("MemFree");
	if (busy) {
		/* Ask for most of the guest and unplug without waiting. */
		err = host_cmd(reply, sizeof(reply), "balloon %lld",
			       guest_keep(ram, BUSY_SHARE));
		msleep(BUSY_DELAY_MS);
		ksft_test_result(!err && balloon_state("balloon_pages") > 0,
				 "balloon inflating (%lld pages so far)\n",
				 balloon_state("balloon_pages"));
	} else {
		ksft_test_result(ram > 0 &&
				 !balloon_resize(ram - ram / SHARE,
						 BO_RESIZE_TIMEOUT_MS),
				 "balloon inflated to %lld MiB\n",
				 ram / SHARE / BO_MIB);
	}

	if (unload)
		err = module_unload(BT_DRIVER_NAME);
	else
		err = host_cmd(reply, sizeof(reply), "device_del %s", argv[2]);
	ksft_test_result(!err, "%s\n", unload ? "module unloaded" :
			 "device unplugged");
	ksft_test_result(!balloon_wait_bound(0, BIND_TIMEOUT_MS),
			 "no device bound\n");
	ksft_test_result(meminfo_kb("MemTotal") == total0,
			 "MemTotal back to %lld kB\n", total0);
	free1 = free_memory_kb();
	/* What the per-CPU free lists hold shows in the difference. */
	ksft_print_msg("MemFree alone: %lld -> %lld kB\n", memfree0,
		       meminfo_kb("MemFree"));
	ksft_test_result(free1 + FREE_SLACK_KB >= free0,
			 "free memory back: %lld -> %lld kB\n", free0,
			 free1);

	if (unload) {
		/* Leave the guest as found: driver loaded, balloon empty. */
		err = module_load(argv[2], NULL) ||
		      balloon_wait_bound(1, BIND_TIMEOUT_MS) ||
		      balloon_resize(ram, BO_RESIZE_TIMEOUT_MS);
		ksft_test_result(!err, "reloaded, balloon empty\n");
	} else {
		/* QEMU has no balloon left to query. */
		ksft_test_result(host_guest_size() < 0,
				 "host has no balloon device any more\n");
	}
	ksft_finished();
}
