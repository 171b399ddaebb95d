#!/usr/bin/env bash
# scripts/build.sh [preset...] — configure and build each CMake preset (default: release).
# Presets (CMakePresets.json): debug, release, asan, ...; binaries land in build/<preset>/encke.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'build: %s\n' "$*"; }
die() { printf 'build: ERROR: %s\n' "$*" >&2; exit 1; }

command -v cmake >/dev/null 2>&1 || die "cmake not found: run scripts/setup.sh first"
[[ -f CMakePresets.json ]] || die "CMakePresets.json not found in $PWD"

presets=("$@")
((${#presets[@]})) || presets=(release)
jobs=$(nproc 2>/dev/null || echo 2)

for preset in "${presets[@]}"; do
    start=$SECONDS
    say "configure $preset"
    cmake --preset "$preset" >/dev/null || die "cmake --preset $preset failed"
    say "build $preset (-j$jobs)"
    cmake --build --preset "$preset" -j"$jobs" || die "build of preset $preset failed"
    say "$preset built in $((SECONDS - start)) s"
done
