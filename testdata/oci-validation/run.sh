#!/usr/bin/env bash
# The OCI runtime-tools validation suite against a runtime.
#
#   testdata/oci-validation/run.sh [--expect LIST] [FILE...]
#
# Builds the suite from the Go module github.com/opencontainers/runtime-tools
# (the version pinned in go.mod beside this script: its validation/*/ programs
# and cmd/runtimetest, all static), runs each validation FILE (default: all of
# them) with RUNTIME set, and prints one line per file: its TAP counts and a
# verdict. The suite's code is built from the module cache, never copied here.
#
# Environment:
#   RUNTIME        the runtime to judge (default: this repository's
#                  bin/minicontainer; RUNTIME=runc compares with runc)
#   OCI_CACHE      where the binaries, the rootfs tarball and the logs go
#                  (default /var/cache/minicontainer/oci-validation)
#   OCI_TIMEOUT    seconds each file may run (default 120)
#   OCI_DROP       a diagnosis, never a result: JSON paths ("linux.seccomp
#                  process.capabilities") deleted from each config.json
#                  before create (with jq), to see what fails behind a field
#                  the runtime refuses. Refused with --expect.
#   MINICONTAINER  the minicontainer that builds the busybox rootfs (default
#                  bin/minicontainer), and the default RUNTIME
#   OCI_BUILD_ONLY set: build the programs (filling Go's build cache) and
#                  stop; cgroup2-vm-suite.sh does it on the host, so that
#                  the VM, under software emulation, only links them
#
# --expect LIST: LIST names the files that must pass (one a line, # comments).
# The exit status is 1 when one of them was run and did not pass. Files that
# pass but are not in LIST are named at the end, to be added. Without
# --expect the table is the result: the exit status is 0 once it is printed
# (2 when the suite could not be built or run).
#
# How the suite works, and what this script adds (read from the module's
# validation/util): each file is one program that writes TAP on stdout. It
# untars ./rootfs-amd64.tar.gz (the working directory's) into a fresh bundle
# made with ioutil.TempDir("", "ocitest"), whose config.json has root.path "."
# (the bundle is the rootfs), copies ./runtimetest into it, and drives
# "$RUNTIME create|start|state|kill|delete" as runc spells them. The only
# variable it reads is RUNTIME; TMPDIR places the bundles.
#   - The whole run is in a private mount namespace of its own (below).
#   - The rootfs is the project's own busybox rootfs (minicontainer rootfs
#     busybox), not the 2018 tarball in the module. runtimetest is built
#     without Go's start-up raise of RLIMIT_NOFILE (see the build step).
#   - TMPDIR points into a work directory of this run, and RUNTIME is a
#     small wrapper that adds --root WORK/state, so that this run's
#     bundles and containers are apart from any other.
#   - Verdicts: pass = exit 0, every planned test ran, no "not ok", at least
#     one "ok" that is not a skip; or, for the files that print TAP only
#     for a failure (the hook and _fail files), "1..0" and no error.
#   - After each file: every container left in WORK/state is deleted with
#     "delete --force"; any process still rooted in WORK is killed; every
#     mount under WORK is unmounted (a "shared" mount in a bundle propagates
#     back to the host, runc's included); cgroups the suite names
#     (/cgrouptest, testdir/cgrouptest/container, and minicontainer/testdir/...
#     where minicontainer puts a relative path) that did not exist before
#     the run are removed. Each of those is counted in the table's last
#     column: a leak the runtime left.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${OCI_CACHE:-/var/cache/minicontainer/oci-validation}
timeout_s=${OCI_TIMEOUT:-120}
mc=${MINICONTAINER:-$repo/bin/minicontainer}
runtime=${RUNTIME:-$mc}
expect=

die() { echo "oci-validation: $*" >&2; exit 2; }
# lastline FILE: FILE's last non-blank line (empty if none).
lastline() { grep -v '^[[:space:]]*$' "$1" | tail -1 || true; }
# inlist WORD LIST: WORD is one of the blank-separated words of LIST.
inlist() { tr -s ' \t' '\n\n' <<<"$2" | grep -qxF -- "$1"; }

while [ $# -gt 0 ]; do
	case $1 in
	--expect) expect=$2; shift 2 ;;
	--expect=*) expect=${1#*=}; shift ;;
	-h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	--) shift; break ;;
	-*) die "unknown flag $1" ;;
	*) break ;;
	esac
done

