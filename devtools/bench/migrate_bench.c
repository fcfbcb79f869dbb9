// SPDX-License-Identifier: GPL-2.0
/*
 * Live migration benchmark, for any balloon driver: prepare the guest's
 * memory as a scenario says, have the host migrate the guest (or save it to
 * a file through migration), and print what it cost.
 *
 * Usage: migrate_bench <scenario> <MiB> [key=value ...]
 *   idle        write <MiB> of memory, free it, migrate (memory written
 *               then freed: what hinting is for)
 *   fragmented  write <MiB>, free every other 64 KiB of it
 *               (free_every_other_piece()); migrate
 *   churn       as idle, then a workload allocates, writes and frees memory
 *               through the migration; its throughput is reported
 *   snapshot    as idle, then save the guest to a file through migration
 * The key=value options go to the host's migrate command.
 *
 * Prints one "# bench <scenario> key=value ..." line, which the host's
 * migbench.py collects.  Memory the program keeps is verified after the
 * migration, on the destination.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest.h"
#include "balloon_test.h"

/* Churn: the workload's unit of work, and its throughput before migrating. */
#define CHURN_CHUNK		(16 * BO_MIB)
#define CHURN_STRIDE		64
#define CHURN_BASELINE_MS	3000
/*
 * Let the freed memory settle.  Since 6.7 the per-CPU free lists shrink
 * back only over seconds: pcp_mb reports what is still on them.
 */
#define SETTLE_MS		1500
#define BUDDYINFO		"/proc/buddyinfo"
#define ZONEINFO		"/proc/zoneinfo"
/* A zone's pages of RAM in /proc/zoneinfo, reserved ones included. */
#define ZONE_PRESENT		"present"
#define ZONE_KEY_MAX		32
#define BUDDY_ORDERS_MAX	16

static long page_size;

/* One non-zero word per page is enough to make QEMU send the page. */
static unsigned long long pattern(const char *addr)
{
	return ((unsigned long long)(unsigned long)addr * 0x9e3779b97f4a7c15ULL) | 1;
}

static void fill(char *buf, size_t len)
{
	size_t off;

	for (off = 0; off < len; off += page_size)
		*(unsigned long long *)(buf + off) = pattern(buf + off);
}

static long long verify(const char *buf, size_t len)
{
	long long bad = 0;
	size_t off;

	for (off = 0; off < len; off += page_size)
		bad += *(const unsigned long long *)(buf + off) !=
		       pattern(buf + off);
	return bad;
}

static char *map(size_t len)
{
	char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (buf == MAP_FAILED)
		ksft_exit_fail_msg("mmap %lld MiB: %s\n", (long long)len / BO_MIB,
				   strerror(errno));
	/* Order-0 faults: the free-memory layout must not depend on THP. */
	madvise(buf, len, MADV_NOHUGEPAGE);
	return buf;
}

/*
 * Free memory in MiB, split into the largest buddy order (the only blocks
 * the in-tree driver hints) and everything smaller.
 */
static void free_by_order(double *large_mib, double *small_mib)
{
	unsigned long long count[BUDDY_ORDERS_MAX], large = 0, small = 0;
	char line[BT_LINE_MAX];
	FILE *f = fopen(BUDDYINFO, "r");
	int n, i, used;
	char *p;

	*large_mib = *small_mib = -1;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		p = strstr(line, "zone");
		if (!p)
			continue;
		p += strlen("zone");
		if (sscanf(p, "%*s%n", &used) < 0)
			continue;
		p += used;
		for (n = 0; n < BUDDY_ORDERS_MAX &&
		     sscanf(p, "%llu%n", &count[n], &used) == 1; n++)
			p += used;
		for (i = 0; i < n; i++) {
			if (i == n - 1)
				large += count[i] << i;
			else
				small += count[i] << i;
		}
	}
	fclose(f);
	*large_mib = (double)large * page_size / BO_MIB;
	*small_mib = (double)small * page_size / BO_MIB;
}

/*
 * The guest's RAM in KiB: every zone's present pages, including what the
 * kernel reserved at boot (its image, the page structures), which MemTotal
 * leaves out but a migration has to send like any memory in use; -1 if
 * /proc/zoneinfo cannot be read.
 */
static long long ram_kb(void)
{
	char line[BT_LINE_MAX], key[ZONE_KEY_MAX];
	long long pages = 0, n;
	FILE *f = fopen(ZONEINFO, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " %31s %lld", key, &n) == 2 &&
		    !strcmp(key, ZONE_PRESENT))
			pages += n;
	fclose(f);
	return pages * (page_size / 1024);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The churn workload: MiB processed so far, in memory shared with it. */
static unsigned long long *work_done;

static unsigned long long work_read(void)
{
	return __atomic_load_n(work_done, __ATOMIC_RELAXED);
}

