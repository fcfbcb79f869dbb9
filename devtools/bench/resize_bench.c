// SPDX-License-Identifier: GPL-2.0
/*
 * Inflate and deflate throughput, for any balloon driver: time from the
 * host's request until the guest's MemTotal has moved by the whole amount
 * (every driver adjusts it without deflate-on-oom), and the guest CPU time
 * spent meanwhile (all CPUs, from /proc/stat).
 *
 * Usage: resize_bench [MiB [rounds]]
 * Prints one "# bench <what> mib_s=<x> cpu_ms=<y>" line per measurement,
 * which resizebench.py collects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "kselftest.h"
#include "balloon_test.h"

#define DEFAULT_MIB		512
#define DEFAULT_ROUNDS		3
/* How often MemTotal is read while the balloon moves. */
#define POLL_US			2000
#define RESIZE_TIMEOUT_S	120

/* Busy time of all CPUs so far, in ms (/proc/stat, USER_HZ ticks). */
static long long busy_ms(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (!f)
		return -1;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
		   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8)
		return -1;
	/* user nice system idle iowait irq softirq steal: all but idle, iowait */
	return (long long)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * 1000 /
	       sysconf(_SC_CLK_TCK);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Ask the host for @guest_bytes and wait until MemTotal equals @want_kb;
 * print the figures as @what.  Return 0 on success.
 */
static int measure(const char *what, long long guest_bytes, long long want_kb,
		   long long mib)
{
	char reply[BT_LINE_MAX];
	long long cpu0 = busy_ms();
	double t0 = now_s(), secs;

	if (host_cmd(reply, sizeof(reply), "balloon %lld", guest_bytes))
		return -1;
	while (meminfo_kb("MemTotal") != want_kb) {
		if (now_s() - t0 > RESIZE_TIMEOUT_S)
			return -1;
		usleep(POLL_US);
	}
	secs = now_s() - t0;
	ksft_print_msg("bench %s mib_s=%.1f cpu_ms=%lld secs=%.3f\n", what,
		       mib / secs, busy_ms() - cpu0, secs);
	return 0;
}

int main(int argc, char **argv)
{
	long long mib = argc > 1 ? atoll(argv[1]) : DEFAULT_MIB;
	int rounds = argc > 2 ? atoi(argv[2]) : DEFAULT_ROUNDS;
	long long ram, total;
	int i, ok = 1;

	ksft_print_header();
	ksft_set_plan(1);
	ram = host_guest_size();
	total = meminfo_kb("MemTotal");
	if (ram <= 0 || total <= 0 || mib <= 0 || mib * BO_MIB >= ram)
		ksft_exit_fail_msg("cannot measure (guest %lld, %lld MiB)\n",
				   ram, mib);
	for (i = 0; i < rounds && ok; i++) {
		ok = !measure("inflate", ram - mib * BO_MIB,
			      total - mib * 1024, mib) &&
		     !measure("deflate", ram, total, mib);
	}
	ksft_test_result(ok, "%d rounds of %lld MiB inflated and deflated\n",
			 rounds, mib);
	ksft_finished();
}
