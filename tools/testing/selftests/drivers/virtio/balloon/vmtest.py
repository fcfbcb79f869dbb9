#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Run the virtio-balloon guest tests in QEMU and report TAP.

Every suite (see suites.py) is one boot of the given kernel with an
initramfs holding our /init, the guest test programs and the modules.  The
guest's programs print TAP on the test serial port; the kernel console is
scanned for splats, which fail the program that was running.

With --group, suites that need the same guest (memory, command line,
modules, disk) share one boot: before each suite after the first,
suite_setup unplugs the balloon device, loads the driver or takes it away
as the suite wants and plugs in a device with the suite's properties.  For
kernels whose boots are expensive (the debug kernel).
"""

import argparse
import copy
import fnmatch
import functools
import hashlib
import lzma
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import replace

import suites as suite_defs
from vm import VM, QemuError

QEMU = "qemu-system-x86_64"
BUSYBOX = "/bin/busybox"
BUSYBOX_APPLETS = ("sh", "ls", "cat", "dmesg", "mount", "ps", "free",
                   "grep", "echo", "sleep", "insmod", "rmmod", "lsmod")
# Modules the guest needs besides the balloon driver's own dependencies.
TRANSPORT_MODULES = ("virtio_pci",)
GUEST_MODULE_DIR = "/lib/modules"
GUEST_TEST_MODULE_DIR = "/lib/modules/test"
GUEST_BIN_DIR = "/bin"
# --module for a kernel that has the driver built in.
BUILTIN = "builtin"
# Run last in every boot of a kernel with kmemleak.
KMEMLEAK = suite_defs.Program("kmemleak", "kmemleak_test", [], 120)
# Run before each suite of a shared boot but the first (--group); its
# arguments are the suite's device, whether it wants the driver, {module}.
SETUP = suite_defs.Program("setup", "suite_setup", [], 300)
# Guest binaries: /init plus every program some suite runs.
GUEST_PROGRAMS = sorted({"init", KMEMLEAK.binary, SETUP.binary} | {
    p.binary for s in suite_defs.SUITES + suite_defs.STRESS_SUITES +
    [suite_defs.DEMO] for p in s.programs})
# A KASAN kernel runs everything this many times slower under TCG: its
# boots and programs get this much longer (the programs' own waits are
# generous enough as they are).
KASAN_TIMEOUT_SCALE = 3
# ...and routes interrupts without ACPI: QEMU's pc machine computes its _PRT
# in an AML loop that takes a KASAN kernel over 30 s under TCG (an RCU
# stall, then an AML loop timeout and no INTx for the devices).  ACPI still
# does PCI hotplug (pci=noacpi would turn that off too).
KASAN_CMDLINE = "acpi=noirq"
# oops=panic: an oops ends the boot at once (QEMU runs with -no-reboot)
# instead of leaving the program to its timeout.  nowatchdog and
# rcu_cpu_stall_suppress: the soft lockup and RCU stall detectors measure
# wall-clock time, which says nothing about the guest's code under TCG on
# a shared host: in one CI run both fired (a "26 s" soft lockup in a boot
# 28 s old, an RCU stall with the two vCPUs' clocks 21 s apart) in boots
# that took 20 to 28 s longer than usual and whose programs all passed.
# A guest that really hangs still fails its program's timeout, and
# lockdep still reports deadlocks on the debug kernel.
KERNEL_CMDLINE = ("console=ttyS0 panic=-1 oops=panic printk.devkmsg=on "
                  "no_timer_check nowatchdog rcupdate.rcu_cpu_stall_suppress=1")
# A boot's status line reports the host's steal time (/proc/stat) from
# this many seconds on: the host's hypervisor took the CPUs away.
STEAL_REPORT_S = 1.0
# Single-threaded TCG: with QEMU 7.2's multi-threaded TCG (the default, even
# with one vCPU) a guest that writes memory during a live migration has
# stale kernel memory on the destination at once.
ACCEL = "tcg,thread=single"
# Guest RAM on QEMU before TCG_DIRTY_SYNC_FIXED is this much short of whole
# MiB.  QEMU 7.2 syncs the migration dirty bitmap of a RAM block whose size is a multiple of 64 pages word by
# word without resetting TCG's TLB dirty state, so a page the guest keeps
# writing through a cached TLB entry is never marked dirty again and the
# destination gets a stale copy (fixed in QEMU 9.0 by "physmem: Fix
# migration dirty bitmap coherency with TCG memory access").  Any other
# size takes the page-by-page path, which resets the TLB entries.  QEMU
# rounds RAM to 8 KiB.
RAM_TRIM_KB = 8
TCG_DIRTY_SYNC_FIXED = (9, 0)
BALLOON_ID = suite_defs.BALLOON_ID
IOTHREAD_ID = "io1"
DISK_ID = "disk0"
CONSOLE_TAIL_LINES = 40
# Host log lines shown under a failed test: the RPCs that failed and what
# the QMP client noticed (late or dropped replies).
HOST_TROUBLE_RE = re.compile(r"rpc< err|QMP|failed|timeout|cannot send")
HOST_TROUBLE_SHOWN = 20
SPLAT_LINES_SHOWN = 40
# Console lines kept after each splat line: the call trace that names the
# culprit (CI shows only the report, not the saved logs).
SPLAT_CONTEXT_LINES = 16
KSFT_SKIP = 4

MARKER = "balloon-test:"
MARKER_RE = re.compile(re.escape(MARKER) + r" (begin|end) (\S+)(?: (.*))?")
SPLAT_RE = re.compile(
    r"BUG:|WARNING:|Oops|KASAN|UBSAN|suspected memory leak|Call Trace|INFO: |"
    r"pagealloc: |"
    r"possible circular locking|inconsistent lock state|Kernel panic|"
    r"general protection fault")

# An OOM-killer report, from its first line to its last: not a splat in a
# program that expects the OOM killer (Program.expect_oom).
OOM_BEGIN_RE = re.compile(r"invoked oom-killer:")
OOM_END_RE = re.compile(r"Out of memory: Killed process|oom_reaper: reaped")
# A page allocation failure report (warn_alloc: call trace, then show_mem),
# from its first line to its last: not a splat in a program that puts the
# guest under memory pressure (Program.pressure) unless a balloon driver's
# function is on the stack (ours: vb_*, Debian's: virtballoon_*, or the
# module).  The kernel's own atomic allocations (virtio-blk writeback) may
# fail while reclaim catches up; they fall back and the test goes on.
ALLOC_FAIL_BEGIN_RE = re.compile(r"page allocation failure: ")
ALLOC_FAIL_END_RE = re.compile(r"\d+ pages reserved")
BALLOON_FRAME_RE = re.compile(r"\b(vb|virtballoon)_\w+\+0x|\[virtio_balloon\]")

CPIO_MAGIC = "070701"
CPIO_TRAILER = "TRAILER!!!"
CPIO_ALIGN = 4
DEV_CONSOLE = (5, 1)


# ---- initramfs -----------------------------------------------------------

class Cpio:
    """Writer of "newc" cpio archives, as the kernel's initramfs expects."""

    def __init__(self):
        self.out = bytearray()
        self.ino = 1

    def _pad(self):
        self.out += b"\0" * (-len(self.out) % CPIO_ALIGN)

    def add(self, name, mode, data=b"", rdev=(0, 0)):
        fields = (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0,
                  rdev[0], rdev[1], len(name) + 1, 0)
        self.ino += 1
        self.out += (CPIO_MAGIC + "".join(f"{v:08x}" for v in fields)).encode()
        self.out += name.encode() + b"\0"
        self._pad()
        self.out += data
        self._pad()

    def dir(self, name):
        self.add(name, stat.S_IFDIR | 0o755)

    def file(self, name, data, mode=0o644):
        self.add(name, stat.S_IFREG | mode, data)

    def symlink(self, name, target):
        self.add(name, stat.S_IFLNK | 0o777, target.encode())

    def finish(self):
        self.add(CPIO_TRAILER, 0)
        return bytes(self.out)


