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
set -eu
dir=${1:-bin/c}
mkdir -p "$dir"
for page in clone setns unshare; do
	zcat "/usr/share/man/man2/$page.2.gz" |
		sed -n '/^\.\\" SRC BEGIN ('"$page"'\.c)/,/^\.\\" SRC END/{
			/^\.\\"/d; /^\.EX$/d; /^\.EE$/d
			s/\\-/-/g; s/\\\[aq\]/'"'"'/g; s/\\&//g; s/\\e/\\/g
			p
		}' >"$dir/$page.c"
	gcc -Wall -o "$dir/$page" "$dir/$page.c"
done
