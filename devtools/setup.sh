#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Install what the build, the static checks and the guest tests need; fetch
# the two target kernels (Debian 12's 6.1 and 6.12), the newest mainline
# sources and Debian 13's QEMU into a cache outside the repository, and
# build a guest kernel from the newest mainline tree.  Versions are
# resolved from Debian's meta packages (and, for mainline, from sid and
# experimental) every time, so an update is picked up without editing
# anything.
#
# Output: $BALLOON_CACHE/kernels.mk, included by the top-level Makefile:
#   KERNELS      - the guest kernels: DEBIAN_KERNELS, the resolved Debian
#                  releases (e.g. 6.1.0-56-amd64), then GUEST_KERNEL, built
#                  from the newest mainline tree (devtools/intree.sh guest)
#   KDIR_<rel>   - the headers (or object) tree to build against
#   KIMG_<rel>   - the unpacked image tree (boot/vmlinuz-*, lib/modules/*)
#   KSRC         - the newest mainline source tree: checkpatch, kernel-doc,
#                  kselftest headers
#   MAINLINE     - the newest mainline trees in sid and experimental
#                  (devtools/mainline.sh), built against; KDIR_<name> for
#                  each; MAINLINE_NEWEST and MAINLINE_SRC name the newest
#                  and its source tree (the in-tree builds and the series)
#   QEMUS        - the hosts: Debian 12's QEMU and bookworm-backports'
#                  (devtools/qemu.sh), QEMU_<name> the binary of each
#
# Re-running is idempotent: nothing is downloaded or unpacked twice.

set -eu

CACHE=${BALLOON_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/virtio-balloon}
# Meta packages that name the current Debian 12 kernels: image, headers.
TARGETS="linux-image-amd64:linux-headers-amd64 linux-image-6.12-amd64:linux-headers-6.12-amd64"
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
install_pkgs $pkgs

for rel in $kernels; do
	fetch_image "$rel"
	[ -f "/usr/src/linux-headers-$rel/Makefile" ] ||
		die "/usr/src/linux-headers-$rel is incomplete (apt-get install --reinstall linux-headers-$rel)"
done
# The newest mainline trees, for a build-only check.
mainline=$(sh "$(dirname "$0")/mainline.sh" "$CACHE") ||
	die "cannot prepare the mainline trees (devtools/mainline.sh)"
mainline_names=$(echo "$mainline" | cut -d' ' -f1 | tr '\n' ' ')
newest=$(echo "$mainline" | sort -V -k1,1 | tail -n 1)
# The host's QEMU (Debian 12's 7.2) and Debian 13's, from bookworm-backports.
host_qemu=$(qemu-system-x86_64 --version | sed -n 's/^QEMU emulator version \([0-9.]*\).*/\1/p')
[ -n "$host_qemu" ] || die "qemu-system-x86_64 --version does not say its version"
backport_qemu=$(sh "$(dirname "$0")/qemu.sh" "$CACHE") ||
	die "cannot fetch QEMU from bookworm-backports (devtools/qemu.sh)"
# The newest mainline tree as a guest kernel: "<release> <image> <objects>".
guest=$(sh "$(dirname "$0")/intree.sh" "$CACHE" "${newest##* }" guest) ||
	die "cannot build the mainline guest kernel (devtools/intree.sh guest)"
guest_rel=${guest%% *}

out=$CACHE/kernels.mk
{
	echo "# Written by devtools/setup.sh; resolved at $(date -u +%Y-%m-%dT%H:%MZ)."
	echo "DEBIAN_KERNELS :=$kernels"
	echo "GUEST_KERNEL := $guest_rel"
	echo "KERNELS :=$kernels $guest_rel"
	for rel in $kernels; do
		echo "KDIR_$rel := /usr/src/linux-headers-$rel"
		echo "KIMG_$rel := $CACHE/kernels/$rel"
	done
	echo "$guest" | { read -r _ image obj
		echo "KDIR_$guest_rel := $obj"
		echo "KIMG_$guest_rel := $image"; }
	echo "KSRC := ${newest##* }"
	echo "MAINLINE := $mainline_names"
	echo "$mainline" | while read -r name obj _; do
		echo "KDIR_$name := $obj"
	done
	echo "MAINLINE_NEWEST := ${newest%% *}"
	echo "MAINLINE_SRC := ${newest##* }"
	echo "QEMUS := qemu-$host_qemu ${backport_qemu%% *}"
	echo "QEMU_qemu-$host_qemu := $(command -v qemu-system-x86_64)"
	echo "QEMU_${backport_qemu%% *} := ${backport_qemu##* }"
} > "$out.tmp"
mv "$out.tmp" "$out"
say "kernels:$kernels $guest_rel; build only: $mainline_names; QEMU $host_qemu and ${backport_qemu%% *} (cache: $CACHE)"
