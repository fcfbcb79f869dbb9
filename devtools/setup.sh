#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Install what the build, the static checks and the guest tests need, and
# fetch the two target kernels (Debian 12's 6.1 and 6.12) and the newest
# mainline sources into a cache outside the repository.  Versions are
# resolved from Debian's meta packages (and, for mainline, from sid and
# experimental) every time, so an update is picked up without editing
# anything.
#
# Output: $BALLOON_CACHE/kernels.mk, included by the top-level Makefile:
#   KERNELS      - the resolved kernel release names, e.g. 6.1.0-56-amd64
#   KDIR_<rel>   - the headers tree to build against
#   KIMG_<rel>   - the unpacked image tree (boot/vmlinuz-*, lib/modules/*)
#   KSRC         - the unpacked subset of linux-source-6.12 (checkpatch, ...)
#   MAINLINE     - the newest mainline trees in sid and experimental
#                  (devtools/mainline.sh), built against but never booted;
#                  KDIR_<name> for each
#
# Re-running is idempotent: nothing is downloaded or unpacked twice.

set -eu

CACHE=${BALLOON_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/virtio-balloon}
# Meta packages that name the current Debian 12 kernels: image, headers.
TARGETS="linux-image-amd64:linux-headers-amd64 linux-image-6.12-amd64:linux-headers-6.12-amd64"
SOURCE_PKG=linux-source-6.12
# Files taken from the kernel source tarball for the static checks and the
# kselftest headers; the full tree is only unpacked for the in-tree build.
SOURCE_FILES="scripts/checkpatch.pl scripts/spelling.txt scripts/const_structs.checkpatch
scripts/kernel-doc scripts/kernel-doc.py scripts/lib/kdoc
tools/testing/selftests/kselftest.h tools/testing/selftests/kselftest_harness.h
drivers/virtio/virtio_balloon.c"
HOST_PKGS="make gcc libc6-dev qemu-system-x86 qemu-utils busybox-static sparse kmod cpio
flex bison bc libelf-dev libssl-dev dwarves xz-utils python3 rsync e2fsprogs gnuplot-nox
dkms git python3-ply python3-git"

die() {
	echo "setup: error: $*" >&2
	exit 1
}

say() {
	echo "setup: $*" >&2
}

as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root to run '$*' (install it by hand, or run as root)"
	fi
}

apt_updated=
apt_update() {
	[ -n "$apt_updated" ] && return 0
	say "apt-get update"
	as_root apt-get update -qq >/dev/null ||
		die "apt-get update failed: check the network and /etc/apt/sources.list"
	apt_updated=1
}

# Install every named package that dpkg does not report as installed.
install_pkgs() {
	missing=
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	apt_update
	say "installing:$missing"
	# shellcheck disable=SC2086
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $missing >/dev/null ||
		die "could not install:$missing (try: apt-get install$missing)"
}

# Print the concrete package a meta package depends on, e.g.
# linux-image-amd64 -> linux-image-6.1.0-56-amd64.
resolve() {
	dep=$(apt-cache depends "$1" 2>/dev/null | sed -n 's/^ *Depends: \(linux-[a-z]*-[0-9].*\)$/\1/p' | head -n 1)
	if [ -z "$dep" ]; then
		apt_update
		dep=$(apt-cache depends "$1" 2>/dev/null | sed -n 's/^ *Depends: \(linux-[a-z]*-[0-9].*\)$/\1/p' | head -n 1)
	fi
	[ -n "$dep" ] || die "cannot resolve $1: is it in Debian 12's archive (bookworm, bookworm-updates, bookworm-security)?"
	echo "$dep"
}