def read_module(path):
    """Module contents, decompressed if needed."""
    with open(path, "rb") as f:
        data = f.read()
    return lzma.decompress(data) if path.endswith(".xz") else data


def module_name(path):
    return os.path.basename(path).split(".")[0].replace("-", "_")


class ModuleIndex:
    """Module files and built-in modules of one kernel release."""

    def __init__(self, modules_dir):
        self.files = {}
        for root, _, names in os.walk(os.path.join(modules_dir, "kernel")):
            for name in names:
                if ".ko" in name:
                    self.files[module_name(name)] = os.path.join(root, name)
        self.builtin = set()
        with open(os.path.join(modules_dir, "modules.builtin")) as f:
            for line in f:
                self.builtin.add(module_name(line.strip()))

    @staticmethod
    def depends(path):
        out = subprocess.run(["modinfo", "-F", "depends", path],
                             check=True, capture_output=True, text=True)
        return [module_name(d) for d in out.stdout.strip().split(",") if d]

    def closure(self, roots):
        """Loadable modules needed by @roots (names or .ko paths), in
        dependency order; built-in modules are left out."""
        order, seen = [], set()

        def visit(name, path):
            if name in seen:
                return
            seen.add(name)
            for dep in self.depends(path):
                if dep in self.builtin:
                    continue
                if dep not in self.files:
                    raise FileNotFoundError(f"module {dep} (needed by {name}) "
                                            "not found")
                visit(dep, self.files[dep])
            order.append(name)

        for root in roots:
            if os.sep in root:
                visit(module_name(root), root)
            elif root not in self.builtin:
                if root not in self.files:
                    raise FileNotFoundError(f"module {root} not found")
                visit(root, self.files[root])
        return order


