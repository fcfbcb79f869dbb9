// SPDX-License-Identifier: GPL-2.0-only
/*
 * Virtio memory balloon driver.
 *
 * The device asks for a balloon size; the driver takes that many pages away
 * from the guest and hands their frame numbers to the host (inflate), or
 * gives pages back to the guest after telling the host (deflate).  Besides
 * that the driver
 * - reports memory statistics, and free pages (free page reporting);
 * - gives balloon pages back when the guest runs out of memory
 *   (deflate-on-OOM, from a shrinker);
 * - hints free pages to the host while it migrates the guest (free page
 *   hinting);
 * - tells the host how the guest initialises freed pages (page poison).
 *
 * Contexts and locking
 * --------------------
 * - Config changes and virtqueue callbacks arrive in interrupt context.  They
 *   read what they need and queue work; they never touch balloon pages.
 *   @stop_lock orders them against teardown: once @stopping is set no work
 *   is queued any more, so cancelling the work items stops everything.
 * - Resizing (inflate and deflate) runs in @resize_work.  @balloon_lock
 *   serialises it with balloon page migration (compaction), which also uses
 *   the inflate and deflate queues and the PFN buffer.  Migration only
 *   trylocks: it can be called from an allocation that inflate itself made.
 * - Deflate-on-OOM deflates from the shrinker, under @balloon_lock too, which
 *   it only trylocks for the same reason.
 * - Statistics are refreshed in @stats_work, the only user of the stats queue.
 * - Free page hinting runs in @hint.work on an ordered workqueue of its own,
 *   the only user of the free page queue, which it polls: that queue never
 *   interrupts (see vb_hint_validate()).  Blocks the device has used move to
 *   a list under @hint.lock, where the shrinker can take them back.  Config
 *   reads may sleep, so the config change interrupt only counts the change
 *   (@hint.config_gen); the hinting work reads the command id.
 * - Free page reporting calls vb_report() from the page reporting worker;
 *   it is the only user of the reporting queue.
 * - The counters (&enum vb_counter) are atomic: most have more than one
 *   writer.
 *
 * Device quirks
 * -------------
 * QEMU serves the free page queue from an iothread that signals used
 * buffers outside the lock serialising the device's interrupt state.  The
 * driver works around two consequences on every device (it cannot tell one
 * QEMU from another; the code is the same from QEMU 7.2 to 10.2):
 * - Lost interrupt: with a legacy interrupt the line can stay asserted in
 *   the device yet never reach the guest, which then never hears a config
 *   change again.  The free page queue is polled with its interrupt
 *   suppressed, and EVENT_IDX is refused (see vb_hint_validate()).
 * - Late signal after reset: the iothread can signal the queue just after
 *   a reset, with the same effect on the next driver bound.  Teardown waits
 *   for the queue to drain first (see vb_hint_quiesce()).
 */

#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/list_sort.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/page_reporting.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/swap.h>
#include <linux/vmstat.h>
#include <linux/virtio.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "virtio_balloon_compat.h"

/* Balloon units (4 KiB, the protocol's page size) in one guest page. */
#define VB_UNITS_PER_PAGE	(PAGE_SIZE >> VIRTIO_BALLOON_PFN_SHIFT)

/*
 * Frame numbers per inflate or deflate request: one page of them, 4 MiB of
 * guest memory with 4 KiB pages.  Larger requests mean fewer round trips to
 * the host; the request is still short enough that compaction, which waits
 * for @balloon_lock only by retrying, is not held up for long.
 */
#define VB_PFNS_PER_REQ		(PAGE_SIZE / sizeof(__virtio32))
#define VB_PAGES_PER_REQ	(VB_PFNS_PER_REQ / VB_UNITS_PER_PAGE)

/* Pages inflated before the device's target is read again: 128 MiB. */
#define VB_INFLATE_MAX		(32 * VB_PAGES_PER_REQ)

/*
 * When inflating cannot get memory, retry after a delay that doubles on
 * each failure, from VB_RETRY_MIN to VB_RETRY_MAX: a target the guest
 * cannot meet must not keep it in reclaim.
 */
#define VB_RETRY_MIN		(HZ / 5)
#define VB_RETRY_MAX		(5 * HZ)

/* How often a wait for the device checks that the device still works. */
#define VB_DEVICE_POLL		HZ

/*
 * Free page hinting takes free blocks of every order from the page
 * allocator, down to VB_HINT_MIN_ORDER, so that memory free only in small
 * pieces is hinted too (vb_hint_run() says in which order).
 * Flags: no reclaim of any kind (only what is free now is hinted, and
 * kswapd is not woken), no reserves, no warning; movable, so the blocks
 * come from the free lists that hold most free memory and hinting does not
 * turn movable pageblocks into unmovable ones while it holds them.
 */
#define VB_HINT_MIN_ORDER	0
#define VB_HINT_GFP		(__GFP_MOVABLE | __GFP_NOWARN | __GFP_NOMEMALLOC)

/*
 * Hinting leaves 1/64th of the guest's memory free (16 MiB of 1 GiB) so
 * that the guest's own allocations during a run do not have to reclaim.
 */
#define VB_HINT_KEEP_SHIFT	6

/*
 * At most a quarter of the guest's memory is on the free page queue, or
 * gathered for it, at a time: the shrinker cannot take those blocks back,
 * and QEMU stops reading the queue at its own STOP, returning what is left
 * only when it reads it again (at the next run's start id, or after DONE
 * when notified).  Less makes a run wait for a device that drains the
 * queue in bursts, when its iothread gets a CPU beside the migration
 * thread.
 */
#define VB_HINT_FLIGHT_SHIFT	2

/*
 * Pages in one buffer at most: physically contiguous blocks share a buffer
 * up to the size of the largest block.
 */
#define VB_HINT_BUF_MAX		BIT(VB_MAX_PAGE_ORDER)

/* Buffers added to the free page queue between two kicks. */
#define VB_HINT_KICK_BATCH	64

/*
 * Hinted pages the shrinker offers at a time (64 MiB of 4 KiB pages); with
 * seeks 0 reclaim then takes half of that per pass.
 */
#define VB_HINT_SHRINK_MAX	(16 * VB_PAGES_PER_REQ)

/*
 * The free page queue is polled.  A run waits this long between two looks
 * at a full queue (the device polls the queue during a run, so it drains
 * fast); after a run, the worker looks for the buffers still on the queue
 * after VB_HINT_POLL_MIN, doubling the delay up to VB_HINT_POLL_MAX while
 * none come back.
 */
#define VB_HINT_FULL_WAIT	1
#define VB_HINT_POLL_MIN	1
#define VB_HINT_POLL_MAX	HZ

/*
 * Before a reset, teardown waits up to VB_HINT_QUIESCE_MAX for the device
 * to return every free page queue buffer, then VB_HINT_QUIESCE_GRACE_MS
 * for QEMU's iothread to leave its polling loop (see vb_hint_quiesce()).
 */
#define VB_HINT_QUIESCE_MAX	HZ
#define VB_HINT_QUIESCE_GRACE_MS	10

/*
 * Deflate-on-OOM.  Reclaim calls shrinkers under any memory pressure,
 * including that of a guest which only streams files through its page
 * cache; a balloon that deflated then would be emptied on every guest that
 * reads files (which is why Linux went back to an OOM notifier).  So the
 * shrinker offers balloon pages only once reclaim has nothing cheaper left
 * (vb_oom_pressure()): the page cache that is not mapped into any process
 * -- what streaming I/O fills, and what reclaim drops first -- is down to
 * VB_OOM_CACHE_WMARKS times the zones' high watermarks, and no swap space
 * is left for anonymous memory; and only to direct reclaim, not kswapd.
 * It then offers at most VB_PAGES_PER_REQ pages at a time, so each pass of
 * reclaim deflates a bounded amount and deflating stops as soon as the
 * guest's allocations succeed again.
 */
#define VB_OOM_CACHE_WMARKS	4
/* vb->oom_target when no deflate-on-OOM is pending. */
#define VB_NO_OOM_TARGET	U32_MAX

/* Virtqueue indices, in the order the spec numbers them. */
enum vb_vq_index {
	VB_VQ_INFLATE,
	VB_VQ_DEFLATE,
	VB_VQ_STATS,
	VB_VQ_HINT,
	VB_VQ_REPORT,
	VB_NR_VQS
};

/*
 * What the driver counts, for debugfs: pages and requests, one counter
 * each (vb_count()).
 */
enum vb_counter {
	VB_CNT_INFLATED,
	VB_CNT_DEFLATED,
	VB_CNT_MIGRATED,
	VB_CNT_INFLATE_FAILS,
	VB_CNT_OOM_DEFLATED,
	VB_CNT_HOST_ERRORS,
	VB_CNT_CONFIG_CHANGES,
	VB_CNT_STATS_REQUESTS,
	VB_CNT_REPORTS,
	VB_CNT_REPORTED,
	VB_CNT_HINT_RUNS,
	VB_CNT_HINT_RUNS_STOPPED,
	VB_CNT_HINT_BLOCKS,
	VB_CNT_HINT_BUFFERS,
	VB_CNT_HINT_PAGES,
	VB_CNT_HINT_SMALL,
	VB_CNT_HINT_FULL_WAITS,
	VB_CNT_HINT_SHRUNK,
	VB_CNT_HINT_RELEASED,
	VB_CNT_HINT_US,
	VB_CNT_NR
};