[ "$(id -u)" = 0 ] || die "needs root (the runtime creates namespaces, mounts and cgroups)"
# The whole run in a mount namespace of its own, private (unshare(1)): a
# file that asks for no mount namespace (linux_ns_itype) has the runtime
# mount into the caller's (runc 1.1.5 left 7 mounts there, and made the
# caller's "/" private: its "shared:3" was gone after that one file), and a
# "shared" rootfsPropagation sends the container's mounts back to the
# caller. None of that can reach the host's mount table from here, and
# all of it goes with the namespace.
if [ -z "${OCI_VALIDATION_NS:-}" ]; then
	OCI_VALIDATION_NS=1 exec unshare --mount --propagation private "$0" ${expect:+--expect "$expect"} "$@"
fi
real=$(command -v "$runtime") || die "RUNTIME $runtime: not found (make build?)"
real=$(readlink -f "$real")
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}

# The tool lines of go.mod name the suite's packages: the 58 validation
# programs and runtimetest.
all=$(cd "$here" && "$GO" list tool | sed -n 's,^github.com/opencontainers/runtime-tools/validation/,,p' | sort) ||
	die "go list tool failed in $here"

if [ $# -gt 0 ]; then
	files=$*
	for f in $files; do
		inlist "$f" "$all" || die "$f: not a validation file (one of: $(echo $all))"
	done
else
	files=$all
fi
want=
if [ -n "$expect" ]; then
	want=$(sed 's/#.*//; s/[[:space:]]//g; /^$/d' "$expect")
	for f in $want; do
		inlist "$f" "$all" || die "$expect: $f: not a validation file"
	done
fi

drop=
if [ -n "${OCI_DROP:-}" ]; then
	[ -z "$expect" ] || die "OCI_DROP edits the suite's configs: it is a diagnosis, not for --expect"
	command -v jq >/dev/null || die "OCI_DROP needs jq"
	for p in $OCI_DROP; do
		[[ $p =~ ^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$ ]] || die "OCI_DROP: $p: not a JSON path like linux.seccomp"
		drop="${drop:+$drop, }.$p"
	done
	drop="del($drop)"
fi

# --- Build ------------------------------------------------------------------
# The programs to run and runtimetest, static (CGO_ENABLED=0): runtimetest
# runs inside the container, whose rootfs has no C library. Go's build cache
# makes a second build a relink (about 0.2 s a program).
mkdir -p "$cache/bin" "$cache/overlay"
pkgs=
for f in $files; do pkgs="$pkgs github.com/opencontainers/runtime-tools/validation/$f"; done
build() { (cd "$here" && CGO_ENABLED=0 "$GO" build -trimpath -ldflags='-s -w' -o "$cache/bin/" "$@") ||
	die "building the suite failed (its modules come from the Go proxy: make oci-deps)"; }
build $pkgs
# runtimetest compares the rlimits it was started with to config.json
# (process_rlimits), but since Go 1.19 every Go program raises its own soft
# RLIMIT_NOFILE at start-up (the init in Go's syscall/rlimit.go, to the hard
# limit minus 1): a runtimetest built today sees 3999 where config.json set
# 3000, under any runtime, runc included. runtime-tools v0.9.0 was built
# with Go 1.10, before that. So runtimetest is built with that one setrlimit
# call of Go's syscall package made a no-op, through go build -overlay (Go's
# tree is not touched; sed on this Go's own file, so nothing is copied).
goroot=$("$GO" env GOROOT)
overlay=
sed 's|^\([[:space:]]*\)setrlimit(RLIMIT_NOFILE, &nlim)$|\1_ = nlim // oci-validation/run.sh: no raise|' \
	"$goroot/src/syscall/rlimit.go" >"$cache/overlay/rlimit.go" 2>/dev/null || true
if grep -q 'oci-validation/run.sh: no raise' "$cache/overlay/rlimit.go"; then
	printf '{"Replace": {"%s": "%s"}}\n' "$goroot/src/syscall/rlimit.go" "$cache/overlay/rlimit.go" >"$cache/overlay/overlay.json"
	overlay=-overlay=$cache/overlay/overlay.json
else
	echo "oci-validation: $goroot/src/syscall/rlimit.go changed: runtimetest keeps Go's RLIMIT_NOFILE raise (process_rlimits' soft NOFILE check will fail)" >&2
fi
build $overlay github.com/opencontainers/runtime-tools/cmd/runtimetest
if [ -n "${OCI_BUILD_ONLY:-}" ]; then
	echo "oci-validation: built in $cache/bin"
	exit 0
fi

# --- The work directory -----------------------------------------------------
work=$(mktemp -d /tmp/oci-validation.XXXXXX)
mkdir -p "$work/tmp" "$work/state" "$work/rootfs"
# mktemp makes 0700: a container with a user namespace (linux_uid_mappings,
# linux_ns_nopath) maps its root to another uid, which must still reach its
# bundle, as it would in /tmp itself.
chmod 0755 "$work" "$work/tmp"
logs=$cache/logs/$(basename "$real")
mkdir -p "$logs"

# The suite's cgroups, in every hierarchy, before the run: only new ones are
# removed afterwards (another run of the suite may own these).
suite_cgroups() {
	local d
	for d in /sys/fs/cgroup /sys/fs/cgroup/*/; do
		d=${d%/}
		[ -d "$d/cgrouptest" ] && find "$d/cgrouptest" -depth -type d
		[ -d "$d/testdir" ] && find "$d/testdir" -depth -type d
		# minicontainer puts a relative cgroupsPath below its own parent.
		[ -d "$d/minicontainer/testdir" ] && find "$d/minicontainer/testdir" -depth -type d
	done 2>/dev/null || true
}
cgroups_before=$(suite_cgroups)

# Mount points under $work, deepest first (mountinfo's 5th field, with its
# octal escapes undone).
work_mounts() {
	awk -v w="$work/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo |
		while read -r m; do printf '%b\n' "$m"; done | sort -r
}

# Cleans what one file left; prints "N containers, N processes, N mounts,
# N cgroups" for the leaks found (empty when none).
cleanup() {
	local n_ct=0 n_pr=0 n_mn=0 n_cg=0 id p root m d
	for id in $(ls -A "$work/state" 2>/dev/null); do
		[ -d "$work/state/$id" ] || continue
		"$real" --root "$work/state" delete --force "$id" >/dev/null 2>&1 || true
		n_ct=$((n_ct + 1))
		rm -rf "${work:?}/state/$id"
	done
	# A runtime that failed to delete may leave its container's processes:
	# their root (as this namespace sees it) is inside a bundle here.
	for p in /proc/[0-9]*; do
		root=$(readlink "$p/root" 2>/dev/null) || continue
		case $root in "$work"/*)
			kill -KILL "${p#/proc/}" 2>/dev/null && n_pr=$((n_pr + 1)) ;;
		esac
	done
	[ "$n_pr" = 0 ] || sleep 0.2
	while read -r m; do
		[ -n "$m" ] || continue
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		n_mn=$((n_mn + 1))
	done < <(work_mounts)
	for d in $(suite_cgroups); do
		inlist "$d" "$cgroups_before" && continue
		rmdir "$d" 2>/dev/null && n_cg=$((n_cg + 1))
	done
	rm -rf "${work:?}"/tmp/* "${work:?}"/tmp/.[!.]* 2>/dev/null || true
	local out=
	[ "$n_ct" = 0 ] || out="$out $n_ct containers,"
	[ "$n_pr" = 0 ] || out="$out $n_pr processes,"
	[ "$n_mn" = 0 ] || out="$out $n_mn mounts,"
	[ "$n_cg" = 0 ] || out="$out $n_cg cgroups,"
	out=${out%,}
	echo "${out# }"
}

finish() {
	cleanup >/dev/null
	if [ -n "$(work_mounts)" ]; then
		echo "oci-validation: mounts left under $work:" $(work_mounts) >&2
	else
		rm -rf "$work"
	fi
}
trap finish EXIT
trap 'exit 130' INT TERM

# The rootfs tarball the suite untars, from the project's busybox rootfs.
"$mc" rootfs busybox "$work/rootfs/r" >/dev/null ||
	die "$mc rootfs busybox failed (make build?)"
tar -czf "$work/rootfs-amd64.tar.gz" -C "$work/rootfs/r" .
rm -rf "$work/rootfs"
cp "$cache/bin/runtimetest" "$work/runtimetest"
{
	echo '#!/bin/sh'
	if [ -n "$drop" ]; then
		# OCI_DROP: delete these fields from config.json before create.
		echo 'if [ "$1" = create ]; then b=.; p=; for a; do [ "$p" = --bundle ] && b=$a; p=$a; done'
		echo "  jq '$drop' \"\$b/config.json\" >\"\$b/config.json.dropped\" && mv \"\$b/config.json.dropped\" \"\$b/config.json\""
		echo 'fi'
	fi
	echo "exec $real --root $work/state \"\$@\""
} >"$work/runtime"
chmod +x "$work/runtime"

# --- Run --------------------------------------------------------------------
echo "runtime: $real ($("$real" --version 2>/dev/null | head -1 || true))"
echo "logs:    $logs/FILE.tap (stdout), FILE.err (stderr)"
[ -z "$drop" ] || echo "NOT THE SUITE AS WRITTEN: each config.json is edited before create: $drop"
printf '%-32s %4s %4s %4s %4s  %-7s %s\n' FILE PASS FAIL SKIP SECS VERDICT "FIRST FAILURE / LEAKS CLEANED"
n_pass=0 n_fail=0 n_skip=0 passed= failed= t0=$(date +%s)
for f in $files; do
	rc=0 t1=$(date +%s) silent=
	rm -f "$logs/$f.tap" "$logs/$f.err"
	(cd "$work" && TMPDIR=$work/tmp RUNTIME=$work/runtime \
		timeout -k 5 "$timeout_s" "$cache/bin/$f" </dev/null >"$logs/$f.tap" 2>"$logs/$f.err") || rc=$?
	secs=$(($(date +%s) - t1))
	leaks=$(cleanup)
	# TAP at column 0 only: the YAML blocks indent runtimetest's own TAP.
	ok=$(grep -Eic '^ok( |$)' "$logs/$f.tap" || true)
	skip=$(grep -Eic '^(not )?ok\b[^#]*#[[:space:]]*skip' "$logs/$f.tap" || true)
	notok=$(grep -Eic '^not ok( |$)' "$logs/$f.tap" || true)
	todo=$(grep -Eic '^not ok\b[^#]*#[[:space:]]*todo' "$logs/$f.tap" || true)
	plan=$(grep -Eo '^1\.\.[0-9]+' "$logs/$f.tap" | head -1 | cut -d. -f3 || true)
	fail=$((notok - todo))
	pass=$((ok - skip))
	why=
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		why="timed out after ${timeout_s}s"
	elif [ "$fail" -gt 0 ]; then
		why=$(grep -Eim1 '^not ok( |$)' "$logs/$f.tap")
	elif [ "$rc" != 0 ]; then
		why="exit $rc: $(lastline "$logs/$f.err")"
	elif [ $((ok + notok)) = 0 ]; then
		# "1..0" and no test: the hook files (hooks, prestart, poststart,
		# poststop and their _fail) report only failures, as a YAML "error"
		# (or a WARNING on stderr when a hook did not run); silence is
		# their pass. Other files print this when they gave up early, and
		# say why the same way. A skip-all plan says "1..0 # skip".
		if grep -Eiq '^1\.\.0[[:space:]]*#[[:space:]]*skip' "$logs/$f.tap"; then
			:
		elif grep -q '"error": ' "$logs/$f.tap"; then
			why="no test ran: $(grep -m1 -o '"error": .*' "$logs/$f.tap")"
		elif grep -q 'WARNING' "$logs/$f.err"; then
			why="no test ran: $(grep -m1 'WARNING' "$logs/$f.err")"
		else
			silent=1
		fi
	elif [ -z "$plan" ]; then
		why="no TAP plan"
	elif [ "$plan" != $((ok + notok)) ]; then
		why="planned $plan tests, ran $((ok + notok))"
	fi
	if [ -n "$why" ]; then
		verdict=fail n_fail=$((n_fail + 1)) failed="$failed $f"
	elif [ "$pass" = 0 ] && [ -z "$silent" ]; then
		verdict=skip n_skip=$((n_skip + 1))
	else
		verdict=pass n_pass=$((n_pass + 1)) passed="$passed $f"
	fi
	[ -z "$silent" ] || why="1..0, no error: this file reports only failures"
	[ -z "$leaks" ] || why="${why:+$why; }cleaned: $leaks"
	printf '%-32s %4s %4s %4s %4s  %-7s %s\n' "$f" "$pass" "$fail" "$skip" "$secs" "$verdict" "${why:0:150}"
done
n=$(wc -w <<<"$files")
echo "summary: $n_pass/$n files pass, $n_fail fail, $n_skip skip ($(basename "$real"), $(($(date +%s) - t0)) s)"

status=0
if [ -n "$expect" ]; then
	for f in $want; do
		inlist "$f" "$files" || continue
		if ! inlist "$f" "$passed"; then
			echo "REGRESSION: $f is in $expect but did not pass; its first failure and the end of its stderr:"
			# The first "not ok" and its YAML block (up to the next test).
			awk '/^not ok/ { on = 1 } on && /^(ok|not ok|1\.\.)/ && !/^not ok/ { exit } on && n++ < 40' "$logs/$f.tap" | sed 's/^/    /'
			tail -5 "$logs/$f.err" | sed 's/^/    /'
			status=1
		fi
	done
	for f in $passed; do
		inlist "$f" "$want" || echo "new: $f passes and is not in $expect"
	done
fi
exit $status