# Unpack the unsigned image package of release $1 into $CACHE/kernels/$1.
fetch_image() {
	rel=$1
	dir=$CACHE/kernels/$rel
	[ -f "$dir/.done" ] && return 0
	say "fetching kernel image $rel"
	tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
	(cd "$tmp" && apt-get download -qq "linux-image-$rel-unsigned" >/dev/null 2>&1) ||
		{ apt_update; (cd "$tmp" && apt-get download -qq "linux-image-$rel-unsigned" >/dev/null 2>&1); } ||
		{ rm -rf "$tmp"; die "apt-get download linux-image-$rel-unsigned failed"; }
	rm -rf "$dir"
	mkdir -p "$dir"
	dpkg -x "$tmp"/*.deb "$dir" || { rm -rf "$tmp" "$dir"; die "cannot unpack linux-image-$rel-unsigned"; }
	rm -rf "$tmp"
	[ -f "$dir/boot/vmlinuz-$rel" ] || die "linux-image-$rel-unsigned has no boot/vmlinuz-$rel"
	touch "$dir/.done"
}

# Unpack the files named in SOURCE_FILES from /usr/src/linux-source-*.tar.xz.
fetch_source() {
	tarball=$(ls /usr/src/$SOURCE_PKG.tar.xz 2>/dev/null) ||
		die "/usr/src/$SOURCE_PKG.tar.xz is missing (apt-get install $SOURCE_PKG)"
	stamp=$CACHE/src/.done
	if [ -f "$stamp" ] && [ "$stamp" -nt "$tarball" ]; then
		return 0
	fi
	say "unpacking checkpatch, kernel-doc and kselftest headers from $tarball"
	rm -rf "$CACHE/src"
	mkdir -p "$CACHE/src"
	wanted=
	for f in $SOURCE_FILES; do
		wanted="$wanted $SOURCE_PKG/$f"
	done
	# Not every release has every file (kernel-doc.py is 6.16+): ignore
	# the missing ones, check the essential ones below.
	# shellcheck disable=SC2086
	tar -xJf "$tarball" -C "$CACHE/src" --strip-components=1 $wanted 2>/dev/null || true
	for f in scripts/checkpatch.pl scripts/kernel-doc tools/testing/selftests/kselftest.h; do
		[ -e "$CACHE/src/$f" ] || die "$tarball has no $f"
	done
	touch "$stamp"
}

command -v apt-get >/dev/null 2>&1 || die "this needs Debian 12 (apt-get not found)"
mkdir -p "$CACHE" || die "cannot create the cache directory $CACHE (set BALLOON_CACHE)"

install_pkgs $HOST_PKGS

kernels=
pkgs=
for t in $TARGETS; do
	img=$(resolve "${t%%:*}")
	hdr=$(resolve "${t##*:}")
	rel=${img#linux-image-}
	[ "${hdr#linux-headers-}" = "$rel" ] ||
		die "${t%%:*} ($img) and ${t##*:} ($hdr) disagree; run apt-get update"
	kernels="$kernels $rel"
	pkgs="$pkgs $hdr"
done
install_pkgs $pkgs $SOURCE_PKG

for rel in $kernels; do
	fetch_image "$rel"
	[ -f "/usr/src/linux-headers-$rel/Makefile" ] ||
		die "/usr/src/linux-headers-$rel is incomplete (apt-get install --reinstall linux-headers-$rel)"
done
fetch_source
# The newest mainline trees, for a build-only check.
mainline=$(sh "$(dirname "$0")/mainline.sh" "$CACHE") ||
	die "cannot prepare the mainline trees (devtools/mainline.sh)"
mainline_names=$(echo "$mainline" | cut -d' ' -f1 | tr '\n' ' ')

out=$CACHE/kernels.mk
{
	echo "# Written by devtools/setup.sh; resolved at $(date -u +%Y-%m-%dT%H:%MZ)."
	echo "KERNELS :=$kernels"
	for rel in $kernels; do
		echo "KDIR_$rel := /usr/src/linux-headers-$rel"
		echo "KIMG_$rel := $CACHE/kernels/$rel"
	done
	echo "KSRC := $CACHE/src"
	echo "MAINLINE := $mainline_names"
	echo "$mainline" | while read -r name obj; do
		echo "KDIR_$name := $obj"
	done
} > "$out.tmp"
mv "$out.tmp" "$out"
say "kernels:$kernels; build only: $mainline_names(cache: $CACHE)"
