#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Boot every stage of the patch series and run the suites of its features.

The driver's stages (devtools/series.py stages) are each built as a module
(W=1, no warning) for one kernel, the Debian kernel the series' tree
matches, and booted with the guest suites of the features the stage has:
its own and those of the stages before it.  Features a stage does not
have yet are expected to be refused at negotiation (vmtest.py
--driver-features), so the feature matrix runs at every stage.
"""

import argparse
import os
import shutil
import subprocess
import sys

import series

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SELFTESTS = os.path.join(REPO, "tools", "testing", "selftests", "drivers",
                         "virtio", "balloon")
sys.path.insert(0, SELFTESTS)
import suites as suite_defs  # noqa: E402

KBUILD = os.path.join(REPO, "drivers", "virtio", "Kbuild")
UAPI = os.path.join(REPO, "include", "uapi")

# Per stage, in series order: the features its patch adds and the suites
# that come with them.  The feature-matrix suites only check negotiation,
# which every stage must get right, so they run from the first.
STAGE_TESTS = {
    "core": (["MUST_TELL_HOST", "STATS_VQ", "PAGE_REPORTING"],
             ["probe", "probe-fail", "features-default", "features-none",
              "features-all", "features-hint-oom", "features-report",
              "poison-guest", "poison-guest-no-pp", "init-on-free",
              "init-on-free-no-pp", "inflate", "stats", "unplug",
              "unplug-busy", "suspend", "migrate", "migrate-integrity",
              "stress-rebind"]),
    "shrinker": (["DEFLATE_ON_OOM"], ["inflate-oom", "oom", "oom-off"]),
    "hint": (["FREE_PAGE_HINT"],
             ["hint", "hint-basic", "hint-pressure", "hint-unbind",
              "hint-unload", "hint-remove", "hint-integrity",
              "stress-rebind-hint", "stress-faults"]),
    "poison": (["PAGE_POISON"], ["poison-check"]),
}


def plan():
    """[(stage, features, suites)], each stage with what came before."""
    if list(STAGE_TESTS) != series.STAGES:
        sys.exit(f"patches-test: stages {list(STAGE_TESTS)} are not the "
                 f"series' {series.STAGES}")
    every = {s.name for s in suite_defs.SUITES}
    named = [n for _, suites in STAGE_TESTS.values() for n in suites]
    if set(named) != every or len(named) != len(every):
        sys.exit("patches-test: STAGE_TESTS must name every suite once; "
                 f"missing {sorted(every - set(named))}, unknown "
                 f"{sorted(set(named) - every)}")
    out, features, suites = [], [], []
    for stage, (adds, tests) in STAGE_TESTS.items():
        features += adds
        suites += tests
        out.append((stage, list(features), list(suites)))
    return out


def build(stage, files, kdir, outdir):
    """The stage's module, built W=1 for @kdir; its path."""
    src = os.path.join(outdir, stage)
    shutil.rmtree(src, ignore_errors=True)
    os.makedirs(src)
    for path, text in files.items():
        with open(os.path.join(src, os.path.basename(path)), "w") as f:
            f.write(text)
    shutil.copy(KBUILD, src)
    log = os.path.join(src, "build.log")
    with open(log, "w") as f:
        code = subprocess.call(["make", "-C", kdir, f"M={src}",
                                f"NOSTDINC_FLAGS=-I{UAPI}", "W=1",
                                "modules"], stdout=f,
                               stderr=subprocess.STDOUT)
    with open(log) as f:
        text = f.read()
    if code or "warning:" in text or "error:" in text:
        sys.exit(f"patches-test: stage {stage} does not build cleanly:\n"
                 + "\n".join(text.splitlines()[-20:]))
    return os.path.join(src, "virtio_balloon.ko")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kernel", required=True, metavar="DIR",
                    help="unpacked kernel image package")
    ap.add_argument("--kdir", required=True,
                    help="that kernel's headers, to build the stages")
    ap.add_argument("--progs", required=True,
                    help="directory of the built guest programs")
    ap.add_argument("--out", required=True, help="build directory")
    ap.add_argument("--stage", action="append", choices=series.STAGES,
                    help="only this stage (repeatable)")
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    staged = series.staged_files(REPO)
    failed = []
    for stage, features, suites in plan():
        if args.stage and stage not in args.stage:
            continue
        module = build(stage, staged[stage], args.kdir,
                       os.path.join(out, "stages"))
        print(f"# stage {stage}: {len(suites)} suites, features "
              f"{' '.join(features)}", flush=True)
        cmd = [sys.executable, os.path.join(SELFTESTS, "vmtest.py"),
               "--kernel", args.kernel, "--module", module,
               "--progs", args.progs, "--out", os.path.join(out, stage),
               "--driver-features", ",".join(features)]
        for name in suites:
            cmd += ["--suite", name]
        if subprocess.call(cmd):
            failed.append(stage)
    if failed:
        print(f"patches-test: FAILED at {', '.join(failed)}")
        return 1
    print("patches-test: every stage passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("patches-test: interrupted")
