#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Build the driver inside Debian's linux-source-6.12 tree.
#
# Usage: devtools/intree.sh <cache dir> debug
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
# The tarball is unpacked once into <cache>/intree/src-<version>; each run
# makes a hard-linked copy of it with this repository's files on top
# (files are replaced, never written through the links) and builds out of
# tree (O=), so the unpacked source stays pristine.

set -eu

REPO=$(cd "$(dirname "$0")/.." && pwd)
SOURCE_PKG=linux-source-6.12
TARBALL=/usr/src/$SOURCE_PKG.tar.xz
# Files copied over the kernel tree as they are.
OVERLAY_FILES="drivers/virtio/virtio_balloon.c drivers/virtio/virtio_balloon_compat.h
include/uapi/linux/virtio_balloon.h Documentation/driver-api/virtio/virtio_balloon.rst"
DOC_INDEX=Documentation/driver-api/virtio/index.rst
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

[ $# -eq 2 ] || die "usage: $0 <cache dir> debug|module|tree"
CACHE=$1
WHAT=$2
case $WHAT in
debug|module|tree) ;;
*) die "unknown target '$WHAT' (debug, module or tree)" ;;
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

# Hard-linked copy of the pristine tree with the overlay on top.
overlay() {
	rm -rf "$TREE"
	cp -al "$SRC" "$TREE" || die "cannot copy $SRC to $TREE"
	rm -f "$TREE/.done"
	for f in $OVERLAY_FILES; do
		[ -f "$REPO/$f" ] || die "overlay file $f is missing from $REPO"
		rm -f "$TREE/$f"
		cp "$REPO/$f" "$TREE/$f"
	done
	# Our MAINTAINERS entry replaces the tree's VIRTIO BALLOON entry.
	awk -v entry="$REPO/MAINTAINERS" '
		/^VIRTIO BALLOON$/ {
			while ((getline line < entry) > 0) print line
			skip = 1
			next
		}
		skip && /^$/ { skip = 0 }
		!skip
	' "$SRC/MAINTAINERS" >"$TREE/MAINTAINERS.new" || die "cannot merge MAINTAINERS"
	rm -f "$TREE/MAINTAINERS"
	mv "$TREE/MAINTAINERS.new" "$TREE/MAINTAINERS"
	grep -q '^ *virtio_balloon$' "$SRC/$DOC_INDEX" || {
		sed '/^ *writing_virtio_drivers$/i\   virtio_balloon' \
			"$SRC/$DOC_INDEX" >"$TREE/$DOC_INDEX.new" &&
			rm -f "$TREE/$DOC_INDEX" &&
			mv "$TREE/$DOC_INDEX.new" "$TREE/$DOC_INDEX"
	} || die "cannot add the driver to $DOC_INDEX"
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

case $WHAT in
debug) debug_kernel ;;
module) module_build ;;
tree) unpack; overlay; echo "$TREE" ;;
esac