static const char * const vb_counter_names[VB_CNT_NR] = {
	[VB_CNT_INFLATED]		= "inflated_pages",
	[VB_CNT_DEFLATED]		= "deflated_pages",
	[VB_CNT_MIGRATED]		= "migrated_pages",
	[VB_CNT_INFLATE_FAILS]		= "inflate_fails",
	[VB_CNT_OOM_DEFLATED]		= "oom_deflated_pages",
	[VB_CNT_HOST_ERRORS]		= "host_errors",
	[VB_CNT_CONFIG_CHANGES]	= "config_changes",
	[VB_CNT_STATS_REQUESTS]	= "stats_requests",
	[VB_CNT_REPORTS]		= "reports",
	[VB_CNT_REPORTED]		= "reported_pages",
	[VB_CNT_HINT_RUNS]		= "hint_runs",
	[VB_CNT_HINT_RUNS_STOPPED]	= "hint_runs_stopped",
	[VB_CNT_HINT_BLOCKS]		= "hint_blocks",
	[VB_CNT_HINT_BUFFERS]		= "hint_buffers",
	[VB_CNT_HINT_PAGES]		= "hint_pages",
	[VB_CNT_HINT_SMALL]		= "hint_small_pages",
	[VB_CNT_HINT_FULL_WAITS]	= "hint_full_waits",
	[VB_CNT_HINT_SHRUNK]		= "hint_shrunk_pages",
	[VB_CNT_HINT_RELEASED]		= "hint_released_pages",
	[VB_CNT_HINT_US]		= "hint_us",
};

static struct dentry *vb_debugfs_root;

/**
 * struct vb_hint - free page hinting state
 * @wq: ordered workqueue running @work, one run at a time
 * @work: handles a new command id and DONE, and polls for used buffers
 * @config_gen: config changes so far (the interrupt counts them)
 * @config_read: @config_gen when the id was last read (worker only)
 * @cmd_received: last command id read from the config (worker only)
 * @cmd_started: id of the last run whose start id went to the device
 *	(worker only)
 * @start_id: buffer holding the id of the current run
 * @stop_id: buffer holding %VIRTIO_BALLOON_CMD_ID_STOP
 * @start_busy: the device has not returned @start_id yet (worker only)
 * @stop_busy: the device has not returned @stop_id yet (worker only)
 * @in_flight: buffers on the queue, not yet returned (worker only)
 * @in_flight_pages: pages in them (worker only)
 * @flight_max: pages allowed on the queue and gathered for it
 *	(%VB_HINT_FLIGHT_SHIFT)
 * @poll_delay: delay before the worker next polls the queue (worker only)
 * @wait: where a run waits for room on a full queue
 * @keep: free pages a run leaves to the guest (%VB_HINT_KEEP_SHIFT)
 * @lock: protects @blocks and @held_pages
 * @blocks: hinted blocks the device has returned, linked through
 *	page->lru, order in page_private() (as every hinted block's)
 * @held_pages: pages in @blocks, and in blocks being given back
 */
struct vb_hint {
	struct workqueue_struct *wq;
	struct delayed_work work;
	atomic_t config_gen;
	int config_read;
	u32 cmd_received;
	u32 cmd_started;
	__virtio32 start_id;
	__virtio32 stop_id;
	bool start_busy;
	bool stop_busy;
	unsigned int in_flight;
	unsigned long in_flight_pages;
	unsigned long flight_max;
	unsigned long poll_delay;
	wait_queue_head_t wait;
	unsigned long keep;
	spinlock_t lock;		/* see above */
	struct list_head blocks;
	unsigned long held_pages;
};

/**
 * struct virtio_balloon - one balloon device
 * @vdev: the virtio device
 * @vqs: virtqueues, indexed by &enum vb_vq_index (%NULL if not negotiated)
 * @stop_lock: orders interrupt handlers against @stopping
 * @stopping: teardown (remove, freeze) has begun: queue no work
 * @resize_work: inflates or deflates toward the device's target
 * @retry_delay: delay before the next inflate attempt after a failure
 * @stats_work: answers a statistics request
 * @acked: woken when the device uses a buffer of a queue the driver waits on
 * @balloon_lock: serialises resizing and balloon page migration; protects
 *	@pfns and @nr_pages
 * @nr_pages: guest pages in the balloon
 * @resizing: the resize work is running (the shrinker offers no balloon
 *	pages meanwhile)
 * @oom_target: the device's target when the shrinker last deflated the
 *	balloon, %VB_NO_OOM_TARGET if it has not since the target changed;
 *	resizing does not inflate back towards that same target
 * @pfns: frame numbers of the current inflate or deflate request
 * @b_dev_info: balloon pages, for the balloon compaction core
 * @stats: statistics buffer on the stats queue
 * @events: scratch space for the vm event counters (stats worker only)
 * @pr_dev_info: free page reporting registration
 * @hint: free page hinting
 * @shrinker: the driver's shrinker, see vb_shrink_count()
 * @debugfs: this device's debugfs directory
 * @counters: counters, indexed by &enum vb_counter
 */
struct virtio_balloon {
	struct virtio_device *vdev;
	struct virtqueue *vqs[VB_NR_VQS];

	spinlock_t stop_lock;		/* see above */
	bool stopping;

	struct delayed_work resize_work;
	unsigned long retry_delay;
	struct delayed_work stats_work;
	wait_queue_head_t acked;

	struct mutex balloon_lock;	/* see above */
	unsigned int nr_pages;
	bool resizing;
	u32 oom_target;
	__virtio32 pfns[VB_PFNS_PER_REQ];
	struct balloon_dev_info b_dev_info;

	struct virtio_balloon_stat stats[VIRTIO_BALLOON_S_NR];
	unsigned long events[NR_VM_EVENT_ITEMS];

	struct page_reporting_dev_info pr_dev_info;
	struct vb_hint hint;
	struct shrinker *shrinker;
	struct dentry *debugfs;
	atomic_long_t counters[VB_CNT_NR];
};

static bool vb_has(const struct virtio_balloon *vb, unsigned int feature)
{
	return virtio_has_feature(vb->vdev, feature);
}

static void vb_count(struct virtio_balloon *vb, enum vb_counter cnt,
		     unsigned long n)
{
	atomic_long_add(n, &vb->counters[cnt]);
}

static unsigned long vb_counted(struct virtio_balloon *vb,
				enum vb_counter cnt)
{
	return atomic_long_read(&vb->counters[cnt]);
}

/**
 * vb_queue() - queue a work item unless teardown has begun
 * @vb: the balloon
 * @wq: the workqueue
 * @work: the work item
 * @delay: run it after this many jiffies; 0 runs it now even if it was
 *	already queued for later, any other delay leaves a queued item as it is
 *
 * Any context.
 */
static void vb_queue(struct virtio_balloon *vb, struct workqueue_struct *wq,
		     struct delayed_work *work, unsigned long delay)
{
	unsigned long flags;

	spin_lock_irqsave(&vb->stop_lock, flags);
	if (!vb->stopping) {
		if (delay)
			queue_delayed_work(wq, work, delay);
		else
			mod_delayed_work(wq, work, 0);
	}
	spin_unlock_irqrestore(&vb->stop_lock, flags);
}

static void vb_queue_resize(struct virtio_balloon *vb, unsigned long delay)
{
	vb_queue(vb, system_freezable_wq, &vb->resize_work, delay);
}

/**
 * vb_wait_used() - wait until the device returns a buffer of @vq
 * @vb: the balloon
 * @vq: a queue whose callback wakes @vb->acked
 *
 * Return: the buffer's token, or %NULL if the queue broke (device gone).
 */
static void *vb_wait_used(struct virtio_balloon *vb, struct virtqueue *vq)
{
	unsigned int len;
	void *token = NULL;

	while (!wait_event_timeout(vb->acked,
				   (token = virtqueue_get_buf(vq, &len)),
				   VB_DEVICE_POLL)) {
		if (virtqueue_is_broken(vq))
			return NULL;
	}
	return token;
}

/**
 * vb_post() - hand the first @nr_pfns frame numbers of @pfns to the device
 * @vb: the balloon
 * @vq: the inflate or deflate queue
 * @nr_pfns: frame numbers in the request
 *
 * A single-entry buffer needs no indirect table, so adding it allocates
 * nothing and cannot recurse into reclaim.
 *
 * Return: 0, or -EIO if the device did not take the buffer.
 */
static int vb_post(struct virtio_balloon *vb, struct virtqueue *vq,
		   unsigned int nr_pfns)
{
	struct scatterlist sg;

	lockdep_assert_held(&vb->balloon_lock);
	sg_init_one(&sg, vb->pfns, nr_pfns * sizeof(vb->pfns[0]));
	if (virtqueue_add_outbuf(vq, &sg, 1, vb, GFP_NOWAIT | __GFP_NOWARN) ||
	    !virtqueue_kick(vq)) {
		vb_count(vb, VB_CNT_HOST_ERRORS, 1);
		return -EIO;
	}
	return 0;
}

/**
 * vb_send() - send a request of frame numbers and wait for the device
 * @vb: the balloon
 * @vq: the inflate or deflate queue
 * @nr_pfns: frame numbers in @pfns
 *
 * Return: 0, or -EIO if the device did not take or return the buffer.
 */
static int vb_send(struct virtio_balloon *vb, struct virtqueue *vq,
		   unsigned int nr_pfns)
{
	if (vb_post(vb, vq, nr_pfns))
		return -EIO;
	if (!vb_wait_used(vb, vq)) {
		vb_count(vb, VB_CNT_HOST_ERRORS, 1);
		return -EIO;
	}
	return 0;
}

/* Append the frame numbers of @page, in 4 KiB units, to @vb->pfns. */
static unsigned int vb_add_pfns(struct virtio_balloon *vb, unsigned int n,
				struct page *page)
{
	unsigned long pfn = page_to_pfn(page) * VB_UNITS_PER_PAGE;
	unsigned int i;

