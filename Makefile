# minicontainer — see README.md. Most targets need root (sudo make ...).
# sudo resets PATH to its secure_path, which lacks /usr/local/go/bin where
# Go's own installer puts go: fall back to it, so `sudo make run` works.
GO      ?= $(or $(shell command -v go 2>/dev/null),$(wildcard /usr/local/go/bin/go),go)
# The tests run `go build` themselves: they need go on PATH too.
export PATH := $(if $(filter /%,$(GO)),$(patsubst %/,%,$(dir $(GO))):)$(PATH)
BIN     := bin
# Debian/Ubuntu packages, by target. `make run` installs only what a
# container shell needs: the compiler for the cgo demo (setnsdemo), the
# host's static busybox for the default rootfs, and iproute2 and nftables for
# the default bridge network. The tests add the man pages (their C examples
# are compiled beside the Go ports), ping, and for the rootless tests uidmap
# and slirp4netns (--net slirp; a user other than root gets it by default
# when it is installed, so `make run` as root never needs it). Only `make bench` installs the
# runtimes it compares with (crun, runc) and its timers: installing Debian's
# runc on a machine with Docker's containerd.io conflicts with it, so the
# main job must never pull it in.
RUN_PKGS   := gcc libc6-dev make busybox-static iproute2 nftables util-linux procps coreutils
TEST_PKGS  := $(RUN_PKGS) manpages-dev iputils-ping uidmap slirp4netns
BENCH_PKGS := $(RUN_PKGS) crun runc hyperfine time
# The engines that drive minicontainer as their OCI runtime (make
# test-engines): podman with conmon, containerd with ctr, and runc, the
# runtime the harness is first proven with. Debian's podman depends on runc
# (or crun) and containerd on runc, so, like bench, never in deps or
# test-deps: Debian's runc conflicts with Docker's containerd.io.
ENGINE_PKGS := $(RUN_PKGS) podman conmon containerd runc
# The lessons' pictures (make docs): Graphviz, and the font the .dot files
# name, so that a render is the same byte for byte on every Debian host
# (dot measures text with the fonts fontconfig finds).
DOCS_PKGS := graphviz fonts-dejavu-core

.PHONY: all build deps test-deps bench-deps engine-deps test-engines oci-deps run demos c-examples test test-repeat vet compare bench stress cgroup2-vm test-cgroup2-vm oci-validation fuzz lab lab-start docs docs-deps clean

all: build

# minicontainer is built again without cgo (kong imports os/user, which
# links the C library when gcc is present), and minicontainer-pull, the
# program `minicontainer pull` execs (net/http would use the C resolver
# too): every container start runs the
# binary twice (parent and init), and the dynamic loader and cgo's set-up
# cost ~10 ms of CPU per container (perf stat; see docs/06-minicontainer.md).
# minicontainer-pull's source is cmd/minicontainer/pull: part of the CLI.
build:
	$(GO) build -o $(BIN)/ ./cmd/clonedemo ./cmd/setnsdemo ./cmd/unsharedemo
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/minicontainer
	CGO_ENABLED=0 $(GO) build -o $(BIN)/minicontainer-pull ./cmd/minicontainer/pull

# Install what is missing (Debian/Ubuntu). Idempotent; does nothing when all
# is there. deps is what `make run` needs; test-deps and bench-deps add theirs.
APT_INSTALL = @missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

APT_INSTALL_NR = @missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

deps:
	$(call APT_INSTALL,$(RUN_PKGS))

test-deps: oci-deps
	$(call APT_INSTALL,$(TEST_PKGS))

# The runtime-tools module and its dependencies, into Go's module cache (from
# the Go module proxy; the versions and sums are pinned in
# testdata/oci-validation/go.mod and go.sum). Done here, where the network
# is: the tests build the suite from the cache (cmd/minicontainer's
# TestOCIValidation).
oci-deps:
	cd testdata/oci-validation && $(GO) list -deps tool >/dev/null

bench-deps:
	$(call APT_INSTALL,$(BENCH_PKGS))

# --no-install-recommends: podman recommends buildah, slirp4netns,
# fuse-overlayfs, uidmap (rootless tools the tests do not use).
engine-deps:
	$(call APT_INSTALL_NR,$(ENGINE_PKGS))

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
# With the engines installed (make engine-deps, which CI runs first), the
# engine tests run too: podman and containerd driving bin/minicontainer;
# without them they skip, naming make engine-deps.
test: test-deps vet build
	$(GO) test -p 1 -count=1 -timeout 60m ./... ./testdata/engines/

# The whole suite N times, each run as `test` runs it, then how many runs
# each package passed ("pkg/network 10/10"): a flaky test shows. Exits
# non-zero if any run failed. See testdata/test-repeat.sh.
N ?= 10
test-repeat: test-deps vet build
	GO=$(GO) ./testdata/test-repeat.sh $(N)

# The OCI runtime-tools validation suite (github.com/opencontainers/
# runtime-tools, pinned in testdata/oci-validation/go.mod), built from Go's
# module cache into OCI_CACHE (default /var/cache/minicontainer/
# oci-validation), run against RUNTIME (default bin/minicontainer;
# RUNTIME=runc to compare), one line per file; FILES="create state" runs
# some. With our binary it fails if a file named in
# testdata/oci-validation/passing (the files CI runs) does not pass. See
# testdata/oci-validation/run.sh.
oci-validation: oci-deps build
	GO=$(GO) ./testdata/oci-validation/run.sh $(if $(RUNTIME),,--expect testdata/oci-validation/passing) $(FILES)

