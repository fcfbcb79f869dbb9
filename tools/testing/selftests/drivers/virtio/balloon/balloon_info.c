// SPDX-License-Identifier: GPL-2.0
/*
 * Human-readable overview of the balloon driver for the runner's --demo
 * mode: bound device, negotiated features, a short inflate/deflate cycle
 * driven by the host and the driver's kernel log lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>

#include "balloon_test.h"

#define SYSLOG_ACTION_READ_ALL	3
#define SYSLOG_ACTION_SIZE_BUFFER 10
/* Guest memory the demo asks the host to take away, in MiB. */
#define DEMO_INFLATE_MIB	256
#define KIB			1024ULL
#define MIB			(KIB * KIB)
/* How long the demo waits for the balloon to reach its target. */
#define DEMO_WAIT_MS		10000
#define DEMO_POLL_MS		200
/* Prefix of the lines the test init writes into the kernel log. */
#define KLOG_MARKER		"balloon-test:"

/**
 * balloon_settle() - Wait until the host reports a stable balloon size.
 * @target: balloon target in bytes of guest memory left to the guest.
 *
 * Return: last "actual" value reported by the host, or -1 on RPC error.
 */
static long long balloon_settle(long long target)
{
	char reply[BT_LINE_MAX];
	unsigned int waited;
	long long actual = -1;

	for (waited = 0; waited <= DEMO_WAIT_MS; waited += DEMO_POLL_MS) {
		if (host_cmd(reply, sizeof(reply), "query-balloon"))
			return -1;
		actual = strtoll(reply, NULL, 10);
		if (actual == target)
			break;
		msleep(DEMO_POLL_MS);
	}
	return actual;
}

static void show_balloon(long long total)
{
	char reply[BT_LINE_MAX];
	long long target = total - DEMO_INFLATE_MIB * MIB;

	printf("Inflating: asking the host for a balloon of %d MiB\n",
	       DEMO_INFLATE_MIB);
	printf("  MemTotal before: %lld KiB\n", meminfo_kb("MemTotal"));
	if (host_cmd(reply, sizeof(reply), "balloon %lld", target)) {
		printf("  host: %s\n", reply);
		return;
	}
	printf("  guest memory per host: %lld MiB (target %lld MiB)\n",
	       balloon_settle(target) / (long long)MIB,
	       target / (long long)MIB);
	printf("  MemTotal inflated: %lld KiB, vmstat balloon_inflate %lld\n",
	       meminfo_kb("MemTotal"), vmstat_read("balloon_inflate"));
	printf("Deflating\n");
	if (host_cmd(reply, sizeof(reply), "balloon %lld", total)) {
		printf("  host: %s\n", reply);
		return;
	}
	printf("  guest memory per host: %lld MiB\n",
	       balloon_settle(total) / (long long)MIB);
	printf("  MemTotal deflated: %lld KiB, vmstat balloon_deflate %lld\n",
	       meminfo_kb("MemTotal"), vmstat_read("balloon_deflate"));
}

static void show_klog(void)
{
	int size = klogctl(SYSLOG_ACTION_SIZE_BUFFER, NULL, 0);
	char *buf, *line, *save;
	int len;

	printf("Virtio and balloon messages in the kernel log:\n");
	buf = size > 0 ? malloc(size + 1) : NULL;
	if (!buf)
		return;
	len = klogctl(SYSLOG_ACTION_READ_ALL, buf, size);
	buf[len > 0 ? len : 0] = '\0';
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		/* Skip the "<level>" prefix and the test runner's markers. */
		if (*line == '<' && strchr(line, '>'))
			line = strchr(line, '>') + 1;
		if ((strstr(line, "balloon") || strstr(line, "virtio")) &&
		    !strstr(line, KLOG_MARKER))
			printf("  %s\n", line);
	}
	free(buf);
}

int main(void)
{
	char dev[BT_DEVNAME_MAX], reply[BT_LINE_MAX];
	uint64_t features;
	unsigned int bit;

	if (balloon_find_device(dev, sizeof(dev))) {
		printf("No device bound to %s\n", BT_DRIVER_NAME);
		show_klog();
		return EXIT_FAILURE;
	}
	printf("Device %s is bound to %s\n", dev, BT_DRIVER_NAME);
	if (!virtio_read_features(dev, &features)) {
		printf("Negotiated features: %#llx\n",
		       (unsigned long long)features);
		for (bit = 0; bit < BT_F_NR_BALLOON; bit++)
			printf("  bit %u %-15s %s\n", bit,
			       bt_feature_name(bit),
			       features & (1ULL << bit) ? "yes" : "no");
	}
	if (!host_cmd(reply, sizeof(reply), "query-balloon"))
		show_balloon(strtoll(reply, NULL, 10));
	show_klog();
	return EXIT_SUCCESS;
}
