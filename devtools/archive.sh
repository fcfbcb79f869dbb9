# SPDX-License-Identifier: GPL-2.0
#
# Sourced by devtools/mainline.sh and devtools/qemu.sh: apt-get and
# apt-cache on a private configuration, so packages of other Debian suites
# can be looked up and downloaded while the host's own sources stay
# bookworm's.  The caller sets APT (a directory of its cache) and die().

MIRROR=http://deb.debian.org/debian
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# aptc <apt-get|apt-cache> <args>: run on the private configuration.
aptc() {
	cmd=$1
	shift
	"$cmd" -o Dir::Etc::sourcelist="$APT/sources.list" \
		-o Dir::Etc::sourceparts=- -o Dir::State::Lists="$APT/lists" \
		-o Dir::Cache="$APT/cache" -o APT::Get::List-Cleanup=0 \
		-o APT::Sandbox::User=root "$@"
}

# archive_update <suite>...: point the private configuration at the suites
# and fetch their package lists.
archive_update() {
	[ -f "$KEYRING" ] || die "$KEYRING is missing (apt-get install debian-archive-keyring)"
	mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" ||
		die "cannot create $APT"
	: > "$APT/sources.list.tmp"
	for s in "$@"; do
		echo "deb [signed-by=$KEYRING] $MIRROR $s main" >> "$APT/sources.list.tmp"
	done
	mv "$APT/sources.list.tmp" "$APT/sources.list"
	aptc apt-get update -qq >/dev/null 2>&1 ||
		die "apt-get update of $* failed: check the network"
}

# madison_newest <suite>: of the apt-cache madison lines on stdin, the
# newest version in the suite, as "package version" (nothing if none).
madison_newest() {
	awk -F' *[|] *' -v s="$1" '$3 ~ " "s"/" { print $1, $2 }' |
		sort -V -k2 | tail -n 1
}

# archive_newest <package> <suite>: the newest version of the package in
# the suite (empty if it has none).
archive_newest() {
	aptc apt-cache madison "$1" | madison_newest "$2" | awk '{ print $2 }'
}

# archive_unpack <dir> <package=version>...: download the packages and
# unpack them all into <dir> (created; removed again on failure).
archive_unpack() {
	dest=$1
	shift
	mkdir -p "${dest%/*}" && dl=$(mktemp -d "${dest%/*}/dl.XXXXXX") ||
		die "cannot create a download directory beside $dest"
	(cd "$dl" && aptc apt-get download -qq "$@" >/dev/null) ||
		{ rm -rf "$dl"; die "apt-get download $* failed"; }
	mkdir -p "$dest"
	for deb in "$dl"/*.deb; do
		dpkg -x "$deb" "$dest" ||
			{ rm -rf "$dl" "$dest"; die "cannot unpack $deb"; }
	done
	rm -rf "$dl"
}
