#!/usr/bin/env bash
# scripts/demo.sh — set up, build the release binary and run the chat demo on http://127.0.0.1:8080/.
# Env: ENCKE_DEMO_LISTEN (default 127.0.0.1:8080). Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

listen=${ENCKE_DEMO_LISTEN:-127.0.0.1:8080}
bash scripts/setup.sh
bash scripts/build.sh release

printf '\ndemo: open http://%s/ in two browser windows (add ?transport=long-polling or\n' "$listen"
printf 'demo: ?transport=callback-polling to pick a transport). Ctrl-C stops the server.\n\n'
exec build/release/encke serve --listen "$listen" --web-root web
