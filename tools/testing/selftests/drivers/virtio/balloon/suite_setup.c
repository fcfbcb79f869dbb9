// SPDX-License-Identifier: GPL-2.0
/*
 * Start the next suite of a shared boot (vmtest.py --group) from the state a
 * boot of its own would give it: the balloon device is unplugged, the
 * driver loaded or not, and a new device with the suite's properties
 * plugged in, bound to the driver or left without one.
 *
 * Usage: suite_setup <qdev device> driver|no-driver <module path or builtin>
 *
 * A module stays loaded across the swap, so the new device binds to it as
 * it appears; the built-in driver binds to every new device, so for a
 * suite without a driver it is unbound again.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kselftest.h"
#include "balloon_test.h"

/* Unplug, teardown of an inflated balloon, probe: slow on a KASAN kernel. */
#define SETUP_TIMEOUT_MS	120000
#define SETUP_CHECKS		5

int main(int argc, char **argv)
{
	char reply[BT_LINE_MAX], id[BT_LINE_MAX], *end;
	const char *module;
	int driver, builtin, err;

	ksft_print_header();
	if (argc != 4 || (strcmp(argv[2], "driver") &&
			  strcmp(argv[2], "no-driver")))
		ksft_exit_fail_msg("usage: %s <qdev device> driver|no-driver <module>\n",
				   argv[0]);
	driver = !strcmp(argv[2], "driver");
	module = argv[3];
	builtin = !strcmp(module, BT_BUILTIN);
	/* "virtio-balloon-pci,id=<id>,...": the id to unplug later. */
	end = strstr(argv[1], ",id=");
	if (!end)
		ksft_exit_fail_msg("no id= in %s\n", argv[1]);
	snprintf(id, sizeof(id), "%s", end + strlen(",id="));
	id[strcspn(id, ",")] = '\0';
	ksft_set_plan(SETUP_CHECKS);

	/* The last suite may have unplugged the device itself. */
	err = 0;
	if (host_guest_size() >= 0)
		err = host_cmd(reply, sizeof(reply), "device_del %s", id);
	ksft_test_result(!err && !balloon_wait_present(0, SETUP_TIMEOUT_MS),
			 "old device unplugged\n");

	/* Loading the built-in driver resets its parameters. */
	err = driver ? module_load(module, NULL) : module_unload(BT_DRIVER_NAME);
	if (err == -EEXIST || err == -ENOENT)
		err = 0;
	ksft_test_result(!err, "driver %s (%s)\n", driver ? "loaded" : "away",
			 err ? strerror(-err) : "ok");

	err = host_cmd(reply, sizeof(reply), "device_add %s", argv[1]);
	ksft_test_result(!err && !balloon_wait_present(1, SETUP_TIMEOUT_MS),
			 "new device: %s\n", argv[1]);

	if (driver) {
		err = balloon_wait_bound(1, SETUP_TIMEOUT_MS);
	} else if (builtin) {
		err = balloon_wait_bound(1, SETUP_TIMEOUT_MS) ||
		      module_unload(BT_DRIVER_NAME) ||
		      balloon_wait_bound(0, SETUP_TIMEOUT_MS);
	} else {
		err = balloon_wait_bound(0, 0);
	}
	ksft_test_result(!err, "device %s\n", driver ? "bound" : "without a driver");
	ksft_test_result(host_guest_size() > 0, "host sees the new balloon\n");
	ksft_finished();
}
