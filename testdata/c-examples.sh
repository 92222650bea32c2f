#!/bin/sh
# Extract the C examples clone.c, setns.c and unshare.c from the installed
# man pages (Debian's manpages-dev) and compile them into DIR (default
# bin/c), so that a lesson can run the C beside its Go port. Their text is
# never copied into this repository.
#
#   testdata/c-examples.sh [DIR]
#
# The examples sit between '.\" SRC BEGIN (x.c)' and '.\" SRC END', inside
# .EX/.EE, with the roff escapes \- \[aq] \& and \e (undone last).
#
# Those markers first shipped in man-pages 6.00 (October 2022; upstream
# commit 338570693, "Many pages: EXAMPLES: Add wrapper comments SRC BEGIN
# and SRC END"). Debian 12 and Ubuntu 23.04 or later have them; Debian 11
# and Ubuntu 22.04 ship man-pages 5.10, which holds the same programs
# without the markers, and from which nothing would be extracted. MANDIR
# (default /usr/share/man) names another tree, for example the man/ (or,
# before 6.10, top-level) directory of a man-pages release unpacked from
# https://www.kernel.org/pub/linux/docs/man-pages/.
set -eu
dir=${1:-bin/c}
man=${MANDIR:-/usr/share/man}
# page prints the roff source of section 2 page $1, compressed or not.
page() {
	if [ -f "$man/man2/$1.2.gz" ]; then
		zcat "$man/man2/$1.2.gz"
	elif [ -f "$man/man2/$1.2" ]; then
		cat "$man/man2/$1.2"
	else
		echo "c-examples.sh: no $1(2) page in $man/man2: install manpages-dev (Debian, Ubuntu) or man-pages (Fedora, Arch)" >&2
		return 1
	fi
}
for p in clone setns unshare; do
	src=$(page "$p")
	if ! printf '%s\n' "$src" | grep -q '^\.\\" SRC BEGIN ('"$p"'\.c)$'; then
		installed=
		if [ -z "${MANDIR:-}" ]; then
			installed=$(dpkg-query -W -f ' (manpages-dev ${Version})' manpages-dev 2>/dev/null || true)
		fi
		echo "c-examples.sh: $man/man2/$p.2$installed has no '.\\\" SRC BEGIN ($p.c)' marker: the markers came with man-pages 6.00 (Debian 12, Ubuntu 23.04 or later); install a newer manpages-dev, or unpack a man-pages release of 6.00 or later from kernel.org and set MANDIR to its man directory" >&2
		exit 1
	fi
	mkdir -p "$dir"
	printf '%s\n' "$src" |
		sed -n '/^\.\\" SRC BEGIN ('"$p"'\.c)/,/^\.\\" SRC END/{
			/^\.\\"/d; /^\.EX$/d; /^\.EE$/d
			s/\\-/-/g; s/\\\[aq\]/'"'"'/g; s/\\&//g; s/\\e/\\/g
			p
		}' >"$dir/$p.c"
	gcc -Wall -o "$dir/$p" "$dir/$p.c"
done
