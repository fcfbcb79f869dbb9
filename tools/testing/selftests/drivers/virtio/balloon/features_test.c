// SPDX-License-Identifier: GPL-2.0
/*
 * Compare the balloon feature bits negotiated by the driver with the value
 * the host expects for this device configuration and guest command line,
 * and the poison_val the driver wrote (from its debugfs state).
 *
 * Usage: features_test <expected bits 0-5 as hex> [<expected poison_val hex>]
 */
#include <stdio.h>
#include <stdlib.h>

#include "kselftest.h"
#include "balloon_test.h"

#define BALLOON_FEATURE_MASK	(((uint64_t)1 << BT_F_NR_BALLOON) - 1)

int main(int argc, char **argv)
{
	char dev[BT_DEVNAME_MAX];
	uint64_t expected, features;
	long long poison = -1;
	unsigned int bit;

	ksft_print_header();
	harness_required();
	if (argc != 2 && argc != 3)
		ksft_exit_fail_msg("usage: %s <expected hex> [<poison_val hex>]\n",
				   argv[0]);
	expected = strtoull(argv[1], NULL, 16);
	if (argc == 3)
		poison = strtoll(argv[2], NULL, 16);
	ksft_set_plan(1 + BT_F_NR_BALLOON + (poison >= 0));

	if (balloon_find_device(dev, sizeof(dev)) ||
	    virtio_read_features(dev, &features)) {
		ksft_test_result_fail("no device bound to %s\n",
				      BT_DRIVER_NAME);
		for (bit = 0; bit < BT_F_NR_BALLOON; bit++)
			ksft_test_result_skip("bit %u %s: no device\n", bit,
					      bt_feature_name(bit));
		if (poison >= 0)
			ksft_test_result_skip("poison_val: no device\n");
		ksft_finished();
	}
	ksft_test_result_pass("%s bound, features %#llx (balloon bits %#llx, expected %#llx)\n",
			      dev, (unsigned long long)features,
			      (unsigned long long)(features & BALLOON_FEATURE_MASK),
			      (unsigned long long)expected);
	for (bit = 0; bit < BT_F_NR_BALLOON; bit++) {
		int want = !!(expected & (1ULL << bit));
		int got = !!(features & (1ULL << bit));

		ksft_test_result(want == got,
				 "bit %u %s: expected %d, negotiated %d\n",
				 bit, bt_feature_name(bit), want, got);
	}
	if (poison >= 0)
		ksft_test_result(balloon_state_or("poison_val", 0) == poison,
				 "poison_val %#llx, expected %#llx\n",
				 balloon_state_or("poison_val", 0), poison);
	ksft_finished();
}