class Initramfs:
    """Base archive (cached by content) plus a small per-boot archive."""

    def __init__(self, args, index):
        self.args = args
        self.index = index
        if args.builtin:
            self.test_module_name = suite_defs.DRIVER_NAME
            self.test_module_guest = BUILTIN
            self.test_module = None
            self.roots = []
        else:
            self.test_module_name = module_name(args.module)
            self.test_module_guest = (f"{GUEST_TEST_MODULE_DIR}/"
                                      f"{self.test_module_name}.ko")
            self.test_module = read_module(args.module)
            self.roots = [args.module]
        extra = [m for s in suite_defs.SUITES + [suite_defs.DEMO]
                 for m in s.modules]
        self.base_modules = [m for m in index.closure(
            list(TRANSPORT_MODULES) + extra + self.roots)
                             if m != self.test_module_name]
        self.base = self._base()

    def _base(self):
        entries = []
        for name in self.args.programs:
            with open(os.path.join(self.args.progs, name), "rb") as f:
                entries.append((f"{GUEST_BIN_DIR}/{name}", f.read()))
        with open(self.args.busybox, "rb") as f:
            entries.append((f"{GUEST_BIN_DIR}/busybox", f.read()))
        for name in self.base_modules:
            entries.append((f"{GUEST_MODULE_DIR}/{name}.ko",
                            read_module(self.index.files[name])))
        digest = hashlib.sha256()
        for path, data in entries:
            digest.update(path.encode() + b"\0" +
                          hashlib.sha256(data).digest())
        cache_dir = os.path.join(self.args.out, "cache")
        os.makedirs(cache_dir, exist_ok=True)
        cache = os.path.join(cache_dir, f"initramfs-{self.args.release}-"
                             f"{digest.hexdigest()[:16]}.cpio")
        if os.path.exists(cache):
            return cache
        cpio = Cpio()
        for d in ("bin", "dev", "lib", "lib/modules", "proc", "sys", "tmp"):
            cpio.dir(d)
        cpio.add("dev/console", stat.S_IFCHR | 0o600, rdev=DEV_CONSOLE)
        for path, data in entries:
            cpio.file(path.lstrip("/"), data, 0o755)
        cpio.symlink("init", f"{GUEST_BIN_DIR}/init")
        for applet in BUSYBOX_APPLETS:
            cpio.symlink(f"bin/{applet}", "busybox")
        tmp = cache + ".tmp"
        with open(tmp, "wb") as f:
            f.write(cpio.finish())
        os.rename(tmp, cache)
        return cache

    def build(self, suite, programs, path, owners=None):
        """Write base + per-boot archive (/plan, /modules.order, module
        under test) for @suite running @programs to @path; each program's
        placeholders are those of its suite in @owners (default @suite)."""
        order = [f"{GUEST_MODULE_DIR}/{m}.ko" for m in self.index.closure(
            list(TRANSPORT_MODULES) + suite.modules + self.roots)
            if m != self.test_module_name]
        if self.args.builtin:
            if not suite.load_driver:
                order.append(f"-{self.test_module_name}")
        elif suite.load_driver:
            order.append(self.test_module_guest)
        plan = []
        for prog, owner in zip(programs, owners or [suite] * len(programs)):
            args = [a.format(module=self.test_module_guest,
                             features=f"{owner.features():x}",
                             poison=f"{owner.poison_val():x}")
                    for a in prog.args]
            plan.append(" ".join([prog.name,
                                  str(prog.timeout * self.args.slow),
                                  f"{GUEST_BIN_DIR}/{prog.binary}"] + args))
        cpio = Cpio()
        if self.test_module:
            cpio.dir(GUEST_TEST_MODULE_DIR.lstrip("/"))
            cpio.file(self.test_module_guest.lstrip("/"), self.test_module)
        cpio.file("modules.order", ("\n".join(order) + "\n").encode())
        cpio.file("plan", ("\n".join(plan) + "\n").encode())
        with open(path, "wb") as out, open(self.base, "rb") as base:
            shutil.copyfileobj(base, out)
            out.write(cpio.finish())


