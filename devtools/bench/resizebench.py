#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Inflate and deflate throughput of balloon drivers, side by side.

Each --kernel/--module pair boots one guest (the harness of vmtest.py) that
runs resize_bench; boots alternate between the pairs, so slow drifts of the
machine hit every driver alike.  Each figure is the median over all rounds
of a driver; "x first" is its ratio to the first pair's of the same kernel.
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys

import migbench
from migbench import suite_defs, vmtest

RESIZE_BENCH = "resize_bench"
# Balloon size, MiB, and rounds per boot.
RESIZE_ARGS = ["512", "5"]
RESIZE_TIMEOUT = 300
SUITE = suite_defs.Suite("bench-resize", [
    suite_defs.Program("resize", RESIZE_BENCH, RESIZE_ARGS, RESIZE_TIMEOUT)])


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kernel", action="append", required=True,
                    metavar="DIR", help="unpacked kernel image package; "
                    "repeatable, one --module each")
    ap.add_argument("--module", action="append", required=True,
                    help="virtio_balloon.ko[.xz] to measure with the "
                    "--kernel of the same position")
    ap.add_argument("--progs", required=True,
                    help="directory of the built guest programs")
    ap.add_argument("--out", required=True,
                    help="build directory (cache, logs of failed runs)")
    ap.add_argument("--boots", type=int, default=2,
                    help="boots per driver (default: 2)")
    ap.add_argument("--qemu", default=vmtest.QEMU)
    ap.add_argument("--busybox", default=vmtest.BUSYBOX)
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="copy the guest console to stderr")
    args = ap.parse_args()
    if len(args.kernel) != len(args.module):
        ap.error("give one --module for each --kernel")
    if args.boots < 1:
        ap.error("--boots must be at least 1")
    args.out = os.path.abspath(args.out)
    return args


def main():
    args = parse_args()
    kernels = [vmtest.kernel_args(args, k, m, [RESIZE_BENCH])
               for k, m in zip(args.kernel, args.module)]
    for kargs in kernels:
        vmtest.check_inputs(kargs)
    # Make SIGTERM unwind like Ctrl-C so that every VM gets cleaned up.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        built = [(kargs, vmtest.Initramfs(
            kargs, vmtest.ModuleIndex(kargs.modules_dir)))
                 for kargs in kernels]
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"resizebench: cannot build the initramfs: {e}")

    table = {}
    failed = False
    for boot in range(args.boots):
        for kargs, initramfs in built:
            # Parent directory too: every balloon module has the same name.
            label = (f"{kargs.release} "
                     f"{os.path.basename(os.path.dirname(kargs.module))}/"
                     f"{os.path.basename(kargs.module)}")
            print(f"# [{boot + 1}/{args.boots}] {label}", flush=True)
            results, texts, _ = vmtest.run_boot(kargs, initramfs, SUITE,
                                                SUITE.programs,
                                                lambda m: None)
            for res in results:
                if res.status != "pass":
                    failed = True
                    where = vmtest.save_logs(kargs, SUITE, texts)
                    print(f"# {label} failed, logs in {where}", flush=True)
                for parsed in map(migbench.bench_line, res.lines):
                    if not parsed:
                        continue
                    what, figures = parsed
                    for key, val in figures.items():
                        table.setdefault((kargs.release, what, key),
                                         {}).setdefault(label, []).append(val)

    print(f"{'kernel / figure':40} {'driver':36} {'median':>9} "
          f"{'spread':>15} {'x first':>8}")
    for (rel, what, key), by_label in sorted(table.items()):
        first = None
        for label, vals in by_label.items():
            med = statistics.median(vals)
            first = med if first is None else first
            ratio = f"{med / first:.2f}" if first else "-"
            print(f"{rel + ' ' + what + ' ' + key:40} {label.split()[1]:36} "
                  f"{med:9.1f} {min(vals):7.1f}-{max(vals):<7.1f} {ratio:>8}")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("resizebench: interrupted")
