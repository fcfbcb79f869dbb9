# SPDX-License-Identifier: GPL-2.0
#
# Out-of-tree build, static checks, guest tests and benchmarks of the
# virtio-balloon driver.  `make help` lists the targets.

CACHE ?= $(or $(BALLOON_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/virtio-balloon)
export BALLOON_CACHE := $(CACHE)
BUILD := $(CURDIR)/build
SELFTEST_DIR := tools/testing/selftests/drivers/virtio/balloon
BENCH_DIR := devtools/bench

DRIVER_SRCS := drivers/virtio/virtio_balloon.c drivers/virtio/virtio_balloon_compat.h
UAPI_HDR := include/uapi/linux/virtio_balloon.h
DRIVER_DEPS := $(DRIVER_SRCS) $(UAPI_HDR) drivers/virtio/Kbuild

# Our uapi header must win over the kernel's own copy: NOSTDINC_FLAGS comes
# before the kernel's include path on the compiler command line.
KBUILD_ARGS = NOSTDINC_FLAGS="-I$(CURDIR)/include/uapi" W=1

.PHONY: all setup modules sparse checkpatch kernel-doc lint dkms-check selftests bench-progs \
	guest-tests list check demo inflate-demo bench bench-smoke bench-resize \
	intree patches patches-test debug-kernel debug-tests debug-check stress clean help

# The kernels.mk rule below must not become the default goal.
.DEFAULT_GOAL := all

# Targets that only read the working tree need no kernels.
NO_KERNEL_GOALS := clean help
ifneq ($(filter-out $(NO_KERNEL_GOALS),$(or $(MAKECMDGOALS),all)),)
-include $(CACHE)/kernels.mk
$(CACHE)/kernels.mk:
	sh devtools/setup.sh
endif

# KDIR=<headers tree> builds for one other kernel, into build/custom.
ifdef KDIR
KERNELS := custom
KDIR_custom := $(KDIR)
MAINLINE :=
endif

# The mainline trees are only built against: they have no Module.symvers,
# so modpost cannot resolve the kernel's symbols there.
MODULES := $(foreach k,$(KERNELS) $(MAINLINE),$(BUILD)/$(k)/virtio_balloon.ko)

all: modules

help:
	@echo "make                 build virtio_balloon.ko for every target kernel and mainline tree (W=1)"
	@echo "make KDIR=<dir>      build for the kernel whose headers are in <dir>"
	@echo "make setup           install packages, fetch the target kernels"
	@echo "make lint            sparse, checkpatch --strict and kernel-doc"
	@echo "make dkms-check      dkms build of dkms.conf for every target kernel (installs nothing)"
	@echo "make check           everything above plus all guest tests on every kernel"
	@echo "make check T=<name>  only the guest tests whose name contains <name>"
	@echo "make guest-tests K=<release prefix>  only the test matrix's runs on those kernels"
	@echo "make intree          the driver in the newest mainline tree, built in (=y) and as a module (=m),"
	@echo "                     and the patch series checked (make patches)"
	@echo "make patches         the patch series against the newest mainline tree in build/patches, checked"
	@echo "make patches-test    boot every stage of the series with the suites of its features (STAGE=<stage>)"
	@echo "make debug-tests     the guest tests on the debug kernel (KASAN, lockdep, kmemleak; T= too)"
	@echo "make debug-check     all of them, suites that need the same guest sharing a boot"
	@echo "make stress          stress and fault injection on the debug kernel, full counts (T= too)"
	@echo "make demo            the main job: migrate a guest with hinting off, in-tree, ours"
	@echo "make inflate-demo    boot a guest with the driver, inflate and deflate it"
	@echo "make bench           migration benchmark (S=<scenario> P=<profile> C=<config> REPS=<n> BENCH_KERNEL=<rel>"
	@echo "                     BENCH_QEMU=<qemu-x.y.z> GUEST_CMDLINE=<params>)"
	@echo "make bench-smoke     a small migration benchmark with sanity checks (in make check)"
	@echo "make bench-resize    inflate/deflate throughput, ours vs the kernel's own driver"

# make setup (and check, demo) resolve the versions again; the targets they
# run need only the last resolution, RESOLVED, so setup runs once per command.
RESOLVED = $(CACHE)/kernels.mk
setup:
	sh devtools/setup.sh

modules: $(MODULES)

# Kbuild writes its objects next to the sources, so each kernel gets a
# directory of links to them.  Any warning fails the build.  A kernel
# configured or built again (its .config is newer) gets the module built
# again: a module of the same release built for another configuration
# loads, and crashes.
.SECONDEXPANSION:
$(BUILD)/%/virtio_balloon.ko: $(DRIVER_DEPS) $$(wildcard $$(KDIR_$$*)/.config)
	@test -n "$(KDIR_$*)" || { echo "no headers for kernel $*: run 'make setup'" >&2; exit 1; }
	@test -f "$(KDIR_$*)/Makefile" || { echo "$(KDIR_$*) is not a kernel headers tree" >&2; exit 1; }
	@mkdir -p $(@D)/src
	@ln -sf $(CURDIR)/drivers/virtio/virtio_balloon.c $(CURDIR)/drivers/virtio/virtio_balloon_compat.h \
		$(CURDIR)/drivers/virtio/Kbuild $(@D)/src/
	@$(MAKE) -C $(KDIR_$*) M=$(@D)/src $(KBUILD_ARGS) \
		$(if $(filter $*,$(MAINLINE)),KBUILD_MODPOST_WARN=1) modules > $(@D)/build.log 2>&1 || \
		{ cat $(@D)/build.log; exit 1; }
	@! grep -E "warning:|error:" $(@D)/build.log
	@echo "  built $@"

	@grep -q "$(CURDIR)/$(UAPI_HDR)" $(@D)/src/.virtio_balloon.o.cmd || \
		{ echo "the driver was not built against $(UAPI_HDR)" >&2; exit 1; }
	@cp $(@D)/src/virtio_balloon.ko $@

# Not the mainline kernels: bookworm's sparse cannot parse 7.x headers.
sparse: $(foreach k,$(DEBIAN_KERNELS),sparse-$(k))
	@echo "sparse: clean"

# C=2 checks every source, built or not (touching the driver would make
# every module stale).
sparse-%: $(BUILD)/%/virtio_balloon.ko
	@$(MAKE) -s -C $(KDIR_$*) M=$(BUILD)/$*/src $(KBUILD_ARGS) C=2 modules \
		> $(BUILD)/$*/sparse.log 2>&1 || { cat $(BUILD)/$*/sparse.log; exit 1; }
	@! grep -E "warning:|error:" $(BUILD)/$*/sparse.log

# checkpatch may say only one thing: MACRO_ARG_REUSE, of the uapi header's
# VIRTIO_BALLOON_S_NAMES_WITH_PREFIX(prefix), which puts the string prefix
# before every name (no side effect) and must stay for the programs that
# use it.
CHECKPATCH_IGNORE := FILE_PATH_CHANGES,SPDX_LICENSE_TAG,MACRO_ARG_REUSE
CHECKPATCH_FILES := $(DRIVER_SRCS) $(UAPI_HDR) \
	$(wildcard $(SELFTEST_DIR)/*.c $(SELFTEST_DIR)/*.h $(BENCH_DIR)/*.c)

checkpatch:
	perl $(KSRC)/scripts/checkpatch.pl --strict --no-tree --terse \
		--show-types --ignore $(CHECKPATCH_IGNORE) \
		-f $(CHECKPATCH_FILES) > $(BUILD)/checkpatch.log 2>&1 || \
		{ cat $(BUILD)/checkpatch.log; exit 1; }
	@echo "checkpatch --strict: clean"

kernel-doc:
	@out=$$($(KSRC)/scripts/kernel-doc -Wall -none $(DRIVER_SRCS) $(UAPI_HDR) 2>&1); \
		if [ -n "$$out" ]; then echo "$$out"; exit 1; fi
	@echo "kernel-doc: clean"

lint: sparse checkpatch kernel-doc

# The DKMS package (dkms.conf), built by dkms as a user would, in a
# private DKMS tree.
dkms-check:
	@$(foreach k,$(KERNELS),test -n "$(KDIR_$(k))" || \
		{ echo "no headers for kernel $(k): run 'make setup'" >&2; exit 1; };)
	@sh devtools/dkms-check.sh $(foreach k,$(KERNELS),$(KDIR_$(k)))

# Guest test programs (static, kselftest TAP) and the host runner.
PROGS_DIR := $(BUILD)/selftests
VMTEST := python3 $(SELFTEST_DIR)/vmtest.py
VMTEST_KERNELS = $(foreach k,$(KERNELS),--kernel $(KIMG_$(k)) --module $(BUILD)/$(k)/virtio_balloon.ko)
VMTEST_ARGS = $(VMTEST_KERNELS) --progs $(PROGS_DIR) --out $(BUILD)/tests $(if $(T),--test '$(T)')

# The test matrix, kernel:QEMU:suites.  The full suite runs on the newest
# stack (the mainline guest kernel on Debian 13's QEMU) and, in debug-check,
# on the debug kernel (the mainline tree again) on the host's QEMU;
# Debian's kernels get the suites that meet the compat header's other
# paths, on the host's QEMU.  QEMU_OLD and QEMU_NEW are from QEMUS.
QEMU_OLD = $(firstword $(QEMUS))
QEMU_NEW = $(lastword $(QEMUS))
COMPAT_SUITES := probe features-all poison-check migrate inflate oom stats unplug suspend \
	hint hint-pressure hint-integrity
TEST_MATRIX = $(GUEST_KERNEL):$(QEMU_NEW):all $(foreach k,$(DEBIAN_KERNELS),$(k):$(QEMU_OLD):compat)
matrix_suites = $(if $(filter compat,$(1)),$(foreach s,$(COMPAT_SUITES),--suite $(s)))
# One run of the matrix: $(1) kernel, $(2) QEMU, $(3) suites.
vmtest_run = $(VMTEST) --kernel $(KIMG_$(1)) --module $(BUILD)/$(1)/virtio_balloon.ko \
	--qemu $(QEMU_$(2)) $(call matrix_suites,$(3)) --progs $(PROGS_DIR) \
	--out $(BUILD)/tests $(if $(T),--test '$(T)')

selftests:
	@$(MAKE) -s -C $(SELFTEST_DIR) OUTPUT=$(PROGS_DIR) KSFT_INC=$(KSRC)/tools/testing/selftests

# The benchmarks' guest programs (devtools/bench), next to the tests'.
bench-progs: selftests
	@$(MAKE) -s -C $(BENCH_DIR) OUTPUT=$(PROGS_DIR) KSFT_INC=$(KSRC)/tools/testing/selftests

# K=<release prefix> keeps the matrix's runs of the matching kernels.
MATRIX_RUNS = $(if $(K),$(filter $(K)%,$(TEST_MATRIX)),$(TEST_MATRIX))

guest-tests: modules selftests
	@rc=0; $(foreach r,$(MATRIX_RUNS),echo "# guest tests: $(subst :, on ,$(r)) suites"; \
		$(call vmtest_run,$(word 1,$(subst :, ,$(r))),$(word 2,$(subst :, ,$(r))),$(word 3,$(subst :, ,$(r)))) || rc=1;) \
		exit $$rc

list:
	@$(VMTEST) $(VMTEST_ARGS) --list

# In the newest mainline tree (devtools/intree.sh): the driver as a module
# (compiled, W=1) and built into the debug kernel, whose directory (boot/,
# lib/modules/) is cached by content under $(CACHE)/intree; and the patch
# series (devtools/series.py), applied with git am to a clean tree and
# built at every commit.
INTREE = sh devtools/intree.sh $(CACHE) $(MAINLINE_SRC)
PATCH_DIR := $(BUILD)/patches

intree: $(RESOLVED)
	@$(INTREE) module
	@$(INTREE) debug >/dev/null
	@$(INTREE) series $(PATCH_DIR)

patches: $(RESOLVED)
	@$(INTREE) series $(PATCH_DIR)

debug-kernel: $(RESOLVED)
	@$(INTREE) debug

DEBUG_VMTEST = kdir=$$($(INTREE) debug) && \
	$(VMTEST) --kernel "$$kdir" --module builtin --progs $(PROGS_DIR) \
		--out $(BUILD)/debug-tests

debug-tests: $(RESOLVED) selftests
	@$(DEBUG_VMTEST) $(if $(T),--test '$(T)')

# make check runs the whole suite on the debug kernel, with the suites that
# need the same guest sharing a boot (--group): a boot costs it about 30 s.
debug-check: $(RESOLVED) selftests
	@$(DEBUG_VMTEST) --group

# Stress and fault injection on the debug kernel at the full counts
# (suites.py STRESS_SUITES; make check runs reduced counts).  T= too.
stress: $(RESOLVED) selftests
	@$(DEBUG_VMTEST) --stress $(if $(T),--test '$(T)')

# Inflate/deflate throughput of ours against each kernel's own driver, in
# one run (same kernel, same guest).
intree_module = $(firstword $(wildcard $(KIMG_$(1))/lib/modules/$(1)/kernel/drivers/virtio/virtio_balloon.ko*))
BENCH_KERNELS = $(foreach k,$(KERNELS),--kernel $(KIMG_$(k)) --module $(BUILD)/$(k)/virtio_balloon.ko \
	--kernel $(KIMG_$(k)) --module $(call intree_module,$(k)))

bench-resize: modules bench-progs
	python3 $(BENCH_DIR)/resizebench.py $(BENCH_KERNELS) --progs $(PROGS_DIR) --out $(BUILD)/bench

# Live migration: hinting off, the kernel's own driver and ours, in one run
# (migbench.py).  One kernel, BENCH_KERNEL (the mainline guest kernel by
# default), on one QEMU, BENCH_QEMU (the host's by default).
BENCH_KERNEL ?= $(lastword $(KERNELS))
BENCH_QEMU ?= $(QEMU_OLD)
MIGBENCH = python3 $(BENCH_DIR)/migbench.py --kernel $(KIMG_$(BENCH_KERNEL)) \
	--qemu $(QEMU_$(BENCH_QEMU)) \
	--module $(BUILD)/$(BENCH_KERNEL)/virtio_balloon.ko \
	--intree $(call intree_module,$(BENCH_KERNEL)) --progs $(PROGS_DIR) --out $(BUILD) \
	$(foreach s,$(S),--scenario $(s)) $(foreach p,$(P),--profile $(p)) \
	$(foreach c,$(C),--config $(c)) $(if $(GUEST_CMDLINE),--cmdline "$(GUEST_CMDLINE)")

bench: modules bench-progs
	$(MIGBENCH) --mode full $(if $(REPS),--reps $(REPS))

bench-smoke: modules bench-progs
	$(MIGBENCH) --mode smoke

# Every stage of the patch series booted with the suites of its features
# (devtools/patches_test.py), on the mainline guest kernel, built from the
# series' tree.  Not in make check: it runs the suite four times.
SERIES_KERNEL ?= $(GUEST_KERNEL)
patches-test: selftests
	python3 devtools/patches_test.py --kernel $(KIMG_$(SERIES_KERNEL)) \
		--kdir $(KDIR_$(SERIES_KERNEL)) --progs $(PROGS_DIR) \
		--out $(BUILD)/patches-test $(foreach s,$(STAGE),--stage $(s))

# The README's test command: everything, from a fresh machine.
check: setup
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory dkms-check
	@$(MAKE) --no-print-directory intree
	@$(MAKE) --no-print-directory guest-tests
	@$(MAKE) --no-print-directory debug-check
	@$(MAKE) --no-print-directory bench-smoke

# The README's main job: a guest live-migrated with and without hints.
demo: setup
	@$(MAKE) --no-print-directory modules bench-progs
	$(MIGBENCH) --mode demo

inflate-demo: setup
	@$(MAKE) --no-print-directory modules selftests
	$(VMTEST) $(VMTEST_ARGS) --demo

clean:
	rm -rf $(BUILD)
