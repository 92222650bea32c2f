#!/bin/bash
# Images: the first run of an imported image (its layer unpacked into the
# store) against later runs (the layer cached), and our unpack's
# throughput against GNU tar -x of the same layer:
#
#   first run    minicontainer run IMAGE /bin/true on a fresh store (hyperfine
#                --prepare: rm the store, import the layer: the import's own
#                hashing is not timed)
#   cached run   the same command again: the layer is there
#   unpack       first - cached: gunzip (or not) + the diff ID's sha256 +
#                our path-safe extraction with whiteouts
#   tar -x       tar -xf of the same layer into an empty directory (and
#                tar -xzf: gzip decompresses in a second process)
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
store=$work/store state=$work/state
rootfs=$work/rootfs
"$mc" rootfs busybox "$rootfs" >/dev/null
# one layer: busybox (for /bin/true) and the tree
tar -C "$rootfs" -cf "$work/layer.tar" .
tar -C "$(dirname "$src")" -rf "$work/layer.tar" "$(basename "$src")"
gzip -k -1 "$work/layer.tar"
size=$(stat -c %s "$work/layer.tar")
files=$(tar -tf "$work/layer.tar" | wc -l)
echo "# layer: busybox + $src, $files entries, $((size / 1000000)) MB uncompressed, $(($(stat -c %s "$work/layer.tar.gz") / 1000000)) MB gzip; $runs runs each"

run="$mc --root $state run --images $store --net none bench:1 /bin/true"
for z in "" .gz; do
	l=$work/layer.tar$z
	hyperfine -N --style basic --runs "$runs" --export-csv "$work/t$z.csv" \
		-n first --prepare "sh -c 'rm -rf $store && $mc import --images $store $l bench:1 >/dev/null'" "$run" \
		-n cached --prepare "sh -c 'rm -rf $store && $mc import --images $store $l bench:1 >/dev/null && $run'" "$run" \
		-n tar --prepare "sh -c 'rm -rf $work/x && mkdir $work/x'" "tar -C $work/x -x${z:+z}f $l" \
		>"$work/hyperfine.out" 2>&1 || { cat "$work/hyperfine.out"; exit 1; }
	# hyperfine's CSV: command,mean,stddev,median,user,system,min,max (seconds)
	awk -F, -v z="${z:-plain}" -v size="$size" '
		NR > 1 { mean[$1] = $2; med[$1] = $4; sd[$1] = $3 }
		END {
			unpack = med["first"] - med["cached"]
			printf "%-6s first run %7.1f ms ± %5.1f   cached run %6.1f ms ± %4.1f   unpack %7.1f ms = %6.1f MB/s   tar -x %7.1f ms = %6.1f MB/s   unpack/tar %.2fx\n",
				z, med["first"]*1000, sd["first"]*1000, med["cached"]*1000, sd["cached"]*1000,
				unpack*1000, size/unpack/1e6, med["tar"]*1000, size/med["tar"]/1e6, med["tar"]/unpack
		}' "$work/t$z.csv"
done
echo "(medians; unpack = first - cached; MB/s of the uncompressed layer)"