	BUILD_BUG_ON(PAGE_SHIFT < VIRTIO_BALLOON_PFN_SHIFT);
	lockdep_assert_held(&vb->balloon_lock);
	for (i = 0; i < VB_UNITS_PER_PAGE; i++)
		vb->pfns[n++] = cpu_to_virtio32(vb->vdev, pfn + i);
	return n;
}

/* Balloon size the device asks for, in 4 KiB units. */
static u32 vb_target(struct virtio_balloon *vb)
{
	u32 target;

	virtio_cread_le(vb->vdev, struct virtio_balloon_config, num_pages,
			&target);
	return target;
}

static void vb_update_actual(struct virtio_balloon *vb)
{
	u32 actual = vb->nr_pages * VB_UNITS_PER_PAGE;

	virtio_cwrite_le(vb->vdev, struct virtio_balloon_config, actual,
			 &actual);
}

/*
 * Without deflate-on-oom the balloon's pages are gone from the guest for
 * good, so they leave the guest's managed memory (and MemTotal); with it
 * they are only lent and stay counted.
 */
static void vb_account(struct virtio_balloon *vb, struct page *page, long n)
{
	if (!vb_has(vb, VIRTIO_BALLOON_F_DEFLATE_ON_OOM))
		adjust_managed_page_count(page, n);
}

/* Free pages that were allocated for the balloon but never put in it. */
static void vb_free_unused(struct list_head *pages)
{
	struct page *page, *next;

	list_for_each_entry_safe(page, next, pages, lru) {
		list_del(&page->lru);
		put_page(page);
	}
}

/* Allocate up to @want balloon pages onto @pages; return how many. */
static unsigned int vb_alloc_pages(struct list_head *pages, unsigned long want)
{
	unsigned int n = 0;
	struct page *page;

	while (n < want) {
		page = balloon_page_alloc();
		if (!page)
			break;
		list_add(&page->lru, pages);
		n++;
	}
	return n;
}

/**
 * vb_inflate() - move up to @want pages into the balloon
 * @vb: the balloon
 * @want: pages wanted
 *
 * Requests of %VB_PAGES_PER_REQ pages are pipelined: while the host works
 * through one request (it discards every page it names), the next
 * request's pages are allocated.  @balloon_lock is held meanwhile, which
 * is safe because migration only trylocks it.
 *
 * Return: pages inflated; fewer than asked if memory ran short (the
 * caller backs off) or the device stopped answering.
 */
static unsigned long vb_inflate(struct virtio_balloon *vb, unsigned long want)
{
	unsigned long asked = min_t(unsigned long, want, VB_PAGES_PER_REQ);
	unsigned int n, next_n = 0, nr_pfns;
	unsigned long done = 0;
	struct page *page;
	LIST_HEAD(pages);
	LIST_HEAD(next);
	int err;

	n = vb_alloc_pages(&pages, asked);
	while (n) {
		mutex_lock(&vb->balloon_lock);
		nr_pfns = 0;
		list_for_each_entry(page, &pages, lru) {
			nr_pfns = vb_add_pfns(vb, nr_pfns, page);
			vb_account(vb, page, -1);
		}
		balloon_page_list_enqueue(&vb->b_dev_info, &pages);
		vb->nr_pages += n;
		vb_count(vb, VB_CNT_INFLATED, n);
		done += n;
		err = vb_post(vb, vb->vqs[VB_VQ_INFLATE], nr_pfns);
		/* A short request means memory ran short: stop after it. */
		if (!err && n == asked && done < want &&
		    !READ_ONCE(vb->stopping)) {
			asked = min_t(unsigned long, want - done,
				      VB_PAGES_PER_REQ);
			next_n = vb_alloc_pages(&next, asked);
		}
		if (!err && !vb_wait_used(vb, vb->vqs[VB_VQ_INFLATE])) {
			vb_count(vb, VB_CNT_HOST_ERRORS, 1);
			err = -EIO;
		}
		mutex_unlock(&vb->balloon_lock);
		vb_update_actual(vb);
		if (err) {
			/* Nothing more goes to a device that does not answer. */
			vb_free_unused(&next);
			break;
		}
		list_splice_init(&next, &pages);
		n = next_n;
		next_n = 0;
		cond_resched();
	}
	return done;
}

/**
 * vb_deflate() - give up to @want balloon pages back to the guest
 * @vb: the balloon
 * @want: pages wanted, at most %VB_PAGES_PER_REQ are given back
 * @try: only trylock @balloon_lock (reclaim context)
 *
 * The host always hears of the pages before the guest can use them again,
 * which %VIRTIO_BALLOON_F_MUST_TELL_HOST requires and costs nothing without
 * it.  A device that no longer answers still gets its pages freed.
 *
 * Return: pages deflated.
 */
static unsigned int vb_deflate(struct virtio_balloon *vb, unsigned long want,
			       bool try)
{
	unsigned int n, nr_pfns = 0;
	struct page *page, *next;
	LIST_HEAD(pages);

	want = min_t(unsigned long, want, VB_PAGES_PER_REQ);
	if (!try)
		mutex_lock(&vb->balloon_lock);
	else if (!mutex_trylock(&vb->balloon_lock))
		return 0;
	n = balloon_page_list_dequeue(&vb->b_dev_info, &pages, want);
	list_for_each_entry(page, &pages, lru)
		nr_pfns = vb_add_pfns(vb, nr_pfns, page);
	if (n)
		vb_send(vb, vb->vqs[VB_VQ_DEFLATE], nr_pfns);
	vb->nr_pages -= n;
	vb_count(vb, VB_CNT_DEFLATED, n);
	mutex_unlock(&vb->balloon_lock);

	list_for_each_entry_safe(page, next, &pages, lru) {
		list_del(&page->lru);
		vb_account(vb, page, 1);
		put_page(page);
	}
	return n;
}

/* Inflate or deflate towards the device's target; resize work only. */
static void vb_resize(struct virtio_balloon *vb)
{
	unsigned long want;
	long delta;
	u32 target;

	while (!READ_ONCE(vb->stopping)) {
		target = vb_target(vb);
		/*
		 * Any other target, even one the device later sets back to
		 * the old value, is a new request: the hold is lifted.
		 */
		if (target != READ_ONCE(vb->oom_target))
			WRITE_ONCE(vb->oom_target, VB_NO_OOM_TARGET);
		delta = (long)(target / VB_UNITS_PER_PAGE) - (long)vb->nr_pages;
		if (!delta)
			break;
		if (delta > 0) {
			/* The guest needed these pages: wait for a new target. */
			if (target == READ_ONCE(vb->oom_target))
				break;
			want = min_t(unsigned long, delta, VB_INFLATE_MAX);
			if (vb_inflate(vb, want) < want) {
				/* Out of memory: try later, less often. */
				vb_count(vb, VB_CNT_INFLATE_FAILS, 1);
				vb_queue_resize(vb, vb->retry_delay);
				vb->retry_delay = min_t(unsigned long,
							2 * vb->retry_delay,
							VB_RETRY_MAX);
				return;
			}
		} else {
			want = min_t(unsigned long, -delta, VB_PAGES_PER_REQ);
			if (!vb_deflate(vb, want, false)) {
				/* Every page left is isolated for migration. */
				vb_queue_resize(vb, VB_RETRY_MIN);
				return;
			}
			vb_update_actual(vb);
		}
		cond_resched();
	}
	vb->retry_delay = VB_RETRY_MIN;
}

static void vb_resize_work(struct work_struct *work)
{
	struct virtio_balloon *vb = container_of(to_delayed_work(work),
						 struct virtio_balloon,
						 resize_work);

	/* Reclaim for the balloon's own pages must not deflate it. */
	WRITE_ONCE(vb->resizing, true);
	vb_resize(vb);
	WRITE_ONCE(vb->resizing, false);
}

/* Deflate the whole balloon, for teardown; resizing is stopped. */
static void vb_deflate_all(struct virtio_balloon *vb)
{
	while (vb->nr_pages) {
		if (!vb_deflate(vb, vb->nr_pages, false))
			msleep(jiffies_to_msecs(VB_RETRY_MIN));
		/* A device that answers at once never lets us sleep above. */
		cond_resched();
	}
	vb_update_actual(vb);
}

#if VB_BALLOON_MIGRATION
/**
 * vb_migratepage() - move a balloon page for memory compaction
 * @b_dev_info: the balloon's page list
 * @newpage: the page to put in the balloon instead
 * @page: the isolated balloon page to give back
 * @mode: migration mode (unused: the move never blocks on I/O)
 *
 * The host learns of @newpage before @page is given back.
 *
 * Return: 0, or -EAGAIN while the balloon is resizing.
 */
static int vb_migratepage(struct balloon_dev_info *b_dev_info,
			  struct page *newpage, struct page *page,
			  enum migrate_mode mode)
{
	struct virtio_balloon *vb = container_of(b_dev_info,
						 struct virtio_balloon,
						 b_dev_info);

	if (!mutex_trylock(&vb->balloon_lock))
		return -EAGAIN;

	if (page_zone(page) != page_zone(newpage)) {
		vb_account(vb, page, 1);
		vb_account(vb, newpage, -1);
	}
	vb_send(vb, vb->vqs[VB_VQ_INFLATE], vb_add_pfns(vb, 0, newpage));
	vb_send(vb, vb->vqs[VB_VQ_DEFLATE], vb_add_pfns(vb, 0, page));
	vb_count(vb, VB_CNT_MIGRATED, 1);
	mutex_unlock(&vb->balloon_lock);

	vb_balloon_replace(b_dev_info, newpage, page);
	return 0;
}
#endif

