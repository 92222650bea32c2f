#!/bin/bash
# cgroup2-vm-guest.sh — PID 1's script in the VM of cgroup2-vm-suite.sh
# (copied to the run share, /mnt/run, and started by /sbin/v2vm-init).
#
# It sets the guest up as a systemd host with a pure cgroup2 looks to a
# program (without systemd itself): one cgroup2 at /sys/fs/cgroup with
# every controller enabled at the root, the init in init.scope, the tests
# in a leaf cgroup user.slice/user-0.slice/session-1.scope (a cgroup with
# processes may not enable controllers for children, so a test cannot
# rely on running at the root). Then it unpacks the source, runs make test
# (or go test on $PKGS), prints one line per package and powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8
cd /
. /mnt/run/job
finish() { # status
	echo "$1" >/mnt/run/rc
	sync
	echo o >/proc/sysrq-trigger
	sleep 10
}
trap 'finish 255' EXIT

# Only emergencies on the console: the OOM tests would fill it
# with the kernel's OOM reports otherwise (dmesg keeps them).
dmesg -n 1
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts 2>/dev/null || mkdir -p /dev/pts && mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mkdir -p /dev/shm && mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
mount --make-rshared /
# cgroup_no_v1=all: no v1 controller can be mounted, only this tree.
# The options systemd mounts it with.
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
# Go, its module cache and the source at the host's paths, and the build
# cache the host filled for them: the guest's builds find it all compiled.
mkdir -p "$GOROOT" "$GOMODCACHE" /root/.cache/go-build
mount -t 9p -o trans=virtio,version=9p2000.L,msize=1048576,ro goroot "$GOROOT"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=1048576,ro gomod "$GOMODCACHE"
mount LABEL=v2vm-gocache /root/.cache/go-build
hostname v2vm
ip link set lo up
# The tun driver, for --net slirp's tests (they open /dev/net/tun through
# a 0666 node of their own). The host's node stays 0600, as on a machine
# without udev's rule (this one's), so a user's default stays --net none.
modprobe tun || true

# systemd's layout: controllers on at the root, processes only in leaves.
cg=/sys/fs/cgroup
for c in $(cat $cg/cgroup.controllers); do echo "+$c" >$cg/cgroup.subtree_control; done
mkdir -p $cg/init.scope $cg/user.slice/user-0.slice/session-1.scope
echo "+cpu +io +memory +pids" >$cg/user.slice/cgroup.subtree_control
echo "+cpu +io +memory +pids" >$cg/user.slice/user-0.slice/cgroup.subtree_control
echo $$ >$cg/user.slice/user-0.slice/session-1.scope/cgroup.procs

export PATH=$GOROOT/bin:$PATH GOMODCACHE GOCACHE=/root/.cache/go-build
echo "=== guest: Linux $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ { printf "%d MiB", $2/1024 }' /proc/meminfo), $(go version)"
echo "=== cgroup mounts: $(awk '$9 ~ /cgroup/ { printf "%s %s  ", $5, $9 }' /proc/self/mountinfo)"
echo "=== /sys/fs/cgroup/cgroup.subtree_control: $(cat $cg/cgroup.subtree_control)"
echo "=== this shell's cgroup: $(cat /proc/self/cgroup)"

src=$SRC
mkdir -p $src && tar -C $src -xf /mnt/run/src.tar
# A git repository, so the Makefile's vet (git ls-files) sees the files.
(cd $src && git init -q && git add -A)
cd $src
if [ -n "$DOCS_RECORD" ]; then
	export DOCS_RECORD=/mnt/run/docs-record
	mkdir -p "$DOCS_RECORD"
fi

t0=$(date +%s)
if [ -z "$PKGS" ]; then
	echo "=== make test"
	make test 2>&1 | tee /mnt/run/test.log
	status=${PIPESTATUS[0]}
else
	echo "=== make vet build; go test -p 1 -count=1 $TESTFLAGS $PKGS"
	{ make vet build && go test -p 1 -count=1 -timeout 60m $TESTFLAGS $PKGS; } 2>&1 | tee /mnt/run/test.log
	status=${PIPESTATUS[0]}
fi
echo "=== per package ($(($(date +%s) - t0)) s):"
grep -E '^(ok|FAIL|\?)[[:space:]]' /mnt/run/test.log | awk '{ printf "  %-5s %-50s %s\n", $1, $2, $3 }'
echo "=== $(grep -c '^ok ' /mnt/run/test.log) ok, $(grep -c '^FAIL[[:space:]]' /mnt/run/test.log) FAIL; make/go test exit status $status"
echo "=== left after the suite: $(ls $cg | grep -vE '^(cgroup|cpu|io|memory|pids|misc|hugetlb|rdma|cpuset)\.' | tr '\n' ' ')"
trap - EXIT
finish $status
