#!/usr/bin/env bash
# Verification beyond `cargo test` (issue 8): Miri, AddressSanitizer, aarch64 under qemu-user,
# wasm32 builds and the cargo-fuzz targets. Installs what it needs (rustup toolchains,
# components and targets; Debian packages through apt-get; cargo-fuzz), runs each step, prints
# one `verify: PASS <step>` or `verify: FAIL <step>` line per step and a summary, and exits
# non-zero if any step failed.
#
# Usage:
#   scripts/verify.sh                  # every step
#   scripts/verify.sh miri asan        # only these steps
#   scripts/verify.sh --fuzz-smoke     # only the fuzz step, 20 s per target (for .ci/run)
#
# Steps (in this order):
#   miri         cargo +nightly miri test --test miri (reference + baseline tier, every operator)
#                and the lib's philox unit tests
#   miri-avx2    the same with RUSTFLAGS="-C target-feature=+avx2,+fma,+f16c": Miri answers
#                feature detection with the compile-time features, so the avx2 tier then runs
#                under Miri (Miri implements the AVX2/FMA intrinsics the tier uses)
#   asan         the whole test suite under AddressSanitizer (nightly, -Zsanitizer=address)
#   aarch64      cargo test --target aarch64-unknown-linux-gnu under qemu-aarch64
#                (SIMDPOOL_REQUIRE_TIERS=baseline: the x86 tiers do not exist there); registers
#                qemu-aarch64 with binfmt_misc if needed (tests/cli.rs spawns the binary)
#   wasm         cargo build --lib for wasm32-unknown-unknown, without and with +simd128
#                (--no-default-features: rayon off)
#   fuzz         each cargo-fuzz target for VERIFY_FUZZ_SECONDS
#
# Environment:
#   VERIFY_FUZZ_SECONDS   seconds per fuzz target (default 30)
#   VERIFY_FUZZ_ALLOW     known findings the differential target skips (SIMDPOOL_FUZZ_ALLOW,
#                         see fuzz/README.md); default none: every mismatch fails
#   VERIFY_TARGET_DIR     where the step builds go (default target/verify; one folder per step)
#   VERIFY_LOG_DIR        step logs (default $VERIFY_TARGET_DIR/logs)
#   VERIFY_NO_INSTALL=1   do not install anything; a missing tool fails its step
#   MIRIFLAGS             passed through to Miri
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

# `cargo test`'s profile drops debug assertions and overflow checks to keep CI's cold build
# short (Cargo.toml); the steps here run with both, which is what catches unchecked size
# arithmetic and the standard library's pointer preconditions.
export CARGO_PROFILE_TEST_DEBUG_ASSERTIONS=true CARGO_PROFILE_TEST_OVERFLOW_CHECKS=true

ALL_STEPS=(miri miri-avx2 asan aarch64 wasm fuzz)
STEPS=()
FUZZ_SECONDS=${VERIFY_FUZZ_SECONDS:-30}
for arg in "$@"; do
    case "$arg" in
        --fuzz-smoke) STEPS+=(fuzz); FUZZ_SECONDS=${VERIFY_FUZZ_SECONDS:-20} ;;
        -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
        miri|miri-avx2|asan|aarch64|wasm|fuzz) STEPS+=("$arg") ;;
        *) echo "verify: unknown step '$arg' (steps: ${ALL_STEPS[*]}, or --fuzz-smoke)" >&2; exit 2 ;;
    esac
