#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Build the driver inside Debian's linux-source-6.12 tree.
#
# Usage: devtools/intree.sh <cache dir> series <patch dir>
#            The patch series (devtools/series.py): generated against the
#            pristine tree into <patch dir>, applied with git am to a
#            clean tree and built at every commit, as a module (=m) and
#            built in (=y), W=1, no warning; checkpatch --strict on every
#            patch; the selftests built with kselftest's lib.mk.
#        devtools/intree.sh <cache dir> debug
#            The debug guest kernel: tinyconfig + devtools/debug.config,
#            the driver built in (=y).  Prints the directory to pass to
#            vmtest.py --kernel (boot/vmlinuz-<release>,
#            lib/modules/<release>/modules.builtin).  Cached by a hash of
#            the source package, the fragment and the overlay, so a second
#            run with nothing changed builds nothing (documentation is
#            left out of the hash: it does not change the image).
#        devtools/intree.sh <cache dir> module
#            The same tree with the driver as a module (=m): compiles
#            drivers/virtio/virtio_balloon.o with -DMODULE.
#        devtools/intree.sh <cache dir> tree
#            Only unpack the tree and apply the overlay; prints its path.
#
# The tarball is unpacked once into <cache>/intree/src-<version>, and a
# hard-linked copy of it, <cache>/intree/tree, becomes a git repository
# whose first commit ("base") is the pristine source.  This repository's
# files go on top as the patch series, committed by devtools/series.py
# (git replaces files, never writes through the links), and every build is
# out of tree (O=), so the unpacked source stays pristine.

set -eu

REPO=$(cd "$(dirname "$0")/.." && pwd)
SOURCE_PKG=linux-source-6.12
TARBALL=/usr/src/$SOURCE_PKG.tar.xz
# The repository's files the kernel tree gets (the debug kernel's cache
# key); the series puts them there.
OVERLAY_FILES="drivers/virtio/virtio_balloon.c drivers/virtio/virtio_balloon_compat.h
include/uapi/linux/virtio_balloon.h Documentation/driver-api/virtio/virtio_balloon.rst"
SERIES="python3 $REPO/devtools/series.py --repo $REPO"
# The tree's commits: the pristine source, the series (series.py generate)
# and the series applied by git am (series.py check).
BASE_TAG=base
SERIES_BRANCH=series
FRAGMENT=$REPO/devtools/debug.config
LOCALVERSION=-vbdebug
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

[ $# -ge 2 ] || die "usage: $0 <cache dir> debug|module|tree|series <patch dir>"
CACHE=$1
WHAT=$2
case $WHAT in
debug|module|tree) ;;
series) [ $# -eq 3 ] || die "usage: $0 <cache dir> series <patch dir>" ;;
*) die "unknown target '$WHAT' (debug, module, tree or series)" ;;
esac
[ -f "$TARBALL" ] || die "$TARBALL is missing (apt-get install $SOURCE_PKG, or run make setup)"
VERSION=$(dpkg-query -W -f='${Version}' "$SOURCE_PKG" 2>/dev/null) ||
	die "$SOURCE_PKG is not installed as a package"
TOP=$CACHE/intree
SRC=$TOP/src-$VERSION
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

unpack() {
	[ -f "$SRC/.done" ] && return 0
	say "unpacking $TARBALL ($VERSION), once"
	rm -rf "$SRC" "$SRC.tmp"
	mkdir -p "$SRC.tmp"
	nice -n "$NICENESS" tar -xJf "$TARBALL" -C "$SRC.tmp" --strip-components=1 ||
		{ rm -rf "$SRC.tmp"; die "cannot unpack $TARBALL"; }
	mv "$SRC.tmp" "$SRC"
	touch "$SRC/.done"
}

