// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers shared by the virtio-balloon guest test programs.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "balloon_test.h"

/* Big enough for /proc/meminfo and /proc/vmstat of current kernels. */
#define BT_PROC_BUF		65536
/* Interval between two checks while waiting for a driver (un)bind. */
#define BT_POLL_MS		10

static const char * const bt_feature_names[BT_F_NR_BALLOON] = {
	[VIRTIO_BALLOON_F_MUST_TELL_HOST]	= "MUST_TELL_HOST",
	[VIRTIO_BALLOON_F_STATS_VQ]		= "STATS_VQ",
	[VIRTIO_BALLOON_F_DEFLATE_ON_OOM]	= "DEFLATE_ON_OOM",
	[VIRTIO_BALLOON_F_FREE_PAGE_HINT]	= "FREE_PAGE_HINT",
	[VIRTIO_BALLOON_F_PAGE_POISON]		= "PAGE_POISON",
	[VIRTIO_BALLOON_F_REPORTING]		= "PAGE_REPORTING",
};

/**
 * bt_feature_name() - Name of a balloon feature bit.
 * @bit: feature bit number.
 *
 * Return: the VIRTIO_BALLOON_F_ suffix, or "?" for bits outside the
 * balloon-specific range.
 */
const char *bt_feature_name(unsigned int bit)
{
	return bit < BT_F_NR_BALLOON ? bt_feature_names[bit] : "?";
}

/**
 * harness_required() - Skip the test unless the host harness runs it.
 *
 * The tests need the host's side of vmtest.py: a device set up for the
 * suite, and the RPC line to QEMU's monitor.  Run by hand (e.g. by
 * run_kselftest.sh) they skip.
 */
void harness_required(void)
{
	if (!getenv(BT_HARNESS_ENV))
		ksft_exit_skip("needs the host harness (vmtest.py)\n");
}

static int rpc_fd = -1;

/**
 * rpc_open() - Open the RPC serial port once and put it in raw mode.
 *
 * Return: file descriptor, or -1 with errno set.
 */
static int rpc_open(void)
{
	struct termios tio;
	int fd;

	if (rpc_fd >= 0)
		return rpc_fd;
	fd = open(BT_RPC_TTY, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (tcgetattr(fd, &tio) < 0)
		goto err;
	cfmakeraw(&tio);
	tio.c_cflag |= CLOCAL | CREAD;
	tio.c_cflag &= ~CRTSCTS;
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &tio) < 0)
		goto err;
	tcflush(fd, TCIOFLUSH);
	rpc_fd = fd;
	return fd;
err:
	close(fd);
	return -1;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= n;
	}
	return 0;
}

/**
 * read_line() - Read one '\n'-terminated line from @fd.
 * @fd: file descriptor.
 * @buf: destination, NUL-terminated, without the newline.
 * @len: size of @buf; longer lines are truncated but fully consumed.
 *
 * Return: 0 on success, -1 on error or end of file.
 */
static int read_line(int fd, char *buf, size_t len)
{
	size_t pos = 0;
	char c;

	for (;;) {
		ssize_t n = read(fd, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (c == '\n')
			break;
		if (pos + 1 < len)
			buf[pos++] = c;
	}
	buf[pos] = '\0';
	return 0;
}

/**
 * host_cmd() - Ask the host runner to perform a command.
 * @reply: buffer for the reply payload (or error message).
 * @len: size of @reply.
 * @fmt: printf format of the command line, without the trailing newline.
 *
 * Sends "<cmd> [args]\n" on the RPC port and waits for "ok [payload]" or
 * "err <message>".
 *
 * Return: 0 if the host answered "ok", -1 otherwise; @reply then holds the
 * host's message or a description of the transport error.
 */
int host_cmd(char *reply, size_t len, const char *fmt, ...)
{
	char line[BT_LINE_MAX];
	va_list ap;
	int fd, n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 1 || strchr(line, '\n')) {
		snprintf(reply, len, "rpc: invalid command");
		return -1;
	}
	line[n++] = '\n';

	fd = rpc_open();
	if (fd < 0 || write_all(fd, line, n) < 0 ||
	    read_line(fd, line, sizeof(line)) < 0) {
		snprintf(reply, len, "rpc: %s", strerror(errno));
		return -1;
	}
	if (!strcmp(line, "ok") || !strncmp(line, "ok ", 3)) {
		snprintf(reply, len, "%s", line[2] ? line + 3 : "");
		return 0;
	}
	snprintf(reply, len, "%s", !strncmp(line, "err ", 4) ? line + 4 : line);
	return -1;
}