done
[ ${#STEPS[@]} -gt 0 ] || STEPS=("${ALL_STEPS[@]}")

TARGET_BASE=${VERIFY_TARGET_DIR:-$ROOT/target/verify}
LOG_DIR=${VERIFY_LOG_DIR:-$TARGET_BASE/logs}
mkdir -p "$LOG_DIR"
HOST=x86_64-unknown-linux-gnu

# ---------------------------------------------------------------------------------------------
# Installing

note() { echo "verify: $*"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else return 1; fi
}

apt_updated=0
apt_install() { # packages...
    [ "${VERIFY_NO_INSTALL:-0}" = 1 ] && return 1
    command -v apt-get >/dev/null 2>&1 || return 1
    if [ $apt_updated = 0 ]; then
        as_root apt-get update -qq >/dev/null || return 1
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

ensure_nightly() { # components...
    rustup toolchain list 2>/dev/null | grep -q '^nightly' || {
        [ "${VERIFY_NO_INSTALL:-0}" = 1 ] && return 1
        rustup toolchain install nightly --profile minimal >/dev/null 2>&1 || return 1
    }
    local c
    for c in "$@"; do
        rustup +nightly component list --installed 2>/dev/null | grep -q "^$c" || {
            [ "${VERIFY_NO_INSTALL:-0}" = 1 ] && return 1
            rustup +nightly component add "$c" >/dev/null 2>&1 || return 1
        }
    done
}

ensure_target() { # toolchain target
    rustup "+$1" target list --installed 2>/dev/null | grep -qx "$2" || {
        [ "${VERIFY_NO_INSTALL:-0}" = 1 ] && return 1
        rustup "+$1" target add "$2" >/dev/null 2>&1
    }
}

# ---------------------------------------------------------------------------------------------
# Steps: each writes its log and returns non-zero on failure; SUMMARY collects one line each.

SUMMARY=()
FAILED=0

run_step() { # name function
    local name=$1 fn=$2 log="$LOG_DIR/$1.log" start rc
    start=$(date +%s)
    note "---- $name (log: $log)"
    set +e
    ( set -euo pipefail; "$fn" ) >"$log" 2>&1
    rc=$?
    set -e
    local secs=$(( $(date +%s) - start ))
    # Per-step figures: every test-result line, and the step's own `verify-info:` lines.
    grep -E '^(test result:|verify-info:|miri.rs covers)' "$log" | sed 's/^/    /' || true
    if [ $rc = 0 ]; then
        SUMMARY+=("PASS $name (${secs}s)")
        note "PASS $name (${secs}s)"
    else
        FAILED=1
        SUMMARY+=("FAIL $name (${secs}s, exit $rc; log $log)")
        note "FAIL $name (${secs}s, exit $rc): last lines of $log:"
        tail -n 40 "$log" | sed 's/^/    /'
    fi
}

step_miri() {
    ensure_nightly miri rust-src || { echo "cannot install nightly miri"; return 1; }
    export CARGO_TARGET_DIR="$TARGET_BASE/miri"
    cargo +nightly miri setup
    # Rayon's global pool is never touched (Threads::Current); the tests read no files.
    cargo +nightly miri test --test miri
    cargo +nightly miri test --lib -- philox::
}

step_miri_avx2() {
    ensure_nightly miri rust-src || { echo "cannot install nightly miri"; return 1; }
    export CARGO_TARGET_DIR="$TARGET_BASE/miri-avx2"
    export RUSTFLAGS="-C target-feature=+avx2,+fma,+f16c"
    cargo +nightly miri setup
    local out
    out=$(cargo +nightly miri test --test miri -- --nocapture 2>&1) || { echo "$out"; return 1; }
    echo "$out"
    # The avx2 tier must really have run (feature detection under Miri = compile-time features).
    echo "$out" | grep -q 'miri.rs covers: reference, baseline, avx2' || {
        echo "verify-info: the avx2 tier was not available under Miri"
        return 1
    }
}

step_asan() {
    ensure_nightly rust-src || { echo "cannot install nightly"; return 1; }
    export CARGO_TARGET_DIR="$TARGET_BASE/asan"
    export RUSTFLAGS="-Zsanitizer=address"
    export RUSTDOCFLAGS="-Zsanitizer=address"
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    local rc=0
    cargo +nightly test --target "$HOST" --no-fail-fast --tests || rc=$?
    if grep -q 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer' "$LOG_DIR/asan.log"; then
        echo "verify-info: AddressSanitizer reported an error"
    else
        echo "verify-info: no AddressSanitizer report"
    fi
    return $rc
}

step_aarch64() {
    ensure_target stable aarch64-unknown-linux-gnu || { echo "cannot add the aarch64 target"; return 1; }
    if ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || ! command -v qemu-aarch64 >/dev/null 2>&1 \
        || [ ! -d /usr/aarch64-linux-gnu/lib ]; then
        apt_install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user \
            || { echo "cannot install gcc-aarch64-linux-gnu / qemu-user"; return 1; }
    fi
    # tests/cli.rs spawns the aarch64 `simdpool` binary from inside the emulated test: that
    # needs the kernel to hand aarch64 ELF files to qemu (binfmt_misc; root). Registered here
    # when missing; QEMU_LD_PREFIX (below) gives those children the aarch64 libraries.
    local binfmt=/proc/sys/fs/binfmt_misc
    if [ ! -e "$binfmt/qemu-aarch64" ]; then
        [ -e "$binfmt/register" ] || as_root mount -t binfmt_misc binfmt_misc "$binfmt" || true
        if [ -e "$binfmt/register" ]; then
            printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:'"$(command -v qemu-aarch64)"':' \
                | as_root tee "$binfmt/register" >/dev/null || true
        fi
        if [ -e "$binfmt/qemu-aarch64" ]; then
            echo "verify-info: registered qemu-aarch64 with binfmt_misc"
        else
            echo "verify-info: could not register qemu-aarch64 with binfmt_misc: tests/cli.rs will fail"
        fi
    fi
    export CARGO_TARGET_DIR="$TARGET_BASE/aarch64"
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
    export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
    export SIMDPOOL_REQUIRE_TIERS=baseline
    cargo test --target aarch64-unknown-linux-gnu --no-fail-fast
}

step_wasm() {
    ensure_target stable wasm32-unknown-unknown || { echo "cannot add the wasm32 target"; return 1; }
    export CARGO_TARGET_DIR="$TARGET_BASE/wasm"
    cargo build --target wasm32-unknown-unknown --lib --no-default-features
    echo "verify-info: wasm32 build without simd128: ok"
    CARGO_TARGET_DIR="$TARGET_BASE/wasm-simd128" RUSTFLAGS="-C target-feature=+simd128" \
        cargo build --target wasm32-unknown-unknown --lib --no-default-features
    echo "verify-info: wasm32 build with +simd128: ok"
}

step_fuzz() {
    ensure_nightly || { echo "cannot install nightly"; return 1; }
    if ! command -v cargo-fuzz >/dev/null 2>&1; then
        [ "${VERIFY_NO_INSTALL:-0}" = 1 ] && { echo "cargo-fuzz missing"; return 1; }
        cargo install cargo-fuzz --locked
    fi
    cd "$ROOT/fuzz"
    export SIMDPOOL_FUZZ_ALLOW="${VERIFY_FUZZ_ALLOW:-}"
    local dir="$TARGET_BASE/fuzz"
    cargo +nightly fuzz build -a --target-dir "$dir"
    local t rc=0 corpus
    for t in differential api; do
        # A scratch corpus seeded from the committed seeds: the run leaves the tree as it was.
        corpus="$TARGET_BASE/fuzz-corpus/$t"
        mkdir -p "$corpus" "$TARGET_BASE/fuzz-artifacts"
        cp corpus/"$t"/seed* "$corpus"/
        echo "verify-info: fuzz $t for ${FUZZ_SECONDS}s"
        if ! cargo +nightly fuzz run -a --target-dir "$dir" "$t" "$corpus" -- -max_total_time="$FUZZ_SECONDS" \
            -max_len=4096 -print_final_stats=1 -artifact_prefix="$TARGET_BASE/fuzz-artifacts/$t-" \
            > "$LOG_DIR/fuzz-$t.log" 2>&1; then
            rc=1
            echo "verify-info: fuzz $t FAILED (crash input under $TARGET_BASE/fuzz-artifacts):"
            grep -E -A6 'panicked at|ERROR' "$LOG_DIR/fuzz-$t.log" | head -n 40 || true
        fi
        local execs stats
        execs=$(grep -E '^stat::number_of_executed_units' "$LOG_DIR/fuzz-$t.log" | awk '{print $2}' | tail -n 1 || true)
        echo "verify-info: fuzz $t executions: ${execs:-unknown}"
        stats=$(grep -E '^simdpool-fuzz stats:' "$LOG_DIR/fuzz-$t.log" | tail -n 1 || true)
        [ -n "$stats" ] && echo "verify-info: $t $stats"
    done
    return $rc
}

for s in "${STEPS[@]}"; do
    case "$s" in
        miri) run_step miri step_miri ;;
        miri-avx2) run_step miri-avx2 step_miri_avx2 ;;
        asan) run_step asan step_asan ;;
        aarch64) run_step aarch64 step_aarch64 ;;
        wasm) run_step wasm step_wasm ;;
        fuzz) run_step fuzz step_fuzz ;;
    esac
done

note "summary:"
for line in "${SUMMARY[@]}"; do echo "verify: $line"; done
exit $FAILED