# The kernel tree as a git repository: a hard-linked copy of the pristine
# source, committed once as the tag $BASE_TAG (a minute or two: git hashes
# the whole tree).  Later runs only clean it.
git_tree() {
	unpack
	if [ "$(cat "$TREE/.git/vb-source" 2>/dev/null)" != "$VERSION" ]; then
		say "making $TREE a git repository of $SOURCE_PKG $VERSION, once"
		rm -rf "$TREE"
		cp -al "$SRC" "$TREE" || die "cannot copy $SRC to $TREE"
		rm -f "$TREE/.done"
		(
			cd "$TREE" &&
				git init -q &&
				git add -A -f &&
				GIT_AUTHOR_DATE=2000-01-01T00:00:00Z GIT_COMMITTER_DATE=2000-01-01T00:00:00Z \
					git -c user.name=intree -c user.email=intree@localhost \
					commit -q -m "$SOURCE_PKG $VERSION" &&
				git tag "$BASE_TAG"
		) || die "cannot make a git repository of $TREE"
		echo "$VERSION" >"$TREE/.git/vb-source"
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

# Configure an O= build directory $1: tinyconfig, then fragments $2...
configure() {
	out=$1
	shift
	mkdir -p "$out"
	run "$out/config.log" make -C "$TREE" O="$out" tinyconfig
	run "$out/config.log" "$TREE/scripts/kconfig/merge_config.sh" -m \
		-O "$out" "$out/.config" "$@"
	run "$out/config.log" make -C "$TREE" O="$out" olddefconfig
	# Every option asked for must have survived olddefconfig (a missing
	# dependency drops it silently).
	lost=$(for f in "$@"; do
		grep '^CONFIG_[A-Z0-9_]*=' "$f" | while IFS= read -r opt; do
			grep -qx "$opt" "$out/.config" || echo "$opt"
		done
	done)
	[ -z "$lost" ] || die "options that did not stick in $out/.config (missing dependencies?):" $lost
}

debug_kernel() {
	key=$( (echo "$VERSION"; cat "$FRAGMENT" "$0";
		for f in $OVERLAY_FILES; do
			case $f in Documentation/*) ;; *) cat "$REPO/$f" ;; esac
		done) |
		sha256sum | cut -c1-16)
	dest=$TOP/kernels/$key
	if [ -f "$dest/.done" ]; then
		echo "$dest"
		return 0
	fi
	unpack
	overlay
	out=$TOP/out-debug
	configure "$out" "$FRAGMENT"
	say "building the debug kernel (a few minutes; log: $out/build.log)"
	run "$out/build.log" make -C "$TREE" O="$out" -j"$JOBS" \
		LOCALVERSION="$LOCALVERSION" bzImage
	no_warnings "$out/build.log"
	grep -q '^CONFIG_VIRTIO_BALLOON=y' "$out/.config" ||
		die "the driver is not built in"
	[ -f "$out/drivers/virtio/virtio_balloon.o" ] ||
		die "drivers/virtio/virtio_balloon.o was not built"
	rel=$(make -s -C "$TREE" O="$out" LOCALVERSION="$LOCALVERSION" kernelrelease 2>/dev/null |
		tail -n 1)
	[ -n "$rel" ] || die "cannot tell the kernel release"
	rm -rf "$dest"
	mkdir -p "$dest/boot" "$dest/lib/modules/$rel/kernel"
	cp "$out/arch/x86/boot/bzImage" "$dest/boot/vmlinuz-$rel"
	cp "$out/modules.builtin" "$dest/lib/modules/$rel/"
	cp "$out/.config" "$dest/boot/config-$rel"
	touch "$dest/.done"
	echo "$dest"
}

module_build() {
	unpack
	overlay
	out=$TOP/out-module
	frag=$out.fragment
	mkdir -p "$out"
	printf 'CONFIG_64BIT=y\nCONFIG_MODULES=y\nCONFIG_PCI=y\nCONFIG_VIRTIO_MENU=y\nCONFIG_VIRTIO_PCI=y\nCONFIG_VIRTIO_BALLOON=m\n' >"$frag"
	configure "$out" "$frag"
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
	[ -f "$out/.prepared" ] && return 0
	mkdir -p "$out"
	printf '%s\n' "$@" >"$out.fragment"
	configure "$out" "$out.fragment"
	run "$out/build.log" make -C "$TREE" O="$out" -j"$JOBS" prepare
	touch "$out/.prepared"
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
		CONFIG_COMPACTION=y CONFIG_BALLOON_COMPACTION=y CONFIG_SUSPEND=y \
		CONFIG_PM_SLEEP=y CONFIG_SYSFS=y CONFIG_HUGETLBFS=y CONFIG_HUGETLB_PAGE=y \
		CONFIG_PAGE_POISONING=y CONFIG_DEBUG_FS=y
	$SERIES generate --tree "$TREE" --base "$BASE_TAG" --branch "$SERIES_BRANCH" \
		--out "$dir" || die "cannot make the patch series"
	$SERIES check --tree "$TREE" --base "$BASE_TAG" --patches "$dir" \
		--build "$TOP/series-m" --build "$TOP/series-y" \
		--logs "$dir.logs" || die "the series does not pass its checks (logs: $dir.logs)"
}

case $WHAT in
series) series "$3" ;;
debug) debug_kernel ;;
module) module_build ;;
tree) unpack; overlay; echo "$TREE" ;;
esac
