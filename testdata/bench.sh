#!/bin/bash
# Start-up time of one container running /bin/true, in one hyperfine run:
#   minicontainer run --rootfs R --net none -- /bin/true   (all its namespaces, overlay, pivot_root)
#   unshare -pumif --mount-proc chroot R /bin/true   (util-linux: the floor)
#   crun run / runc run on an OCI bundle made from the same busybox rootfs
#   minicontainer run --bundle on that bundle, and on the bundle
#   `minicontainer spec` writes (mc-spec: Docker's defaults with their
#   confinement), and the create + start + delete cycle of each OCI
#   runtime (what podman and containerd drive)
# then the ratios to unshare, and each one's peak RSS (GNU time's
# "Maximum resident set size": the largest process of the run, waited-for
# children included, see getrusage(2) RUSAGE_CHILDREN).
#
# Run as root from the repository root after `make build` (make bench does).
# Environment: RUNS (default 300), WARMUP (default 30).
set -euo pipefail

runs=${RUNS:-300}
warmup=${WARMUP:-30}
mc=$PWD/bin/minicontainer
[ "$(id -u)" = 0 ] || { echo "bench.sh: run as root (sudo make bench)" >&2; exit 1; }
[ -x "$mc" ] || { echo "bench.sh: $mc missing: run make build first" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "bench.sh: hyperfine missing: apt-get install hyperfine" >&2; exit 1; }

work=$(mktemp -d /tmp/mcbench.XXXXXX)
state=$work/state
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
"$mc" rootfs busybox "$rootfs" >/dev/null

# --net none: a network namespace with lo up, like crun's and runc's
# bundles here; the default bridge would add a veth, a bridge and NAT rules
# to each run (about 95 ms, see docs/08-networking.md) and make them on the
# machine.
names=(minicontainer unshare)
cmds=("$mc run --root $state --rootfs $rootfs --net none -- /bin/true"
      "unshare -pumif --mount-proc chroot $rootfs /bin/true")

# An OCI bundle whose root is the same rootfs: `runc spec` writes the
# default config (pid, net, ipc, uts, mount namespaces, a read-only root,
# /proc, /dev, /dev/pts, /dev/shm, /sys); we only change the command, turn
# the terminal off and point root.path at the rootfs.
bundle=$work/bundle
mkdir -p "$bundle"
if command -v runc >/dev/null; then
	(cd "$bundle" && runc spec)
	sed -i -e 's|"terminal": true|"terminal": false|' \
	       -e 's|"sh"$|"/bin/true"|' \
	       -e "s|\"path\": \"rootfs\"|\"path\": \"$rootfs\"|" "$bundle/config.json"
	grep -q '"/bin/true"' "$bundle/config.json" || { echo "bench.sh: could not edit the OCI config" >&2; exit 1; }
	# run (without -d) deletes the container when it exits, so one name
	# serves every run.
	names+=(runc)
	cmds+=("runc --root $work/runc run --bundle $bundle mcbench")
	if command -v crun >/dev/null; then
		names+=(crun)
		crun="crun --root $work/crun run --bundle $bundle mcbench"
		# crun (1.8) refuses a hybrid cgroup host whose cgroup2 hierarchy has
		# a controller ("cgroups in hybrid mode not supported"); give it a
		# mount namespace without /sys/fs/cgroup/unified. That adds an
		# unshare(1) and a sh to its time: crun's figure is a ceiling.
		if grep -qs . /sys/fs/cgroup/unified/cgroup.controllers; then
			crun="unshare -m sh -c 'umount /sys/fs/cgroup/unified && exec $crun'"
			names[-1]=crun+unshare
		fi
		cmds+=("$crun")
	fi
	# The same bundle through minicontainer's OCI road: run --bundle (create,
	# start, wait and delete in one process, as runc run), and the cycle an
	# engine drives, create + start + delete as three processes, beside
	# runc's and crun's (each through one sh, which the three share).
	names+=(mc-bundle)
	cmds+=("$mc --root $state run --bundle $bundle")
	# The bundle minicontainer's own spec writes: Docker's defaults,
	# confinement included (capabilities, seccomp, masked and read-only
	# paths, device rules: lesson 10), the Spec run executes.
	specbundle=$work/specbundle
	mkdir -p "$specbundle"
	"$mc" spec --rootfs "$rootfs" --net none -- /bin/true > "$specbundle/config.json"
	names+=(mc-spec)
	cmds+=("$mc --root $state run --bundle $specbundle")
	cycle() { # RUNTIME ROOT: create, start, then delete (--force: the process may still be exiting)
		echo "sh -c '$1 --root $2 create --bundle $bundle mccycle && $1 --root $2 start mccycle && $1 --root $2 delete --force mccycle'"
	}
	names+=(mc-cycle runc-cycle)
	cmds+=("$(cycle "$mc" "$state")" "$(cycle runc "$work/runc")")
	if command -v crun >/dev/null && [ "${names[3]}" = crun ]; then
		names+=(crun-cycle)
		cmds+=("$(cycle crun "$work/crun")")
	fi
fi

echo "# $runs runs each after $warmup warm-up runs; rootfs: busybox $(busybox | head -1 | awk '{print $2}')"
# -N: no shell between hyperfine and the command, so nothing to subtract.
hyperfine -N --style basic --warmup "$warmup" --runs "$runs" --export-csv "$work/times.csv" \
	$(for i in "${!cmds[@]}"; do printf -- '-n %s ' "${names[$i]}"; done) "${cmds[@]}" >"$work/hyperfine.out" 2>&1 \
	|| { cat "$work/hyperfine.out"; exit 1; }

peak_rss() { # kB
	/usr/bin/time -f %M bash -c "$1" 2>&1 >/dev/null | tail -1
}
# hyperfine's CSV: command,mean,stddev,median,user,system,min,max (seconds).
# CPU is user+system of the whole run (children included), and min the
# fastest run: both change less than the mean when other programs load
# the machine.
echo
printf '%-14s %9s %8s %10s %8s %10s %9s %10s %12s\n' runtime "wall ms" "± ms" "x unshare" "min ms" "x unshare" "CPU ms" "x unshare" "peak RSS MB"
read -r unshare_mean unshare_min unshare_cpu < <(awk -F, '$1=="unshare" {print $2, $7, $5+$6}' "$work/times.csv")
for i in "${!names[@]}"; do
	n=${names[$i]}
	read -r mean sd min cpu < <(awk -F, -v n="$n" '$1==n {print $2, $3, $7, $5+$6}' "$work/times.csv")
	rss=$(peak_rss "${cmds[$i]}")
	awk -v n="$n" -v m="$mean" -v s="$sd" -v mi="$min" -v c="$cpu" -v um="$unshare_mean" -v umi="$unshare_min" -v uc="$unshare_cpu" -v r="$rss" \
		'BEGIN { printf "%-14s %9.1f %8.1f %10.2f %8.1f %10.2f %9.1f %10.2f %12.1f\n", n, m*1000, s*1000, m/um, mi*1000, mi/umi, c*1000, c/uc, r/1024 }'
done