# ---- one boot ------------------------------------------------------------

def balloon_device(suite):
    """The -device (or device_add) argument of @suite's balloon."""
    props = dict(suite.balloon)
    if props.get("free-page-hint") == "on":
        props.setdefault("iothread", IOTHREAD_ID)
    return ",".join([f"virtio-balloon-pci,id={BALLOON_ID}"] +
                    [f"{k}={v}" for k, v in props.items()])


@functools.lru_cache(maxsize=None)
def qemu_version(binary):
    """(major, minor) of the QEMU binary, from --version."""
    out = subprocess.run([binary, "--version"], capture_output=True,
                         text=True, check=False).stdout
    m = re.search(r"version (\d+)\.(\d+)", out)
    if not m:
        sys.exit(f"vmtest: cannot tell the version of {binary}: "
                 f"{out.strip() or 'no output'}")
    return int(m.group(1)), int(m.group(2))


def ram_kb(args, memory_mb):
    """Guest RAM for -m: whole MiB, or short of it where QEMU needs that
    (RAM_TRIM_KB)."""
    trim = RAM_TRIM_KB if qemu_version(args.qemu) < TCG_DIRTY_SYNC_FIXED else 0
    return memory_mb * 1024 - trim


def qemu_argv(args, suite, initrd, disk=None):
    """QEMU's command line and -device list for one boot of @suite; @disk
    is a raw image for a virtio-blk disk (/dev/vda in the guest)."""
    balloon = balloon_device(suite)
    argv = [args.qemu, "-nodefaults", "-no-user-config", "-display", "none",
            "-no-reboot", "-accel", ACCEL, "-M", "pc",
            "-m", f"{ram_kb(args, suite.memory_mb)}k", "-smp", str(args.smp or suite.smp),
            "-kernel", args.kernel_image, "-initrd", initrd,
            "-append", " ".join(filter(None, (KERNEL_CMDLINE, args.cmdline,
                                              suite.cmdline))),
            "-object", f"iothread,id={IOTHREAD_ID}",
            *os.environ.get("VMTEST_QEMU_ARGS", "").split()]
    devices = [(BALLOON_ID, balloon)]
    if disk:
        argv += ["-blockdev", f"driver=raw,node-name={DISK_ID},"
                 f"file.driver=file,file.filename={disk}"]
        devices.append((None, f"virtio-blk-pci,drive={DISK_ID}"))
    return argv, devices


class Result:
    """Outcome of one (suite, program) test point."""

    def __init__(self, name):
        self.name = name
        self.status = "fail"
        self.lines = []
        self.diag = []


def tail(text, count=CONSOLE_TAIL_LINES):
    return text.rstrip("\n").splitlines()[-count:]


