#!/usr/bin/env bash
# scripts/demo.sh — set up, build the release binary and run the chat demo on http://127.0.0.1:8080/:
# Encke with examples/chat/encke.toml (token auth, channel rules) and the demo's login backend,
# scripts/demo-login.mjs, on http://127.0.0.1:8081/login. Stop with Ctrl-C: both processes end.
#
# Env: ENCKE_DEMO_LISTEN       (default 127.0.0.1:8080) where Encke and the page are served
#      ENCKE_DEMO_LOGIN_LISTEN (default 127.0.0.1:8081) where the login backend listens
# The secret shared by the two, run/demo-secret, and the publish API key, run/demo-api-key, are
# created on first run (mode 600) and kept.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

listen=${ENCKE_DEMO_LISTEN:-127.0.0.1:8080}
login_listen=${ENCKE_DEMO_LOGIN_LISTEN:-127.0.0.1:8081}
export ENCKE_DEMO_LOGIN_LISTEN=$login_listen
bash scripts/setup.sh
bash scripts/build.sh release

mkdir -p run
if [[ ! -s run/demo-secret ]]; then
    (umask 077 && openssl rand -hex 32 >run/demo-secret.tmp) ||
        (umask 077 && node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("hex") + "\n")' \
            >run/demo-secret.tmp)
    mv run/demo-secret.tmp run/demo-secret
fi
chmod 600 run/demo-secret
# The key the application's backend (here: you, with `encke publish --key`) uses for POST /api/publish.
if [[ ! -s run/demo-api-key ]]; then
    (umask 077 && openssl rand -hex 24 >run/demo-api-key.tmp)
    mv run/demo-api-key.tmp run/demo-api-key
fi
chmod 600 run/demo-api-key

login_pid= encke_pid=
cleanup() {
    trap - EXIT INT TERM
    [[ -n $encke_pid ]] && kill -TERM "$encke_pid" 2>/dev/null
    [[ -n $login_pid ]] && kill -TERM "$login_pid" 2>/dev/null
    [[ -n $encke_pid ]] && wait "$encke_pid" 2>/dev/null
    [[ -n $login_pid ]] && wait "$login_pid" 2>/dev/null
    return 0
}
on_signal() {
    cleanup
    exit 130
}
trap cleanup EXIT
trap on_signal INT TERM

# The login backend first, so the page can sign in as soon as Encke answers.
node scripts/demo-login.mjs run/demo-secret &
login_pid=$!

# The page finds the login backend at http://<its own host>:8081/login; another port is passed as
# ?login=<url>.
login_url="http://${login_listen}/login"
page_url="http://${listen}/"
[[ $login_listen == *:8081 ]] || page_url+="?login=$(node -p 'encodeURIComponent(process.argv[1])' "$login_url")"
[[ $page_url == *\?* ]] && sep='&' || sep='?'
printf '\ndemo: open %s in two browser windows\n' "$page_url"
printf 'demo: (other transports: %s%stransport=long-polling or ...=callback-polling)\n' "$page_url" "$sep"
printf 'demo: sign-in backend (any name, no password: it is a demo): POST %s\n' "$login_url"
printf 'demo: post as the backend: build/release/encke publish --url http://%s --key "$(cat run/demo-api-key)" \\\n' "$listen"
printf 'demo:     --channel /chat/lobby --data '"'"'{"text":"hello from the backend"}'"'"'\n'
printf 'demo: Ctrl-C stops both servers.\n\n'

# Not exec: this shell stays to run the trap, which stops both servers (SIGTERM) on Ctrl-C, on
# SIGTERM and when either of them exits by itself (say, its port was taken). Both run in the
# background because bash runs a trap only between commands; `wait` returns at once on a signal.
build/release/encke serve --config examples/chat/encke.toml --listen "$listen" &
encke_pid=$!
set +e
wait -n "$encke_pid" "$login_pid"
status=$?
kill -0 "$login_pid" 2>/dev/null || echo "demo: the login backend stopped (status $status); stopping Encke" >&2
kill -0 "$encke_pid" 2>/dev/null || echo "demo: Encke stopped (status $status)" >&2
exit "$status"