static void vb_set_stat(struct virtio_balloon *vb, unsigned int *n, u16 tag,
			u64 val)
{
	vb->stats[*n].tag = cpu_to_virtio16(vb->vdev, tag);
	vb->stats[*n].val = cpu_to_virtio64(vb->vdev, val);
	(*n)++;
}

/* Fill @vb->stats from the guest's counters; return how many there are. */
static unsigned int vb_fill_stats(struct virtio_balloon *vb)
{
	unsigned long *ev = vb->events;
	unsigned long stalls = 0;
	struct sysinfo si;
	unsigned int n = 0;
	int zid;

	all_vm_events(ev);
	si_meminfo(&si);
	for (zid = 0; zid < MAX_NR_ZONES; zid++)
		stalls += ev[ALLOCSTALL_NORMAL - ZONE_NORMAL + zid];

	vb_set_stat(vb, &n, VIRTIO_BALLOON_S_SWAP_IN,
		    (u64)ev[PSWPIN] << PAGE_SHIFT);
	vb_set_stat(vb, &n, VIRTIO_BALLOON_S_SWAP_OUT,
		    (u64)ev[PSWPOUT] << PAGE_SHIFT);
	vb_set_stat(vb, &n, VIRTIO_BALLOON_S_MAJFLT, ev[PGMAJFAULT]);
	vb_set_stat(vb, &n, VIRTIO_BALLOON_S_MINFLT,
		    ev[PGFAULT] - ev[PGMAJFAULT]);
	vb_set_stat(vb, &n, VIRTIO_BALLOON_S_MEMFREE,
		    (u64)si.freeram * si.mem_unit);
	vb_set_stat(vb, &n, VIRTIO_BALLOON_S_MEMTOT,
		    (u64)si.totalram * si.mem_unit);
	vb_set_stat(vb, &n, VIRTIO_BALLOON_S_AVAIL,
		    (u64)si_mem_available() << PAGE_SHIFT);
	vb_set_stat(vb, &n, VIRTIO_BALLOON_S_CACHES,
		    (u64)global_node_page_state(NR_FILE_PAGES) << PAGE_SHIFT);
#ifdef CONFIG_HUGETLB_PAGE
	vb_set_stat(vb, &n, VIRTIO_BALLOON_S_HTLB_PGALLOC,
		    ev[HTLB_BUDDY_PGALLOC]);
	vb_set_stat(vb, &n, VIRTIO_BALLOON_S_HTLB_PGFAIL,
		    ev[HTLB_BUDDY_PGALLOC_FAIL]);
#endif
	vb_set_stat(vb, &n, VIRTIO_BALLOON_S_OOM_KILL, ev[OOM_KILL]);
	vb_set_stat(vb, &n, VIRTIO_BALLOON_S_ALLOC_STALL, stalls);
	vb_set_stat(vb, &n, VIRTIO_BALLOON_S_ASYNC_SCAN, ev[PGSCAN_KSWAPD]);
	vb_set_stat(vb, &n, VIRTIO_BALLOON_S_DIRECT_SCAN, ev[PGSCAN_DIRECT]);
	vb_set_stat(vb, &n, VIRTIO_BALLOON_S_ASYNC_RECLAIM, ev[PGSTEAL_KSWAPD]);
	vb_set_stat(vb, &n, VIRTIO_BALLOON_S_DIRECT_RECLAIM, ev[PGSTEAL_DIRECT]);
	return n;
}

/* Put the statistics buffer on the stats queue for the device to take. */
static void vb_post_stats(struct virtio_balloon *vb)
{
	struct virtqueue *vq = vb->vqs[VB_VQ_STATS];
	struct scatterlist sg;

	sg_init_one(&sg, vb->stats, vb_fill_stats(vb) * sizeof(vb->stats[0]));
	if (virtqueue_add_outbuf(vq, &sg, 1, vb, GFP_KERNEL)) {
		vb_count(vb, VB_CNT_HOST_ERRORS, 1);
		return;
	}
	virtqueue_kick(vq);
}

/*
 * The device returns the statistics buffer when it wants fresh figures
 * (spec: the buffer is always with the device between requests).
 */
static void vb_stats_work(struct work_struct *work)
{
	struct virtio_balloon *vb = container_of(to_delayed_work(work),
						 struct virtio_balloon,
						 stats_work);
	unsigned int len;

	if (!virtqueue_get_buf(vb->vqs[VB_VQ_STATS], &len))
		return;
	vb_count(vb, VB_CNT_STATS_REQUESTS, 1);
	vb_post_stats(vb);
}

static void vb_stats_done(struct virtqueue *vq)
{
	struct virtio_balloon *vb = vq->vdev->priv;

	vb_queue(vb, system_freezable_wq, &vb->stats_work, 0);
}

/* Inflate, deflate and reporting queues: a request finished. */
static void vb_ack(struct virtqueue *vq)
{
	struct virtio_balloon *vb = vq->vdev->priv;

	wake_up(&vb->acked);
}

/**
 * vb_report() - report free pages to the device (free page reporting)
 * @pr_dev_info: the registration
 * @sg: the free blocks
 * @nents: entries in @sg
 *
 * Return: 0 once the device has acknowledged the report, an error otherwise
 * (page reporting then returns the pages unreported).
 */
static int vb_report(struct page_reporting_dev_info *pr_dev_info,
		     struct scatterlist *sg, unsigned int nents)
{
	struct virtio_balloon *vb = container_of(pr_dev_info,
						 struct virtio_balloon,
						 pr_dev_info);
	struct virtqueue *vq = vb->vqs[VB_VQ_REPORT];
	struct scatterlist *s;
	unsigned int i;
	int err;

	err = virtqueue_add_inbuf(vq, sg, nents, vb, GFP_NOWAIT | __GFP_NOWARN);
	if (err)
		return err;
	virtqueue_kick(vq);
	if (!vb_wait_used(vb, vq)) {
		vb_count(vb, VB_CNT_HOST_ERRORS, 1);
		return -EIO;
	}
	vb_count(vb, VB_CNT_REPORTS, 1);
	for_each_sg(sg, s, nents, i)
		vb_count(vb, VB_CNT_REPORTED, s->length >> PAGE_SHIFT);
	return 0;
}

/*
 * Free page hinting
 * -----------------
 * The device sets a new command id after each dirty bitmap sync of a
 * migration round.  A run sends that id, then free blocks as input buffers,
 * then STOP.  The device drops the hinted blocks from its dirty bitmap, so
 * they are not sent in that round; whatever the guest writes later is
 * dirtied again and sent in a later round, which makes it safe to give a
 * block back to the guest at any time (the spec allows it even before the
 * device used the buffer).  Blocks stay with the driver until DONE (the
 * shrinker hands them back earlier if the guest needs memory), so that
 * each later round's run hints only memory that became free since.
 *
 * The device reports the command id only through the config space, and
 * QEMU shows STOP there while a run is under way: the id is therefore read
 * once per config change, never polled.  A config change for another reason
 * during a run thus ends that run; the next round starts a new one.
 */

/* Read the command id if the config changed since the last read; sleeps. */
static void vb_hint_read_cmd(struct virtio_balloon *vb)
{
	int gen = atomic_read_acquire(&vb->hint.config_gen);
	u32 cmd;

	if (gen == vb->hint.config_read)
		return;
	vb->hint.config_read = gen;
	virtio_cread_le(vb->vdev, struct virtio_balloon_config,
			free_page_hint_cmd_id, &cmd);
	WRITE_ONCE(vb->hint.cmd_received, cmd);
}

/*
 * Whether the worker must look at the run for @id again: the command id
 * changed, the config changed since it was last read, or teardown began.
 * Does not sleep (a wait condition).
 */
static bool vb_hint_should_stop(struct virtio_balloon *vb, u32 id)
{
	return READ_ONCE(vb->hint.cmd_received) != id ||
	       atomic_read(&vb->hint.config_gen) != vb->hint.config_read ||
	       READ_ONCE(vb->stopping);
}

/*
 * Whether the run for @id must end: reads the command id again if the
 * config changed, so that a config change which leaves it as it was (a new
 * balloon size) does not end the run.  Sleeps.
 */
static bool vb_hint_run_ended(struct virtio_balloon *vb, u32 id)
{
	vb_hint_read_cmd(vb);
	return READ_ONCE(vb->hint.cmd_received) != id ||
	       READ_ONCE(vb->stopping);
}

/* Give @page (a hinted block) back to the page allocator; its pages. */
static unsigned long vb_hint_free_block(struct page *page)
{
	unsigned int order = page_private(page);

	set_page_private(page, 0);
	__free_pages(page, order);
	return 1UL << order;
}

/*
 * A buffer on the free page queue holds one block or several physically
 * contiguous ones, linked in a ring through page->lru; the lowest is the
 * buffer's token.  Put the blocks of the buffer @first on a list, @blocks.
 */
static void vb_hint_unring(struct page *first, struct list_head *blocks)
{
	list_add_tail(blocks, &first->lru);
}

/*
 * Give the blocks on @blocks back to the page allocator; their pages.
 * Sleeps: freeing can take a while (page poisoning).
 */
static unsigned long vb_hint_free_list(struct list_head *blocks)
{
	unsigned long pages = 0;
	struct page *page, *next;

	list_for_each_entry_safe(page, next, blocks, lru) {
		list_del(&page->lru);
		pages += vb_hint_free_block(page);
		cond_resched();
	}
	return pages;
}

/* Keep a block the device has used until DONE; after DONE free it. */
static void vb_hint_keep(struct virtio_balloon *vb, struct page *page)
{
	if (READ_ONCE(vb->hint.cmd_received) == VIRTIO_BALLOON_CMD_ID_DONE) {
		vb_count(vb, VB_CNT_HINT_RELEASED, vb_hint_free_block(page));
		return;
	}
	spin_lock(&vb->hint.lock);
	list_add_tail(&page->lru, &vb->hint.blocks);
	vb->hint.held_pages += 1UL << page_private(page);
	spin_unlock(&vb->hint.lock);
}

