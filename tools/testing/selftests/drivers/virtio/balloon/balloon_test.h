/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the virtio-balloon guest test programs: host RPC,
 * /proc and sysfs readers, debugfs state parsing and module loading.
 */
#ifndef BALLOON_TEST_H
#define BALLOON_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <linux/virtio_balloon.h>

/* __printf, __noreturn and ARRAY_SIZE come from kselftest.h. */
#include "kselftest.h"

/* Serial port carrying the line-based RPC protocol to the host runner. */
#define BT_RPC_TTY		"/dev/ttyS2"
/* Longest request or reply line exchanged with the host. */
#define BT_LINE_MAX		4096
/* Driver name as registered on the virtio bus. */
#define BT_DRIVER_NAME		"virtio_balloon"
#define BT_DRIVER_DIR		"/sys/bus/virtio/drivers/" BT_DRIVER_NAME
#define BT_DEBUGFS_DIR		"/sys/kernel/debug/" BT_DRIVER_NAME
/* Length of a virtio device name such as "virtio12". */
#define BT_DEVNAME_MAX		32
#define BT_VIRTIO_ID_BALLOON	5
/*
 * The module path the harness passes ({module}) when the driver is built
 * into the kernel; module_load() and module_unload() then bind and unbind.
 */
#define BT_BUILTIN		"builtin"

/*
 * Set in the environment of every program the harness's init runs; the
 * programs need the host's side, and skip without it.
 */
#define BT_HARNESS_ENV		"BALLOON_TEST_HARNESS"

/*
 * Balloon feature bits the driver knows (VIRTIO_BALLOON_F_*): 0 to this.
 * Bit 5 by the name every uapi header since 5.8 has: a kselftest build in a
 * tree without installed headers gets the system's, which may predate
 * VIRTIO_BALLOON_F_PAGE_REPORTING.
 */
#define BT_F_NR_BALLOON		(VIRTIO_BALLOON_F_REPORTING + 1)

const char *bt_feature_name(unsigned int bit);
void harness_required(void);

__printf(3, 4) int host_cmd(char *reply, size_t len, const char *fmt, ...);

ssize_t read_file(const char *path, char *buf, size_t len);
int write_file(const char *path, const char *text);
long long meminfo_kb(const char *field);
long long free_memory_kb(void);
long long vmstat_read(const char *counter);
int kv_file_get(const char *path, const char *key, char *val, size_t len);
int json_get(const char *json, const char *key, char *val, size_t len);

int balloon_find_device(char *name, size_t len);
int balloon_wait_bound(int bound, unsigned int timeout_ms);
int balloon_wait_present(int present, unsigned int timeout_ms);
int virtio_read_features(const char *devname, uint64_t *features);

int module_load(const char *path, const char *params);
int module_unload(const char *name);

#define MSEC_PER_SEC		1000
#define NSEC_PER_MSEC		1000000L

void msleep(unsigned int ms);

/* Longest a resize of the balloon may take under TCG. */
#define BO_RESIZE_TIMEOUT_MS	120000
#define BO_MIB			(1024LL * 1024)

/* The balloon's unit, whatever the guest's page size (VIRTIO_BALLOON_PFN_SHIFT). */
#define BO_UNIT			4096LL

long long host_guest_size(void);
long long balloon_align(long long bytes);
long long guest_keep(long long ram, int share);
int balloon_resize(long long guest_bytes, unsigned int timeout_ms);
long long balloon_state(const char *key);
long long balloon_state_or(const char *key, long long absent);
int balloon_negotiated(unsigned int bit);
int balloon_wait_hinting(unsigned int timeout_ms);
long long allocatable_bytes(void);

/* Memory freed in pieces of this size (order 4) is fragmented free memory. */
#define BO_FRAG_PIECE		(64 * 1024)
void free_every_other_piece(char *buf, size_t len);

/*
 * Fault injection (failslab and fail_page_alloc, set up alike): fault_setup()
 * limits both to call chains through the driver's code, failing nothing yet.
 */
#define BT_FAULT_SLAB		"/sys/kernel/debug/failslab"
#define BT_FAULT_PAGE		"/sys/kernel/debug/fail_page_alloc"
#define BT_FAULT_DIRS		2
extern const char *const fault_dirs[BT_FAULT_DIRS];

int fault_available(void);
int fault_set(const char *dir, const char *attr, const char *val);
long long fault_get(const char *dir, const char *attr);
int fault_setup(void);

#endif /* BALLOON_TEST_H */
