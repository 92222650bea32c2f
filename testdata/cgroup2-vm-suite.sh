#!/bin/bash
# cgroup2-vm-suite.sh — run the whole test suite (make test) on a pure
# cgroup v2 kernel.
#
# This machine's cgroups are hybrid; most users' (Debian 12, Ubuntu 22.04+,
# Fedora) are pure cgroup2. This script boots Debian's kernel under qemu
# with cgroup_no_v1=all, in a Debian userland built once with mmdebstrap
# (the packages of `make deps`, git, the kernel and its modules), and runs
# `make test` there, as root, on a copy of this working tree (tracked and
# untracked files that git does not ignore). Go is not installed in the
# image: the host's GOROOT and module cache are shared read-only with 9p,
# so the guest builds with the same toolchain and never needs a network.
#
#   sudo make test-cgroup2-vm                 the whole suite
#   PKGS=./docs/ sudo make test-cgroup2-vm    some packages (go test flags in TESTFLAGS)
#   DOCS_RECORD=1 ...                         also keep what each docs transcript printed
#                                             (docs/docs_test.go), in $OUT/docs-record
#
# KVM is used when /dev/kvm answers, software emulation (TCG) otherwise.
# The image (about 1.5 GB, built in a few minutes) and the guest's Go build
# cache are kept under $CACHE (default /var/cache/minicontainer/cgroup2-vm),
# so later runs boot at once; the root disk is opened with snapshot=on, so
# a run never changes it. Each run's files (console.log, the guest's
# test.log, its exit status) go to $OUT (default a new /tmp/cgroup2-vm-suite.*,
# printed). The VM has no network device; nothing on the host changes
# besides $CACHE and $OUT.
#
# Needs: qemu-system-x86, mmdebstrap (both installed by the make target,
# not by `make deps`), e2fsprogs, go. Exits with the guest's make status.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${CACHE:-/var/cache/minicontainer/cgroup2-vm}
suite=${SUITE:-bookworm}
mirror=${MIRROR:-http://deb.debian.org/debian}
# What the image holds: the packages `make test-deps` installs (the Makefile
# passes them), git (the Makefile's vet lists files with git ls-files), the
# kernel with its initramfs and modules (overlay, veth, bridge, nf_tables,
# 9p are all modules in Debian's kernel).
apt_pkgs=${APT_PKGS:?set by make test-cgroup2-vm from TEST_PKGS in the Makefile}
pkgs="$apt_pkgs git linux-image-amd64 kmod"

say() { echo "cgroup2-vm-suite: $*"; }

# The accelerator: KVM where it really works, else TCG (qemu-accel.sh).
. "$repo/testdata/qemu-accel.sh"

# 1. The image, rebuilt when its recipe changes: the key hashes the suite,
#    the mirror, the package list and image_version (raise it when this
#    section changes).
image_version=1
key=$(printf '%s\n' "$suite" "$mirror" "$pkgs" "$image_version" | sha256sum | cut -c1-12)
img=$cache/image-$key
if [ ! -e "$img/done" ]; then
	say "building the $suite image $img (mmdebstrap; a few minutes, once)"
	t0=$(date +%s)
	rm -rf "$img" && mkdir -p "$img"
	root=$img/root
	# minbase: only Essential and apt; --include adds the rest. stdin is
	# /dev/null: mmdebstrap would read a sources.list from a non-terminal stdin.
	mmdebstrap --variant=minbase --include="$(echo $pkgs | tr ' ' ,)" "$suite" "$root" \
		"deb $mirror $suite main" "deb $mirror $suite-updates main" \
		"deb ${mirror%/debian}/debian-security $suite-security main" </dev/null >"$img/mmdebstrap.log" 2>&1 ||
		{ tail -20 "$img/mmdebstrap.log" >&2; say "mmdebstrap failed (log: $img/mmdebstrap.log)" >&2; exit 1; }
	cp "$root"/boot/vmlinuz-* "$img/vmlinuz"
	basename "$root"/boot/vmlinuz-* | sed "s/^vmlinuz-/Linux /" >"$img/kernel"
	cp "$root"/boot/initrd.img-* "$img/initrd.img"
	# The guest's PID 1: the initramfs has mounted the root disk and moved
	# /proc, /sys and /dev onto it; mount the run's share and hand over to
	# the script in it, so a change to that script needs no new image.
	cat >"$root/sbin/v2vm-init" <<-'EOF'
	#!/bin/sh
	mountpoint -q /proc || mount -t proc proc /proc
	mountpoint -q /sys || mount -t sysfs sysfs /sys
	mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
	modprobe -a 9pnet_virtio 9p
	mkdir -p /mnt/run
	if mount -t 9p -o trans=virtio,version=9p2000.L,msize=1048576 run /mnt/run; then
		exec /bin/bash /mnt/run/guest.sh
	fi
	echo "v2vm-init: cannot mount the run share"
	echo o >/proc/sysrq-trigger
	EOF
	chmod 755 "$root/sbin/v2vm-init"
	echo v2vm >"$root/etc/hostname"
	printf '127.0.0.1 localhost\n127.0.1.1 v2vm\n' >"$root/etc/hosts"
	: >"$root/etc/resolv.conf"
	mke2fs -q -t ext4 -L v2vm-root -d "$root" "$img/root.ext4" 6G >/dev/null
	rm -rf "$root"
	touch "$img/done"
	say "image built in $(($(date +%s) - t0)) s"
fi

# 2. The run: a directory shared read-write with the guest (the job, the
#    source tarball, the guest script in; logs and the exit status out).
out=${OUT:-$(mktemp -d /tmp/cgroup2-vm-suite.XXXXXX)}
mkdir -p "$out"
say "run directory $out"
cp "$repo/testdata/cgroup2-vm-guest.sh" "$out/guest.sh"
# The working tree as it is: tracked files and untracked ones git does not
# ignore (bin/ and the like stay out).
(cd "$repo" && git ls-files -coz --exclude-standard | xargs -0 tar -cf "$out/src.tar" --no-recursion --)
goroot=$(cd "$repo" && go env GOROOT)
gomodcache=$(cd "$repo" && go env GOMODCACHE)
# The guest has no network: every module must be in the shared cache.
(cd "$repo" && go mod download)

# The guest's Go build cache, compiled here: Go under TCG compiles many
# times slower than on the host, and the guest would spend most of a run
# compiling. The guest sees the same toolchain, module cache and source at
# the same paths and builds with the same settings (GOFLAGS etc. below), so
# its builds find every package compiled and only link and run. The cache
# is kept in $cache/gocache (incremental) and handed to the guest as a disk
# image made from it for each run.
# The same goes for the runtime-tools programs TestOCIValidation builds
# (run.sh with OCI_BUILD_ONLY): the guest then only links them.
# -buildvcs=false: the guest's copy is a repository without commits.
export GOCACHE=$cache/gocache GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=local GOPROXY=off
say "compiling for the guest (GOCACHE=$GOCACHE)"
t0=$(date +%s)
(cd "$repo" && go vet ./... && make --no-print-directory build >/dev/null &&
	go test -count=1 -exec /bin/true ./... >/dev/null &&
	ocitmp=$(mktemp -d) && OCI_BUILD_ONLY=1 OCI_CACHE=$ocitmp GOFLAGS=-mod=readonly \
		testdata/oci-validation/run.sh >/dev/null && rm -rf "$ocitmp") ||
	{ say "compiling on the host failed" >&2; exit 1; }
rm -f "$cache/gocache.ext4"
mke2fs -q -t ext4 -L v2vm-gocache -d "$GOCACHE" "$cache/gocache.ext4" \
	$(($(du -sm "$GOCACHE" | cut -f1) * 2 + 1024))M >/dev/null
say "compiled in $(($(date +%s) - t0)) s"
{
	printf 'PKGS=%q\n' "${PKGS:-}"
	printf 'TESTFLAGS=%q\n' "${TESTFLAGS:-}"
	printf 'DOCS_RECORD=%q\n' "${DOCS_RECORD:-}"
	printf 'SRC=%q\n' "$repo"
	printf 'GOMODCACHE=%q\n' "$gomodcache"
	printf 'GOROOT=%q\n' "$goroot"
	printf 'export GOFLAGS=%q GOTOOLCHAIN=%q GOPROXY=%q\n' "$GOFLAGS" "$GOTOOLCHAIN" "$GOPROXY"
} >"$out/job"
rm -f "$out/rc"

say "booting $(cat "$img/kernel") under $accel, 2 vCPUs, 4 GiB"
t0=$(date +%s)
# snapshot=on: the guest's writes to its disks go to a temporary file, the
# image stays as built. 9p with security_model=none: the guest's root
# writes files as the host's root, and only in $out (the rest is readonly).
timeout "${VM_TIMEOUT:-7200}" qemu-system-x86_64 -machine q35 "${accel_opts[@]}" -smp 2 -m 4096 \
	-nic none -nographic -no-reboot \
	-kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
	-append "console=ttyS0 root=LABEL=v2vm-root rw init=/sbin/v2vm-init panic=-1 quiet cgroup_no_v1=all" \
	-drive "file=$img/root.ext4,format=raw,if=virtio,snapshot=on" \
	-drive "file=$cache/gocache.ext4,format=raw,if=virtio,snapshot=on" \
	-virtfs "local,path=$out,mount_tag=run,security_model=none" \
	-virtfs "local,path=$goroot,mount_tag=goroot,security_model=none,readonly=on" \
	-virtfs "local,path=$gomodcache,mount_tag=gomod,security_model=none,readonly=on" \
	</dev/null 2>&1 | sed -u 's/\r$//; s/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g' | tee "$out/console.log" || true
wall=$(($(date +%s) - t0))

if [ ! -s "$out/rc" ]; then
	say "the guest gave no exit status after $wall s (see $out/console.log)" >&2
	exit 1
fi
rc=$(cat "$out/rc")
say "guest exited $rc after $wall s under $accel; logs in $out"
exit "$rc"
