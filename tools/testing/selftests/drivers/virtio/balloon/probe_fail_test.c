// SPDX-License-Identifier: GPL-2.0
/*
 * Probe with each of its allocations failing in turn: the kernel's
 * systematic fault injection (/proc/thread-self/fail-nth), limited to call
 * chains through the driver's code, fails the first allocation of the first
 * bind, the second of the next, and so on until a bind meets no failure.
 * A probe that fails must leave the device unbound and report the failure
 * to the bind; one that copes with the failure must leave a device that
 * unbinds cleanly.  vmtest.py's kmemleak scan checks that no attempt
 * leaked.
 *
 * Usage: probe_fail_test <path to virtio_balloon.ko | builtin>
 * Skipped on a kernel without fault injection.  The device should offer
 * free-page-hint and free-page-reporting, so that every step of probe runs.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest.h"
#include "balloon_test.h"

#define FAIL_NTH		"/proc/thread-self/fail-nth"
/* A probe that allocates more often than this never finishes here. */
#define PROBE_ALLOCS_MAX	256
/* Bind and unbind are slow on a KASAN kernel under TCG. */
#define BIND_TIMEOUT_MS		120000

enum probe_check {
	CHECK_BOUND,
	CHECK_ALL_FAILED,
	CHECK_FAILED_UNBOUND,
	CHECK_COPED_UNBIND,
	CHECK_REBIND,
	NR_CHECKS
};

/*
 * Bind @dev with its @nth allocation through the driver failing.
 * Return: 1 if the failure was injected, 0 if probe allocated less often,
 * -1 if fail-nth could not be set.
 */
static int bind_failing(const char *dev, int nth, int *bind_err)
{
	char val[BT_LINE_MAX];
	int injected;

	snprintf(val, sizeof(val), "%d", nth);
	if (write_file(FAIL_NTH, val))
		return -1;
	*bind_err = write_file(BT_DRIVER_DIR "/bind", dev);
	/* Read back 0 once the failure was injected, what is left if not. */
	injected = read_file(FAIL_NTH, val, sizeof(val)) > 0 && !atoi(val);
	write_file(FAIL_NTH, "0");
	return injected;
}

int main(int argc, char **argv)
{
	int nth, injected, bind_err, failed = 0, coped = 0;
	bool failed_unbound = true, coped_unbind = true;
	char dev[BT_DEVNAME_MAX];

	ksft_print_header();
	harness_required();
	if (argc != 2)
		ksft_exit_fail_msg("usage: %s <module.ko|builtin>\n", argv[0]);
	if (!fault_available() || access(FAIL_NTH, F_OK))
		ksft_exit_skip("no fault injection (fail-nth) in this kernel\n");
	ksft_set_plan(NR_CHECKS);

	if (module_load(argv[1], NULL) ||
	    balloon_wait_bound(1, BIND_TIMEOUT_MS) ||
	    balloon_find_device(dev, sizeof(dev)))
		ksft_exit_fail_msg("the driver does not bind\n");
	ksft_test_result_pass("driver bound to %s\n", dev);
	/* The driver's code must be in place to limit faults to it. */
	if (fault_setup())
		ksft_exit_fail_msg("cannot set up fault injection for the driver\n");
	if (write_file(BT_DRIVER_DIR "/unbind", dev) ||
	    balloon_wait_bound(0, BIND_TIMEOUT_MS))
		ksft_exit_fail_msg("cannot unbind %s\n", dev);

	for (nth = 1; nth <= PROBE_ALLOCS_MAX; nth++) {
		injected = bind_failing(dev, nth, &bind_err);
		if (injected < 0)
			ksft_exit_fail_msg("cannot write %s\n", FAIL_NTH);
		if (!injected)
			break;
		if (balloon_find_device(dev, sizeof(dev))) {
			failed++;
			failed_unbound &= bind_err != 0;
			continue;
		}
		/* The driver coped with the failure: it must still let go. */
		coped++;
		if (write_file(BT_DRIVER_DIR "/unbind", dev) ||
		    balloon_wait_bound(0, BIND_TIMEOUT_MS)) {
			coped_unbind = false;
			break;
		}
	}
	ksft_print_msg("%d allocations of probe failed in turn: %d probes failed, %d coped\n",
		       nth - 1, failed, coped);
	ksft_test_result(!injected && failed > 0,
			 "every allocation of probe failed once (%d)\n", nth - 1);
	ksft_test_result(failed_unbound,
			 "%d failed probes: bind failed, device unbound\n",
			 failed);
	ksft_test_result(coped_unbind,
			 "%d probes that coped: device unbinds\n", coped);
	ksft_test_result(!balloon_wait_bound(1, BIND_TIMEOUT_MS) &&
			 balloon_state("host_errors") == 0,
			 "bound without faults, no host errors\n");
	ksft_finished();
}
