# SPDX-License-Identifier: GPL-2.0
"""Test suites of the virtio-balloon harness.  One suite is one VM boot.

Program arguments may use these placeholders, filled in by vmtest.py:
  {module}    guest path of the balloon module under test
  {features}  balloon feature bits (hex) expected for the suite's device
              properties and guest command line, see expected_features()
  {poison}    poison_val (hex) the driver must write, see expected_poison()
"""

import os
import re
from dataclasses import dataclass, field, replace

UAPI_HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           *[os.pardir] * 6, "include", "uapi", "linux",
                           "virtio_balloon.h")


def _uapi_numbers(prefix):
    """{suffix: value} of the uapi header's numeric #defines of @prefix."""
    with open(UAPI_HEADER, encoding="utf-8") as f:
        return {m.group(1): int(m.group(2)) for m in re.finditer(
            r"^#define\s+" + prefix + r"(\w+)\s+(\d+)\b", f.read(), re.M)}


# VIRTIO_BALLOON_F_* feature bits, by name and by number.
_BITS = _uapi_numbers("VIRTIO_BALLOON_F_")
MUST_TELL_HOST = _BITS["MUST_TELL_HOST"]
STATS_VQ = _BITS["STATS_VQ"]
DEFLATE_ON_OOM = _BITS["DEFLATE_ON_OOM"]
FREE_PAGE_HINT = _BITS["FREE_PAGE_HINT"]
PAGE_POISON = _BITS["PAGE_POISON"]
PAGE_REPORTING = _BITS["PAGE_REPORTING"]
FEATURE_NAMES = {bit: name for name, bit in _BITS.items()}


def _prop_on(props, name, default):
    return props.get(name, "on" if default else "off") == "on"


# When QEMU 7.2's virtio-balloon-pci offers each feature, from the device
# properties (see "qemu-system-x86_64 -device virtio-balloon-pci,help").
DEVICE_OFFERS = {
    MUST_TELL_HOST: lambda props: False,
    STATS_VQ: lambda props: True,
    DEFLATE_ON_OOM: lambda props: _prop_on(props, "deflate-on-oom", False),
    FREE_PAGE_HINT: lambda props: _prop_on(props, "free-page-hint", False),
    PAGE_POISON: lambda props: _prop_on(props, "page-poison", True),
    PAGE_REPORTING: lambda props: _prop_on(props, "free-page-reporting",
                                           False),
}


def needs_guest_poisoning(guest_poisons, _negotiated):
    """PAGE_POISON is kept only if the guest poisons or zeroes freed pages."""
    return guest_poisons


def no_reporting_of_unreported_poison(guest_poisons, negotiated):
    """Free page reporting would lose the poison pattern of free pages, so
    it is dropped when the guest poisons pages but the host was not told."""
    return not guest_poisons or PAGE_POISON in negotiated


# Features the balloon driver under test accepts: "accepted" says whether
# the driver advertises the feature at all, "rule" (or None) whether the
# guest state still decides per boot.  Rules are evaluated in bit order
# and see the features negotiated so far.  One line per feature: flip a
# flag when the driver learns (or drops) a feature.
DRIVER_FEATURES = {
    #                 accepted  rule
    MUST_TELL_HOST: (True,     None),
    STATS_VQ:       (True,     None),
    DEFLATE_ON_OOM: (True,     None),
    FREE_PAGE_HINT: (True,     None),
    PAGE_POISON:    (True,     needs_guest_poisoning),
    PAGE_REPORTING: (True,     no_reporting_of_unreported_poison),
}



def limit_driver_features(names):
    """Expect the driver to accept only the features @names (a stage of
    the patch series): it refuses the others at negotiation."""
    unknown = set(names) - set(_BITS)
    if unknown:
        raise ValueError(f"unknown features {', '.join(sorted(unknown))}")
    for bit, (_, rule) in DRIVER_FEATURES.items():
        if FEATURE_NAMES[bit] not in names:
            DRIVER_FEATURES[bit] = (False, rule)


# Guest command line options that make the kernel poison or zero freed
# pages (values as accepted by kstrtobool()).
GUEST_POISON_PARAMS = ("page_poison", "init_on_free")
KERNEL_TRUE = ("1", "y", "Y", "on")


