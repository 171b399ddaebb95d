#!/usr/bin/env bash
# scripts/demo-prices.sh — the live-prices demo (docs/bridge.md): ActiveMQ, Encke bridging its
# topics prices.<SYMBOL> to /prices/<SYMBOL>, and a price feed publishing to ActiveMQ over STOMP.
# Open http://127.0.0.1:8080/prices.html. Ctrl-C stops all three (by PID).
#
# Env: ENCKE_DEMO_LISTEN (127.0.0.1:8080), AMQ_STOMP_PORT (61613), AMQ_OPENWIRE_PORT (61616),
#      PRICE_RATE (messages per second, 20).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

listen=${ENCKE_DEMO_LISTEN:-127.0.0.1:8080}
export AMQ_STOMP_PORT=${AMQ_STOMP_PORT:-61613} AMQ_OPENWIRE_PORT=${AMQ_OPENWIRE_PORT:-61616}
export ENCKE_BROKER_DIR=${ENCKE_BROKER_DIR:-/tmp/encke-demo-prices-$UID}

bash scripts/setup.sh
bash scripts/build.sh release

# shellcheck source=brokers.sh
source scripts/brokers.sh
encke_pid= feed_pid=
cleanup() {
    trap - EXIT INT TERM
    [[ -n $feed_pid ]] && kill "$feed_pid" 2>/dev/null && wait "$feed_pid" 2>/dev/null
    [[ -n $encke_pid ]] && kill "$encke_pid" 2>/dev/null && wait "$encke_pid" 2>/dev/null
    stop_broker activemq || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_activemq >/dev/null

# The example config, with this demo's broker port and listen address.
cfg=$(mktemp "${TMPDIR:-/tmp}/encke-prices-XXXXXX.toml")
sed -e "s#stomp://127.0.0.1:61613#stomp://127.0.0.1:$AMQ_STOMP_PORT#" \
    -e "s#^listen = .*#listen = \"$listen\"#" examples/bridge/prices-activemq.toml >"$cfg"
build/release/encke serve --config "$cfg" --web-root "$ROOT/web" &
encke_pid=$!

node scripts/price-feed.mjs --port "$AMQ_STOMP_PORT" --rate "${PRICE_RATE:-20}" --quiet &
feed_pid=$!

printf '\ndemo: open http://%s/prices.html — prices flow from ActiveMQ (STOMP %s) through Encke.\n' "$listen" "$AMQ_STOMP_PORT"
printf 'demo: health: curl -s http://%s/healthz ; Ctrl-C stops the feed, Encke and ActiveMQ.\n\n' "$listen"
wait "$encke_pid"
