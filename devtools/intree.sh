#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Build the driver inside the newest mainline tree in Debian's archive
# (unpacked by devtools/mainline.sh; MAINLINE_SRC of kernels.mk).
#
# Usage: devtools/intree.sh <cache dir> <source dir> series <patch dir>
#            The patch series (devtools/series.py): generated against the
#            pristine tree into <patch dir>, applied with git am to a
#            clean tree and built at every commit, as a module (=m) and
#            built in (=y), W=1, no warning; checkpatch --strict on every
#            patch; the selftests built with kselftest's lib.mk.
#        devtools/intree.sh <cache dir> <source dir> guest
#            The mainline guest kernel: the pristine tree, tinyconfig +
#            devtools/guest.config, its own driver a module.  Prints
#            "<release> <image dir> <object dir>": the image dir for
#            vmtest.py --kernel (boot/vmlinuz-<release>, lib/modules/),
#            the object dir (with Module.symvers) to build modules
#            against.
#        devtools/intree.sh <cache dir> <source dir> debug
#            The debug guest kernel: guest.config + devtools/debug.config,
#            this repository's driver built in (=y).  Prints the directory
#            to pass to vmtest.py --kernel.
#        devtools/intree.sh <cache dir> <source dir> module
#            The tree with this repository's driver as a module (=m):
#            compiles drivers/virtio/virtio_balloon.o with -DMODULE.
#        devtools/intree.sh <cache dir> <source dir> tree
#            Only apply the overlay; prints the tree's path.
#
# Kernels are cached by a hash of the source, the fragments and (debug)
# the overlay, so a second run with nothing changed builds nothing
# (documentation is left out of the hash: it does not change the image).
# A hard-linked copy of the source, <cache>/intree/tree, becomes a git
# repository whose first commit ("base") is the pristine source.  This
# repository's files go on top as the patch series, committed by
# devtools/series.py (git replaces files, never writes through the links),
# and every build is out of tree (O=), so the source stays pristine.

set -eu

REPO=$(cd "$(dirname "$0")/.." && pwd)
# The repository's files the kernel tree gets (the debug kernel's cache
# key); the series puts them there.
OVERLAY_FILES="drivers/virtio/virtio_balloon.c drivers/virtio/virtio_balloon_compat.h
include/uapi/linux/virtio_balloon.h Documentation/driver-api/virtio/virtio_balloon.rst"
SERIES="python3 $REPO/devtools/series.py --repo $REPO"
# The tree's commits: the pristine source, the series (series.py generate)
# and the series applied by git am (series.py check).
BASE_TAG=base
SERIES_BRANCH=series
GUEST_FRAGMENT=$REPO/devtools/guest.config
DEBUG_FRAGMENT=$REPO/devtools/debug.config
GUEST_LOCALVERSION=-vbguest
DEBUG_LOCALVERSION=-vbdebug
# The machine is shared: build at the lowest CPU priority.
NICENESS=19
JOBS=$(nproc)
LOG_TAIL=40

die() {
	echo "intree: error: $*" >&2
	exit 1
}

say() {
	echo "intree: $*" >&2
}

[ $# -ge 3 ] || die "usage: $0 <cache dir> <source dir> debug|guest|module|tree|series <patch dir>"
CACHE=$1
SRC=$2
WHAT=$3
case $WHAT in
debug|guest|module|tree) ;;
series) [ $# -eq 4 ] || die "usage: $0 <cache dir> <source dir> series <patch dir>" ;;
*) die "unknown target '$WHAT' (debug, guest, module, tree or series)" ;;
esac
[ -f "$SRC/Makefile" ] && [ -f "$SRC/drivers/virtio/virtio_balloon.c" ] ||
	die "$SRC is not a kernel source tree (run make setup)"
SRC=$(cd "$SRC" && pwd)
VERSION=$(make -s -C "$SRC" kernelversion 2>/dev/null) && [ -n "$VERSION" ] ||
	die "cannot tell the kernel version of $SRC"
TOP=$CACHE/intree
TREE=$TOP/tree
mkdir -p "$TOP" || die "cannot create $TOP"

# Run a build step quietly; on failure show the end of its log.
run() {
	log=$1
	shift
	if ! nice -n "$NICENESS" "$@" >"$log" 2>&1; then
		tail -n "$LOG_TAIL" "$log" >&2
		die "'$*' failed (log: $log)"
	fi
}

# The driver's files must compile without a warning.
no_warnings() {
	if grep -E 'virtio_balloon[a-z_]*\.[ch]:[0-9]+:[0-9]+: (warning|error)' "$1" >&2; then
		die "the driver does not build cleanly (log: $1)"
	fi
}

