#!/bin/bash
# cgroup2-vm.sh — check minicontainer's cgroup v2 driver on a real kernel.
#
# A host with hybrid or v1 cgroups cannot exercise the v2 limits: a
# controller is bound to one hierarchy at a time. This script boots
# Debian's own kernel under qemu (KVM if the CPU has it, else TCG: slow but enough)
# with an initramfs whose init mounts a pure cgroup2 at /sys/fs/cgroup, and
# runs the memory, pids and cpu limits, --explain, stats, the device
# program (pkg/cgroup's TestRealDevicesV2) and the clean-up check there.
# The VM has no network device; nothing on the host changes
# besides files under the temporary directory (printed, then removed).
#
#   sudo make cgroup2-vm         (or: testdata/cgroup2-vm.sh)
#
# Needs: qemu-system-x86, busybox-static, go, apt-get (to download the
# kernel package, not install it). Exits non-zero if a check failed.
# KEEP=1 keeps the temporary directory (console.log, initrd.gz, kernel).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/cgroup2-vm.XXXXXX)
if [ -z "${KEEP:-}" ]; then trap 'rm -rf "$work"' EXIT; fi
echo "cgroup2-vm: working in $work"

# 1. The kernel: the package linux-image-amd64 points to, downloaded (not
#    installed) and unpacked. Overlayfs is a module there (CONFIG_OVERLAY_FS=m).
kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$kpkg" ] || { echo "cgroup2-vm: no kernel package found (apt-cache depends linux-image-amd64)" >&2; exit 1; }
(cd "$work" && apt-get download "$kpkg" >/dev/null 2>&1) || { echo "cgroup2-vm: apt-get download $kpkg failed" >&2; exit 1; }
dpkg -x "$work"/linux-image-*.deb "$work/kernel"
kver=${kpkg#linux-image-}
vmlinuz=$work/kernel/boot/vmlinuz-$kver
echo "cgroup2-vm: kernel $kpkg"

# 2. The initramfs: static busybox, minicontainer built without cgo (the
#    VM has no C library), busybox also where the built-in image is made
#    from on first use (rootfs.HostBusybox), overlay.ko, two scripts.
ird=$work/initrd
mkdir -p "$ird"/bin "$ird"/usr/bin "$ird"/lib/modules "$ird"/etc "$ird"/var/lib/minicontainer
cp /usr/bin/busybox "$ird/bin/busybox"
cp /usr/bin/busybox "$ird/usr/bin/busybox"
(cd "$repo" && CGO_ENABLED=0 go build -o "$ird/bin/minicontainer" ./cmd/minicontainer)
# pkg/cgroup's tests, compiled: the device program's root test runs on
# the VM's real cgroup2 (no go toolchain needed there).
(cd "$repo" && CGO_ENABLED=0 go test -c -o "$ird/bin/cgroup.test" ./pkg/cgroup)
ko=$(find "$work/kernel/lib/modules" -name 'overlay.ko*' | head -1)
case $ko in
*.xz) xz -dc "$ko" >"$ird/lib/modules/overlay.ko" ;;
*.zst) zstd -dc "$ko" >"$ird/lib/modules/overlay.ko" ;;
*) cp "$ko" "$ird/lib/modules/overlay.ko" ;;
esac
printf '127.0.0.1 localhost\n' >"$ird/etc/hosts"
: >"$ird/etc/resolv.conf"

# /init: pivot_root(2) refuses to move the initramfs ("EINVAL: the current
# root is on the rootfs"), and the container's start uses it, so copy
# everything onto a tmpfs and switch_root there, as an initramfs does
# before it hands over to the real root.
cat >"$ird/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mkdir -p /new /proc
/bin/busybox mount -t tmpfs -o mode=0755 tmpfs /new
/bin/busybox cp -a /bin /usr /lib /etc /var /stage2 /new/
/bin/busybox mkdir -p /new/proc /new/sys /new/dev /new/run /new/tmp /new/root
exec /bin/busybox switch_root /new /stage2
EOF

# /stage2: the checks. Each prints "RESULT <name> PASS|FAIL ..." for the
# host side to count.
cat >"$ird/stage2" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
# The pure v2 hierarchy, nothing else: no v1 controller can be mounted
# (cgroup_no_v1=all on the command line).
mount -t cgroup2 none /sys/fs/cgroup
insmod /lib/modules/overlay.ko
hostname vm
failed=0
result() { # name PASS|FAIL detail
	echo "RESULT $1 $2 $3"
	[ "$2" = PASS ] || failed=$((failed + 1))
}
echo "=== kernel: $(uname -r)"
grep cgroup /proc/self/mountinfo
echo "cgroup.controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
echo "cgroup.subtree_control (before): $(cat /sys/fs/cgroup/cgroup.subtree_control)"