def parse_results(programs, test_text, console, boot_error):
    """Turn the test stream and console of one boot into Results."""
    results = {p.name: Result(p.name) for p in programs}
    ends = {}
    started = set()
    current = None
    for line in test_text.splitlines():
        line = line.rstrip("\r")
        m = MARKER_RE.match(line)
        if m and m.group(2) in results:
            current = m.group(2) if m.group(1) == "begin" else None
            if m.group(1) == "end":
                ends[m.group(2)] = m.group(3) or ""
            else:
                started.add(current)
        elif current:
            results[current].lines.append(line)

    splats = {}
    current = None
    expect_oom = {p.name for p in programs if p.expect_oom}
    pressure = {p.name for p in programs if p.pressure}
    in_oom = False
    report = None
    context = 0
    for line in console.splitlines():
        m = MARKER_RE.search(line)
        if m:
            if report:
                # Cut short: judged as a splat, whatever it was.
                splats.setdefault(current, []).extend(report)
            current = m.group(2) if m.group(1) == "begin" else None
            in_oom = False
            report = None
            context = 0
        elif current in expect_oom and (in_oom or OOM_BEGIN_RE.search(line)):
            in_oom = not OOM_END_RE.search(line)
        elif current in pressure and (report is not None or
                                      ALLOC_FAIL_BEGIN_RE.search(line)):
            if report is None:
                report = []
            report.append(line.rstrip("\r"))
            if ALLOC_FAIL_END_RE.search(line):
                if any(BALLOON_FRAME_RE.search(ln) for ln in report):
                    splats.setdefault(current, []).extend(report)
                report = None
        elif SPLAT_RE.search(line):
            splats.setdefault(current, []).append(line.rstrip("\r"))
            context = SPLAT_CONTEXT_LINES
        elif context:
            splats[current].append(line.rstrip("\r"))
            context -= 1

    init_errors = [line for line in test_text.splitlines()
                   if line.startswith(f"{MARKER} init failed")]
    for prog in programs:
        res = results[prog.name]
        end = ends.get(prog.name)
        if end is None:
            why = ("did not finish" if prog.name in started
                   else "did not run")
            res.diag.append(f"{why}: " + (boot_error or "guest stopped"))
            res.diag += init_errors
            res.diag += ["console: " + ln for ln in tail(console)]
        elif end == "exit 0":
            res.status = "pass"
        elif end == f"exit {KSFT_SKIP}":
            res.status = "skip"
        else:
            res.diag.append(f"program ended with: {end}")
        if res.status == "pass" and any(ln.startswith("not ok")
                                        for ln in res.lines):
            res.status = "fail"
            res.diag.append("exit status 0 but TAP reports failures")
        for where in (prog.name, None):
            if where in splats:
                res.status = "fail"
                res.diag.append("kernel splat " +
                                ("during the test" if where else
                                 "outside the tests (boot or init)") + ":")
                res.diag += ["  " + ln for ln in
                             splats[where][:SPLAT_LINES_SHOWN]]
    return [results[p.name] for p in programs]


def line_feeder(callback):
    """A receiver of raw stream bytes that calls @callback with each line."""
    buf = bytearray()

    def feed(chunk):
        buf.extend(chunk)
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            callback(line.decode(errors="replace").rstrip("\r"))
    return feed


def host_steal_seconds():
    """The host's CPU time stolen by its own hypervisor so far, or 0."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def run_boot(args, initramfs, suite, programs, log, owners=None,
             progress=None):
    """Boot @suite once and return (results, vm texts, seconds); @owners
    as for Initramfs.build(); @progress, if given, is called with each
    program's end marker as it comes."""
    start = time.monotonic()
    tmpdir_initrd = os.path.join(args.out, "tmp")
    os.makedirs(tmpdir_initrd, exist_ok=True)
    initrd = os.path.join(tmpdir_initrd, f"{suite.name}-{os.getpid()}.cpio")
    disk = (os.path.join(tmpdir_initrd, f"{suite.name}-{os.getpid()}.img")
            if suite.disk_mb else None)
    boot_error = None
    echo = ((lambda b: sys.stderr.write(b.decode(errors="replace")))
            if args.verbose else None)
    vm = None
    try:
        initramfs.build(suite, programs, initrd, owners)
        if disk:
            # Sparse: reads of it are zeroes, which still fill the page cache.
            with open(disk, "wb") as f:
                f.truncate(suite.disk_mb << 20)
        argv, devices = qemu_argv(args, suite, initrd, disk)
        def on_line(line):
            """Each program's begin and end go in the host log too."""
            m = MARKER_RE.match(line)
            if m:
                vm.note(line)
                if progress and m.group(1) == "end":
                    progress(line)
        vm = VM(argv, devices, log, echo, line_feeder(on_line))
        vm.start()
        deadline = time.monotonic() + args.slow * (suite.timeout + sum(
            p.timeout for p in programs))
        if not vm.serve(deadline):
            boot_error = "VM timed out (hung guest?)"
        elif f"{MARKER} done" not in vm.text("test"):
            boot_error = "guest stopped before the end of its plan"
    except QemuError as e:
        boot_error = f"QEMU: {e}"
    except Exception as e:  # pylint: disable=broad-except
        # A harness bug must fail this suite only, not stop the run.
        boot_error = f"host error: {e!r}"
    finally:
        for path in (initrd, disk):
            if path and os.path.exists(path):
                os.unlink(path)
        texts = {}
        if vm:
            vm.close()
            texts = {"console": vm.text("console"), "test": vm.text("test"),
                     "qemu": vm.qemu_output(), "host": "\n".join(vm.events)}
    results = parse_results(programs, texts.get("test", ""),
                            texts.get("console", ""), boot_error)
    if boot_error:
        for res in results:
            if not any(boot_error in d for d in res.diag):
                res.diag.insert(0, boot_error)
    host = texts.get("host", "").splitlines()
    for res in results:
        if res.status == "fail":
            res.diag += ["host: " + ln
                         for ln in host_trouble(host, res.name)]
    return results, texts, time.monotonic() - start