/**
 * read_file() - Read a small file into a NUL-terminated buffer.
 * @path: file to read.
 * @buf: destination.
 * @len: size of @buf; at most @len - 1 bytes are read.
 *
 * Return: number of bytes read, or -1 with errno set.
 */
ssize_t read_file(const char *path, char *buf, size_t len)
{
	size_t pos = 0;
	int fd;

	if (!len) {
		errno = EINVAL;
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (pos + 1 < len) {
		ssize_t n = read(fd, buf + pos, len - 1 - pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return -1;
		}
		if (!n)
			break;
		pos += n;
	}
	close(fd);
	buf[pos] = '\0';
	return pos;
}

/**
 * find_field() - Find the value following "<key><sep>" at a line start.
 * @text: NUL-terminated text made of lines.
 * @key: key to look for.
 * @sep: separator that must follow the key (':' or ' ').
 *
 * Return: pointer to the first non-blank character of the value, or NULL.
 */
static const char *find_field(const char *text, const char *key, char sep)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (!strncmp(p, key, klen) && p[klen] == sep) {
			p += klen + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

static long long proc_field(const char *path, const char *key, char sep)
{
	char *buf = malloc(BT_PROC_BUF);
	const char *val;
	long long ret = -1;

	if (!buf)
		return -1;
	if (read_file(path, buf, BT_PROC_BUF) >= 0) {
		val = find_field(buf, key, sep);
		if (val)
			ret = strtoll(val, NULL, 10);
	}
	free(buf);
	return ret;
}

/**
 * meminfo_kb() - Read a /proc/meminfo field.
 * @field: field name without the colon, e.g. "MemTotal".
 *
 * Return: value in KiB, or -1 if the field is missing.
 */
long long meminfo_kb(const char *field)
{
	return proc_field("/proc/meminfo", field, ':');
}

/* Per-CPU free list lengths in /proc/zoneinfo, in pages. */
#define BT_PCP_COUNT		"count:"

/**
 * free_memory_kb() - Free memory, the per-CPU free lists included.
 *
 * MemFree leaves out the pages held on the per-CPU free lists.  Since
 * Linux 6.7 those lists grow during a burst of frees, up to an eighth of
 * each zone, so right after the balloon gave its pages back MemFree alone
 * can be tens of MiB short of what is free.  /proc/zoneinfo shows each
 * list's length.
 *
 * Return: MemFree plus the pages on the per-CPU lists, in KiB, or -1.
 */
long long free_memory_kb(void)
{
	long long kb = meminfo_kb("MemFree"), pages = 0;
	char *buf = malloc(BT_PROC_BUF);
	const char *p;

	if (!buf || kb < 0 || read_file("/proc/zoneinfo", buf, BT_PROC_BUF) < 0) {
		free(buf);
		return -1;
	}
	for (p = strstr(buf, BT_PCP_COUNT); p;
	     p = strstr(p + 1, BT_PCP_COUNT))
		pages += strtoll(p + strlen(BT_PCP_COUNT), NULL, 10);
	free(buf);
	return kb + pages * (sysconf(_SC_PAGESIZE) / 1024);
}

/**
 * vmstat_read() - Read a /proc/vmstat counter.
 * @counter: counter name, e.g. "balloon_inflate".
 *
 * Return: counter value, or -1 if the counter is missing.
 */
long long vmstat_read(const char *counter)
{
	return proc_field("/proc/vmstat", counter, ' ');
}

/**
 * kv_file_get() - Read one "key: value" line of a small text file.
 * @path: file, e.g. a debugfs state file.
 * @key: key to look for.
 * @val: destination for the value, trailing blanks removed.
 * @len: size of @val.
 *
 * Return: 0 on success, -1 with errno set (ENOENT if the key is missing).
 */
int kv_file_get(const char *path, const char *key, char *val, size_t len)
{
	char buf[BT_LINE_MAX * 4];
	const char *p;
	size_t n;

	if (read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	p = find_field(buf, key, ':');
	if (!p) {
		errno = ENOENT;
		return -1;
	}
	n = strcspn(p, "\n");
	while (n && isspace((unsigned char)p[n - 1]))
		n--;
	snprintf(val, len, "%.*s", (int)n, p);
	return 0;
}

/**
 * json_get() - Extract a scalar from a flat one-line JSON object.
 * @json: object text as produced by the host runner.
 * @key: member name (may contain dots, e.g. "ram.transferred").
 * @val: destination for the value, string quotes removed.
 * @len: size of @val.
 *
 * Only meant for the flat objects the host sends; nested values are not
 * parsed.
 *
 * Return: 0 on success, -1 if @key is missing.
 */
int json_get(const char *json, const char *key, char *val, size_t len)
{
	char pattern[BT_LINE_MAX];
	const char *p;
	size_t n;

	snprintf(pattern, sizeof(pattern), "\"%s\":", key);
	p = strstr(json, pattern);
	if (!p)
		return -1;
	p += strlen(pattern);
	while (*p == ' ')
		p++;
	if (*p == '"') {
		p++;
		n = strcspn(p, "\"");
	} else {
		n = strcspn(p, ",} ");
	}
	snprintf(val, len, "%.*s", (int)n, p);
	return 0;
}

/**
 * balloon_find_device() - Find the virtio device bound to the balloon driver.
 * @name: destination for the device name, e.g. "virtio0".
 * @len: size of @name.
 *
 * Return: 0 if a bound device was found, -1 otherwise.
 */
int balloon_find_device(char *name, size_t len)
{
	struct dirent *de;
	int ret = -1;
	DIR *dir;

	dir = opendir(BT_DRIVER_DIR);
	if (!dir)
		return -1;
	while ((de = readdir(dir))) {
		if (!strncmp(de->d_name, "virtio", strlen("virtio"))) {
			snprintf(name, len, "%s", de->d_name);
			ret = 0;
			break;
		}
	}
	closedir(dir);
	return ret;
}

/*
 * Whether the driver bound to @name has finished probing it.  The driver
 * core links a device to its driver before it calls the driver's probe,
 * so the link alone shows a probe under way; this driver's debugfs state
 * file is the last thing its probe makes.  Without this driver's debugfs
 * directory the driver bound is another one (the kernel's own), or
 * debugfs is not mounted: the link is all there is to go by.
 */
static int balloon_probed(const char *name)
{
	char path[BT_LINE_MAX];

	if (access(BT_DEBUGFS_DIR, F_OK))
		return 1;
	snprintf(path, sizeof(path), "%s/%s/state", BT_DEBUGFS_DIR, name);
	return !access(path, F_OK);
}

/**
 * balloon_wait_bound() - Wait until a device is (un)bound to the driver.
 * @bound: non-zero to wait for a bound device whose probe has finished,
 *	zero to wait for none.
 * @timeout_ms: how long to wait.
 *
 * Return: 0 when the state was reached, -1 on timeout.
 */
int balloon_wait_bound(int bound, unsigned int timeout_ms)
{
	char name[BT_DEVNAME_MAX];
	unsigned int waited = 0;
	int found;

	for (;;) {
		found = !balloon_find_device(name, sizeof(name));
		if (bound ? found && balloon_probed(name) : !found)
			return 0;
		if (waited >= timeout_ms)
			return -1;
		msleep(BT_POLL_MS);
		waited += BT_POLL_MS;
	}
}

/**
 * virtio_read_features() - Read the negotiated features of a virtio device.
 * @devname: device name on the virtio bus, e.g. "virtio0".
 * @features: destination bitmap of the first 64 feature bits.
 *
 * The sysfs "features" file is a string of '0'/'1', feature bit 0 first.
 *
 * Return: 0 on success, -1 with errno set.
 */
int virtio_read_features(const char *devname, uint64_t *features)
{
	char path[BT_LINE_MAX], buf[BT_LINE_MAX];
	unsigned int bit;

	snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s/features",
		 devname);
	if (read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	*features = 0;
	for (bit = 0; bit < 64 && (buf[bit] == '0' || buf[bit] == '1'); bit++)
		if (buf[bit] == '1')
			*features |= 1ULL << bit;
	return 0;
}

/**
 * write_file() - Write a string to a (sysfs) file in one write.
 * @path: file.
 * @text: what to write.
 *
 * Return: 0 on success, -errno on failure.
 */
int write_file(const char *path, const char *text)
{
	size_t len = strlen(text);
	ssize_t ret;
	int fd;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = write(fd, text, len);
	if (ret < 0)
		ret = -errno;
	close(fd);
	return ret < 0 ? ret : (size_t)ret == len ? 0 : -EIO;
}

/* Whether the virtio device @devname is a balloon (virtio device id 5). */
static int is_balloon_device(const char *devname)
{
	char path[BT_LINE_MAX], buf[BT_DEVNAME_MAX];

	snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s/device",
		 devname);
	return read_file(path, buf, sizeof(buf)) > 0 &&
	       strtol(buf, NULL, 0) == BT_VIRTIO_ID_BALLOON;
}

/**
 * balloon_wait_present() - Wait until a balloon device exists, or none.
 * @present: non-zero to wait for a device, zero to wait for none.
 * @timeout_ms: how long to wait.
 *
 * Unlike balloon_wait_bound(), a device counts whether or not a driver is
 * bound to it.
 *
 * Return: 0 when the state was reached, -1 on timeout.
 */
int balloon_wait_present(int present, unsigned int timeout_ms)
{
	unsigned int waited = 0;
	struct dirent *de;
	int found;
	DIR *dir;

	for (;;) {
		found = 0;
		dir = opendir("/sys/bus/virtio/devices");
		while (dir && !found && (de = readdir(dir)))
			found = de->d_name[0] != '.' &&
				is_balloon_device(de->d_name);
		if (dir)
			closedir(dir);
		if (found == !!present)
			return 0;
		if (waited >= timeout_ms)
			return -1;
		msleep(BT_POLL_MS);
		waited += BT_POLL_MS;
	}
}

/*
 * A built-in driver cannot be loaded or unloaded: "loading" it binds every
 * unbound balloon device, "unloading" it unbinds them.  It has no
 * parameters to set.  A probe that fails makes the bind fail, and is not an
 * error of the load, as with finit_module(2).
 */
static int builtin_load(const char *params)
{
	char buf[BT_LINE_MAX];
	struct dirent *de;
	DIR *dir;

	if (params && *params)
		return -EINVAL;
	if (!balloon_find_device(buf, sizeof(buf)))
		return -EEXIST;
	dir = opendir("/sys/bus/virtio/devices");
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.' || !is_balloon_device(de->d_name))
			continue;
		write_file(BT_DRIVER_DIR "/bind", de->d_name);
	}
	closedir(dir);
	return 0;
}

static int builtin_unload(void)
{
	char name[BT_DEVNAME_MAX];
	int err;

	while (!balloon_find_device(name, sizeof(name))) {
		err = write_file(BT_DRIVER_DIR "/unbind", name);
		if (err)
			return err;
	}
	return 0;
}

/* A driver registered without module state is built into the kernel. */
static int driver_is_builtin(const char *name)
{
	char path[BT_LINE_MAX];

	snprintf(path, sizeof(path), "/sys/module/%s/initstate", name);
	if (!access(path, F_OK))
		return 0;
	snprintf(path, sizeof(path), "/sys/bus/virtio/drivers/%s", name);
	return !access(path, F_OK);
}

/**
 * module_load() - Load a kernel module from a file with finit_module(2).
 * @path: uncompressed .ko file, or %BT_BUILTIN for the built-in driver.
 * @params: module parameters, or NULL (the only choice for %BT_BUILTIN).
 *
 * Return: 0 on success, -errno on failure.
 */
int module_load(const char *path, const char *params)
{
	int fd, ret;

	if (!strcmp(path, BT_BUILTIN))
		return builtin_load(params);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, params ? params : "", 0);
	ret = ret ? -errno : 0;
	close(fd);
	return ret;
}

