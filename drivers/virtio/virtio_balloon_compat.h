/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few kernel API differences between the kernels the balloon driver is
 * built for out of tree (Debian's 6.1 and 6.12, and mainline 7.x).  The out-of-tree Kbuild
 * file detects an older API in the kernel's headers and defines a
 * VB_COMPAT_* macro for it; without any, as in a kernel tree, every helper
 * here is a plain call of the current API.
 */
#ifndef _VIRTIO_BALLOON_COMPAT_H
#define _VIRTIO_BALLOON_COMPAT_H

#include <linux/migrate.h>
#include <linux/sched.h>
#include <linux/shrinker.h>
#include <linux/slab.h>
#include <linux/swap.h>
#include <linux/virtio_config.h>

/**
 * struct vb_vq_spec - what the driver asks of one virtqueue
 * @name: virtqueue name, or %NULL to skip the queue (its slot stays %NULL)
 * @callback: interrupt callback, or %NULL for a queue that is only polled
 */
struct vb_vq_spec {
	const char *name;
	vq_callback_t *callback;
};

/* Most virtqueues vb_find_vqs() sets up (the driver's VB_NR_VQS). */
#define VB_COMPAT_MAX_VQS	8

/*
 * Before 6.11 virtio_find_vqs() took parallel arrays of callbacks and names
 * instead of struct virtqueue_info.
 */
#ifndef VB_COMPAT_VQ_ARRAYS
static inline int vb_find_vqs(struct virtio_device *vdev, unsigned int nvqs,
			      struct virtqueue *vqs[],
			      const struct vb_vq_spec *spec)
{
	struct virtqueue_info info[VB_COMPAT_MAX_VQS];
	unsigned int i;

	if (WARN_ON(nvqs > ARRAY_SIZE(info)))
		return -EINVAL;
	for (i = 0; i < nvqs; i++)
		info[i] = (struct virtqueue_info){ .name = spec[i].name,
						   .callback = spec[i].callback };
	return virtio_find_vqs(vdev, nvqs, vqs, info, NULL);
}
#else
static inline int vb_find_vqs(struct virtio_device *vdev, unsigned int nvqs,
			      struct virtqueue *vqs[],
			      const struct vb_vq_spec *spec)
{
	vq_callback_t *callbacks[VB_COMPAT_MAX_VQS];
	const char *names[VB_COMPAT_MAX_VQS];
	unsigned int i;

	if (WARN_ON(nvqs > ARRAY_SIZE(names)))
		return -EINVAL;
	for (i = 0; i < nvqs; i++) {
		names[i] = spec[i].name;
		callbacks[i] = spec[i].callback;
	}
	return virtio_find_vqs(vdev, nvqs, vqs, callbacks, names, NULL);
}
#endif

/* Before 6.5, pages a shrinker frees count as reclaimed through reclaimed_slab. */
#ifdef VB_COMPAT_RECLAIMED_SLAB
static inline void vb_account_reclaimed(unsigned long pages)
{
	if (current->reclaim_state)
		current->reclaim_state->reclaimed_slab += pages;
}
#else
#define vb_account_reclaimed	mm_account_reclaimed_pages
#endif

/*
 * Before 7.0 the balloon core's header was linux/balloon_compaction.h, its
 * page migration CONFIG_BALLOON_COMPACTION, and the driver's migratepage
 * callback itself put the new page on the balloon's list and gave the old
 * one up; now the core does both once the callback has told the host.
 * Since 7.0 the driver selects CONFIG_BALLOON, which older kernels lack:
 * that tells them apart, in a kernel tree as well as out of tree.
 */
#ifndef CONFIG_BALLOON
#include <linux/balloon_compaction.h>
#define VB_BALLOON_MIGRATION	IS_ENABLED(CONFIG_BALLOON_COMPACTION)

#if VB_BALLOON_MIGRATION
static inline void vb_balloon_replace(struct balloon_dev_info *info,
				      struct page *newpage, struct page *page)
{
	unsigned long flags;

	/* The balloon's own reference on the page it now holds. */
	get_page(newpage);
	spin_lock_irqsave(&info->pages_lock, flags);
	balloon_page_insert(info, newpage);
	info->isolated_pages--;
	__count_vm_event(BALLOON_MIGRATE);
	spin_unlock_irqrestore(&info->pages_lock, flags);
	balloon_page_finalize(page);
	put_page(page);
}
#endif
#else
#include <linux/balloon.h>
#define VB_BALLOON_MIGRATION	IS_ENABLED(CONFIG_BALLOON_MIGRATION)

static inline void vb_balloon_replace(struct balloon_dev_info *info,
				      struct page *newpage, struct page *page)
{
}
#endif

/* 6.8 renamed MAX_ORDER (exclusive bound) to MAX_PAGE_ORDER (inclusive). */
#ifdef MAX_PAGE_ORDER
#define VB_MAX_PAGE_ORDER	MAX_PAGE_ORDER
#else
#define VB_MAX_PAGE_ORDER	(MAX_ORDER - 1)
#endif

/*
 * Before 6.7 the caller embedded and registered a shrinker; now
 * shrinker_alloc() allocates it, with a private_data pointer.
 * Both variants set seeks to 0: what the driver's shrinker offers is
 * either memory that is free already or memory the guest must have now,
 * so reclaim is asked to scan half of it whatever its priority, instead of
 * a share that shrinks with the priority (see the driver's shrinker).
 */

/**
 * struct vb_shrinker_ops - the driver's shrinker callbacks
 * @count: &struct shrinker.count_objects
 * @scan: &struct shrinker.scan_objects
 */
struct vb_shrinker_ops {
	unsigned long (*count)(struct shrinker *s, struct shrink_control *sc);
	unsigned long (*scan)(struct shrinker *s, struct shrink_control *sc);
};

#ifndef VB_COMPAT_EMBEDDED_SHRINKER
static inline struct shrinker *
vb_shrinker_create(const char *name, void *priv,
		   const struct vb_shrinker_ops *ops)
{
	struct shrinker *s = shrinker_alloc(0, "virtio-balloon-%s", name);

	if (!s)
		return ERR_PTR(-ENOMEM);
	s->count_objects = ops->count;
	s->scan_objects = ops->scan;
	s->private_data = priv;
	s->seeks = 0;
	shrinker_register(s);
	return s;
}

static inline void *vb_shrinker_private(struct shrinker *s)
{
	return s->private_data;
}

static inline void vb_shrinker_destroy(struct shrinker *s)
{
	shrinker_free(s);
}
#else
struct vb_shrinker_box {
	struct shrinker shrinker;
	void *priv;
};

static inline struct shrinker *
vb_shrinker_create(const char *name, void *priv,
		   const struct vb_shrinker_ops *ops)
{
	struct vb_shrinker_box *box = kzalloc(sizeof(*box), GFP_KERNEL);
	int err;

	if (!box)
		return ERR_PTR(-ENOMEM);
	box->priv = priv;
	box->shrinker.count_objects = ops->count;
	box->shrinker.scan_objects = ops->scan;
	box->shrinker.seeks = 0;
	err = register_shrinker(&box->shrinker, "virtio-balloon-%s", name);
	if (err) {
		kfree(box);
		return ERR_PTR(err);
	}
	return &box->shrinker;
}

static inline void *vb_shrinker_private(struct shrinker *s)
{
	return container_of(s, struct vb_shrinker_box, shrinker)->priv;
}

static inline void vb_shrinker_destroy(struct shrinker *s)
{
	unregister_shrinker(s);
	kfree(container_of(s, struct vb_shrinker_box, shrinker));
}
#endif

#endif /* _VIRTIO_BALLOON_COMPAT_H */