# The kernel tree as a git repository: a hard-linked copy of the pristine
# source, committed once as the tag $BASE_TAG (a minute or two: git hashes
# the whole tree).  Later runs only clean it.
git_tree() {
	if [ "$(cat "$TREE/.git/vb-source" 2>/dev/null)" != "$SRC" ]; then
		say "making $TREE a git repository of Linux $VERSION, once"
		rm -rf "$TREE"
		cp -al "$SRC" "$TREE" || die "cannot copy $SRC to $TREE"
		rm -f "$TREE/.done"
		(
			cd "$TREE" &&
				git init -q &&
				git add -A -f &&
				GIT_AUTHOR_DATE=2000-01-01T00:00:00Z GIT_COMMITTER_DATE=2000-01-01T00:00:00Z \
					git -c user.name=intree -c user.email=intree@localhost \
					commit -q -m "Linux $VERSION" &&
				git tag "$BASE_TAG"
		) || die "cannot make a git repository of $TREE"
		echo "$SRC" >"$TREE/.git/vb-source"
	fi
	git -C "$TREE" checkout -q -f "$BASE_TAG" && git -C "$TREE" clean -fdq ||
		die "cannot clean $TREE"
}

# The tree with this repository's files on top: the series' last commit.
overlay() {
	git_tree
	$SERIES generate --tree "$TREE" --base "$BASE_TAG" --branch "$SERIES_BRANCH" \
		--out "$TOP/series-out" >/dev/null || die "cannot make the patch series"
}

# Configure an O= build directory $1 of tree $2: tinyconfig, then
# fragments $3...; a later fragment's value of an option wins.
configure() {
	out=$1
	tree=$2
	shift 2
	mkdir -p "$out"
	run "$out/config.log" make -C "$tree" O="$out" tinyconfig
	run "$out/config.log" "$tree/scripts/kconfig/merge_config.sh" -m \
		-O "$out" "$out/.config" "$@"
	run "$out/config.log" make -C "$tree" O="$out" olddefconfig
	# Every option asked for must have survived olddefconfig (a missing
	# dependency drops it silently).
	lost=$(cat "$@" | sed -n 's/^\(CONFIG_[A-Z0-9_]*\)=.*/&/p' |
		awk -F= '{ last[$1] = $0 } END { for (o in last) print last[o] }' |
		while IFS= read -r opt; do
			grep -qx "$opt" "$out/.config" || echo "$opt"
		done)
	[ -z "$lost" ] || die "options that did not stick in $out/.config (missing dependencies?):" $lost
}

# A cache key for a kernel built from $VERSION's tree with the named files.
kernel_key() {
	(echo "$SRC $VERSION"; cat "$0" "$@") | sha256sum | cut -c1-16
}

# Build bzImage (and modules, if $4 says so) of tree $1 in O= directory $2
# with LOCALVERSION $3; print the kernel release.
build_kernel() {
	targets="bzImage${4:+ modules}"
	say "building $targets of Linux $VERSION$3 (a few minutes; log: $2/build.log)"
	# shellcheck disable=SC2086
	run "$2/build.log" make -C "$1" O="$2" -j"$JOBS" LOCALVERSION="$3" $targets
	no_warnings "$2/build.log"
	rel=$(make -s -C "$1" O="$2" LOCALVERSION="$3" kernelrelease 2>/dev/null |
		tail -n 1)
	[ -n "$rel" ] || die "cannot tell the kernel release of $2"
	echo "$rel"
}

# Copy what vmtest.py needs of the kernel built in $1 (release $2) to $3.
install_image() {
	mkdir -p "$3/boot" "$3/lib/modules/$2/kernel"
	cp "$1/arch/x86/boot/bzImage" "$3/boot/vmlinuz-$2"
	cp "$1/.config" "$3/boot/config-$2"
	cp "$1/modules.builtin" "$3/lib/modules/$2/"
}

