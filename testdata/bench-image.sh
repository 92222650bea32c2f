#!/bin/bash
# Images: the first run of an imported image (its layer unpacked into the
# store) against later runs (the layer cached), and our unpack's
# throughput against GNU tar -x of the same layer:
#
#   first run    minicontainer run IMAGE /bin/true on a fresh store (hyperfine
#                --prepare: rm the store, import the layer: the import's own
#                hashing is not timed)
#   cached run   the same command again: the layer is there
#   unpack       first - cached: gunzip + the diff ID's sha256 (a gzip
#                layer; a plain one was hashed as it was imported) + our
#                path-safe extraction with whiteouts
#   tar -x       tar -xf of the same layer into an empty directory (and
#                tar -xzf: gzip decompresses in a second process)
#
# RUNS rounds, each timing the three once (interleaved: a shared host's
# load drifts, and N runs of one command in a row would each see another
# load); medians of the wall time, and of the CPU time (user + system),
# which the host's load stretches far less.
#
# The layer is a tar of a tree of many small files, like an image's
# (LAYER_SRC, default Go's own /usr/local/go/src, else /usr/share), plain
# and gzip. The bar (issue 13): unpack >= 0.8x tar.
#
# Run as root from the repository root after `make build` (make bench does).
# Environment: RUNS (default 10), LAYER_SRC, BENCH_DIR (default /var/tmp;
# /dev/shm takes the disk out and measures the CPU work alone).
set -euo pipefail

runs=${RUNS:-10}
mc=$PWD/bin/minicontainer
[ "$(id -u)" = 0 ] || { echo "bench-image.sh: run as root (sudo make bench)" >&2; exit 1; }
[ -x "$mc" ] || { echo "bench-image.sh: $mc missing: run make build first" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "bench-image.sh: hyperfine missing" >&2; exit 1; }
src=${LAYER_SRC:-/usr/local/go/src}
[ -d "$src" ] || src=/usr/share

work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/mcbench-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
# ext4 without a journal does not reuse an inode for a minute after its
# deletion (six while its inode table block is dirty: fs/ext4/ialloc.c,
# recently_deleted), and scans past each such one for every new inode of
# its group: right after the rm -rf of a 13,000-file tree, creating the
# next one costs seconds, for tar and for us alike, as the inode groups
# fall. The figures then measure that, not the extraction.
if [ "$(findmnt -n -o FSTYPE -T "$work")" = ext4 ] &&
	! ls /proc/fs/jbd2/ 2>/dev/null | grep -q "^$(basename "$(findmnt -n -o SOURCE -T "$work")")-"; then
	echo "# note: $work is on ext4 without a journal: inode reuse after each rm -rf dominates; BENCH_DIR=/dev/shm measures the extraction" >&2
fi
store=$work/store state=$work/state
rootfs=$work/rootfs
"$mc" rootfs busybox "$rootfs" >/dev/null
# one layer: busybox (for /bin/true) and the tree
tar -C "$rootfs" -cf "$work/layer.tar" .
tar -C "$(dirname "$src")" -rf "$work/layer.tar" "$(basename "$src")"
gzip -k -1 "$work/layer.tar"
size=$(stat -c %s "$work/layer.tar")
files=$(tar -tf "$work/layer.tar" | wc -l)
echo "# layer: busybox + $src, $files entries, $((size / 1000000)) MB uncompressed, $(($(stat -c %s "$work/layer.tar.gz") / 1000000)) MB gzip; $runs rounds"

run="$mc --root $state run --images $store --net none bench:1 /bin/true"
# median: the middle of the numbers on stdin (the mean of the two middle ones)
median() { sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for z in "" .gz; do
	l=$work/layer.tar$z
	# Interleaved: each round times first, cached and tar once, so that
	# the host's load, which swings over a minute on a shared machine,
	# weighs on the three alike (hyperfine's --runs N would time N of
	# each in a row).
	: >"$work/t$z.csv"
	for r in $(seq "$runs"); do
		hyperfine -N --style none --runs 1 --export-csv "$work/r.csv" \
			-n first --prepare "sh -c 'rm -rf $store && $mc import --images $store $l bench:1 >/dev/null'" "$run" \
			-n cached --prepare "sh -c 'rm -rf $store && $mc import --images $store $l bench:1 >/dev/null && $run'" "$run" \
			-n tar --prepare "sh -c 'rm -rf $work/x && mkdir $work/x'" "tar -C $work/x -x${z:+z}f $l" \
			>"$work/hyperfine.out" 2>&1 || { cat "$work/hyperfine.out"; exit 1; }
		# hyperfine's CSV: command,mean,stddev,median,user,system,min,max
		# (seconds; user and system include the command's children)
		awk -F, -v r="$r" 'NR > 1 { printf "%s %s %.6f %.6f\n", r, $1, $2, $5 + $6 }' "$work/r.csv" >>"$work/t$z.csv"
	done
	# per round: wall and CPU (user + system) of each; unpack = first - cached
	col() { awk -v c="$1" -v k="$2" '$2 == c { print $k }' "$work/t$z.csv" | median; }
	firstminus() { awk -v k="$1" '{ v[$1, $2] = $k; n[$1] } END { for (r in n) print v[r, "first"] - v[r, "cached"] }' "$work/t$z.csv" | median; }
	awk -v z="${z:-plain}" -v size="$size" -v first="$(col first 3)" -v cached="$(col cached 3)" \
		-v unpack="$(firstminus 3)" -v tar="$(col tar 3)" -v ucpu="$(firstminus 4)" -v tcpu="$(col tar 4)" 'BEGIN {
		printf "%-6s first run %7.1f ms   cached run %6.1f ms   unpack %7.1f ms = %6.1f MB/s   tar -x %7.1f ms = %6.1f MB/s   unpack/tar %.2fx   CPU: unpack %6.1f ms, tar %6.1f ms, %.2fx\n",
			z, first*1000, cached*1000, unpack*1000, size/unpack/1e6, tar*1000, size/tar/1e6, tar/unpack, ucpu*1000, tcpu*1000, tcpu/ucpu
	}'
done
echo "(medians of $runs interleaved rounds; unpack = first - cached, per round; MB/s of the uncompressed layer;"
echo " CPU = user + system of the command and its children: what a loaded host's scheduling does not stretch)"
