// SPDX-License-Identifier: GPL-2.0
/*
 * Ask kmemleak for a scan of the guest and report what it suspects: run
 * last in each boot of a kernel with CONFIG_DEBUG_KMEMLEAK, so that memory
 * the driver lost during the boot's tests shows up as a failure.
 *
 * Usage: kmemleak_test
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kselftest.h"
#include "balloon_test.h"

#define KMEMLEAK		"/sys/kernel/debug/kmemleak"
/*
 * kmemleak reports only objects older than 5 s: wait that long after the
 * last test, so that what it freed late is not a suspect.
 */
#define SETTLE_MS		6000
/* The report can be long: show its first lines. */
#define REPORT_MAX		(64 * 1024)
#define REPORT_LINES_SHOWN	60

static char report[REPORT_MAX];

int main(void)
{
	char *line, *save;
	unsigned int n = 0;
	int err;

	ksft_print_header();
	if (access(KMEMLEAK, F_OK))
		ksft_exit_skip("no %s: kernel without kmemleak\n", KMEMLEAK);
	ksft_set_plan(1);

	msleep(SETTLE_MS);
	err = write_file(KMEMLEAK, "scan");
	if (err)
		ksft_exit_fail_msg("kmemleak scan: %s\n", strerror(-err));
	if (read_file(KMEMLEAK, report, sizeof(report)) < 0)
		ksft_exit_fail_msg("reading %s: %s\n", KMEMLEAK,
				   strerror(errno));
	for (line = strtok_r(report, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (n++ < REPORT_LINES_SHOWN)
			ksft_print_msg("%s\n", line);
	}
	ksft_test_result(!n, "kmemleak suspects nothing\n");
	ksft_finished();
}
