#!/usr/bin/env bash
# scripts/setup.sh — make a Debian 12 machine ready to build and test Encke. Idempotent: a second run
# installs nothing and takes about a second.
#
#   1. Debian packages (compilers, libraries, Chromium, Qpid Proton C++); Debian's nodejs + npm only
#      when no `node` is on PATH (a newer Node installed from elsewhere is kept, never downgraded).
#      The brokers of the bridge tests, ActiveMQ and RabbitMQ, are installed without recommended
#      packages and are never started by the install: scripts/brokers.sh starts them by hand. While
#      apt-get runs, a temporary /usr/sbin/policy-rc.d (only if there is none) forbids service starts;
#      on a systemd machine the system units those two packages enable are disabled again.
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
    libqpid-proton-cpp12-dev
    chromium
)
# Installed with --no-install-recommends. These are only run by the tests, and their recommendations
# are not needed for that: ActiveMQ's (Derby, Hibernate, Tomcat libraries, Velocity, JUnit, TestNG …:
# 36 packages) were checked by running STOMP, OpenWire and KahaDB without them; RabbitMQ's are one
# package on top of the list above (≈67 instead of ≈49 on a bare system). activemq depends on a Java
# runtime (default-jre-headless | java7-runtime-headless), which also runs brokers.sh's `java`.
BROKER_PACKAGES=(activemq rabbitmq-server)
if ! command -v node >/dev/null 2>&1; then
    PACKAGES+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
    # Debian's npm depends on Debian's nodejs and would replace the node already installed.
    die "node $(node --version) is on PATH but npm is not; install the npm that belongs to that Node"
fi

installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

# Debian's maintainer scripts start a package's service as soon as it is installed: rabbitmq-server
# would run as a system daemon on 0.0.0.0:5672 with a system-wide epmd on 4369, and erlang-base
# starts epmd.socket under systemd. Our brokers are started by hand, on other ports, so the install
# must start nothing. invoke-rc.d and deb-systemd-invoke both ask /usr/sbin/policy-rc.d first; 101
# means "action forbidden". We write one only if there is none, and remove only the one we wrote.
POLICY_RC=/usr/sbin/policy-rc.d
POLICY_MARK="# written by Encke scripts/setup.sh during apt-get install; removed when it ends"
forbid_service_starts() {
    [[ -e $POLICY_RC ]] && return 0
    if ! printf '#!/bin/sh\n%s\nexit 101\n' "$POLICY_MARK" | "${SUDO[@]}" tee "$POLICY_RC" >/dev/null \
        || ! "${SUDO[@]}" chmod 755 "$POLICY_RC"; then
        die "cannot write $POLICY_RC"
    fi
    trap allow_service_starts EXIT      # also when apt-get fails or we are interrupted
}
allow_service_starts() {
    if [[ -f $POLICY_RC ]] && grep -qxF "$POLICY_MARK" "$POLICY_RC"; then
        "${SUDO[@]}" rm -f "$POLICY_RC"
    fi
}

# The system ports of the daemons these packages ship: epmd, RabbitMQ (AMQP, distribution),
# ActiveMQ's Debian instance (OpenWire).
SYSTEM_DAEMON_PORTS=(4369 5672 25672 61616)
port_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A policy-rc.d that was already there may allow starts. Then stop what the install started (a
# port listening now that was not before), through the service manager that started it.
stop_new_daemons() {
    local before=" $1 " p started=()
    for p in "${SYSTEM_DAEMON_PORTS[@]}"; do
        [[ $before != *" $p "* ]] && port_listening "$p" && started+=("$p")
    done
    ((${#started[@]})) || return 0
    say "the install started services (ports ${started[*]} now listen); stopping them"
    if [[ -d /run/systemd/system ]]; then
        "${SUDO[@]}" systemctl stop rabbitmq-server.service activemq.service epmd.service epmd.socket \
            >/dev/null 2>&1 || true
    else
        "${SUDO[@]}" invoke-rc.d rabbitmq-server stop >/dev/null 2>&1 || true
        "${SUDO[@]}" invoke-rc.d activemq stop >/dev/null 2>&1 || true
    fi
    # A system epmd left by the broker (`epmd -daemon`) is not a service: ask it to exit (it
    # refuses while an Erlang node is still registered).
    if [[ " ${started[*]} " == *" 4369 "* ]] && port_listening 4369; then
        "${SUDO[@]}" epmd -kill >/dev/null 2>&1 || true
    fi
    for p in "${started[@]}"; do
        port_listening "$p" && say "WARNING: something still listens on port $p after the install"
    done
    return 0
}

# Under systemd, rabbitmq-server and erlang-base enable their units for the next boot. Nothing of
# Encke uses them, and they would listen on all interfaces: disable those of the packages this run
# installed (ARGS: the names of the newly installed packages), never units that were there before.
disable_boot_units() {
    [[ -d /run/systemd/system ]] || return 0
    local units=()
    [[ " $* " == *" rabbitmq-server "* ]] && units+=(rabbitmq-server.service)
    [[ " $* " == *" erlang-base "* ]] && units+=(epmd.service epmd.socket)
    ((${#units[@]})) || return 0
    "${SUDO[@]}" systemctl disable --quiet "${units[@]}" 2>/dev/null \
        && say "disabled the system units ${units[*]} (scripts/brokers.sh runs its own brokers)"
    return 0
}

if [[ "${ENCKE_SETUP_SKIP_APT:-0}" == 1 ]]; then
    say "ENCKE_SETUP_SKIP_APT=1: not checking Debian packages"
else
    command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script expects Debian 12"
    missing=() missing_brokers=()
    for p in "${PACKAGES[@]}"; do
        installed "$p" || missing+=("$p")
    done
    for p in "${BROKER_PACKAGES[@]}"; do
        installed "$p" || missing_brokers+=("$p")
    done
    total=$((${#PACKAGES[@]} + ${#BROKER_PACKAGES[@]}))
    if ((${#missing[@]} + ${#missing_brokers[@]} == 0)); then
        say "Debian packages: all $total installed"
    else
        all_missing=("${missing[@]}" "${missing_brokers[@]}")
        SUDO=()
        if ((EUID != 0)); then
            command -v sudo >/dev/null 2>&1 || die "missing packages (${all_missing[*]}) and not root (no sudo either)"
            SUDO=(sudo)
        fi
        APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=600)
        say "installing ${#all_missing[@]} Debian package(s): ${all_missing[*]}"
        say "apt-get update"
        "${APT[@]}" update || die "apt-get update failed"
        listening_before=()
        for p in "${SYSTEM_DAEMON_PORTS[@]}"; do
            port_listening "$p" && listening_before+=("$p")
        done
        # erlang-base comes with rabbitmq-server; its units are ours to disable only if it is new.
        erlang_before=erlang-base
        installed erlang-base && erlang_before=
        forbid_service_starts
        say "apt-get install (this can take several minutes on a fresh machine)"
        if ((${#missing[@]})); then
            "${APT[@]}" -y install "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
        fi
        if ((${#missing_brokers[@]})); then
            "${APT[@]}" -y --no-install-recommends install "${missing_brokers[@]}" >/dev/null \
                || die "apt-get install --no-install-recommends ${missing_brokers[*]} failed"
        fi
        allow_service_starts
        stop_new_daemons "${listening_before[*]}"
        newly=()
        for p in "${missing_brokers[@]}" $erlang_before; do
            installed "$p" && newly+=("$p")
        done
        disable_boot_units "${newly[@]}"
        for p in "${all_missing[@]}"; do
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
