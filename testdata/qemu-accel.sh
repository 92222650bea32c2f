# qemu-accel.sh, sourced by cgroup2-vm.sh and cgroup2-vm-suite.sh: sets
# accel (kvm or tcg) and accel_opts (qemu's options for it).
#
# KVM when the CPU has hardware virtualisation (vmx or svm in /proc/cpuinfo)
# and /dev/kvm initialises in qemu, else TCG (software, many times slower;
# thread=multi runs each vCPU on a host thread; -cpu max gives RDRAND for
# the kernel's random pool). /dev/kvm alone is not enough: a VM without
# nested virtualisation may offer one backed by kvm_pvm, which answers
# KVM_GET_API_VERSION but runs only PVM-aware guest kernels (Debian's spends
# minutes in its decompressor). ACCEL=kvm or ACCEL=tcg overrides.
accel=${ACCEL:-}
if [ -z "$accel" ]; then
	accel=tcg
	if [ -c /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo &&
		echo quit | qemu-system-x86_64 -accel kvm -machine none -nodefaults -display none \
			-monitor stdio >/dev/null 2>&1; then
		accel=kvm
	fi
fi
case $accel in
kvm) accel_opts=(-enable-kvm -cpu host) ;;
*) accel_opts=(-accel tcg,thread=multi -cpu max) ;;
esac
