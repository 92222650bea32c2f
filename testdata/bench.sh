#!/bin/bash
# Start-up time of one container running /bin/true, in one hyperfine run:
#   minicontainer run --rootfs R --net none -- /bin/true   (all its namespaces, overlay, pivot_root)
#   unshare -pumif --mount-proc chroot R /bin/true   (util-linux: the floor)
#   crun run / runc run on an OCI bundle made from the same busybox rootfs
#   minicontainer run --bundle on that bundle, and the create + start +
#   delete cycle of each OCI runtime (what podman and containerd drive)
#   minicontainer run --bundle on its own spec's bundle (mc-spec: Docker's
#   defaults with their confinement, lesson 10), with and without a user
#   namespace, and rootless as nobody (lesson 12)
#   minicontainer run as nobody (mc-run-rootless): the first row's run,
#   rootless, beside it (lesson 12)
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
# A cycle that failed halfway (hyperfine stops at a command's failure)
# leaves its container made: delete it with each runtime before the files
# go (crun's through the same mount namespace as its runs on a hybrid host).
cleanup() {
	"$mc" --root "$state" delete --force mccycle >/dev/null 2>&1
	runc --root "$work/runc" delete --force mccycle >/dev/null 2>&1
	unshare -m sh -c "umount /sys/fs/cgroup/unified 2>/dev/null; crun --root $work/crun delete --force mccycle" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
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
	cycle() { # RUNTIME ROOT: create, start, then delete (--force: the process may still be exiting)
		echo "sh -c '$1 --root $2 create --bundle $bundle mccycle && $1 --root $2 start mccycle && $1 --root $2 delete --force mccycle'"
	}
	names+=(mc-cycle runc-cycle)
	cmds+=("$(cycle "$mc" "$state")" "$(cycle runc "$work/runc")")
	if command -v crun >/dev/null && [ "${names[3]}" = crun ]; then
		names+=(crun-cycle)
		cmds+=("$(cycle crun "$work/crun")")
	elif command -v crun >/dev/null; then
		# On a hybrid host, the same mount namespace without the unified
		# hierarchy as crun+unshare above, once for the whole cycle (the
		# container made by create lives on in it until delete): a ceiling.
		names+=(crun-cycle+unshare)
		cmds+=("unshare -m sh -c 'umount /sys/fs/cgroup/unified && crun --root $work/crun create --bundle $bundle mccycle && crun --root $work/crun start mccycle && crun --root $work/crun delete --force mccycle'")
	fi
fi

# minicontainer's own config (spec --net none: Docker's defaults,
# confinement included, lesson 10; the Spec run executes) as a bundle, then the same
# with a user namespace (0-65535 mapped to 100000-165535, as root), then
# rootless: as nobody, its own id mapped to 0 (lesson 12). The rootless
# Spec's devpts loses gid=5, which has no map there (the kernel refuses it).
spec_bundle() { # DIR MAPS: config.json for $rootfs, with a user namespace when MAPS is set
	mkdir -p "$1"
	"$mc" spec --rootfs "$rootfs" --net none -- /bin/true >"$1/config.json"
	[ -n "$2" ] && sed -i -e "s/\"namespaces\": \[/\"uidMappings\": [$2], \"gidMappings\": [$2], \"namespaces\": [{\"type\": \"user\"},/" \
		-e 's/"mode=0620",/"mode=0620"/; /"gid=5"/d' "$1/config.json"
	return 0
}
spec_bundle "$work/spec" ""
spec_bundle "$work/userns" '{"containerID": 0, "hostID": 100000, "size": 65536}'
names+=(mc-spec mc-userns)
cmds+=("$mc --root $state run --bundle $work/spec" "$mc --root $state run --bundle $work/userns")
if command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
	spec_bundle "$work/rootless" "{\"containerID\": 0, \"hostID\": $(id -u nobody), \"size\": 1}"
	chmod 755 "$work" # nobody reaches the rootfs and the bundle
	mkdir "$work/nobody" && chown nobody "$work/nobody" # its state root
	names+=(mc-rootless)
	cmds+=("setpriv --reuid=nobody --regid=$(id -g nobody) --clear-groups -- $mc --root $work/nobody run --bundle $work/rootless")
	# The first row's run as nobody: a user namespace with its own id,
	# the overlay mounted in there (userxattr, upper on a tmpfs). Its one
	# line (no range in /etc/subuid) goes to hyperfine's /dev/null.
	names+=(mc-run-rootless)
	cmds+=("setpriv --reuid=nobody --regid=$(id -g nobody) --clear-groups -- env XDG_DATA_HOME=$work/nobody $mc --root $work/nobody run --rootfs $rootfs --net none -- /bin/true")
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
printf '%-18s %9s %8s %10s %8s %10s %9s %10s %12s\n' runtime "wall ms" "± ms" "x unshare" "min ms" "x unshare" "CPU ms" "x unshare" "peak RSS MB"
read -r unshare_mean unshare_min unshare_cpu < <(awk -F, '$1=="unshare" {print $2, $7, $5+$6}' "$work/times.csv")
for i in "${!names[@]}"; do
	n=${names[$i]}
	read -r mean sd min cpu < <(awk -F, -v n="$n" '$1==n {print $2, $3, $7, $5+$6}' "$work/times.csv")
	rss=$(peak_rss "${cmds[$i]}")
	awk -v n="$n" -v m="$mean" -v s="$sd" -v mi="$min" -v c="$cpu" -v um="$unshare_mean" -v umi="$unshare_min" -v uc="$unshare_cpu" -v r="$rss" \
		'BEGIN { printf "%-18s %9.1f %8.1f %10.2f %8.1f %10.2f %9.1f %10.2f %12.1f\n", n, m*1000, s*1000, m/um, mi*1000, mi/umi, c*1000, c/uc, r/1024 }'
done

# Entering a running container: `exec ID true` into a run -d container
# (every namespace, the cgroup, its Process's confinement; forked from the
# CLI's own locked thread where it can, see pkg/container/execfast.go), beside nsenter -a into the same init (namespaces
# only: the floor) and runc exec into a runc container of the same rootfs.
# Each joins and runs /bin/true once; hyperfine's own run, its own table:
# the ratios are to nsenter.
echo
echo "# exec: $runs runs each after $warmup warm-up runs"
id=$("$mc" --root "$state" run -d --rootfs "$rootfs" --net none -- sleep 100000)
pid=$("$mc" --root "$state" inspect "$id" | awk -F'[:,]' '/"Pid"/ {gsub(/ /, "", $2); print $2; exit}')
trap '"$mc" --root "$state" rm -f "$id" >/dev/null; runc --root "$work/runc" delete --force mcexec 2>/dev/null; cleanup' EXIT
enames=(mc-exec nsenter)
ecmds=("$mc --root $state exec $id /bin/true" "nsenter -a -t $pid /bin/true")
if command -v runc >/dev/null; then
	sed -i 's|"/bin/true"|"sleep", "100000"|' "$bundle/config.json"
	runc --root "$work/runc" run -d --bundle "$bundle" mcexec </dev/null >/dev/null 2>&1
	enames+=(runc-exec)
	ecmds+=("runc --root $work/runc exec mcexec /bin/true")
fi
hyperfine -N --style basic --warmup "$warmup" --runs "$runs" --export-csv "$work/exec.csv" \
	$(for i in "${!ecmds[@]}"; do printf -- '-n %s ' "${enames[$i]}"; done) "${ecmds[@]}" >"$work/hyperfine.out" 2>&1 \
	|| { cat "$work/hyperfine.out"; exit 1; }
echo
printf '%-14s %9s %8s %10s %8s %10s %9s %10s\n' command "wall ms" "± ms" "x nsenter" "min ms" "x nsenter" "CPU ms" "x nsenter"
read -r ns_mean ns_min ns_cpu < <(awk -F, '$1=="nsenter" {print $2, $7, $5+$6}' "$work/exec.csv")
for n in "${enames[@]}"; do
	read -r mean sd min cpu < <(awk -F, -v n="$n" '$1==n {print $2, $3, $7, $5+$6}' "$work/exec.csv")
	awk -v n="$n" -v m="$mean" -v s="$sd" -v mi="$min" -v c="$cpu" -v um="$ns_mean" -v umi="$ns_min" -v uc="$ns_cpu" \
		'BEGIN { printf "%-14s %9.1f %8.1f %10.2f %8.1f %10.2f %9.1f %10.2f\n", n, m*1000, s*1000, m/um, mi*1000, mi/umi, c*1000, c/uc }'
done