def host_trouble(host, name):
    """The host log's lines about failed RPCs and QMP while program @name
    ran (in a shared boot, not those of the programs before it), the last
    HOST_TROUBLE_SHOWN of them; all of the boot's if @name never began."""
    def marks(what):
        """Indexes of the host log's lines that note @what of @name."""
        for i, ln in enumerate(host):
            m = MARKER_RE.search(ln)
            if m and m.group(1) == what and m.group(2) == name:
                yield i
    first = next(marks("begin"), 0)
    last = next((i for i in marks("end") if i > first), len(host))
    trouble = [ln for ln in host[first:last] if HOST_TROUBLE_RE.search(ln)]
    return trouble[-HOST_TROUBLE_SHOWN:]


def save_logs(args, suite, texts):
    logdir = os.path.join(args.out, "logs", args.release, suite.name)
    os.makedirs(logdir, exist_ok=True)
    for name, text in texts.items():
        with open(os.path.join(logdir, f"{name}.log"), "w") as f:
            f.write(text)
    return logdir


# ---- command line --------------------------------------------------------

def select_programs(args):
    """[(suite, [programs])] selected by --suite and --test."""
    chosen = []
    suites = suite_defs.SUITES
    if args.stress:
        suites = suite_defs.STRESS_SUITES
    unknown = set(args.suite or ()) - {s.name for s in suites}
    if unknown:
        sys.exit(f"vmtest: no such suite: {', '.join(sorted(unknown))}")
    for suite in suites:
        if args.suite and suite.name not in args.suite:
            continue
        progs = [p for p in suite.programs if not args.test or
                 fnmatch.fnmatch(f"{suite.name}/{p.name}", args.test) or
                 args.test in f"{suite.name}/{p.name}"]
        if progs:
            chosen.append((suite, progs))
    return chosen


def check_inputs(args):
    paths = [args.kernel_image, args.modules_dir, args.progs,
             args.busybox] + [os.path.join(args.progs, p)
                              for p in args.programs]
    if not args.builtin:
        paths.append(args.module)
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        for p in missing:
            print(f"vmtest: missing: {p}", file=sys.stderr)
        sys.exit(2)
    if not shutil.which(args.qemu):
        sys.exit(f"vmtest: QEMU binary not found: {args.qemu}")


def list_suites(chosen):
    for suite, progs in chosen:
        props = ",".join(f"{k}={v}" for k, v in suite.balloon.items())
        feats = suite.features()
        names = [n for b, n in suite_defs.FEATURE_NAMES.items()
                 if feats & (1 << b)]
        print(f"{suite.name}: balloon[{props}] cmdline[{suite.cmdline}] "
              f"expected features 0x{feats:x} ({' '.join(names)})")
        for p in progs:
            print(f"  {suite.name}/{p.name}: {p.binary} {' '.join(p.args)}")


def run_demo(args, initramfs):
    suite = suite_defs.DEMO
    print(f"Booting {args.release} with {args.module} ...")
    results, texts, secs = run_boot(args, initramfs, suite, suite.programs,
                                    lambda m: print(f"host: {m}"))
    res = results[0]
    print("\n".join(res.lines))
    for d in res.diag:
        print(d)
    print(f"(boot took {secs:.1f} s)")
    if res.status != "pass":
        print(f"demo failed; logs in {save_logs(args, suite, texts)}")
        return 1
    return 0


