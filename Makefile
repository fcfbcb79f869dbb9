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
NO_KERNEL_GOALS := clean help checkpatch
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
	@echo "make intree          the driver in linux-source-6.12, built in (=y) and as a module (=m),"
	@echo "                     and the patch series checked (make patches)"
	@echo "make patches         the patch series against linux-source-6.12 in build/patches, checked"
	@echo "make patches-test    boot every stage of the series with the suites of its features (STAGE=<stage>)"
	@echo "make debug-tests     the guest tests on the debug kernel (KASAN, lockdep, kmemleak; T= too)"
	@echo "make debug-check     all of them, suites that need the same guest sharing a boot"
	@echo "make stress          stress and fault injection on the debug kernel, full counts (T= too)"
	@echo "make demo            the main job: migrate a guest with hinting off, in-tree, ours"
	@echo "make inflate-demo    boot a guest with the driver, inflate and deflate it"
	@echo "make bench           migration benchmark (S=<scenario> P=<profile> C=<config> REPS=<n> BENCH_KERNEL=<rel> GUEST_CMDLINE=<params>)"
	@echo "make bench-smoke     a small migration benchmark with sanity checks (in make check)"
	@echo "make bench-resize    inflate/deflate throughput, ours vs the kernel's own driver"

setup:
	sh devtools/setup.sh

modules: $(MODULES)

# Kbuild writes its objects next to the sources, so each kernel gets a
# directory of links to them.  Any warning fails the build.
$(BUILD)/%/virtio_balloon.ko: $(DRIVER_DEPS)
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

sparse: $(foreach k,$(KERNELS),sparse-$(k))
	@echo "sparse: clean"

sparse-%: $(BUILD)/%/virtio_balloon.ko
	@touch $(BUILD)/$*/src/virtio_balloon.c
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
	@test -f $(CACHE)/src/scripts/checkpatch.pl || sh devtools/setup.sh
	perl $(CACHE)/src/scripts/checkpatch.pl --strict --no-tree --terse \
		--show-types --ignore $(CHECKPATCH_IGNORE) \
		-f $(CHECKPATCH_FILES) > $(BUILD)/checkpatch.log 2>&1 || \
		{ cat $(BUILD)/checkpatch.log; exit 1; }
	@echo "checkpatch --strict: clean"

kernel-doc:
	@test -f $(CACHE)/src/scripts/kernel-doc || sh devtools/setup.sh
	@out=$$(perl $(CACHE)/src/scripts/kernel-doc -Wall -none $(DRIVER_SRCS) $(UAPI_HDR) 2>&1); \
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

selftests:
	@$(MAKE) -s -C $(SELFTEST_DIR) OUTPUT=$(PROGS_DIR) KSFT_INC=$(KSRC)/tools/testing/selftests

# The benchmarks' guest programs (devtools/bench), next to the tests'.
bench-progs: selftests
	@$(MAKE) -s -C $(BENCH_DIR) OUTPUT=$(PROGS_DIR) KSFT_INC=$(KSRC)/tools/testing/selftests

guest-tests: modules selftests
	$(VMTEST) $(VMTEST_ARGS)

list:
	@$(VMTEST) $(VMTEST_ARGS) --list

# In Debian's linux-source-6.12 tree (devtools/intree.sh): the driver as a
# module (compiled, W=1) and built into the debug kernel, whose directory
# (boot/, lib/modules/) is cached by content under $(CACHE)/intree; and the
# patch series (devtools/series.py), applied with git am to a clean tree
# and built at every commit.
INTREE = sh devtools/intree.sh $(CACHE)
PATCH_DIR := $(BUILD)/patches

intree: setup
	@$(INTREE) module
	@$(INTREE) debug >/dev/null
	@$(INTREE) series $(PATCH_DIR)

patches: setup
	@$(INTREE) series $(PATCH_DIR)

debug-kernel: setup
	@$(INTREE) debug

DEBUG_VMTEST = kdir=$$($(INTREE) debug) && \
	$(VMTEST) --kernel "$$kdir" --module builtin --progs $(PROGS_DIR) \
		--out $(BUILD)/debug-tests

debug-tests: setup selftests
	@$(DEBUG_VMTEST) $(if $(T),--test '$(T)')

# make check runs the whole suite on the debug kernel, with the suites that
# need the same guest sharing a boot (--group): a boot costs it about 30 s.
debug-check: setup selftests
	@$(DEBUG_VMTEST) --group

# Stress and fault injection on the debug kernel at the full counts
# (suites.py STRESS_SUITES; make check runs reduced counts).  T= too.
stress: setup selftests
	@$(DEBUG_VMTEST) --stress $(if $(T),--test '$(T)')

# Inflate/deflate throughput of ours against each kernel's own driver, in
# one run (same kernel, same guest).
intree_module = $(firstword $(wildcard $(KIMG_$(1))/lib/modules/$(1)/kernel/drivers/virtio/virtio_balloon.ko*))
BENCH_KERNELS = $(foreach k,$(KERNELS),--kernel $(KIMG_$(k)) --module $(BUILD)/$(k)/virtio_balloon.ko \
	--kernel $(KIMG_$(k)) --module $(call intree_module,$(k)))

bench-resize: modules bench-progs
	python3 $(BENCH_DIR)/resizebench.py $(BENCH_KERNELS) --progs $(PROGS_DIR) --out $(BUILD)/bench

# Live migration: hinting off, the kernel's own driver and ours, in one run
# (migbench.py).  One kernel: BENCH_KERNEL, the newest by default.
BENCH_KERNEL ?= $(lastword $(KERNELS))
MIGBENCH = python3 $(BENCH_DIR)/migbench.py --kernel $(KIMG_$(BENCH_KERNEL)) \
	--module $(BUILD)/$(BENCH_KERNEL)/virtio_balloon.ko \
	--intree $(call intree_module,$(BENCH_KERNEL)) --progs $(PROGS_DIR) --out $(BUILD) \
	$(foreach s,$(S),--scenario $(s)) $(foreach p,$(P),--profile $(p)) \
	$(foreach c,$(C),--config $(c)) $(if $(GUEST_CMDLINE),--cmdline "$(GUEST_CMDLINE)")

bench: modules bench-progs
	$(MIGBENCH) --mode full $(if $(REPS),--reps $(REPS))

bench-smoke: modules bench-progs
	$(MIGBENCH) --mode smoke

# Every stage of the patch series booted with the suites of its features
# (devtools/patches_test.py), on the newest Debian kernel, which the
# series' tree matches.  Not in make check: it runs the suite four times.
SERIES_KERNEL ?= $(lastword $(KERNELS))
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
