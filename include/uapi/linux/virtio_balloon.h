/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/*
 * Virtio memory balloon device: the interface between driver and device,
 * as defined by the VIRTIO specification, section "Traditional Memory
 * Balloon Device".
 */
#ifndef _LINUX_VIRTIO_BALLOON_H
#define _LINUX_VIRTIO_BALLOON_H

#include <linux/types.h>
#include <linux/virtio_types.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_config.h>

/* Feature bits (spec 5.5.3). */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST	0 /* Deflate only after telling the host */
#define VIRTIO_BALLOON_F_STATS_VQ	1 /* Memory statistics virtqueue */
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM	2 /* Deflate when the guest is short of memory */
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT	3 /* Hint free pages during migration */
#define VIRTIO_BALLOON_F_PAGE_POISON	4 /* poison_val holds the guest's poison */
#define VIRTIO_BALLOON_F_PAGE_REPORTING	5 /* Report free pages to the host */
/* The name Linux 5.8 to 6.12 gave VIRTIO_BALLOON_F_PAGE_REPORTING. */
#define VIRTIO_BALLOON_F_REPORTING	VIRTIO_BALLOON_F_PAGE_REPORTING

/* The balloon's unit: PFNs on the inflate and deflate queues are 4 KiB. */
#define VIRTIO_BALLOON_PFN_SHIFT 12

/* Values of free_page_hint_cmd_id that do not start a hinting run. */
#define VIRTIO_BALLOON_CMD_ID_STOP	0 /* Stop hinting, keep hinted pages */
#define VIRTIO_BALLOON_CMD_ID_DONE	1 /* Hinted pages may be used again */

/**
 * struct virtio_balloon_config - device configuration space
 * @num_pages: balloon size the device asks for, in 4 KiB pages
 * @actual: balloon size the driver has reached, in 4 KiB pages (written by
 *	the driver)
 * @free_page_hint_cmd_id: current free page hinting command (only with
 *	%VIRTIO_BALLOON_F_FREE_PAGE_HINT): %VIRTIO_BALLOON_CMD_ID_STOP,
 *	%VIRTIO_BALLOON_CMD_ID_DONE or the id of a new hinting run
 * @free_page_report_cmd_id: the same field under the name Linux 4.19 to 5.7
 *	used, kept for programs written then
 * @poison_val: the value freed pages are filled with (written by the driver,
 *	only with %VIRTIO_BALLOON_F_PAGE_POISON)
 *
 * All fields are little-endian, for legacy devices too.
 */
struct virtio_balloon_config {
	__le32 num_pages;
	__le32 actual;
	union {
		__le32 free_page_hint_cmd_id;
		__le32 free_page_report_cmd_id;
	};
	__le32 poison_val;
};

/* Tags of the statistics the driver reports on the stats queue. */
#define VIRTIO_BALLOON_S_SWAP_IN	0  /* Bytes swapped in */
#define VIRTIO_BALLOON_S_SWAP_OUT	1  /* Bytes swapped out */
#define VIRTIO_BALLOON_S_MAJFLT		2  /* Major page faults */
#define VIRTIO_BALLOON_S_MINFLT		3  /* Minor page faults */
#define VIRTIO_BALLOON_S_MEMFREE	4  /* Free memory, bytes */
#define VIRTIO_BALLOON_S_MEMTOT		5  /* Total memory, bytes */
#define VIRTIO_BALLOON_S_AVAIL		6  /* Available memory, bytes (as MemAvailable) */
#define VIRTIO_BALLOON_S_CACHES		7  /* Disk caches, bytes */
#define VIRTIO_BALLOON_S_HTLB_PGALLOC	8  /* Hugetlb page allocations */
#define VIRTIO_BALLOON_S_HTLB_PGFAIL	9  /* Hugetlb page allocation failures */
#define VIRTIO_BALLOON_S_OOM_KILL	10 /* OOM killer invocations */
#define VIRTIO_BALLOON_S_ALLOC_STALL	11 /* Stalls in direct reclaim */
#define VIRTIO_BALLOON_S_ASYNC_SCAN	12 /* Pages scanned by kswapd */
#define VIRTIO_BALLOON_S_DIRECT_SCAN	13 /* Pages scanned by direct reclaim */
#define VIRTIO_BALLOON_S_ASYNC_RECLAIM	14 /* Pages reclaimed by kswapd */
#define VIRTIO_BALLOON_S_DIRECT_RECLAIM	15 /* Pages reclaimed by direct reclaim */
#define VIRTIO_BALLOON_S_NR		16

/*
 * The statistics' names, indexed by tag, for programs that show them:
 * VIRTIO_BALLOON_S_NAMES_WITH_PREFIX("guest-") gives "guest-swap-in"...
 */
#define VIRTIO_BALLOON_S_NAMES_WITH_PREFIX(prefix) {			\
	prefix "swap-in", prefix "swap-out", prefix "major-faults",	\
	prefix "minor-faults", prefix "free-memory",			\
	prefix "total-memory", prefix "available-memory",		\
	prefix "disk-caches", prefix "hugetlb-allocations",		\
	prefix "hugetlb-failures", prefix "oom-kills",			\
	prefix "alloc-stalls", prefix "async-scans",			\
	prefix "direct-scans", prefix "async-reclaims",			\
	prefix "direct-reclaims"					\
}

#define VIRTIO_BALLOON_S_NAMES	VIRTIO_BALLOON_S_NAMES_WITH_PREFIX("")

/**
 * struct virtio_balloon_stat - one statistic on the stats queue
 * @tag: one of the VIRTIO_BALLOON_S_* tags
 * @val: its value
 *
 * Packed: the entries are 10 bytes each, back to back.
 */
struct virtio_balloon_stat {
	__virtio16 tag;
	__virtio64 val;
} __attribute__((packed));

#endif /* _LINUX_VIRTIO_BALLOON_H */