def guest_poisons(cmdline):
    """Whether the guest kernel poisons or zeroes pages it frees."""
    for word in cmdline.split():
        key, _, val = word.partition("=")
        if key in GUEST_POISON_PARAMS and val in KERNEL_TRUE:
            return True
    return False


def expected_features(props, cmdline, driver=None):
    """Balloon feature bits (as an int) expected after negotiation."""
    driver = driver or DRIVER_FEATURES
    poisons = guest_poisons(cmdline)
    negotiated = set()
    for bit in sorted(driver):
        accepted, rule = driver[bit]
        if not (accepted and DEVICE_OFFERS[bit](props)):
            continue
        if rule is None or rule(poisons, negotiated):
            negotiated.add(bit)
    return sum(1 << bit for bit in negotiated)


# The kernel's PAGE_POISON byte, repeated over poison_val's 32 bits.
PAGE_POISON_VAL = 0xaaaaaaaa


def expected_poison(props, cmdline):
    """poison_val the driver writes: the poison pattern with page_poison
    (which takes precedence over init_on_free in the kernel), 0 for
    init_on_free, and 0 when PAGE_POISON is not negotiated at all."""
    if not expected_features(props, cmdline) & (1 << PAGE_POISON):
        return 0
    for word in cmdline.split():
        key, _, val = word.partition("=")
        if key == "page_poison" and val in KERNEL_TRUE:
            return PAGE_POISON_VAL
    return 0


@dataclass
class Program:
    """One guest program run: @binary from the progs dir with @args.

    @expect_oom: the OOM killer may act during it; its reports are not
    kernel splats.
    @pressure: it runs the guest short of memory; page allocation failure
    reports whose call trace has no balloon driver function in it are not
    kernel splats (see vmtest.ALLOC_FAIL_BEGIN_RE).
    """
    name: str
    binary: str
    args: list = field(default_factory=list)
    timeout: int = 60
    expect_oom: bool = False
    pressure: bool = False


@dataclass
class Suite:
    """One VM boot.

    @balloon: virtio-balloon-pci properties ("iothread" is added for
    free-page-hint=on); @cmdline: extra guest kernel parameters;
    @modules: extra modules (by name) loaded by init before the driver;
    @disk_mb: size of a virtio-blk disk (/dev/vda, sparse raw image), if any;
    @load_driver: whether init loads the module under test;
    @timeout: whole boot, in seconds, on top of the program timeouts.
    """
    name: str
    programs: list
    balloon: dict = field(default_factory=dict)
    cmdline: str = ""
    memory_mb: int = 1024
    smp: int = 2
    modules: list = field(default_factory=list)
    disk_mb: int = 0
    load_driver: bool = True
    timeout: int = 60

    def features(self):
        return expected_features(self.balloon, self.cmdline)

    def poison_val(self):
        return expected_poison(self.balloon, self.cmdline)


FEATURES = Program("features", "features_test", ["{features}", "{poison}"],
                   30)
MIGRATE_TIMEOUT = 300
RESIZE_TIMEOUT = 300
# Hinting programs: a few migrations of a 1 GiB guest each.
HINT_TIMEOUT = 180
# A bind and an unbind for each allocation of probe, under KASAN on the
# debug kernel.
PROBE_FAIL_TIMEOUT = 900
# The page-cache test's disk: larger than the guest, so reads do not all hit
# the cache.
OOM_DISK_MB = 1536

# The balloon device's qdev id (QEMU: -device virtio-balloon-pci,id=...).
BALLOON_ID = "balloon0"
# The driver under test, as the kernel names it (module, sysfs).
DRIVER_NAME = "virtio_balloon"


def _features_suite(name, cmdline="", **props):
    return Suite(name, [FEATURES], balloon=props, cmdline=cmdline)


def _hint_suite(name, mode, args=(), memory_mb=Suite.memory_mb):
    """One boot running hint_test @mode with free-page-hint=on."""
    return Suite(name, [Program(mode, "hint_test", [mode, *args],
                                HINT_TIMEOUT)],
                 balloon={"free-page-hint": "on"}, memory_mb=memory_mb)


