# SPDX-License-Identifier: GPL-2.0
"""Test suites of the virtio-balloon harness.  One suite is one VM boot.

Program arguments may use these placeholders, filled in by vmtest.py:
  {module}    guest path of the balloon module under test
  {features}  balloon feature bits (hex) expected for the suite's device
              properties and guest command line, see expected_features()
"""

from dataclasses import dataclass, field, replace

# VIRTIO_BALLOON_F_* feature bits.
MUST_TELL_HOST = 0
STATS_VQ = 1
DEFLATE_ON_OOM = 2
FREE_PAGE_HINT = 3
PAGE_POISON = 4
PAGE_REPORTING = 5

FEATURE_NAMES = {
    MUST_TELL_HOST: "MUST_TELL_HOST",
    STATS_VQ: "STATS_VQ",
    DEFLATE_ON_OOM: "DEFLATE_ON_OOM",
    FREE_PAGE_HINT: "FREE_PAGE_HINT",
    PAGE_POISON: "PAGE_POISON",
    PAGE_REPORTING: "PAGE_REPORTING",
}


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


@dataclass
class Program:
    """One guest program run: @binary from the progs dir with @args.

    @known_issue: why the program is expected to fail on this platform; it
    still runs, and a failure is reported as TAP "not ok ... # TODO".
    """
    name: str
    binary: str
    args: list = field(default_factory=list)
    timeout: int = 60
    known_issue: str = ""


@dataclass
class Suite:
    """One VM boot.

    @balloon: virtio-balloon-pci properties ("iothread" is added for
    free-page-hint=on); @cmdline: extra guest kernel parameters;
    @modules: extra modules (by name) loaded by init before the driver;
    @load_driver: whether init loads the module under test;
    @timeout: whole boot, in seconds, on top of the program timeouts;
    @bench: a benchmark, run only by vmtest.py --bench.
    """
    name: str
    programs: list
    balloon: dict = field(default_factory=dict)
    cmdline: str = ""
    memory_mb: int = 1024
    smp: int = 2
    modules: list = field(default_factory=list)
    load_driver: bool = True
    timeout: int = 60
    bench: bool = False

    def features(self):
        return expected_features(self.balloon, self.cmdline)


FEATURES = Program("features", "features_test", ["{features}"], 30)
MIGRATE_TIMEOUT = 300
RESIZE_TIMEOUT = 300
# Programs expected to fail under TCG (TCG_LOSES_WRITES) can hang the guest
# instead of crashing it; their migrations take seconds, so this bounds
# what a hang costs make check.
KNOWN_ISSUE_TIMEOUT = 120
# QEMU 7.2 under TCG loses guest kernel writes made during a live
# migration: the destination kernel soon oopses on stale memory (task
# structs, lists, stacks) while user memory verifies.  Multi-threaded TCG
# does it on the first migration (vmtest.py runs thread=single because of
# it); single-threaded TCG less often, but still (6.1, no hinting, second
# migration of a churning guest).  A hinting run is kernel work during the
# migration, so hinted migrations hit it every time: after one, about 40
# never-hinted kernel pages differ between source and destination
# (pmemsave of both, destination paused on arrival), none without hinting
# on an idle guest.  Debian's driver and ours alike.
TCG_LOSES_WRITES = ("QEMU 7.2 TCG loses guest kernel writes made during a "
                    "live migration (both drivers)")

# The balloon device's qdev id (QEMU: -device virtio-balloon-pci,id=...).
BALLOON_ID = "balloon0"


def _features_suite(name, cmdline="", **props):
    return Suite(name, [FEATURES], balloon=props, cmdline=cmdline)


def _hint_suite(name, mode):
    """One boot running hint_test @mode with free-page-hint=on."""
    return Suite(name, [Program(mode, "hint_test", [mode],
                                KNOWN_ISSUE_TIMEOUT, TCG_LOSES_WRITES)],
                 balloon={"free-page-hint": "on"})


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
        Program("probe-fail", "probe_fail_test", ["{module}"], 120),
    ], balloon={"free-page-hint": "on", "free-page-reporting": "on",
                "page-poison": "off"}, load_driver=False),
    # Free page hinting across real migrations (issue: free page hinting).
    # One boot per program that hints: under TCG a hinted migration can
    # take the guest down (TCG_LOSES_WRITES), which must not cost the
    # programs after it their run.
    Suite("hint", [
        FEATURES,
        Program("postcopy", "hint_test", ["postcopy"], MIGRATE_TIMEOUT),
    ], balloon={"free-page-hint": "on"}),
    _hint_suite("hint-basic", "basic"),
    _hint_suite("hint-pressure", "pressure"),
    _hint_suite("hint-unbind", "unbind"),
    # The same churn without hinting: what migration alone guarantees.
    Suite("migrate-integrity", [
        Program("integrity", "hint_test", ["integrity"],
                KNOWN_ISSUE_TIMEOUT, TCG_LOSES_WRITES),
    ]),
    _hint_suite("hint-integrity", "integrity"),
]

# Benchmarks (vmtest.py --bench, make bench-resize): not part of the tests.
BENCH_SUITES = [
    Suite("bench-resize", [
        Program("resize", "resize_bench", ["512", "5"], RESIZE_TIMEOUT),
    ], bench=True),
]

# --demo: one boot showing what the driver does, in plain text.
DEMO = Suite("demo", [Program("demo", "balloon_info", [], 120)],
             balloon={"guest-stats-polling-interval": "1"})