echo "=== check: --explain"
minicontainer run --explain --net none --memory 64m --pids 16 --cpus 0.5 -- true >/tmp/explain 2>&1
rc=$?
grep -E 'cgroup|clone3' /tmp/explain
missing=
for w in cgroup.subtree_control memory.max pids.max cpu.max CLONE_INTO_CGROUP; do
	grep -q "$w" /tmp/explain || missing="$missing $w"
done
echo "cgroup.subtree_control (after): $(cat /sys/fs/cgroup/cgroup.subtree_control)"
if [ $rc = 0 ] && [ -z "$missing" ]; then result explain PASS "exit $rc"; else cat /tmp/explain; result explain FAIL "exit $rc, missing:$missing"; fi

echo "=== check: --memory 64m, a 256 MiB buffer"
echo '# minicontainer run --net none --memory 64m -- sh -c "dd if=/dev/zero of=/dev/null bs=256M count=1"'
minicontainer run --net none --memory 64m -- sh -c 'dd if=/dev/zero of=/dev/null bs=256M count=1' >/tmp/mem 2>&1
rc=$?
cat /tmp/mem
echo "exit status: $rc"
if [ $rc = 137 ] && grep -q 'out of memory (limit 64MiB)' /tmp/mem; then result memory PASS "exit 137"; else result memory FAIL "exit $rc"; fi

echo "=== check: --pids 16, a shell starting 40 background sleeps"
# The bomb runs in a child shell: ash gives up (exit 2) at the first fork
# refused, and PID 1 must live on to read the counters.
echo '# minicontainer run --net none --pids 16 -- sh -c ...'
minicontainer run --net none --pids 16 -- sh -c '
	sh -c "for i in \$(seq 1 40); do sleep 5 & done" 2>/tmp/forks
	echo "bomb shell exit status: $?"
	read cur </sys/fs/cgroup/pids.current; read max </sys/fs/cgroup/pids.max
	echo "pids.current=$cur pids.max=$max"
	while read k v; do echo "pids.events: $k $v"; done </sys/fs/cgroup/pids.events
	while read line; do echo "first refusal: $line"; break; done </tmp/forks
	[ "$cur" -le 16 ] && [ "$max" = 16 ]' >/tmp/pids 2>&1
rc=$?
cat /tmp/pids
echo "exit status: $rc"
echo "the VM still answers: $(uname -n)"
if [ $rc = 0 ] && grep -q 'pids.events: max [1-9]' /tmp/pids; then result pids PASS "exit 0"; else result pids FAIL "exit $rc"; fi

echo "=== check: --cpus 0.5, a busy loop, and minicontainer stats"
# timeout runs under a shell, not as PID 1: a PID namespace's init ignores
# SIGKILL sent from inside the namespace (pid_namespaces(7)).
echo '# minicontainer run --name busy --net none --cpus 0.5 --memory 64m --pids 16 -- sh -c "timeout -s KILL 15 sh -c \"while :; do :; done\"; true"'
minicontainer run --name busy --net none --cpus 0.5 --memory 64m --pids 16 -- \
	sh -c 'timeout -s KILL 15 sh -c "while :; do :; done"; true' >/tmp/busy 2>&1 &
