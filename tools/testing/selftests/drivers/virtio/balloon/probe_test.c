// SPDX-License-Identifier: GPL-2.0
/*
 * Load, unload and reload the balloon driver under test and check that the
 * virtio balloon device gets bound and unbound accordingly.
 *
 * Usage: probe_test <path to virtio_balloon.ko, or "builtin">
 */
#include <stdio.h>
#include <string.h>

#include "kselftest.h"
#include "balloon_test.h"

/* How long a (un)bind may take after the module syscall returned. */
#define BIND_TIMEOUT_MS		5000
/* Checks: none bound, 2 x (load, bound), unload, unbound. */
#define PROBE_CHECKS		7

/**
 * check_load() - Load the module and check the device gets bound.
 * @path: module file.
 * @what: label of this round in the test names.
 */
static void check_load(const char *path, const char *what)
{
	int ret = module_load(path, NULL);

	ksft_test_result(!ret, "%s: finit_module %s (%s)\n", what, path,
			 ret ? strerror(-ret) : "ok");
	ksft_test_result(!balloon_wait_bound(1, BIND_TIMEOUT_MS),
			 "%s: device bound to %s\n", what, BT_DRIVER_NAME);
}

int main(int argc, char **argv)
{
	int ret;

	ksft_print_header();
	harness_required();
	if (argc != 2)
		ksft_exit_fail_msg("usage: %s <module.ko>\n", argv[0]);
	ksft_set_plan(PROBE_CHECKS);
	ksft_test_result(!balloon_wait_bound(0, 0),
			 "no device bound before loading\n");
	check_load(argv[1], "first load");

	ret = module_unload(BT_DRIVER_NAME);
	ksft_test_result(!ret, "delete_module %s (%s)\n", BT_DRIVER_NAME,
			 ret ? strerror(-ret) : "ok");
	ksft_test_result(!balloon_wait_bound(0, BIND_TIMEOUT_MS),
			 "device unbound after unloading\n");

	check_load(argv[1], "reload");
	ksft_finished();
}