def boot_key(suite):
    """What a guest shares with the suites it can share a boot with."""
    return (suite.memory_mb, suite.smp, suite.cmdline, tuple(suite.modules),
            suite.disk_mb)


def plan_boots(chosen, group, leak_check):
    """The boots that run the @chosen suites: [(boot suite, [(owner suite,
    program)])], one boot per suite or, with @group, one per boot_key()."""
    boots = []
    by_key = {}
    for suite, progs in chosen:
        key = boot_key(suite) if group else len(boots)
        if key in by_key:
            boot_suite, entries = by_key[key]
            setup = replace(SETUP, args=[
                balloon_device(suite),
                "driver" if suite.load_driver else "no-driver", "{module}"])
            entries.append((suite, setup))
            by_key[key] = (replace(boot_suite, timeout=max(
                boot_suite.timeout, suite.timeout)), entries)
        else:
            by_key[key] = (suite, [])
            boots.append(key)
        by_key[key][1].extend((suite, p) for p in progs)
    plans = []
    for key in boots:
        boot_suite, entries = by_key[key]
        shared = len({owner.name for owner, _ in entries}) - 1
        if shared:
            # Named after its first suite and how many more share it.
            boot_suite = replace(boot_suite,
                                 name=f"{boot_suite.name}+{shared}")
        if leak_check:
            entries = entries + [(entries[-1][0], KMEMLEAK)]
        plans.append((boot_suite, entries))
    return plans


def run_tests(kernels, chosen, group=False):
    """Run the @chosen suites on each of @kernels: [(args, initramfs)]."""
    plans = {args.release: plan_boots(chosen, group, args.leak_check)
             for args, _ in kernels}
    total = sum(len(entries) for boots in plans.values()
                for _, entries in boots)
    print("TAP version 13")
    print(f"1..{total}")
    counts = {"pass": 0, "fail": 0, "skip": 0}
    num = 0
    for args, initramfs in kernels:
        rel = args.release
        print(f"# kernel {rel}, module {args.module}")
        for suite, entries in plans[rel]:
            tag = f"{rel}/{suite.name}"
            owners = [owner for owner, _ in entries]
            # Unique names within the boot: suite/program.
            progs = [replace(p, name=f"{owner.name}/{p.name}")
                     for owner, p in entries]
            print(f"# [{tag}] booting ({len(progs)} programs)", flush=True)
            # A shared boot takes long: say as each program ends.
            progress = None
            if len({owner.name for owner in owners}) > 1:
                progress = (lambda line, t=tag: print(
                    f"# [{t}] {line[len(MARKER):].strip()}", flush=True))
            steal = host_steal_seconds()
            results, texts, secs = run_boot(
                args, initramfs, suite, progs,
                lambda m, t=tag: print(f"# [{t}] {m}", flush=True), owners,
                progress)
            steal = host_steal_seconds() - steal
            for prog, res in zip(progs, results):
                num += 1
                counts[res.status] += 1
                for line in res.lines:
                    print(f"    {line}")
                for d in res.diag:
                    print(f"# {d}")
                ok = "not ok" if res.status == "fail" else "ok"
                directive = " # SKIP" if res.status == "skip" else ""
                print(f"{ok} {num} {rel}/{res.name}{directive}")
            failed = any(r.status == "fail" for r in results)
            where = (f", logs in {save_logs(args, suite, texts)}"
                     if failed else "")
            stolen = (f" (host steal {steal:.1f} s)"
                      if steal >= STEAL_REPORT_S else "")
            print(f"# [{tag}] {'FAIL' if failed else 'ok'} in "
                  f"{secs:.1f} s{stolen}{where}", flush=True)
    summary = f"{counts['pass']} passed, {counts['fail']} failed"
    if counts["skip"]:
        summary += f", {counts['skip']} skipped"
    print(summary)
    return 1 if counts["fail"] else 0


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kernel", action="append", required=True,
                    metavar="DIR", help="unpacked kernel image package "
                    "(boot/vmlinuz-<release>, lib/modules/<release>); "
                    "repeatable, one --module each")
    ap.add_argument("--module", action="append", required=True,
                    help="virtio_balloon.ko[.xz] to test with the --kernel "
                    f"of the same position, or '{BUILTIN}' if that kernel "
                    "has the driver built in")
    ap.add_argument("--progs", required=True,
                    help="directory of the built guest programs")
    ap.add_argument("--out", required=True,
                    help="build directory (cache, logs of failed runs)")
    ap.add_argument("--suite", action="append",
                    help="run only this suite (repeatable)")
    ap.add_argument("--test", help="run only suite/program names matching "
                    "this substring or glob")
    ap.add_argument("--list", action="store_true", help="list and exit")
    ap.add_argument("--demo", action="store_true",
                    help="boot once (first kernel) and describe the driver")
    ap.add_argument("--stress", action="store_true",
                    help="run the stress suites at their full counts")
    ap.add_argument("--group", action="store_true",
                    help="suites that need the same guest share a boot")
    ap.add_argument("--smp", type=int, help="vCPUs of every guest "
                    "(default: each suite's own)")
    ap.add_argument("--cmdline", default="",
                    help="more kernel command line for every guest")
    ap.add_argument("--driver-features", metavar="NAME,...",
                    help="the only features the driver accepts (a stage "
                    "of the patch series; default: all)")
    ap.add_argument("--qemu", default=QEMU)
    ap.add_argument("--busybox", default=BUSYBOX)
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="copy the guest console to stderr")
    args = ap.parse_args()
    if len(args.kernel) != len(args.module):
        ap.error("give one --module for each --kernel")
    args.out = os.path.abspath(args.out)
    return args