# Stress and faults (stress_test.c, and hint_test's integrity churn across
# many migrations), at the counts make stress runs.
STRESS_REBIND_CYCLES = 100
STRESS_FAULT_ROUNDS = 20
STRESS_MIGRATIONS = 50
STRESS_TIMEOUT = 3600
STRESS_SUITES = [
    Suite("stress-rebind", [
        Program("rebind", "stress_test",
                ["rebind", "{module}", str(STRESS_REBIND_CYCLES)],
                STRESS_TIMEOUT),
    ]),
    # Found QEMU losing the device's interrupt when reset while its
    # iothread polls the free page queue (see vb_hint_quiesce()).
    Suite("stress-rebind-hint", [
        Program("rebind-hint", "stress_test",
                ["rebind-hint", "{module}", str(STRESS_REBIND_CYCLES)],
                STRESS_TIMEOUT),
    ], balloon={"free-page-hint": "on"}),
    Suite("stress-faults", [
        Program("faults", "stress_test",
                ["faults", "{module}", str(STRESS_FAULT_ROUNDS)],
                STRESS_TIMEOUT),
    ], balloon={"free-page-hint": "on", "free-page-reporting": "on",
                "page-poison": "off", "guest-stats-polling-interval": "1"}),
    Suite("stress-migrations", [
        Program("integrity", "hint_test",
                ["integrity", f"pingpong={STRESS_MIGRATIONS}"],
                STRESS_TIMEOUT),
    ], balloon={"free-page-hint": "on"}),
]
# make check runs these at these counts (stress-migrations is
# hint-integrity at a higher count).
STRESS_CHECK_COUNTS = {"stress-rebind": 20, "stress-rebind-hint": 10,
                       "stress-faults": 3}
STRESS_CHECK_TIMEOUT = 900

