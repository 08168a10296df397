# Thin wrapper over Meson for the README's two commands and a few chores.
# The build itself is described in meson.build.

BUILD      ?= build
BUILD_ASAN ?= build-asan
MESON_OPTS ?=

.PHONY: all deps build build-tests build-asan guest run run-debian test \
	test-full test-asan format check-format clean

all: build

deps:
	@tools/install-deps

$(BUILD)/build.ninja:
	@tools/install-deps
	meson setup $(BUILD) $(MESON_OPTS)

# The VMM and its lean worker (softvisor-vmx, one per daemon VM) only: a
# tool that only the tests need can never stop `make run`.
build: $(BUILD)/build.ninja
	ninja -C $(BUILD) softvisor softvisor-vmx

# Everything, test programs included (cross-compiled ISA tests too).
build-tests: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD_ASAN)/build.ninja:
	@tools/install-deps
	meson setup $(BUILD_ASAN) -Db_sanitize=address,undefined -Db_lundef=false $(MESON_OPTS)

build-asan: $(BUILD_ASAN)/build.ninja
	ninja -C $(BUILD_ASAN)

guest: deps
	tools/guest-image

# Boot the Debian guest with its console on this terminal (from a pipe, the
# piped lines are its shell's commands and their end powers it off).
run: build guest
	tools/run-guest $(BUILD)

# Boot the full Debian root disk (built once by tools/guest-image --disk,
# as root) to a login prompt: root / softvisor, ssh -p 2222 root@127.0.0.1.
run-debian: build deps
	tools/run-debian $(BUILD)

# The test tier CI runs (docs/CONTRIBUTING.md): unit, ISA and the system
# tests that guard each feature's main path; ends with "N passed, N failed".
test: build-tests guest
	tools/run-tests $(BUILD) --no-suite full

# Everything above plus the long system, stress and soak tests.
test-full: build-tests guest
	tools/run-tests $(BUILD)

# The sanitizer pass leaves out the suites that only exercise QEMU, the
# QoS ratio tests ('timing') and the interpreter's Debian boot ('interp'):
# tests/system/meson.build says why. Sanitized code runs about three times
# slower: stretch the time limits.
test-asan: build-asan guest
	SOFTVISOR_TIME_SCALE=3 tools/run-tests $(BUILD_ASAN) \
		--timeout-multiplier 4 --no-suite full --no-suite reference \
		--no-suite isa-qemu --no-suite timing --no-suite interp

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

check-format:
	git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
