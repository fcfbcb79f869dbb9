// SPDX-License-Identifier: GPL-2.0
/*
 * Memory compaction migrates balloon pages (balloon_migrate in
 * /proc/vmstat, migrated_pages in debugfs) and the balloon keeps its size.
 *
 * Where the allocator puts balloon pages decides whether compaction's
 * migration scanner ever meets them, so the test places them: it fills
 * most free memory with anonymous pages, frees every other one, inflates
 * the balloon into those single-page holes (the allocator serves order-0
 * requests from order-0 free pages first) and frees the rest.  Every
 * pageblock then holds balloon pages among free ones.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest.h"
#include "balloon_test.h"

/* Free memory left out of the filling, in KiB. */
#define FILL_RESERVE_KB		(64 * 1024)
/* The balloon takes 1/HOLE_SHARE of the holes punched in the filling. */
#define HOLE_SHARE		2
#define COMPACT_CHECKS		6

/* What compaction did, for the log. */
static const char * const compact_counters[] = {
	"compact_migrate_scanned", "compact_free_scanned", "compact_isolated",
	"pgmigrate_success", "pgmigrate_fail", "balloon_migrate",
};

static void print_compaction(const char *when)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(compact_counters); i++)
		ksft_print_msg("%s: %s %lld\n", when, compact_counters[i],
			       vmstat_read(compact_counters[i]));
}

int main(void)
{
	long long ram, fill, balloon, pages, vm0, dbg0;
	long page = sysconf(_SC_PAGESIZE);
	char *mem;
	long long off;
	FILE *f;

	ksft_print_header();
	ksft_set_plan(COMPACT_CHECKS);
	ram = host_guest_size();
	if (ram <= 0)
		ksft_exit_fail_msg("no answer from the host\n");

	fill = (meminfo_kb("MemFree") - FILL_RESERVE_KB) * 1024;
	mem = mmap(NULL, fill, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (mem == MAP_FAILED)
		ksft_exit_fail_msg("cannot fill %lld MiB\n", fill / BO_MIB);
	for (off = 0; off < fill; off += 2 * page)
		if (madvise(mem + off, page, MADV_DONTNEED))
			ksft_exit_fail_msg("madvise: %s\n", strerror(errno));
	/* Whole MiB: QEMU rounds the balloon to 4 KiB pages. */
	balloon = fill / 2 / HOLE_SHARE / BO_MIB * BO_MIB;
	ksft_test_result(!balloon_resize(ram - balloon, BO_RESIZE_TIMEOUT_MS),
			 "balloon inflated to %lld MiB among %lld MiB of holes\n",
			 balloon / BO_MIB, fill / 2 / BO_MIB);
	munmap(mem, fill);

	pages = balloon_state("balloon_pages");
	vm0 = vmstat_read("balloon_migrate");
	dbg0 = balloon_state("migrated_pages");
	print_compaction("before");
	f = fopen("/proc/sys/vm/compact_memory", "w");
	ksft_test_result(f && fputs("1\n", f) >= 0 && !fclose(f),
			 "compact_memory written\n");
	print_compaction("after");

	ksft_test_result(vmstat_read("balloon_migrate") > vm0,
			 "balloon_migrate %lld -> %lld\n", vm0,
			 vmstat_read("balloon_migrate"));
	ksft_test_result(balloon_state("migrated_pages") > dbg0,
			 "driver migrated %lld pages\n",
			 balloon_state("migrated_pages") - dbg0);
	ksft_test_result(balloon_state("balloon_pages") == pages &&
			 host_guest_size() == ram - balloon,
			 "balloon size unchanged\n");
	ksft_test_result(!balloon_resize(ram, BO_RESIZE_TIMEOUT_MS),
			 "balloon deflated\n");
	ksft_finished();
}