/**
 * module_unload() - Remove a kernel module with delete_module(2).
 * @name: module name, e.g. "virtio_balloon".
 *
 * The built-in balloon driver is unbound from its devices instead.
 *
 * Return: 0 on success, -errno on failure.
 */
int module_unload(const char *name)
{
	if (!strcmp(name, BT_DRIVER_NAME) && driver_is_builtin(name))
		return builtin_unload();
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? -errno : 0;
}

/**
 * msleep() - Sleep for at least @ms milliseconds, restarting on signals.
 * @ms: duration.
 */
void msleep(unsigned int ms)
{
	struct timespec ts = {
		.tv_sec = ms / MSEC_PER_SEC,
		.tv_nsec = (ms % MSEC_PER_SEC) * NSEC_PER_MSEC,
	};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* How often a wait polls the host or the driver. */
#define BO_POLL_MS		200
/* How often a wait for a hinting run polls: runs are short. */
#define BO_HINT_POLL_MS		50
/* Chunk the allocatable-memory probe maps at a time. */
#define BO_PROBE_CHUNK		(4 * BO_MIB)
/* MemAvailable the probe leaves to the kernel, in KiB. */
#define BO_PROBE_FLOOR_KB	(24 * 1024)

/**
 * host_guest_size() - Memory the host says the guest has now.
 *
 * Return: QMP query-balloon's "actual" (guest RAM minus the balloon) in
 * bytes, or -1 if the host did not answer.
 */
long long host_guest_size(void)
{
	char reply[BT_LINE_MAX];

	if (host_cmd(reply, sizeof(reply), "query-balloon"))
		return -1;
	return atoll(reply);
}

/**
 * guest_keep() - A greedy target: what the guest is left with.
 * @ram: guest RAM, as host_guest_size() reports it with the balloon empty.
 * @share: the guest keeps 1/@share of @ram...
 *
 * ...on top of what its kernel set aside at boot (RAM minus MemTotal, read
 * with the balloon empty): a debug kernel sets aside a lot more (KASAN's
 * shadow), and without that the same share would leave it nothing to run
 * on.
 *
 * Return: the guest size to ask the host for, in bytes.
 */
long long guest_keep(long long ram, int share)
{
	return balloon_align(ram / share + ram - meminfo_kb("MemTotal") * 1024);
}

/**
 * balloon_align() - Round a size down to the balloon's unit.
 * @bytes: a size, e.g. a share of the guest's memory.
 *
 * The harness gives guests RAM that is not a whole number of MiB, so shares
 * of it need rounding before they can be asked for and compared exactly.
 *
 * Return: @bytes rounded down to a multiple of %BO_UNIT.
 */
long long balloon_align(long long bytes)
{
	return bytes / BO_UNIT * BO_UNIT;
}

/**
 * balloon_resize() - Ask the host for a guest size and wait until it is met.
 * @guest_bytes: memory the guest should be left with (rounded down to the
 *	balloon's unit).
 * @timeout_ms: how long to wait for query-balloon to report it.
 *
 * Return: 0 once query-balloon reports @guest_bytes, -1 on a host error or
 * timeout.
 */
int balloon_resize(long long guest_bytes, unsigned int timeout_ms)
{
	char reply[BT_LINE_MAX];
	unsigned int waited;

	guest_bytes = balloon_align(guest_bytes);
	if (host_cmd(reply, sizeof(reply), "balloon %lld", guest_bytes))
		return -1;
	for (waited = 0; waited <= timeout_ms; waited += BO_POLL_MS) {
		if (host_guest_size() == guest_bytes)
			return 0;
		msleep(BO_POLL_MS);
	}
	ksft_print_msg("resize to %lld MiB timed out after %u ms: host says %lld MiB\n",
		       guest_bytes / BO_MIB, timeout_ms,
		       host_guest_size() / BO_MIB);
	ksft_print_msg("driver: %lld pages of %lld units, MemFree %lld kB\n",
		       balloon_state("balloon_pages"),
		       balloon_state("target_units"), meminfo_kb("MemFree"));
	ksft_print_msg("driver: %lld inflate fails, %lld host errors, %lld deflated on OOM\n",
		       balloon_state("inflate_fails"),
		       balloon_state("host_errors"),
		       balloon_state("oom_deflated_pages"));
	return -1;
}

/**
 * balloon_state() - Read one figure of the driver's debugfs state file.
 * @key: the figure, e.g. "balloon_pages".
 *
 * Return: its value, or -1 if no device is bound or the key is missing.
 */
long long balloon_state(const char *key)
{
	return balloon_state_or(key, -1);
}

/**
 * balloon_state_or() - Read a value of the bound driver's debugfs state.
 * @key: e.g. "hint_runs".
 * @absent: what a driver without that line means by it.
 *
 * A driver without a feature (an early stage of the patch series) has no
 * lines for it: no counters (it did none of that), no value written.
 *
 * Return: the value, @absent if the driver has no such line, -1 if no
 * device is bound.
 */
long long balloon_state_or(const char *key, long long absent)
{
	char dev[BT_DEVNAME_MAX], path[BT_LINE_MAX], val[BT_LINE_MAX];

	if (balloon_find_device(dev, sizeof(dev)))
		return -1;
	snprintf(path, sizeof(path), "%s/%s/state", BT_DEBUGFS_DIR, dev);
	if (kv_file_get(path, key, val, sizeof(val)))
		return absent;
	return strtoll(val, NULL, 0);
}

/**
 * balloon_wait_hinting() - Wait until a hinting run is under way.
 * @timeout_ms: how long to wait.
 *
 * A run is under way once the driver has hinted blocks on the free page
 * queue or holds blocks the device has returned.
 *
 * Return: 0 once it is, -1 on timeout or if no device is bound.
 */
int balloon_wait_hinting(unsigned int timeout_ms)
{
	unsigned int waited;

	for (waited = 0; waited <= timeout_ms; waited += BO_HINT_POLL_MS) {
		if (balloon_state("hint_held_pages") > 0 ||
		    balloon_state("hint_in_flight_buffers") > 0)
			return 0;
		msleep(BO_HINT_POLL_MS);
	}
	return -1;
}

/**
 * balloon_negotiated() - Whether the bound device negotiated a feature.
 * @bit: VIRTIO_BALLOON_F_* bit.
 *
 * Return: 1 if negotiated, 0 if not, -1 if no device is bound.
 */
int balloon_negotiated(unsigned int bit)
{
	char dev[BT_DEVNAME_MAX];
	uint64_t features;

	if (balloon_find_device(dev, sizeof(dev)) ||
	    virtio_read_features(dev, &features))
		return -1;
	return !!(features & (1ULL << bit));
}

/* Child of allocatable_bytes(): map and touch memory, report the total. */
static void __noreturn probe_child(int fd)
{
	long long total = 0;

	while (meminfo_kb("MemAvailable") > BO_PROBE_FLOOR_KB) {
		if (mmap(NULL, BO_PROBE_CHUNK, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
			 -1, 0) == MAP_FAILED)
			break;
		total += BO_PROBE_CHUNK;
	}
	if (write(fd, &total, sizeof(total)) != sizeof(total))
		_exit(EXIT_FAILURE);
	_exit(EXIT_SUCCESS);
}

/**
 * allocatable_bytes() - How much anonymous memory a program can get now.
 *
 * A child maps and touches memory until MemAvailable is nearly used up
 * (never into the OOM killer), reports how much it got, and exits, which
 * gives it all back.
 *
 * Return: bytes the child got, or -1 if it could not be measured.
 */
long long allocatable_bytes(void)
{
	long long total = -1;
	int fds[2], status;
	pid_t pid;

	if (pipe(fds))
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (!pid) {
		close(fds[0]);
		probe_child(fds[1]);
	}
	close(fds[1]);
	if (read(fds[0], &total, sizeof(total)) != sizeof(total))
		total = -1;
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		return -1;
	return total;
}

/* ---- fault injection ---- */

/* The driver's code: its functions are vb_*, laid out together. */
#define DRIVER_ANCHOR		"vb_probe"
#define DRIVER_PREFIX		"vb_"
#define DRIVER_TEXT_SPAN	(256 * 1024ULL)
#define KSYM_NAME_MAX		256
/* Frames searched for the driver's code (the kernel's maximum is 32). */
#define FAULT_STACK_DEPTH	"32"

/**
 * fault_available() - Whether the kernel has the fault injection the tests use.
 *
 * Return: 1 if failslab and fail_page_alloc are in debugfs, 0 otherwise.
 */
int fault_available(void)
{
	return !access(BT_FAULT_SLAB, F_OK) && !access(BT_FAULT_PAGE, F_OK);
}

/*
 * The address range of the driver's functions, from /proc/kallsyms: the
 * vb_* text symbols near DRIVER_ANCHOR, up to the symbol after the last.
 */
static int driver_text(unsigned long long *start, unsigned long long *end)
{
	unsigned long long addr, anchor = 0, lo = ~0ULL, hi = 0;
	char line[BT_LINE_MAX], name[KSYM_NAME_MAX], type;
	int pass;
	FILE *f;

	*end = ~0ULL;
	for (pass = 0; pass < 3; pass++) {
		f = fopen("/proc/kallsyms", "r");
		if (!f)
			return -1;
		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, "%llx %c %255s", &addr, &type,
				   name) != 3 || (type != 't' && type != 'T'))
				continue;
			if (pass == 0 && !strcmp(name, DRIVER_ANCHOR))
				anchor = addr;
			if (pass == 1 && !strncmp(name, DRIVER_PREFIX,
						  strlen(DRIVER_PREFIX)) &&
			    addr + DRIVER_TEXT_SPAN > anchor &&
			    addr < anchor + DRIVER_TEXT_SPAN) {
				lo = addr < lo ? addr : lo;
				hi = addr > hi ? addr : hi;
			}
			if (pass == 2 && addr > hi && addr < *end)
				*end = addr;
		}
		fclose(f);
		if (!anchor)
			return -1;
	}
	*start = lo;
	if (*end > hi + DRIVER_TEXT_SPAN)
		*end = hi + DRIVER_TEXT_SPAN;
	return 0;
}