/* Collect the buffers the device has used; worker or teardown only. */
static void vb_hint_reap(struct virtio_balloon *vb)
{
	struct virtqueue *vq = vb->vqs[VB_VQ_HINT];
	struct page *page, *next;
	struct list_head blocks;
	unsigned int len;
	void *token;

	while ((token = virtqueue_get_buf(vq, &len))) {
		if (token == &vb->hint.start_id) {
			vb->hint.start_busy = false;
		} else if (token == &vb->hint.stop_id) {
			vb->hint.stop_busy = false;
		} else {
			vb_hint_unring(token, &blocks);
			vb->hint.in_flight--;
			list_for_each_entry_safe(page, next, &blocks, lru) {
				list_del(&page->lru);
				vb->hint.in_flight_pages -=
					1UL << page_private(page);
				vb_hint_keep(vb, page);
			}
		}
	}
}

/**
 * vb_hint_release() - give hinted blocks back to the guest
 * @vb: the balloon
 * @want: pages wanted; blocks are given back whole, oldest first
 * @cnt: the counter to add them to
 *
 * Blocks go back through the page allocator's free path, which initialises
 * them the way this guest initialises all freed pages (poisoned with
 * page_poison, zeroed with init_on_free); otherwise free pages have no
 * defined contents anyway.  That is the initialisation the spec asks of a
 * hinted page given back before DONE.
 *
 * Return: pages given back.
 */
static unsigned long vb_hint_release(struct virtio_balloon *vb,
				     unsigned long want,
				     enum vb_counter cnt)
{
	unsigned long done = 0;
	struct page *page, *next;
	LIST_HEAD(blocks);

	spin_lock(&vb->hint.lock);
	list_for_each_entry_safe(page, next, &vb->hint.blocks, lru) {
		if (done >= want)
			break;
		list_move_tail(&page->lru, &blocks);
		done += 1UL << page_private(page);
	}
	spin_unlock(&vb->hint.lock);

	vb_hint_free_list(&blocks);

	/* Held until here: freeing can take a while (page poisoning). */
	spin_lock(&vb->hint.lock);
	vb->hint.held_pages -= done;
	spin_unlock(&vb->hint.lock);
	vb_count(vb, cnt, done);
	return done;
}

/* Add a 4-byte command buffer; the caller made room for it. */
static int vb_hint_add_cmd(struct virtio_balloon *vb, __virtio32 *buf, u32 id)
{
	struct scatterlist sg;

	*buf = cpu_to_virtio32(vb->vdev, id);
	sg_init_one(&sg, buf, sizeof(*buf));
	return virtqueue_add_outbuf(vb->vqs[VB_VQ_HINT], &sg, 1, buf,
				    GFP_KERNEL);
}

/**
 * vb_hint_make_room() - wait until the free page queue has room
 * @vb: the balloon
 * @id: the current run's id
 * @slots: free entries wanted (one is always kept for the STOP buffer)
 * @start_id: also wait until the device returned the start id buffer, so
 *	that it can carry a new id; if false (a block is to be added), wait
 *	instead until fewer than @flight_max pages are on the queue
 *
 * Return: true once there is room; false if the run must end (the device
 * changed the command, teardown began, or the device stopped answering).
 */
static bool vb_hint_make_room(struct virtio_balloon *vb, u32 id,
			      unsigned int slots, bool start_id)
{
	struct virtqueue *vq = vb->vqs[VB_VQ_HINT];

	vb_hint_reap(vb);
	while (vq->num_free < slots ||
	       (start_id ? vb->hint.start_busy :
			   vb->hint.in_flight_pages >= vb->hint.flight_max)) {
		if (vb_hint_run_ended(vb, id) || virtqueue_is_broken(vq))
			return false;
		vb_count(vb, VB_CNT_HINT_FULL_WAITS, 1);
		wait_event_timeout(vb->hint.wait, vb_hint_should_stop(vb, id),
				   VB_HINT_FULL_WAIT);
		vb_hint_reap(vb);
	}
	return true;
}

/*
 * Allocate a free block of @order, unless that would eat into the reserve
 * the run leaves to the guest.
 */
static struct page *vb_hint_alloc(struct virtio_balloon *vb,
				  unsigned int order)
{
	struct page *page;

	if (global_zone_page_state(NR_FREE_PAGES) < vb->hint.keep + (1UL << order))
		return NULL;
	page = alloc_pages(VB_HINT_GFP, order);
	if (page)
		set_page_private(page, order);
	return page;
}

/*
 * Queue one buffer of @pages pages for the run of @id, its blocks in a ring
 * from @page, waiting for room on a full queue.  False if the run must end;
 * the blocks are then still the caller's.
 */
static bool vb_hint_add_buf(struct virtio_balloon *vb, u32 id,
			    struct page *page, unsigned long pages,
			    unsigned int *batch)
{
	struct virtqueue *vq = vb->vqs[VB_VQ_HINT];
	struct scatterlist sg;

	if (vq->num_free < 2 || vb->hint.in_flight_pages >= vb->hint.flight_max) {
		virtqueue_kick(vq);
		*batch = 0;
		if (!vb_hint_make_room(vb, id, 2, false))
			return false;
	}
	sg_init_table(&sg, 1);
	sg_set_page(&sg, page, pages << PAGE_SHIFT, 0);
	if (virtqueue_add_inbuf(vq, &sg, 1, page, GFP_KERNEL))
		return false;
	vb->hint.in_flight++;
	vb->hint.in_flight_pages += pages;
	if (++*batch == VB_HINT_KICK_BATCH) {
		virtqueue_kick(vq);
		*batch = 0;
		vb_hint_reap(vb);
		cond_resched();
	}
	return true;
}

/**
 * struct vb_hint_progress - a run so far
 * @budget: pages the run may take: the free memory above the reserve when
 *	it started
 * @shrunk: the shrinker's count of given-back pages when the run started
 * @pages: pages taken (queued or on @gathered)
 * @gathered: blocks taken, not yet queued, linked through page->lru
 * @gathered_pages: pages in them
 * @batch: buffers added since the last kick
 */
struct vb_hint_progress {
	unsigned long budget;
	unsigned long shrunk;
	unsigned long pages;
	struct list_head gathered;
	unsigned long gathered_pages;
	unsigned int batch;
};

static int vb_hint_cmp_pfn(void *priv, const struct list_head *a,
			   const struct list_head *b)
{
	return page_to_pfn(list_entry(a, struct page, lru)) >
	       page_to_pfn(list_entry(b, struct page, lru));
}

/*
 * Queue the blocks @run gathered, in order of their frame numbers, each
 * series of physically contiguous blocks as one buffer of at most
 * %VB_HINT_BUF_MAX pages.  False if the run must end; the blocks not
 * queued are then still on @run->gathered.
 */
static bool vb_hint_flush(struct virtio_balloon *vb, u32 id,
			  struct vb_hint_progress *run)
{
	unsigned long pages, size, small;
	struct page *first, *page;
	unsigned int nr;
	LIST_HEAD(blocks);

	list_sort(NULL, &run->gathered, vb_hint_cmp_pfn);
	while (!list_empty(&run->gathered)) {
		first = list_first_entry(&run->gathered, struct page, lru);
		pages = 0;
		small = 0;
		nr = 0;
		list_for_each_entry(page, &run->gathered, lru) {
			size = 1UL << page_private(page);
			if (page_to_pfn(page) != page_to_pfn(first) + pages ||
			    pages + size > VB_HINT_BUF_MAX)
				break;
			pages += size;
			if (page_private(page) < VB_MAX_PAGE_ORDER)
				small += size;
			nr++;
		}
		/* The blocks before @page make the buffer. */
		list_cut_before(&blocks, &run->gathered, &page->lru);
		/* Without their list head, they are a ring. */
		list_del(&blocks);
		if (!vb_hint_add_buf(vb, id, first, pages, &run->batch)) {
			vb_hint_unring(first, &blocks);
			list_splice(&blocks, &run->gathered);
			return false;
		}
		run->gathered_pages -= pages;
		vb_count(vb, VB_CNT_HINT_BLOCKS, nr);
		vb_count(vb, VB_CNT_HINT_BUFFERS, 1);
		vb_count(vb, VB_CNT_HINT_PAGES, pages);
		vb_count(vb, VB_CNT_HINT_SMALL, small);
	}
	return true;
}

/*
 * Take up to @max blocks of @order for the run of @id, fewer if the page
 * allocator has no more or the run's budget is spent; queue what is
 * gathered once it and the queue hold more than @gather pages.  False if
 * the run must end.
 */
static bool vb_hint_order(struct virtio_balloon *vb, u32 id,
			  unsigned int order, unsigned long max,
			  unsigned long gather, struct vb_hint_progress *run)
{
	struct page *page;

	for (; max && run->pages < run->budget; max--) {
		if (vb_hint_run_ended(vb, id) ||
		    vb_counted(vb, VB_CNT_HINT_SHRUNK) != run->shrunk)
			return false;
		page = vb_hint_alloc(vb, order);
		if (!page)
			break;
		list_add_tail(&page->lru, &run->gathered);
		run->pages += 1UL << order;
		run->gathered_pages += 1UL << order;
		if (run->gathered_pages + vb->hint.in_flight_pages > gather &&
		    !vb_hint_flush(vb, id, run))
			return false;
	}
	return true;
}

/*
 * Count the free blocks of each order below the largest in every zone.
 * Lockless reads of the free areas (zone->lock is not the driver's): the
 * count is a plan for the run, which allocation itself keeps honest.
 */