# Fuzz every parser of user input (--memory, --pids, --cpus, --cpuset-cpus,
# -p, --subnet, -v, --name, --hostname, -e, a bundle's config.json),
# FUZZTIME each, one after the other (go test -fuzz takes one target at a
# time). The targets are in fuzz_test.go, a test-only package at the
# module's root: go test reads a seed corpus only from the fuzzed package's
# own testdata/fuzz, and the root package's is this repository's
# testdata/fuzz/FuzzXxx. Plain go test (make test, CI) runs those seeds and
# the f.Add ones. A failing input is written there by go test: commit it
# with its fix. No root needed.
FUZZTIME ?= 60s
FUZZ_TARGETS = $(shell grep -o '^func Fuzz[A-Za-z0-9]*' fuzz_test.go | cut -c6-)
fuzz:
	@set -e; for f in $(FUZZ_TARGETS); do \
		echo "== $$f, $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) . ; \
	done

# Real engines drive an OCI runtime (issue 9): podman with conmon and
# containerd with ctr and its runc shim, on images made from the busybox
# rootfs (no network), each container checked for output, exit code, exec,
# logs, stop/kill and a terminal, and the host left as it was. RUNTIME is
# the runtime under test (default ours; RUNTIME=/usr/sbin/runc proves the
# harness). make test runs them too when the engines are installed (CI's
# .ci/run installs them); they are never installed by make test itself,
# since Debian's runc conflicts with Docker's containerd.io. See
# testdata/engines/engines_test.go.
RUNTIME ?= $(CURDIR)/$(BIN)/minicontainer
test-engines: engine-deps build
	RUNTIME=$(RUNTIME) $(GO) test -count=1 -v -timeout 10m ./testdata/engines/

# Go ports against the man-page C examples, side by side.
compare: build
	$(GO) test -count=1 -run 'TestCompareWithC' -v ./cmd/...

# Start-up time against unshare(1), crun and runc, as ratios; then images:
# the first run of an imported image (its layer unpacked) against cached
# runs, and the unpack's throughput against tar -x of the same layer.
bench: bench-deps build
	./testdata/bench.sh
	./testdata/bench-image.sh

# minicontainer under load (testdata/stress, in a network namespace of its
# own): 100 concurrent bridge containers with --memory and --pids pinging the
# gateway; 1000 sequential runs, whose last tenth must not start more than 2x
# slower than the first (medians); 1000 idle run -d containers on the bridge
# at once (start p50/p99 per 100, PSS of monitor and init, the address book's
# reservations/s under 20 processes), then removed; 200 SIGKILLs at random in
# the first 80 ms each followed by gc. Failures and leaks must be 0; prints
# p50/p99 start times. STRESS_SCALE=0.1 runs a tenth (or STRESS_CONCURRENT,
# _SEQUENTIAL, _IDLE, _KILLS). A benchmark, not a test: ~10 minutes at full
# size on 2 cores, ~7 GB of memory with the 1000 up (docs/performance.md).
stress: build
	$(GO) run ./testdata/stress -bin $(BIN)/minicontainer

# The cgroup v2 driver on a real kernel, for hosts that are not pure v2:
# boots Debian's kernel under qemu (KVM when the CPU has it, else software
# emulation, about a minute) with only a cgroup2 hierarchy and runs the
# limits there; see testdata/cgroup2-vm.sh. Too slow for `make test` and
# CI, so qemu is installed here only, not in the run or test packages.
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
	APT_PKGS="$(TEST_PKGS)" ./testdata/cgroup2-vm-suite.sh

# The labs (docs/labs/README.md), one per lesson, LAB=02 to 13. lab-start
# copies a lab's skeleton to docs/labs/_work/LAB, the student's copy (git
# ignores it); lab checks that copy (or DIR=path, or DIR=solution for the
# reference solution) and prints PASS or FAIL per check, with hints. The
# checker is a test of docs/labs run in local directory mode, so its
# lines stream as they come. Needs root, gcc and the man pages (test-deps).
LAB_WORK = docs/labs/_work/$(LAB)
lab:
	@test -n "$(LAB)" || { echo "usage: sudo make lab LAB=02 [DIR=path|DIR=solution]   (labs: $$(ls -d docs/labs/[0-9]*/ | xargs -n1 basename | cut -c1-2 | tr '\n' ' '))"; exit 2; }
	cd docs/labs && LAB=$(LAB) LAB_PROG=$(if $(filter solution,$(DIR)),solution,$(abspath $(or $(DIR),$(wildcard $(LAB_WORK))))) $(GO) test -count=1 -run '^TestLab$$'

lab-start:
	@test -n "$(LAB)" || { echo "usage: make lab-start LAB=02"; exit 2; }
	@test ! -e $(LAB_WORK) || { echo "$(LAB_WORK) exists: it is your work; remove it to start again"; exit 1; }
	@skel=$$(ls -d docs/labs/$(LAB)-*/skeleton 2>/dev/null) && test -n "$$skel" || { echo "no lab $(LAB)"; exit 2; }; \
	mkdir -p docs/labs/_work && cp -r $$skel $(LAB_WORK) && \
	echo "your copy: $(LAB_WORK) (read $$(dirname $$skel)/README.md); check it with: sudo make lab LAB=$(LAB)"

# The pictures of the lessons: docs/pictures/NAME.dot rendered to NAME.svg
# (both committed, so readers on GitHub see them without Graphviz), then
# the test that checks every picture is linked, exists, and matches its
# source. Graphviz is installed here only, never by run or test.
docs-deps:
	$(call APT_INSTALL_NR,$(DOCS_PKGS))

docs: docs-deps
	@set -e; for f in docs/pictures/*.dot; do \
		echo "dot -Tsvg $$f -o $${f%.dot}.svg"; \
		dot -Tsvg "$$f" -o "$${f%.dot}.svg"; \
	done
	$(GO) test -count=1 -run '^TestPictures$$' ./docs/

clean:
	rm -rf $(BIN)