int fault_set(const char *dir, const char *attr, const char *val)
{
	char path[BT_LINE_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, attr);
	return write_file(path, val);
}

long long fault_get(const char *dir, const char *attr)
{
	char path[BT_LINE_MAX], val[BT_LINE_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, attr);
	return read_file(path, val, sizeof(val)) > 0 ? atoll(val) : -1;
}

const char *const fault_dirs[BT_FAULT_DIRS] = { BT_FAULT_SLAB, BT_FAULT_PAGE };

/*
 * Fail allocations, silently, from any task and context, sleeping or not,
 * of any order, but only those whose call chain passes through the driver.
 */
int fault_setup(void)
{
	unsigned long long start, end;
	char s[BT_LINE_MAX], e[BT_LINE_MAX];
	size_t i;
	int err = 0;

	if (driver_text(&start, &end))
		return -1;
	ksft_print_msg("driver text %#llx-%#llx\n", start, end);
	snprintf(s, sizeof(s), "%llu", start);
	snprintf(e, sizeof(e), "%llu", end);
	for (i = 0; i < ARRAY_SIZE(fault_dirs); i++) {
		err |= fault_set(fault_dirs[i], "probability", "0");
		err |= fault_set(fault_dirs[i], "interval", "1");
		err |= fault_set(fault_dirs[i], "verbose", "0");
		err |= fault_set(fault_dirs[i], "task-filter", "N");
		err |= fault_set(fault_dirs[i], "ignore-gfp-wait", "N");
		err |= fault_set(fault_dirs[i], "stacktrace-depth",
				 FAULT_STACK_DEPTH);
		err |= fault_set(fault_dirs[i], "require-start", s);
		err |= fault_set(fault_dirs[i], "require-end", e);
	}
	err |= fault_set(BT_FAULT_PAGE, "ignore-gfp-highmem", "N");
	err |= fault_set(BT_FAULT_PAGE, "min-order", "0");
	return err;
}

/**
 * free_every_other_piece() - Fragment free memory.
 * @buf: memory mapped and written by the caller.
 * @len: its length.
 *
 * Unmaps every other %BO_FRAG_PIECE of @buf, starting with the second, so
 * that the memory freed lies in blocks far below the largest order: what
 * a driver that hints only the largest blocks cannot hint.  The pieces
 * kept start at @buf and every 2 * %BO_FRAG_PIECE after it.
 */
void free_every_other_piece(char *buf, size_t len)
{
	size_t off;

	for (off = BO_FRAG_PIECE; off + BO_FRAG_PIECE <= len;
	     off += 2 * BO_FRAG_PIECE)
		munmap(buf + off, BO_FRAG_PIECE);
}