debug_kernel() {
	# shellcheck disable=SC2046
	key=$(kernel_key "$GUEST_FRAGMENT" "$DEBUG_FRAGMENT" $(for f in $OVERLAY_FILES; do
		case $f in Documentation/*) ;; *) echo "$REPO/$f" ;; esac
	done))
	dest=$TOP/kernels/debug-$key
	if [ -f "$dest/.done" ]; then
		echo "$dest"
		return 0
	fi
	overlay
	out=$TOP/out-debug
	rm -rf "$out"
	configure "$out" "$TREE" "$GUEST_FRAGMENT" "$DEBUG_FRAGMENT"
	rel=$(build_kernel "$TREE" "$out" "$DEBUG_LOCALVERSION")
	[ -f "$out/drivers/virtio/virtio_balloon.o" ] ||
		die "drivers/virtio/virtio_balloon.o was not built"
	rm -rf "$dest"
	install_image "$out" "$rel" "$dest"
	touch "$dest/.done"
	echo "$dest"
}

# The guest kernel is built from the pristine source, not the git tree: its
# driver is the tree's own, and its object directory must outlive the
# series' checkouts, since modules are built against it.
guest_kernel() {
	key=$(kernel_key "$GUEST_FRAGMENT")
	dest=$TOP/kernels/guest-$key
	if [ ! -f "$dest/.done" ]; then
		rm -rf "$dest"
		out=$dest/obj
		configure "$out" "$SRC" "$GUEST_FRAGMENT"
		rel=$(build_kernel "$SRC" "$out" "$GUEST_LOCALVERSION" modules)
		run "$out/install.log" make -C "$SRC" O="$out" LOCALVERSION="$GUEST_LOCALVERSION" \
			INSTALL_MOD_PATH="$dest/image" modules_install
		install_image "$out" "$rel" "$dest/image"
		[ -f "$dest/image/lib/modules/$rel/kernel/drivers/virtio/virtio_balloon.ko" ] ||
			die "the guest kernel has no virtio_balloon.ko"
		echo "$rel" >"$dest/release"
		touch "$dest/.done"
		# A guest kernel is 175 MB: drop those it supersedes.
		for old in "$TOP"/kernels/guest-*; do
			[ "$old" = "$dest" ] || rm -rf "$old"
		done
	fi
	echo "$(cat "$dest/release") $dest/image $dest/obj"
}

module_build() {
	overlay
	out=$TOP/out-module
	frag=$out.fragment
	rm -rf "$out"
	mkdir -p "$out"
	printf 'CONFIG_64BIT=y\nCONFIG_MODULES=y\nCONFIG_PCI=y\nCONFIG_VIRTIO_MENU=y\nCONFIG_VIRTIO_PCI=y\nCONFIG_VIRTIO_BALLOON=m\n' >"$frag"
	configure "$out" "$TREE" "$frag"
	run "$out/build.log" make -C "$TREE" O="$out" -j"$JOBS" modules_prepare
	run "$out/build.log" make -C "$TREE" O="$out" W=1 \
		drivers/virtio/virtio_balloon.o
	no_warnings "$out/build.log"
	grep -q -- '-DMODULE' "$out/drivers/virtio/.virtio_balloon.o.cmd" ||
		die "virtio_balloon.o was not compiled as a module"
	say "built drivers/virtio/virtio_balloon.o (=m) in $out"
}

# Configure and prepare an O= directory for the series' per-commit builds:
# $1, then the options after it, one per line.
series_build_dir() {
	out=$1
	shift
	[ "$(cat "$out/.prepared" 2>/dev/null)" = "$SRC" ] && return 0
	rm -rf "$out"
	mkdir -p "$out"
	printf '%s\n' "$@" >"$out.fragment"
	configure "$out" "$TREE" "$out.fragment"
	run "$out/build.log" make -C "$TREE" O="$out" -j"$JOBS" prepare
	echo "$SRC" >"$out/.prepared"
}

series() {
	dir=$1
	git_tree
	# As a module, with nothing optional; built in, with every option the
	# driver has code for.
	series_build_dir "$TOP/series-m" CONFIG_64BIT=y CONFIG_MODULES=y \
		CONFIG_PCI=y CONFIG_VIRTIO_MENU=y CONFIG_VIRTIO_PCI=y \
		CONFIG_VIRTIO_BALLOON=m
	series_build_dir "$TOP/series-y" CONFIG_64BIT=y CONFIG_PCI=y \
		CONFIG_VIRTIO_MENU=y CONFIG_VIRTIO_PCI=y CONFIG_VIRTIO_BALLOON=y \
		CONFIG_COMPACTION=y CONFIG_BALLOON_MIGRATION=y CONFIG_SUSPEND=y \
		CONFIG_PM_SLEEP=y CONFIG_SYSFS=y CONFIG_HUGETLBFS=y CONFIG_HUGETLB_PAGE=y \
		CONFIG_PAGE_POISONING=y CONFIG_DEBUG_FS=y
	$SERIES generate --tree "$TREE" --base "$BASE_TAG" --branch "$SERIES_BRANCH" \
		--out "$dir" || die "cannot make the patch series"
	$SERIES check --tree "$TREE" --base "$BASE_TAG" --patches "$dir" \
		--build "$TOP/series-m" --build "$TOP/series-y" \
		--logs "$dir.logs" || die "the series does not pass its checks (logs: $dir.logs)"
}

case $WHAT in
series) series "$4" ;;
debug) debug_kernel ;;
guest) guest_kernel ;;
module) module_build ;;
tree) overlay; echo "$TREE" ;;
esac
