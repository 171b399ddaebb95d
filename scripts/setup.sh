#!/usr/bin/env bash
# scripts/setup.sh — make a Debian 12 machine ready to build and test Encke. Idempotent: a second run
# installs nothing and takes about a second.
#
#   1. Debian packages (compilers, libraries, Chromium); Debian's nodejs + npm only when no `node` is
#      on PATH (a newer Node installed from elsewhere is kept, never downgraded).
#   2. npm ci at the repository root (only when node_modules is missing or older than the lock file).
#   3. The official CometD browser client copied from node_modules/cometd into web/vendor/cometd/
#      (gitignored), where the chat demo loads it from.
#
# Needs root (or sudo) only when packages are missing. Env: ENCKE_SETUP_SKIP_APT=1 skips step 1.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- 1. Debian packages
PACKAGES=(
    g++ cmake ninja-build pkg-config ccache git curl ca-certificates
    libboost1.81-all-dev libsimdjson-dev libssl-dev libtomlplusplus-dev libcli11-dev
    libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
    chromium
)
if ! command -v node >/dev/null 2>&1; then
    PACKAGES+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
    # Debian's npm depends on Debian's nodejs and would replace the node already installed.
    die "node $(node --version) is on PATH but npm is not; install the npm that belongs to that Node"
fi

installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

if [[ "${ENCKE_SETUP_SKIP_APT:-0}" == 1 ]]; then
    say "ENCKE_SETUP_SKIP_APT=1: not checking Debian packages"
else
    command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script expects Debian 12"
    missing=()
    for p in "${PACKAGES[@]}"; do
        installed "$p" || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        say "Debian packages: all ${#PACKAGES[@]} installed"
    else
        SUDO=()
        if ((EUID != 0)); then
            command -v sudo >/dev/null 2>&1 || die "missing packages (${missing[*]}) and not root (no sudo either)"
            SUDO=(sudo)
        fi
        APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=600)
        say "installing ${#missing[@]} Debian package(s): ${missing[*]}"
        say "apt-get update"
        "${APT[@]}" update || die "apt-get update failed"
        say "apt-get install (this can take several minutes on a fresh machine)"
        "${APT[@]}" -y install "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
        for p in "${missing[@]}"; do
            installed "$p" || die "package $p is still not installed after apt-get install"
        done
        say "Debian packages installed"
    fi
fi

# ---------------------------------------------------------------- 2. npm packages
command -v node >/dev/null 2>&1 || die "node is not on PATH"
command -v npm >/dev/null 2>&1 || die "npm is not on PATH"
node_major=$(node -p 'process.versions.node.split(".")[0]')
# Debian 12's own nodejs is 18; package.json pins versions that declare (and were tested on) >= 18.
((node_major >= 18)) || die "node $(node --version) is too old: Node 18 or newer is needed"
[[ -f package-lock.json ]] || die "package-lock.json is missing at $ROOT"

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules ]] || [[ package.json -nt node_modules ]]; then
    say "npm ci (node $(node --version), npm $(npm --version 2>/dev/null))"
    npm ci --no-audit --no-fund --loglevel=error >/dev/null || die "npm ci failed"
    touch node_modules   # npm ci may reuse the directory; its mtime is what the check above compares
    say "node_modules ready"
else
    say "node_modules up to date"
fi

# ---------------------------------------------------------------- 3. CometD client for the demo
SRC=node_modules/cometd
DST=web/vendor/cometd
[[ -f $SRC/cometd.js ]] || die "$SRC/cometd.js not found after npm ci"
version=$(node -p "require('./$SRC/package.json').version")
if [[ -f $DST/.version && "$(<"$DST/.version")" == "$version" && -f $DST/cometd.js ]]; then
    say "web/vendor/cometd: cometd $version already in place"
else
    # The npm package is the browser build itself: ES modules (cometd.js re-exports the rest).
    rm -rf "$DST"
    mkdir -p "$DST"
    cp "$SRC"/*.js "$SRC"/LICENSE "$SRC"/package.json "$DST"/
    printf '%s\n' "$version" >"$DST/.version"
    say "web/vendor/cometd: copied cometd $version"
fi

say "done"
