#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Fetch the newest QEMU of Debian's bookworm-backports (Debian 13's QEMU,
# 10.0 in December 2026) into the cache, beside the host's own QEMU 7.2,
# which it does not replace: qemu-system-x86, -common and -data at one
# version and the SeaBIOS it wants, unpacked with dpkg -x.  They run with
# bookworm's libraries.  A wrapper script points QEMU at its own firmware
# and modules.
#
# Usage: devtools/qemu.sh <cache dir>
# Prints "<name> <wrapper>", e.g. qemu-10.0.2 <cache>/qemu/10.0.2/qemu-system-x86_64.
# A version already unpacked is not fetched again.

set -eu

CACHE=$1
TOP=$CACHE/qemu
APT=$TOP/apt
SUITE=bookworm-backports
# Built together, one version for all three.
QEMU_PKGS="qemu-system-x86 qemu-system-common qemu-system-data"
FIRMWARE_PKG=seabios
BINARY=qemu-system-x86_64

die() {
	echo "qemu: error: $*" >&2
	exit 1
}

say() {
	echo "qemu: $*" >&2
}

. "$(dirname "$0")/archive.sh"

[ -n "${1:-}" ] || die "usage: $0 <cache dir>"
say "apt-get update ($SUITE)"
archive_update $SUITE
ver=$(archive_newest qemu-system-x86 $SUITE)
[ -n "$ver" ] || die "no qemu-system-x86 in $SUITE"
fw=$(archive_newest $FIRMWARE_PKG $SUITE)
[ -n "$fw" ] || die "no $FIRMWARE_PKG in $SUITE"
# 1:10.0.2+ds-2+deb13u1~bpo12+1 is QEMU 10.0.2.
upstream=$(echo "$ver" | sed 's/^[0-9]*://; s/[+~-].*//')
dir=$TOP/$upstream
wrapper=$dir/$BINARY
if [ ! -f "$dir/.done" ]; then
	say "fetching QEMU $ver and $FIRMWARE_PKG $fw"
	rm -rf "$dir"
	pkgs=
	for p in $QEMU_PKGS; do
		pkgs="$pkgs $p=$ver"
	done
	# shellcheck disable=SC2086
	archive_unpack "$dir/root" $pkgs "$FIRMWARE_PKG=$fw"
	missing=$(ldd "$dir/root/usr/bin/$BINARY" | sed -n 's/^[[:space:]]*\([^ ]*\) => not found$/\1/p')
	[ -z "$missing" ] ||
		die "QEMU $ver needs libraries bookworm lacks here:" $missing
	# -L twice: QEMU's own ROMs, then SeaBIOS's (bios-256k.bin).
	cat > "$wrapper" <<WRAP
#!/bin/sh
# Written by devtools/qemu.sh: QEMU $ver from $SUITE, unpacked here.
QEMU_MODULE_DIR=$dir/root/usr/lib/x86_64-linux-gnu/qemu
export QEMU_MODULE_DIR
exec $dir/root/usr/bin/$BINARY -L $dir/root/usr/share/qemu -L $dir/root/usr/share/seabios "\$@"
WRAP
	chmod +x "$wrapper"
	"$wrapper" --version | grep -q "version $upstream" ||
		die "the unpacked QEMU does not run: $wrapper --version"
	touch "$dir/.done"
fi
echo "qemu-$upstream $wrapper"
