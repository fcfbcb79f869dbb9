#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Build the DKMS package of dkms.conf for each kernel headers tree given,
# as a user would (dkms build), in a private DKMS tree: nothing is
# installed, and /usr/src, /var/lib/dkms and /lib/modules are not touched.
# For each kernel, check that DKMS produced virtio_balloon.ko, that its
# vermagic names that kernel and that the driver was compiled against the
# package's uapi header rather than the kernel's copy.
#
# Usage: devtools/dkms-check.sh <kernel headers tree>...
# (`make dkms-check` passes the trees of every target kernel.)

set -eu

cd "$(dirname "$0")/.."
PATH=$PATH:/usr/sbin:/sbin

# What goes into /usr/src/<name>-<version>: README.md copies dkms.conf,
# drivers/ and include/, which hold just these.
PKG_FILES="dkms.conf drivers/virtio/Kbuild drivers/virtio/virtio_balloon.c
drivers/virtio/virtio_balloon_compat.h include/uapi/linux/virtio_balloon.h"
MODULE=virtio_balloon
UAPI_HDR=include/uapi/linux/virtio_balloon.h
# Kbuild's record of the object's command line and of every file it read.
OBJ_CMD=drivers/virtio/.virtio_balloon.o.cmd
# The machine is shared: build at the lowest CPU priority.
NICENESS=19
# Lines of DKMS's output and of make.log shown when a build fails.
LOG_TAIL=30

die() {
	echo "dkms-check: error: $*" >&2
	exit 1
}

say() {
	echo "dkms-check: $*" >&2
}

# Print the value of directive $1 in dkms.conf.
conf_value() {
	sed -n "s/^$1=\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" dkms.conf
}

# Print the release of the headers tree $1, as its modules' vermagic has
# it.  Not include/config/kernel.release: Debian's 6.1 headers have the
# upstream version there.
release_of() {
	sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' \
		"$1/include/generated/utsrelease.h" 2>/dev/null
}

[ $# -gt 0 ] || die "usage: $0 <kernel headers tree>..."
for kdir in "$@"; do
	if [ ! -f "$kdir/Makefile" ] || [ -z "$(release_of "$kdir")" ]; then
		die "$kdir is not a kernel headers tree (no Makefile or include/generated/utsrelease.h): install its linux-headers package or run 'make setup'"
	fi
done

name=$(conf_value PACKAGE_NAME)
ver=$(conf_value PACKAGE_VERSION)
if [ -z "$name" ] || [ -z "$ver" ]; then
	die "dkms.conf has no PACKAGE_NAME or PACKAGE_VERSION"
fi

if ! command -v dkms >/dev/null 2>&1; then
	say "dkms is not installed: running devtools/setup.sh"
	sh devtools/setup.sh
	command -v dkms >/dev/null 2>&1 || die "dkms is still missing (apt-get install dkms)"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dkms-check.XXXXXX")
# Kbuild records the canonical paths of the files it reads.
tmp=$(cd "$tmp" && pwd -P)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# The private trees: --sourcetree stands for /usr/src, --dkmstree for
# /var/lib/dkms.
src=$tmp/src/$name-$ver
tree=$tmp/dkms
for f in $PKG_FILES; do
	mkdir -p "$src/$(dirname "$f")"
	cp "$f" "$src/$f"
done

# DKMS deletes its build directory after a build, and the object's file
# list with it: a post-build hook, set from the command line (dkms.conf
# has none), keeps a copy.  DKMS runs it from the build directory.
hook=dkms-check-keep-cmd
# shellcheck disable=SC2016 # $1 is the hook's argument
printf '#!/bin/sh\nexec cp %s "$1"\n' "$OBJ_CMD" > "$src/$hook"
chmod +x "$src/$hook"
mkdir "$tmp/out" "$tree"
built=

# Print the DKMS output $1 and the build's make.log, then fail with $2.
build_failed() {
	tail -n "$LOG_TAIL" "$1" >&2
	mlog=$tree/$name/$ver/build/make.log
	if [ -f "$mlog" ]; then
		echo "--- last $LOG_TAIL lines of make.log:" >&2
		tail -n "$LOG_TAIL" "$mlog" >&2
	fi
	die "$2"
}

for kdir in "$@"; do
	rel=$(release_of "$kdir")
	log=$tmp/out/dkms-$rel.log
	cmd=$tmp/out/$rel.cmd
	say "dkms build -m $name -v $ver -k $rel (headers: $kdir)"
	# DKMS signs the module when it finds sign-file, with a key it
	# creates in /var/lib/dkms unless told otherwise: use a throw-away one.
	mok_signing_key=$tmp/mok.key mok_certificate=$tmp/mok.pub \
		nice -n "$NICENESS" dkms build -m "$name" -v "$ver" -k "$rel" \
		--kernelsourcedir "$kdir" --dkmstree "$tree" --sourcetree "$tmp/src" \
		--directive "POST_BUILD=$hook $cmd" > "$log" 2>&1 ||
		build_failed "$log" "dkms build failed for $rel"

	ko=$(find "$tree/$name/$ver/$rel" -path "*/module/$MODULE.ko*")
	if [ -z "$ko" ] || [ ! -f "$ko" ]; then
		build_failed "$log" "DKMS kept no single $MODULE.ko for $rel: '$ko'"
	fi
	magic=$(modinfo -F vermagic "$ko" | sed 's/ *$//')
	[ "${magic%% *}" = "$rel" ] ||
		build_failed "$log" "${ko##*/} has vermagic '$magic', not $rel"

	[ -f "$cmd" ] || build_failed "$log" "the post-build hook did not run: no $OBJ_CMD"
	ours=$tree/$name/$ver/build/$UAPI_HDR
	grep -qF "$ours" "$cmd" ||
		build_failed "$log" "the driver was not built against the package's $UAPI_HDR"
	if grep -F "/virtio_balloon.h" "$cmd" | grep -vF "$ours" >&2; then
		build_failed "$log" "the driver also read the uapi header above"
	fi
	say "$rel: ${ko##*/}, vermagic '$magic', built against the package's $UAPI_HDR"
	built="${built:+$built, }$rel"
done
say "DKMS package $name $ver builds for $built"
