#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Prepare the newest mainline kernel trees in Debian's archive for a
# build-only check of the driver: the newest linux-source-* in sid and the
# newest in experimental (7.2 and 7.3-rc in December 2026), resolved at run
# time through a private apt configuration, so that the host's own package
# sources stay bookworm's.  Each source package (a tarball, arch all) is
# unpacked into the cache and prepared out of tree: tinyconfig plus
# devtools/mainline.config, modules_prepare.
#
# Usage: devtools/mainline.sh <cache dir>
# Prints one line per tree: <name> <object dir> <source dir>, e.g.
#   mainline-7.3-rc7 <cache>/mainline/obj-7.3-rc7 <cache>/mainline/src-7.3-rc7
# Trees already prepared are not fetched or built again.

set -eu

CACHE=$1
TOP=$CACHE/mainline
APT=$TOP/apt
SUITES="sid experimental"
FRAGMENT=$(cd "$(dirname "$0")" && pwd)/mainline.config

die() {
	echo "mainline: error: $*" >&2
	exit 1
}

say() {
	echo "mainline: $*" >&2
}

. "$(dirname "$0")/archive.sh"

# Every linux-source-X.Y in the suites, one "package | version | source"
# line per suite that has it (apt-cache madison).
all_sources() {
	for pkg in $(aptc apt-cache search --names-only '^linux-source-[0-9.]+$' |
		     cut -d' ' -f1); do
		aptc apt-cache madison "$pkg"
	done
}

# Unpack and prepare package $1 at version $2; print its line.
prepare() {
	pkg=$1
	ver=$2
	# The upstream version, without the Debian revision: 7.3~rc7-1~exp1
	# is mainline-7.3-rc7.
	name=mainline-$(echo "${ver%-*}" | tr '~' '-')
	obj=$TOP/obj-${name#mainline-}
	src=$TOP/src-${name#mainline-}
	if [ ! -f "$obj/.done" ]; then
		say "fetching $pkg $ver"
		rm -rf "$src" "$obj" "$TOP/deb"
		archive_unpack "$TOP/deb" "$pkg=$ver"
		mkdir -p "$src" "$obj"
		tar -xJf "$TOP"/deb/usr/src/"$pkg".tar.xz -C "$src" --strip-components=1 ||
			{ rm -rf "$TOP/deb"; die "cannot unpack $pkg's tarball"; }
		rm -rf "$TOP/deb"
		say "preparing $pkg $ver (tinyconfig, modules_prepare)"
		{
			make -C "$src" O="$obj" tinyconfig &&
			(cd "$obj" && "$src"/scripts/kconfig/merge_config.sh -m .config "$FRAGMENT") &&
			make -C "$src" O="$obj" olddefconfig &&
			make -C "$src" O="$obj" -j"$(nproc)" modules_prepare
		} > "$obj/prepare.log" 2>&1 ||
			die "preparing $pkg $ver failed, see $obj/prepare.log"
		grep -q '^CONFIG_VIRTIO_BALLOON=m' "$obj/.config" ||
			die "$pkg $ver: CONFIG_VIRTIO_BALLOON=m did not stick (see $obj/.config)"
		touch "$obj/.done"
	fi
	echo "$name $obj $src"
}

[ -n "${1:-}" ] || die "usage: $0 <cache dir>"
say "apt-get update ($SUITES)"
# shellcheck disable=SC2086
archive_update $SUITES
SOURCES=$(all_sources)
seen=
for s in $SUITES; do
	found=$(echo "$SOURCES" | madison_newest "$s")
	[ -n "$found" ] || die "no linux-source package in $s"
	case " $seen " in
	*" $found "*) continue ;;
	esac
	seen="$seen $found"
	# shellcheck disable=SC2086
	prepare $found
done
