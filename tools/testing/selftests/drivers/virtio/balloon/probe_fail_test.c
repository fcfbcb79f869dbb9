// SPDX-License-Identifier: GPL-2.0
/*
 * Make probe fail at each of its steps (module parameter fail_probe_at):
 * the device stays unbound, the module unloads, and a normal load after
 * binds the device as if nothing had happened.
 *
 * Usage: probe_fail_test <path to virtio_balloon.ko>
 * The device must offer free-page-hint and free-page-reporting, so that
 * every step exists.
 */
#include <stdio.h>
#include <string.h>

#include "kselftest.h"
#include "balloon_test.h"

/* Steps of the driver's probe that fail_probe_at can fail. */
#define PROBE_STEPS		3
#define BIND_TIMEOUT_MS		5000
#define CHECKS_PER_STEP		3
#define PROBE_FAIL_CHECKS	(PROBE_STEPS * CHECKS_PER_STEP + 2)

int main(int argc, char **argv)
{
	char params[BT_LINE_MAX];
	int step, err;

	ksft_print_header();
	if (argc != 2)
		ksft_exit_fail_msg("usage: %s <module.ko>\n", argv[0]);
	ksft_set_plan(PROBE_FAIL_CHECKS);

	for (step = 1; step <= PROBE_STEPS; step++) {
		snprintf(params, sizeof(params), "fail_probe_at=%d", step);
		err = module_load(argv[1], params);
		ksft_test_result(!err, "step %d: module loads\n", step);
		/* Probe ran and failed: the device must stay unbound. */
		msleep(BIND_TIMEOUT_MS / 5);
		ksft_test_result(!balloon_wait_bound(0, 0),
				 "step %d: probe failed, device unbound\n", step);
		ksft_test_result(!module_unload(BT_DRIVER_NAME),
				 "step %d: module unloads\n", step);
	}
	ksft_test_result(!module_load(argv[1], NULL) &&
			 !balloon_wait_bound(1, BIND_TIMEOUT_MS),
			 "normal load binds the device\n");
	ksft_test_result(balloon_state("host_errors") == 0,
			 "device works: no host errors\n");
	ksft_finished();
}