def kernel_args(args, kdir, module, programs=()):
    """@args for one kernel: image, modules dir, release and module; the
    guest gets the test programs and @programs (a benchmark's)."""
    kargs = copy.copy(args)
    kargs.programs = GUEST_PROGRAMS + list(programs)
    mods = os.path.join(kdir, "lib", "modules")
    releases = sorted(os.listdir(mods)) if os.path.isdir(mods) else []
    if len(releases) != 1:
        sys.exit(f"vmtest: {kdir} is not an unpacked kernel image "
                 f"(expected one release under {mods})")
    kargs.release = releases[0]
    kargs.modules_dir = os.path.join(mods, kargs.release)
    kargs.kernel_image = os.path.join(kdir, "boot",
                                      f"vmlinuz-{kargs.release}")
    kargs.module = module
    kargs.builtin = module == BUILTIN
    config = set()
    try:
        with open(os.path.join(kdir, "boot", f"config-{kargs.release}")) as f:
            config = {line.strip() for line in f}
    except FileNotFoundError:
        pass
    # A kernel with kmemleak gets a scan at the end of every boot.
    kargs.leak_check = "CONFIG_DEBUG_KMEMLEAK=y" in config
    kasan = "CONFIG_KASAN=y" in config
    kargs.slow = KASAN_TIMEOUT_SCALE if kasan else 1
    # Other front ends (the benchmarks) have no --smp.
    kargs.smp = getattr(args, "smp", None)
    kargs.cmdline = " ".join(filter(None, (KASAN_CMDLINE if kasan else "",
                                           getattr(args, "cmdline", ""))))
    if kargs.builtin and f"CONFIG_{suite_defs.DRIVER_NAME.upper()}=y" not in config:
        sys.exit(f"vmtest: --module {BUILTIN}, but {kdir}/boot/config-"
                 f"{kargs.release} does not have the driver built in")
    return kargs


def main():
    args = parse_args()
    if args.driver_features:
        try:
            suite_defs.limit_driver_features(
                args.driver_features.split(","))
        except ValueError as e:
            sys.exit(f"vmtest: --driver-features: {e}")
    chosen = select_programs(args)
    if args.list:
        list_suites(chosen)
        if args.group:
            for n, (_, entries) in enumerate(plan_boots(chosen, True, False)):
                names = dict.fromkeys(owner.name for owner, _ in entries)
                print(f"boot {n + 1}: {' '.join(names)}")
        return 0
    if not chosen and not args.demo:
        sys.exit("vmtest: no suite or test matches")
    kernels = [kernel_args(args, k, m)
               for k, m in zip(args.kernel, args.module)]
    if args.demo:
        kernels = kernels[:1]
    for kargs in kernels:
        check_inputs(kargs)
    # Make SIGTERM unwind like Ctrl-C so that every VM gets cleaned up.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        built = [(kargs, Initramfs(kargs, ModuleIndex(kargs.modules_dir)))
                 for kargs in kernels]
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"vmtest: cannot build the initramfs: {e}")
    if args.demo:
        return run_demo(*built[0])
    return run_tests(built, chosen, args.group)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("vmtest: interrupted")
