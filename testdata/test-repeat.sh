#!/bin/bash
# test-repeat.sh N: the whole suite N times, each run as `make test` runs it
# (go test -p 1 -count=1 ./...), then one line per package: how many runs
# it passed, "pkg/network 10/10". A test that fails 1 run in 5 makes a
# submission fail for nothing; one run cannot show it, ten in a row can.
#
# Run as root from the repository root after `make build` (make test-repeat
# does). The output of each failed run is kept, and its path printed.
# Exit status: 0 when every run passed, 1 otherwise.
set -uo pipefail

n=${1:-10}
go=${GO:-go}
case $n in '' | *[!0-9]* | 0) echo "test-repeat.sh: N must be a positive number, not \"$n\"" >&2; exit 2 ;; esac
module=$($go list -m) || exit 2
logs=$(mktemp -d "${TMPDIR:-/tmp}/test-repeat.XXXXXX")
declare -A passed ran
failed=0

for i in $(seq "$n"); do
	log=$logs/run$i.log
	start=$SECONDS
	$go test -p 1 -count=1 -timeout 60m ./... >"$log" 2>&1
	rc=$?
	# "ok  <pkg> 1.2s", "FAIL <pkg> 3.4s", "FAIL <pkg> [build failed]";
	# packages without tests ("?") are not counted.
	while read -r word pkg _; do
		pkg=${pkg#"$module"/}
		ran[$pkg]=$((${ran[$pkg]:-0} + 1))
		[ "$word" = ok ] && passed[$pkg]=$((${passed[$pkg]:-0} + 1))
	done < <(awk '($1 == "ok" || $1 == "FAIL") && NF >= 2 { print $1, $2 }' "$log")
	if [ "$rc" = 0 ]; then
		echo "run $i/$n: ok ($((SECONDS - start)) s)"
		rm -f "$log"
	else
		failed=$((failed + 1))
		echo "run $i/$n: FAILED ($((SECONDS - start)) s), output in $log:"
		grep -E $'^(--- FAIL|FAIL\t|panic:)' "$log" | sed 's/^/    /'
	fi
done

echo
for pkg in $(printf '%s\n' "${!ran[@]}" | sort); do
	echo "$pkg ${passed[$pkg]:-0}/${ran[$pkg]}"
done
echo "runs: $((n - failed))/$n passed"
[ "$failed" = 0 ] && rmdir "$logs"
[ "$failed" = 0 ]