static void __noreturn churn(void)
{
	size_t off;
	char *buf;

	for (;;) {
		buf = mmap(NULL, CHURN_CHUNK, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (buf == MAP_FAILED)
			_exit(1);
		for (off = 0; off < CHURN_CHUNK; off += CHURN_STRIDE)
			buf[off] = (char)off + 1;
		munmap(buf, CHURN_CHUNK);
		__atomic_fetch_add(work_done, CHURN_CHUNK / BO_MIB,
				   __ATOMIC_RELAXED);
	}
}

/* MiB/s the workload does over @ms from now. */
static double work_rate(unsigned int ms)
{
	unsigned long long done = work_read();
	double t = now_s();

	msleep(ms);
	return (work_read() - done) / (now_s() - t);
}

/* Driver counters, if the driver under test has them (ours). */
static const char * const hint_keys[] = {
	"hint_runs", "hint_pages", "hint_us", "hint_small_pages",
	"hint_full_waits", "hint_shrunk_pages",
};

#define HINT_KEYS	ARRAY_SIZE(hint_keys)

static void hint_counters(long long *v)
{
	size_t i;

	for (i = 0; i < HINT_KEYS; i++)
		v[i] = balloon_state(hint_keys[i]);
}

static long long figure(const char *json, const char *key)
{
	char val[BT_LINE_MAX];

	return json_get(json, key, val, sizeof(val)) ? -1 : atoll(val);
}

int main(int argc, char **argv)
{
	long long h0[HINT_KEYS], h1[HINT_KEYS], bad = 0, used_kb, free_kb;
	long long ram, memfree;
	unsigned long long done;
	char reply[BT_LINE_MAX], status[BT_LINE_MAX], opts[BT_LINE_MAX] = "";
	char growth[BT_LINE_MAX];
	double large, small, base = 0, rate = 0, t;
	const char *scenario;
	size_t len, off, kept = 0;
	pid_t worker = 0;
	char *buf;
	int i, ok;

	if (argc < 3)
		ksft_exit_fail_msg("usage: %s idle|fragmented|churn|snapshot MiB [key=value ...]\n",
				   argv[0]);
	scenario = argv[1];
	len = (size_t)atoll(argv[2]) * BO_MIB;
	for (i = 3; i < argc; i++)
		snprintf(opts + strlen(opts), sizeof(opts) - strlen(opts),
			 "%s ", argv[i]);
	page_size = sysconf(_SC_PAGESIZE);

	ksft_print_header();
	ksft_set_plan(2);

	buf = map(len);
	fill(buf, len);
	if (!strcmp(scenario, "fragmented")) {
		free_every_other_piece(buf, len);
		kept = len;
	} else {
		munmap(buf, len);
	}
	msleep(SETTLE_MS);

	if (!strcmp(scenario, "churn")) {
		work_done = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (work_done == MAP_FAILED)
			ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
		worker = fork();
		if (worker < 0)
			ksft_exit_fail_msg("fork: %s\n", strerror(errno));
		if (!worker)
			churn();
		base = work_rate(CHURN_BASELINE_MS);
	}

	memfree = meminfo_kb("MemFree");
	used_kb = meminfo_kb("MemTotal") - memfree;
	free_kb = free_memory_kb();
	ram = ram_kb();
	free_by_order(&large, &small);
	hint_counters(h0);

	done = worker ? work_read() : 0;
	t = now_s();
	ok = !host_cmd(reply, sizeof(reply), "%s %s",
		       strcmp(scenario, "snapshot") ? "migrate" : "migrate-file",
		       opts) &&
	     !json_get(reply, "status", status, sizeof(status)) &&
	     !strcmp(status, "completed");
	if (worker)
		rate = (work_read() - done) / (now_s() - t);
	ksft_print_msg("%s\n", reply);
	ksft_test_result(ok, "migration completed\n");

	if (worker) {
		kill(worker, SIGKILL);
		waitpid(worker, NULL, 0);
	}
	hint_counters(h1);
	for (off = 0; off < kept; off += 2 * BO_FRAG_PIECE)
		bad += verify(buf + off, BO_FRAG_PIECE);
	ksft_test_result(!bad, "kept memory verifies (%lld bad pages)\n", bad);

	printf("# bench %s transferred_mb=%.1f total_ms=%lld setup_ms=%lld",
	       scenario, figure(reply, "ram.transferred") / (double)BO_MIB,
	       figure(reply, "total-time"), figure(reply, "setup-time"));
	printf(" downtime_ms=%lld normal_pages=%lld duplicate_pages=%lld",
	       figure(reply, "downtime"), figure(reply, "ram.normal"),
	       figure(reply, "ram.duplicate"));
	printf(" used_mb=%.1f free_large_mb=%.1f free_small_mb=%.1f",
	       used_kb / 1024.0, large, small);
	if (ram > 0 && free_kb >= 0)
		printf(" ram_mb=%.1f not_free_mb=%.1f pcp_mb=%.1f", ram / 1024.0,
		       (ram - free_kb) / 1024.0,
		       (free_kb - memfree) / 1024.0);
	if (h0[0] >= 0 && h1[0] >= 0) {
		printf(" hint_runs=%lld hint_mb=%.1f hint_ms=%.1f hint_small_mb=%.1f",
		       h1[0] - h0[0],
		       (h1[1] - h0[1]) * (double)page_size / BO_MIB,
		       (h1[2] - h0[2]) / 1000.0,
		       (h1[3] - h0[3]) * (double)page_size / BO_MIB);
		printf(" hint_waits=%lld hint_shrunk_mb=%.1f", h1[4] - h0[4],
		       (h1[5] - h0[5]) * (double)page_size / BO_MIB);
	}
	if (!json_get(reply, "source-rss-growth", growth, sizeof(growth)))
		printf(" src_rss_mb=%.1f", atoll(growth) / (double)BO_MIB);
	if (worker)
		printf(" work_mib_s=%.1f base_mib_s=%.1f", rate, base);
	if (!strcmp(scenario, "snapshot"))
		printf(" file_mb=%.1f",
		       figure(reply, "file-size") / (double)BO_MIB);
	printf("\n");
	ksft_finished();
}
