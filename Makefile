# minicontainer — see README.md. Most targets need root (sudo make ...).
# sudo resets PATH to its secure_path, which lacks /usr/local/go/bin where
# Go's own installer puts go: fall back to it, so `sudo make run` works.
GO      ?= $(or $(shell command -v go 2>/dev/null),$(wildcard /usr/local/go/bin/go),go)
# The tests run `go build` themselves: they need go on PATH too.
export PATH := $(if $(filter /%,$(GO)),$(patsubst %/,%,$(dir $(GO))):)$(PATH)
BIN     := bin
# Debian/Ubuntu packages the demos, the tests and the benchmark use.
APT_PKGS := gcc libc6-dev make manpages-dev busybox-static iproute2 iputils-ping nftables util-linux procps coreutils crun runc hyperfine time

.PHONY: all build deps run demos c-examples test vet compare bench cgroup2-vm test-cgroup2-vm clean

all: build

# minicontainer is built again without cgo (kong imports os/user, which
# links the C library when gcc is present): every container start runs the
# binary twice (parent and init), and the dynamic loader and cgo's set-up
# cost ~10 ms of CPU per container (perf stat; see docs/06-minicontainer.md).
build:
	$(GO) build -o $(BIN)/ ./cmd/...
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/minicontainer

# Install what is missing (Debian/Ubuntu). Idempotent; does nothing when all is there.
deps:
	@missing=$$(for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

# The main job: a busybox container shell.
run: deps build
	$(BIN)/minicontainer run -it -- /bin/sh

# The three man-page demos as the lessons run them (docs/02-04): a child in
# a new UTS namespace, setnsdemo joining it while it sleeps, and a program
# that is PID 1 of its own PID namespace with its own /proc.
demos: build
	$(BIN)/clonedemo --sleep 2 bizarro & sleep 0.5; \
	$(BIN)/setnsdemo -t $$(pgrep -n -P $$!) --uts hostname; \
	wait
	$(BIN)/unsharedemo -pm --mount-proc ps
	$(BIN)/unsharedemo -r -u sh -c 'hostname container; id -u; hostname'

# The man-page C examples, extracted from the installed pages and compiled
# into bin/c/ (the lessons run them beside the Go ports).
c-examples:
	testdata/c-examples.sh $(BIN)/c

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

# Every test. -p 1: the root tests compare the host's mount table, cgroups and
# links before and after, so packages must not run at the same time.
test: deps vet build
	$(GO) test -p 1 -count=1 -timeout 60m ./...

# Go ports against the man-page C examples, side by side.
compare: build
	$(GO) test -count=1 -run 'TestCompareWithC' -v ./cmd/...

# Start-up time against unshare(1), crun and runc, as ratios.
bench: build
	./testdata/bench.sh

# The cgroup v2 driver on a real kernel, for hosts that are not pure v2:
# boots Debian's kernel under qemu (KVM when the CPU has it, else software
# emulation, about a minute) with only a cgroup2 hierarchy and runs the
# limits there; see testdata/cgroup2-vm.sh. Too slow for `make test` and
# CI, so qemu is installed here only, not in APT_PKGS.
cgroup2-vm: deps
	@dpkg -s qemu-system-x86 >/dev/null 2>&1 || { \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends qemu-system-x86; }
	./testdata/cgroup2-vm.sh

# The whole suite (make test) on a pure cgroup v2 kernel, in a Debian
# userland built once with mmdebstrap and cached under
# /var/cache/minicontainer/cgroup2-vm; see testdata/cgroup2-vm-suite.sh.
# PKGS=./docs/ runs only some packages. qemu and mmdebstrap are installed
# here only.
test-cgroup2-vm:
	@missing=$$(for p in qemu-system-x86 mmdebstrap e2fsprogs; do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
	APT_PKGS="$(APT_PKGS)" ./testdata/cgroup2-vm-suite.sh

clean:
	rm -rf $(BIN)