static void vb_hint_count_fragments(unsigned long *count)
{
	struct free_area *area;
	struct zone *zone;
	int nid, z, order;

	memset(count, 0, sizeof(*count) * VB_MAX_PAGE_ORDER);
	for_each_online_node(nid) {
		for (z = 0; z < MAX_NR_ZONES; z++) {
			zone = &NODE_DATA(nid)->node_zones[z];
			area = zone->free_area;
			for (order = 0; order < VB_MAX_PAGE_ORDER; order++) {
				/* Racy on purpose: see above. */
				count[order] += data_race(area[order].nr_free);
			}
		}
	}
}

/**
 * vb_hint_run() - hint free memory for command @id
 * @vb: the balloon
 * @id: the command id the device set
 *
 * A run races the migration thread, which sends every page it reaches
 * before the run has hinted it, and free memory is worth hinting only
 * where it holds data: memory free since boot reads as zero, which the
 * device sends as a few bytes a page anyway.  The free lists hand out the
 * blocks freed last first, so within an order the recently freed memory,
 * likely to hold data, comes first.  Across orders the largest blocks are
 * the most memory per queue entry, but where free memory is fragmented
 * they are mostly memory free since boot, and the data lies in the
 * fragments.  So a run takes first the fragments that were free when it
 * started, as many blocks of each order below the largest as there were,
 * largest first, down to single pages; then every order from the largest
 * down.  The page allocator splits a larger block only when it has no
 * free block of the order asked for (of the allocation's migratetype), so
 * the first sweep takes mostly fragments, and the second leaves none.
 *
 * A piece of free memory that is not aligned to its size is several buddy
 * blocks (64 KiB one page off: five blocks of four orders), which the
 * first sweep takes at different times.  So it gathers its blocks before
 * queueing them, and vb_hint_flush() queues each physically contiguous
 * series as one buffer: the device's cost is per buffer.
 *
 * A run takes at most the memory that was free (above the reserve) when it
 * started, and ends as soon as the shrinker has had to give hinted blocks
 * back.  Memory the guest frees during the run is left to the next round:
 * chasing it would take every page a busy guest frees, push its next
 * allocations into reclaim and the shrinker, and slow its work down.  The
 * run always closes with one STOP buffer.
 */
static void vb_hint_run(struct virtio_balloon *vb, u32 id)
{
	unsigned long fragments[VB_MAX_PAGE_ORDER], free;
	struct vb_hint_progress run = {
		.shrunk = vb_counted(vb, VB_CNT_HINT_SHRUNK),
		.gathered = LIST_HEAD_INIT(run.gathered),
	};
	ktime_t start = ktime_get();
	bool go_on = true;
	int order;

	vb_count(vb, VB_CNT_HINT_RUNS, 1);

	/*
	 * Room for the start id and, later, STOP; the old start id back.
	 * Until the start id is on the queue, the id counts as not started:
	 * if the device still asks for it afterwards, the next work starts it.
	 */
	if (!vb_hint_make_room(vb, id, 2, true) ||
	    vb_hint_add_cmd(vb, &vb->hint.start_id, id))
		goto out;
	vb->hint.cmd_started = id;
	vb->hint.start_busy = true;

	free = global_zone_page_state(NR_FREE_PAGES);
	run.budget = free > vb->hint.keep ? free - vb->hint.keep : 0;
	vb_hint_count_fragments(fragments);
	for (order = VB_MAX_PAGE_ORDER - 1;
	     go_on && order >= VB_HINT_MIN_ORDER; order--)
		go_on = vb_hint_order(vb, id, order, fragments[order],
				      vb->hint.flight_max, &run);
	go_on = go_on && vb_hint_flush(vb, id, &run);
	for (order = VB_MAX_PAGE_ORDER;
	     go_on && order >= VB_HINT_MIN_ORDER; order--)
		go_on = vb_hint_order(vb, id, order, ULONG_MAX, 0, &run);
	/* What a run that had to end had gathered but not queued. */
	vb_hint_free_list(&run.gathered);

	if (vb_hint_run_ended(vb, id))
		vb_count(vb, VB_CNT_HINT_RUNS_STOPPED, 1);
	/* The slot kept free above always takes the STOP buffer. */
	if (!vb_hint_add_cmd(vb, &vb->hint.stop_id, VIRTIO_BALLOON_CMD_ID_STOP))
		vb->hint.stop_busy = true;
	virtqueue_kick(vb->vqs[VB_VQ_HINT]);
out:
	vb_count(vb, VB_CNT_HINT_US, ktime_us_delta(ktime_get(), start));
	vb->hint.poll_delay = VB_HINT_POLL_MIN;
}

/* Buffers of the free page queue still with the device; worker only. */
static unsigned int vb_hint_busy(struct virtio_balloon *vb)
{
	return vb->hint.in_flight + vb->hint.start_busy + vb->hint.stop_busy;
}

/**
 * vb_hint_quiesce() - let the device finish with the free page queue
 * @vb: the balloon, its hinting work cancelled (teardown, before the reset)
 *
 * The late signal after reset quirk (see the top of this file).  QEMU
 * polls the free page queue from an iothread from a run's start id until
 * it has seen STOP and emptied the queue.  Reset the device in that time
 * and the iothread signals the queue just after the reset, when QEMU no
 * longer sees the ring's no-interrupt flag: the device's legacy interrupt
 * is then lost for good (QEMU 7.2, traced: the iothread's notify 0.2 ms
 * after the reset, ISR 3 from then on).  Every run ends with STOP, so wait
 * until the device has returned every buffer, and a little longer for the
 * iothread to leave its loop.
 */
static void vb_hint_quiesce(struct virtio_balloon *vb)
{
	struct virtqueue *vq = vb->vqs[VB_VQ_HINT];
	unsigned long deadline = jiffies + VB_HINT_QUIESCE_MAX;

	if (!vq)
		return;
	vb_hint_reap(vb);
	while (vb_hint_busy(vb) && !virtqueue_is_broken(vq) &&
	       time_before(jiffies, deadline)) {
		schedule_timeout_uninterruptible(VB_HINT_POLL_MIN);
		vb_hint_reap(vb);
	}
	msleep(VB_HINT_QUIESCE_GRACE_MS);
}

static void vb_hint_work(struct work_struct *work)
{
	struct virtio_balloon *vb = container_of(to_delayed_work(work),
						 struct virtio_balloon,
						 hint.work);
	struct virtqueue *vq = vb->vqs[VB_VQ_HINT];
	unsigned int busy = vb_hint_busy(vb);
	u32 cmd;

	vb_hint_read_cmd(vb);
	cmd = READ_ONCE(vb->hint.cmd_received);
	vb_hint_reap(vb);
	if (cmd == VIRTIO_BALLOON_CMD_ID_DONE) {
		vb_hint_release(vb, ULONG_MAX, VB_CNT_HINT_RELEASED);
		/*
		 * A device that ended the run before it reached the run's
		 * last buffers (QEMU stops reading the queue at its own STOP)
		 * returns them, unread, once notified after DONE.  Notify even
		 * if the ring says the device needs no notification: QEMU can
		 * leave that flag set when its polling loop ends at STOP.
		 */
		if (vb->hint.in_flight)
			virtqueue_notify(vq);
	} else if (cmd != VIRTIO_BALLOON_CMD_ID_STOP &&
		   cmd != vb->hint.cmd_started) {
		vb_hint_run(vb, cmd);
	}

	/* Buffers still on the queue: look again, less often while none move. */
	if (!vb_hint_busy(vb) || virtqueue_is_broken(vq))
		return;
	if (vb_hint_busy(vb) == busy)
		vb->hint.poll_delay = min_t(unsigned long,
					    2 * vb->hint.poll_delay,
					    VB_HINT_POLL_MAX);
	else
		vb->hint.poll_delay = VB_HINT_POLL_MIN;
	vb_queue(vb, vb->hint.wq, &vb->hint.work, vb->hint.poll_delay);
}

/**
 * vb_hint_init() - set up free page hinting, for probe
 * @vb: the balloon, its virtqueues found
 *
 * Return: 0, or -ENOMEM if the workqueue could not be made.
 */
static int vb_hint_init(struct virtio_balloon *vb)
{
	INIT_DELAYED_WORK(&vb->hint.work, vb_hint_work);
	init_waitqueue_head(&vb->hint.wait);
	spin_lock_init(&vb->hint.lock);
	INIT_LIST_HEAD(&vb->hint.blocks);
	vb->hint.cmd_received = VIRTIO_BALLOON_CMD_ID_STOP;
	vb->hint.cmd_started = VIRTIO_BALLOON_CMD_ID_STOP;
	vb->hint.keep = totalram_pages() >> VB_HINT_KEEP_SHIFT;
	vb->hint.flight_max = totalram_pages() >> VB_HINT_FLIGHT_SHIFT;
	if (!vb->vqs[VB_VQ_HINT])
		return 0;
	vb->hint.wq = alloc_ordered_workqueue("virtio_balloon_hint/%s",
					      WQ_FREEZABLE,
					      dev_name(&vb->vdev->dev));
	return vb->hint.wq ? 0 : -ENOMEM;
}

/* Free what vb_hint_init() made; hinting is stopped (vb_stop()). */
static void vb_hint_destroy(struct virtio_balloon *vb)
{
	if (vb->hint.wq)
		destroy_workqueue(vb->hint.wq);
}

/* Teardown has begun: end a run waiting for room, wait for the worker. */
static void vb_hint_cancel(struct virtio_balloon *vb)
{
	if (!vb->vqs[VB_VQ_HINT])
		return;
	wake_up(&vb->hint.wait);
	cancel_delayed_work_sync(&vb->hint.work);
}