SUITES = [
    Suite("probe", [Program("probe", "probe_test", ["{module}"], 60)],
          load_driver=False),
    # Device property matrix: every property on and off at least once,
    # hinting with and without reporting, poison with and without it.
    _features_suite("features-default"),
    _features_suite("features-none", **{"page-poison": "off"}),
    _features_suite("features-all", **{
        "free-page-hint": "on", "deflate-on-oom": "on",
        "page-poison": "on", "free-page-reporting": "on"}),
    _features_suite("features-hint-oom", **{
        "free-page-hint": "on", "deflate-on-oom": "on",
        "page-poison": "off"}),
    _features_suite("features-report", **{
        "free-page-reporting": "on", "page-poison": "off"}),
    # The guest poisons freed pages: PAGE_POISON is negotiated if offered,
    # otherwise page reporting must be turned down.
    _features_suite("poison-guest", "page_poison=1", **{
        "page-poison": "on", "free-page-reporting": "on"}),
    _features_suite("poison-guest-no-pp", "page_poison=1", **{
        "page-poison": "off", "free-page-reporting": "on",
        "deflate-on-oom": "on"}),
    # init_on_free: PAGE_POISON with poison_val 0.
    _features_suite("init-on-free", "init_on_free=1", **{
        "page-poison": "on", "free-page-reporting": "on"}),
    _features_suite("init-on-free-no-pp", "init_on_free=1", **{
        "page-poison": "off", "free-page-reporting": "on"}),
    # With page poisoning on, no poison check fails after a hinted
    # migration, inflate/deflate cycles and an allocation of most of the
    # memory (vmtest.py counts "pagealloc:" reports as splats).  The
    # migration comes first: after a program has touched most of the
    # memory, QEMU 7.2's first dirty-bitmap sync (see vm.py) can hold its
    # big lock for minutes.
    Suite("poison-check", [
        Program("hint", "hint_test", ["basic"], HINT_TIMEOUT),
        Program("inflate-after-hint", "inflate_test", [], RESIZE_TIMEOUT),
    ], balloon={"free-page-hint": "on", "page-poison": "on"},
        cmdline="page_poison=1"),
    # Migration plumbing, without hinting.
    Suite("migrate", [
        FEATURES,
        Program("migrate-pingpong", "migrate_test", ["-n", "3"],
                MIGRATE_TIMEOUT),
        Program("migrate-cancel", "migrate_test",
                ["-e", "cancelled", "max-bandwidth=1048576",
                 "cancel-after-ms=500"], MIGRATE_TIMEOUT),
        Program("migrate-postcopy", "migrate_test", ["postcopy=on"],
                MIGRATE_TIMEOUT),
        replace(FEATURES, name="features-after-migration"),
    ], balloon={"deflate-on-oom": "on", "guest-stats-polling-interval": "2"}),
    # The balloon itself (issue: core driver).
    Suite("inflate", [
        Program("inflate", "inflate_test", [], RESIZE_TIMEOUT),
        Program("range", "range_test", [], RESIZE_TIMEOUT),
        Program("compaction", "compaction_test", [], RESIZE_TIMEOUT),
        Program("unload", "teardown_test", ["unload", "{module}"],
                RESIZE_TIMEOUT),
    ]),
    Suite("inflate-oom", [
        Program("inflate", "inflate_test", [], RESIZE_TIMEOUT),
    ], balloon={"deflate-on-oom": "on"}),
    # Deflate-on-OOM through the shrinker (issue: deflate-on-OOM).  The
    # page cache comes from a virtio-blk disk.
    Suite("oom", [
        Program("cache", "oom_test", ["cache"], RESIZE_TIMEOUT,
                pressure=True),
        Program("anon", "oom_test", ["anon"], RESIZE_TIMEOUT,
                pressure=True),
    ], balloon={"deflate-on-oom": "on"}, modules=["virtio_blk"],
        disk_mb=OOM_DISK_MB),
    Suite("oom-off", [
        Program("anon-kept", "oom_test", ["anon-kept"], RESIZE_TIMEOUT,
                expect_oom=True),
    ]),
    Suite("stats", [Program("stats", "stats_test", [], RESIZE_TIMEOUT)],
          balloon={"guest-stats-polling-interval": "1"}),
    Suite("unplug", [
        Program("device-del", "teardown_test", ["device-del", BALLOON_ID],
                RESIZE_TIMEOUT),
    ]),
    Suite("unplug-busy", [
        Program("device-del-busy", "teardown_test",
                ["device-del-busy", BALLOON_ID], RESIZE_TIMEOUT),
    ]),
    Suite("suspend", [Program("freeze", "pm_test", [], RESIZE_TIMEOUT)]),
    Suite("probe-fail", [
        Program("probe-fail", "probe_fail_test", ["{module}"],
                PROBE_FAIL_TIMEOUT),
    ], balloon={"free-page-hint": "on", "free-page-reporting": "on",
                "page-poison": "off"}, load_driver=False),
    # Free page hinting across real migrations (issue: free page hinting).
    # One boot per program that hints, so each starts from a fresh guest
    # (unbind leaves no driver, pressure leaves memory fragmented).
    Suite("hint", [
        FEATURES,
        Program("postcopy", "hint_test", ["postcopy"], MIGRATE_TIMEOUT),
    ], balloon={"free-page-hint": "on"}),
    _hint_suite("hint-basic", "basic"),
    _hint_suite("hint-pressure", "pressure"),
    _hint_suite("hint-unbind", "unbind"),
    _hint_suite("hint-unload", "unload", ["{module}"]),
    # Hot-unplug during a run, as the guest sees it: QEMU refuses
    # device_del during a migration, so the guest removes the PCI function.
    _hint_suite("hint-remove", "remove"),
    # The same churn without hinting: what migration alone guarantees.
    Suite("migrate-integrity", [
        Program("integrity", "hint_test", ["integrity"], HINT_TIMEOUT),
    ]),
    _hint_suite("hint-integrity", "integrity"),
    # Stress and fault injection, at the reduced counts (make stress runs
    # STRESS_SUITES).  The faults program skips on kernels without fault
    # injection, i.e. everywhere but the debug kernel.
    *[replace(s, programs=[replace(p, args=[*p.args[:-1],
                                            str(STRESS_CHECK_COUNTS[s.name])],
                                   timeout=STRESS_CHECK_TIMEOUT)
                           for p in s.programs])
      for s in STRESS_SUITES if s.name in STRESS_CHECK_COUNTS],
]

# --demo: one boot showing what the driver does, in plain text.
DEMO = Suite("demo", [Program("demo", "balloon_info", [], 120)],
             balloon={"guest-stats-polling-interval": "1"})