mc=$!
dir=
for i in $(seq 1 100); do
	dir=$(ls -d /sys/fs/cgroup/minicontainer/*/ 2>/dev/null | head -1)
	[ -n "$dir" ] && [ -n "$(cat ${dir}cgroup.procs 2>/dev/null)" ] && break
	sleep 0.2
done
echo "cgroup: $dir"
echo "cpu.max: $(cat ${dir}cpu.max)"
sleep 2
u0=$(awk '/^usage_usec/ { print $2 }' ${dir}cpu.stat); t0=$(cut -d' ' -f1 /proc/uptime)
sleep 8
u1=$(awk '/^usage_usec/ { print $2 }' ${dir}cpu.stat); t1=$(cut -d' ' -f1 /proc/uptime)
echo "cpu.stat:"; sed 's/^/  /' ${dir}cpu.stat
share=$(awk -v u0=$u0 -v u1=$u1 -v t0=$t0 -v t1=$t1 'BEGIN { printf "%.3f", (u1 - u0) / 1e6 / (t1 - t0) }')
echo "usage_usec grew by $((u1 - u0)) in $(awk -v a=$t0 -v b=$t1 'BEGIN { printf "%.2f", b - a }') s: $share core"
echo '# minicontainer stats busy'
minicontainer stats busy
stats=$?
wait $mc
echo "busy loop ended: exit status $?"
if awk -v s=$share 'BEGIN { exit !(s >= 0.40 && s <= 0.60) }'; then result cpu PASS "$share core"; else result cpu FAIL "$share core"; fi
if [ $stats = 0 ]; then result stats PASS "exit 0"; else result stats FAIL "exit $stats"; fi

echo "=== check: the container sees its own cgroup as / (cgroup namespace), read-only"
echo '# minicontainer run --net none --memory 64m -- sh -c "cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max; mkdir /sys/fs/cgroup/x"'
minicontainer run --net none --memory 64m -- sh -c 'cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max; mkdir /sys/fs/cgroup/x' >/tmp/cgns 2>&1
rc=$?
cat /tmp/cgns
echo "exit status: $rc"
if grep -qx '0::/' /tmp/cgns && grep -qx 67108864 /tmp/cgns && grep -q 'Read-only file system' /tmp/cgns; then result cgroupns PASS "0::/, read-only"; else result cgroupns FAIL "exit $rc"; fi

echo "=== check: minicontainer SIGKILLed, then minicontainer gc"
echo '# minicontainer run --name victim --net none --pids 16 -- sh -c "sleep 100 & sleep 100 & sleep 100" &'
minicontainer run --name victim --net none --pids 16 -- sh -c 'sleep 100 & sleep 100 & sleep 100' &
mc=$!
dir=
for i in $(seq 1 100); do
	dir=$(ls -d /sys/fs/cgroup/minicontainer/*/ 2>/dev/null | head -1)
	[ -n "$dir" ] && [ "$(cat ${dir}pids.current 2>/dev/null || echo 0)" -ge 3 ] && break
	sleep 0.2
done
echo "# kill -KILL $mc   (minicontainer; pids.current was $(cat ${dir}pids.current))"
kill -KILL $mc
wait $mc 2>/dev/null
sleep 1
echo "left behind: $dir with $(grep populated ${dir}cgroup.events)"
echo '# minicontainer gc'
minicontainer gc
gcrc=$?
if [ $gcrc = 0 ] && [ ! -e "$dir" ]; then result gc PASS "cgroup removed"; else ls -d "$dir"; result gc FAIL "gc exit $gcrc"; fi

echo "=== check: device rules (pkg/cgroup's TestRealDevicesV2: a device program on a pure cgroup2)"
echo '# cgroup.test -test.run TestRealDevicesV2 -test.v'
(cd /tmp && cgroup.test -test.run 'TestRealDevicesV2' -test.v) >/tmp/devices 2>&1
rc=$?
grep -E '^(=== RUN|--- |    ---|PASS|FAIL|ok)|Operation not permitted|opened|made|BPF_PROG|want' /tmp/devices
echo "exit status: $rc"
if [ $rc = 0 ] && grep -q -- '--- PASS: TestRealDevicesV2/default' /tmp/devices && ! grep -q -- '--- SKIP' /tmp/devices; then
	result devices PASS "exit 0"
else
	cat /tmp/devices
	result devices FAIL "exit $rc"
fi

echo "=== check: nothing left behind"
echo "# ls /sys/fs/cgroup"
ls /sys/fs/cgroup | tr '\n' ' '; echo
if [ -e /sys/fs/cgroup/minicontainer ]; then
	find /sys/fs/cgroup/minicontainer -type d
	result cleanup FAIL "/sys/fs/cgroup/minicontainer remains"
else
	result cleanup PASS "no /sys/fs/cgroup/minicontainer"
fi
echo "=== done: $failed failed"
poweroff -f
EOF
chmod +x "$ird/init" "$ird/stage2"
(cd "$ird" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$work/initrd.gz"

# 3. Boot, under KVM where it really works, else TCG (qemu-accel.sh).
#    No network device (-nic none).
. "$(dirname "$0")/qemu-accel.sh"
echo "cgroup2-vm: booting under $accel"
t0=$(date +%s)
timeout 300 qemu-system-x86_64 -machine q35 "${accel_opts[@]}" -smp 2 -m 1024 \
	-nic none -nographic -no-reboot \
	-kernel "$vmlinuz" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet cgroup_no_v1=all" \
	</dev/null | tr -d '\r' | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g' | tee "$work/console.log" || true
echo "cgroup2-vm: the VM ran $(($(date +%s) - t0)) s under $accel"

pass=$(grep -c '^RESULT [a-z]* PASS' "$work/console.log" || true)
fail=$(grep -c '^RESULT [a-z]* FAIL' "$work/console.log" || true)
echo "cgroup2-vm: $pass checks passed, $fail failed (kernel $kver)"
[ "$pass" -eq 9 ] && [ "$fail" -eq 0 ]