/*
 * After the device reset: take back the buffers it never used and give
 * every hinted block back to the guest.
 */
static void vb_hint_reset(struct virtio_balloon *vb)
{
	struct virtqueue *vq = vb->vqs[VB_VQ_HINT];
	struct list_head blocks;
	void *buf;

	if (!vq)
		return;
	vb_hint_reap(vb);
	while ((buf = virtqueue_detach_unused_buf(vq))) {
		if (buf == &vb->hint.start_id || buf == &vb->hint.stop_id)
			continue;
		vb_hint_unring(buf, &blocks);
		vb_count(vb, VB_CNT_HINT_RELEASED, vb_hint_free_list(&blocks));
	}
	vb->hint.in_flight = 0;
	vb->hint.in_flight_pages = 0;
	vb->hint.start_busy = false;
	vb->hint.stop_busy = false;
	vb->hint.cmd_started = VIRTIO_BALLOON_CMD_ID_STOP;
	vb_hint_release(vb, ULONG_MAX, VB_CNT_HINT_RELEASED);
}

/*
 * The config changed: have the worker read the command id now, and a run
 * waiting for room look at it.  Any context.
 */
static void vb_hint_config_changed(struct virtio_balloon *vb)
{
	if (!vb_has(vb, VIRTIO_BALLOON_F_FREE_PAGE_HINT))
		return;
	atomic_inc(&vb->hint.config_gen);
	wake_up(&vb->hint.wait);
	vb_queue(vb, vb->hint.wq, &vb->hint.work, 0);
}

/*
 * Hinted pages the shrinker may take now: they are free memory held on the
 * host's behalf, offered at any priority (seeks 0), but at most
 * %VB_HINT_SHRINK_MAX at a time so that one pass of reclaim does not give
 * back far more than the guest needs.
 */
static unsigned long vb_hint_shrink_count(struct virtio_balloon *vb)
{
	return min_t(unsigned long, READ_ONCE(vb->hint.held_pages),
		     VB_HINT_SHRINK_MAX);
}

/* Give up to @want hinted pages back for reclaim; return how many. */
static unsigned long vb_hint_shrink(struct virtio_balloon *vb,
				    unsigned long want)
{
	return vb_hint_release(vb, want, VB_CNT_HINT_SHRUNK);
}

/*
 * Feature negotiation for hinting, the lost interrupt quirk (see the top of
 * this file; seen with QEMU 7.2: ISR 3 and no interrupt after a hinting
 * run).  The driver polls the free page queue with its interrupt suppressed
 * by the ring's flag; without EVENT_IDX the device honours that flag on
 * every buffer (with it, QEMU signals the first buffer after a reset and
 * each wrap of the used index).
 */
static void vb_hint_validate(struct virtio_device *vdev)
{
	if (virtio_has_feature(vdev, VIRTIO_BALLOON_F_FREE_PAGE_HINT))
		__virtio_clear_bit(vdev, VIRTIO_RING_F_EVENT_IDX);
}

/**
 * vb_oom_pressure() - whether reclaim has nothing cheaper than the balloon
 *
 * See %VB_OOM_CACHE_WMARKS.  The zone iterators of mm are not exported,
 * hence the walk over the nodes' zones.
 *
 * Return: true once the unmapped page cache is nearly gone and anonymous
 * memory cannot be swapped out.
 */
static bool vb_oom_pressure(void)
{
	unsigned long cache, mapped, wmarks = 0;
	struct zone *zone;
	int nid, z;

	if (get_nr_swap_pages() > 0)
		return false;
	cache = global_node_page_state(NR_ACTIVE_FILE) +
		global_node_page_state(NR_INACTIVE_FILE);
	mapped = global_node_page_state(NR_FILE_MAPPED);
	cache = cache > mapped ? cache - mapped : 0;
	for_each_online_node(nid) {
		for (z = 0; z < MAX_NR_ZONES; z++) {
			zone = &NODE_DATA(nid)->node_zones[z];
			if (populated_zone(zone))
				wmarks += high_wmark_pages(zone);
		}
	}
	return cache <= VB_OOM_CACHE_WMARKS * wmarks;
}

/*
 * Balloon pages the shrinker may offer now (deflate-on-OOM): none while
 * the balloon is resizing.  An inflate drains the page cache to make room
 * for itself and would otherwise have the shrinker give back what it just
 * took, and then not inflate again towards the same target: with 255 MB
 * free, a 512 MiB balloon stopped 8 MiB short after a guest had streamed
 * files (debug kernel).  An inflate that runs out of memory stops by
 * itself (vb_inflate()); then the shrinker may deflate.
 *
 * None to kswapd either: it reclaims in the background towards the high
 * watermarks (plus any boost), and still did so just after a 512 MiB
 * inflate had drained the page cache, when the inflate no longer held
 * the shrinker off: it took 8 MiB back with 250 MB free (debug kernel).
 * Only an allocation that cannot be met, i.e. direct reclaim, deflates.
 */
static unsigned long vb_oom_offer(struct virtio_balloon *vb)
{
	if (!vb_has(vb, VIRTIO_BALLOON_F_DEFLATE_ON_OOM) ||
	    READ_ONCE(vb->stopping) || READ_ONCE(vb->resizing) ||
	    current_is_kswapd() || !READ_ONCE(vb->nr_pages) ||
	    !vb_oom_pressure())
		return 0;
	return min_t(unsigned long, READ_ONCE(vb->nr_pages), VB_PAGES_PER_REQ);
}

/*
 * Deflate up to @want pages for reclaim; the host hears of them through the
 * deflate queue first, as for any deflate.
 */
static unsigned long vb_oom_deflate(struct virtio_balloon *vb,
				    unsigned long want)
{
	unsigned long done = 0;
	unsigned int n;

	while (done < want) {
		n = vb_deflate(vb, want - done, true);
		if (!n)
			break;
		done += n;
	}
	if (done) {
		WRITE_ONCE(vb->oom_target, vb_target(vb));
		vb_count(vb, VB_CNT_OOM_DEFLATED, done);
		vb_update_actual(vb);
	}
	return done;
}

/*
 * The shrinker gives back what the driver holds and the guest may need:
 * - hinted blocks, free memory held for the host (vb_hint_shrink_count());
 * - balloon pages, with deflate-on-OOM and only under real memory shortage
 *   (vb_oom_offer()).
 */
static unsigned long vb_shrink_count(struct shrinker *shrinker,
				     struct shrink_control *sc)
{
	struct virtio_balloon *vb = vb_shrinker_private(shrinker);
	unsigned long count = vb_oom_offer(vb);

	count += vb_hint_shrink_count(vb);
	return count ?: SHRINK_EMPTY;
}

static unsigned long vb_shrink_scan(struct shrinker *shrinker,
				    struct shrink_control *sc)
{
	struct virtio_balloon *vb = vb_shrinker_private(shrinker);
	unsigned long want = sc->nr_to_scan, freed = 0;

	/* Hinted blocks go back whole: more than @want may come back. */
	freed += vb_hint_shrink(vb, want);
	if (freed < want)
		freed += vb_oom_deflate(vb, min(vb_oom_offer(vb), want - freed));
	vb_account_reclaimed(freed);
	return freed ?: SHRINK_STOP;
}

static const struct vb_shrinker_ops vb_shrinker_ops = {
	.count = vb_shrink_count,
	.scan = vb_shrink_scan,
};

/* Register the shrinker if a negotiated feature needs it; for probe. */
static int vb_register_shrinker(struct virtio_balloon *vb)
{
	struct device *dev = &vb->vdev->dev;
	int err;

	if (!vb_has(vb, VIRTIO_BALLOON_F_DEFLATE_ON_OOM) &&
	    !vb_has(vb, VIRTIO_BALLOON_F_FREE_PAGE_HINT))
		return 0;
	vb->shrinker = vb_shrinker_create(dev_name(dev), vb, &vb_shrinker_ops);
	if (IS_ERR(vb->shrinker)) {
		err = PTR_ERR(vb->shrinker);
		vb->shrinker = NULL;
		dev_err(dev, "cannot register shrinker: %d\n", err);
		return err;
	}
	return 0;
}

static void vb_unregister_shrinker(struct virtio_balloon *vb)
{
	if (vb->shrinker)
		vb_shrinker_destroy(vb->shrinker);
}

/* Act on whatever the device's config asks for.  Any context. */
static void vb_config_apply(struct virtio_balloon *vb)
{
	vb_queue_resize(vb, 0);
	vb_hint_config_changed(vb);
}

/* The virtio core serialises config change callbacks. */
static void vb_config_changed(struct virtio_device *vdev)
{
	struct virtio_balloon *vb = vdev->priv;

	vb_count(vb, VB_CNT_CONFIG_CHANGES, 1);
	vb_config_apply(vb);
}

/* The device's state, what the driver holds, then every counter. */
static int vb_state_show(struct seq_file *f, void *unused)
{
	struct virtio_balloon *vb = f->private;
	u32 target, poison = 0;
	int i;

	virtio_cread_le(vb->vdev, struct virtio_balloon_config, num_pages,
			&target);
	if (vb_has(vb, VIRTIO_BALLOON_F_PAGE_POISON))
		virtio_cread_le(vb->vdev, struct virtio_balloon_config,
				poison_val, &poison);

	seq_printf(f, "features: %#llx\n", vb->vdev->features);
	seq_printf(f, "page_size: %lu\n", PAGE_SIZE);
	seq_printf(f, "target_units: %u\n", target);
	seq_printf(f, "poison_val: %#x\n", poison);
	seq_printf(f, "balloon_pages: %u\n", READ_ONCE(vb->nr_pages));
	seq_printf(f, "oom_pressure: %d\n", vb_oom_pressure());
	seq_printf(f, "hint_cmd_id: %u\n", READ_ONCE(vb->hint.cmd_received));
	seq_printf(f, "hint_held_pages: %lu\n", READ_ONCE(vb->hint.held_pages));
	seq_printf(f, "hint_in_flight_buffers: %u\n",
		   READ_ONCE(vb->hint.in_flight));
	for (i = 0; i < VB_CNT_NR; i++)
		seq_printf(f, "%s: %lu\n", vb_counter_names[i],
			   vb_counted(vb, i));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vb_state);

static int vb_init_vqs(struct virtio_balloon *vb)
{
	struct vb_vq_spec spec[VB_NR_VQS] = {
		[VB_VQ_INFLATE] = { "inflate", vb_ack },
		[VB_VQ_DEFLATE] = { "deflate", vb_ack },
	};
	int err;

	if (vb_has(vb, VIRTIO_BALLOON_F_STATS_VQ))
		spec[VB_VQ_STATS] = (struct vb_vq_spec){ "stats", vb_stats_done };
	if (vb_has(vb, VIRTIO_BALLOON_F_FREE_PAGE_HINT))
		spec[VB_VQ_HINT] = (struct vb_vq_spec){ "free_page", NULL };
	if (vb_has(vb, VIRTIO_BALLOON_F_PAGE_REPORTING))
		spec[VB_VQ_REPORT] = (struct vb_vq_spec){ "reporting", vb_ack };

	err = vb_find_vqs(vb->vdev, VB_NR_VQS, vb->vqs, spec);
	if (err)
		dev_err(&vb->vdev->dev, "cannot set up virtqueues: %d\n", err);
	return err;
}

/* Start the device once the virtqueues exist: DRIVER_OK, then the work. */
static void vb_start(struct virtio_balloon *vb)
{
	u32 poison;

	/* Written before DRIVER_OK and never again, as the spec requires. */
	if (vb_has(vb, VIRTIO_BALLOON_F_PAGE_POISON)) {
		memset(&poison, page_poisoning_enabled_static() ? PAGE_POISON : 0,
		       sizeof(poison));
		virtio_cwrite_le(vb->vdev, struct virtio_balloon_config,
				 poison_val, &poison);
	}
	virtio_device_ready(vb->vdev);

	vb->oom_target = VB_NO_OOM_TARGET;
	spin_lock_irq(&vb->stop_lock);
	vb->stopping = false;
	spin_unlock_irq(&vb->stop_lock);

	if (vb->vqs[VB_VQ_STATS])
		vb_post_stats(vb);
	/*
	 * The device may have changed its config before this driver was
	 * ready (a rebind during a migration, a restore): act on it as if it
	 * had just changed.
	 */
	vb_config_apply(vb);
}

/**
 * vb_stop() - stop all work and give every page back to the guest
 * @vb: the balloon
 *
 * For remove, freeze and a probe that failed after the virtqueues were
 * set up: afterwards the device is reset and has no buffers, the balloon
 * is empty and the driver holds no page.
 */
static void vb_stop(struct virtio_balloon *vb)
{
	spin_lock_irq(&vb->stop_lock);
	vb->stopping = true;
	spin_unlock_irq(&vb->stop_lock);

	if (vb->vqs[VB_VQ_REPORT])
		page_reporting_unregister(&vb->pr_dev_info);
	cancel_delayed_work_sync(&vb->resize_work);
	cancel_delayed_work_sync(&vb->stats_work);
	vb_hint_cancel(vb);

	vb_deflate_all(vb);
	vb_hint_quiesce(vb);
	virtio_reset_device(vb->vdev);
	vb_hint_reset(vb);
	vb->vdev->config->del_vqs(vb->vdev);
	memset(vb->vqs, 0, sizeof(vb->vqs));
}

static int vb_register_reporting(struct virtio_balloon *vb)
{
	int err;

	if (!vb->vqs[VB_VQ_REPORT])
		return 0;
	vb->pr_dev_info.report = vb_report;
	err = page_reporting_register(&vb->pr_dev_info);
	if (err)
		dev_err(&vb->vdev->dev, "cannot register free page reporting: %d\n",
			err);
	return err;
}

static int vb_probe(struct virtio_device *vdev)
{
	struct virtio_balloon *vb;
	int err;

	if (!vdev->config->get) {
		dev_err(&vdev->dev, "device has no config space access\n");
		return -EINVAL;
	}

	vb = kzalloc(sizeof(*vb), GFP_KERNEL);
	if (!vb)
		return -ENOMEM;
	vdev->priv = vb;
	vb->vdev = vdev;
	spin_lock_init(&vb->stop_lock);
	vb->stopping = true;
	INIT_DELAYED_WORK(&vb->resize_work, vb_resize_work);
	vb->retry_delay = VB_RETRY_MIN;
	INIT_DELAYED_WORK(&vb->stats_work, vb_stats_work);
	init_waitqueue_head(&vb->acked);
	mutex_init(&vb->balloon_lock);
	balloon_devinfo_init(&vb->b_dev_info);
#if VB_BALLOON_MIGRATION
	vb->b_dev_info.migratepage = vb_migratepage;
#endif

	err = vb_init_vqs(vb);
	if (err)
		goto err_free;
	err = vb_hint_init(vb);
	if (err)
		goto err_stop;
	err = vb_register_shrinker(vb);
	if (err)
		goto err_stop;
	vb_start(vb);
	err = vb_register_reporting(vb);
	if (err)
		goto err_stop;

	vb->debugfs = debugfs_create_dir(dev_name(&vdev->dev), vb_debugfs_root);
	debugfs_create_file("state", 0444, vb->debugfs, vb, &vb_state_fops);
	return 0;

err_stop:
	/* vb_stop() resets the device; reporting is never registered here. */
	vb->vqs[VB_VQ_REPORT] = NULL;
	vb_stop(vb);
	vb_unregister_shrinker(vb);
	vb_hint_destroy(vb);
err_free:
	kfree(vb);
	return err;
}

static void vb_remove(struct virtio_device *vdev)
{
	struct virtio_balloon *vb = vdev->priv;

	debugfs_remove_recursive(vb->debugfs);
	vb_unregister_shrinker(vb);
	vb_stop(vb);
	vb_hint_destroy(vb);
	kfree(vb);
}

static int vb_validate(struct virtio_device *vdev)
{
	bool fills_free_pages = page_poisoning_enabled_static() ||
				want_init_on_free();

	/*
	 * PAGE_POISON tells the device what freed pages contain, which only
	 * means something if the guest fills them.  A guest that does must
	 * be able to tell the device, or pages it reports could come back
	 * with other contents: without PAGE_POISON it does not report.
	 */
	if (!fills_free_pages)
		__virtio_clear_bit(vdev, VIRTIO_BALLOON_F_PAGE_POISON);
	if (fills_free_pages &&
	    !virtio_has_feature(vdev, VIRTIO_BALLOON_F_PAGE_POISON))
		__virtio_clear_bit(vdev, VIRTIO_BALLOON_F_PAGE_REPORTING);

	/* Frame numbers on the queues are guest physical, never bus, addresses. */
	__virtio_clear_bit(vdev, VIRTIO_F_ACCESS_PLATFORM);
	vb_hint_validate(vdev);
	return 0;
}

static int __maybe_unused vb_freeze(struct virtio_device *vdev)
{
	vb_stop(vdev->priv);
	return 0;
}

static int __maybe_unused vb_restore(struct virtio_device *vdev)
{
	struct virtio_balloon *vb = vdev->priv;
	int err;

	err = vb_init_vqs(vb);
	if (err)
		return err;
	vb_start(vb);
	err = vb_register_reporting(vb);
	if (err) {
		vb->vqs[VB_VQ_REPORT] = NULL;
		vb_stop(vb);
	}
	return err;
}

static unsigned int vb_features[] = {
	VIRTIO_BALLOON_F_MUST_TELL_HOST,
	VIRTIO_BALLOON_F_STATS_VQ,
	VIRTIO_BALLOON_F_DEFLATE_ON_OOM,
	VIRTIO_BALLOON_F_FREE_PAGE_HINT,
	VIRTIO_BALLOON_F_PAGE_POISON,
	VIRTIO_BALLOON_F_PAGE_REPORTING,
};

static const struct virtio_device_id vb_id_table[] = {
	{ .device = VIRTIO_ID_BALLOON, .vendor = VIRTIO_DEV_ANY_ID },
	{ }
};

static struct virtio_driver vb_driver = {
	.driver.name = KBUILD_MODNAME,
	.driver.owner = THIS_MODULE,
	.id_table = vb_id_table,
	.feature_table = vb_features,
	.feature_table_size = ARRAY_SIZE(vb_features),
	.validate = vb_validate,
	.probe = vb_probe,
	.config_changed = vb_config_changed,
	.remove = vb_remove,
#ifdef CONFIG_PM
	.freeze = pm_sleep_ptr(vb_freeze),
	.restore = pm_sleep_ptr(vb_restore),
#endif
};

static int __init vb_init(void)
{
	int err;

	vb_debugfs_root = debugfs_create_dir(KBUILD_MODNAME, NULL);
	err = register_virtio_driver(&vb_driver);
	if (err)
		debugfs_remove_recursive(vb_debugfs_root);
	return err;
}
module_init(vb_init);

static void __exit vb_exit(void)
{
	unregister_virtio_driver(&vb_driver);
	debugfs_remove_recursive(vb_debugfs_root);
}
module_exit(vb_exit);

MODULE_DEVICE_TABLE(virtio, vb_id_table);
MODULE_DESCRIPTION("Virtio memory balloon driver");
MODULE_LICENSE("GPL");
