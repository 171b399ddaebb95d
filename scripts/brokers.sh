#!/usr/bin/env bash
# scripts/brokers.sh — the message brokers Encke's bridge talks to, started by hand (no systemd, no
# root), for tests and demos. Source it from bash, or run it as a command:
#
#   source scripts/brokers.sh
#   start_activemq [persistent]      # ActiveMQ 5.17: STOMP + OpenWire
#   start_rabbitmq                   # RabbitMQ 3.10: AMQP 0-9-1 + AMQP 1.0 + STOMP
#   amq_produce topic://prices '{"symbol":"EURUSD"}' 3    # JMS TextMessages through OpenWire
#   rabbit_ctl list_queues           # rabbitmqctl against our RabbitMQ
#   kill_broker rabbitmq             # SIGKILL, to test a broker crash
#   stop_broker activemq             # SIGTERM by recorded PID, SIGKILL after 10 s
#   broker_status activemq           # 0 if running; clean_broker NAME deletes a stopped one's state
#
#   bash scripts/brokers.sh start activemq [persistent] | start rabbitmq
#   bash scripts/brokers.sh stop|kill|status|clean activemq|rabbitmq
#   bash scripts/brokers.sh produce DEST MESSAGE [COUNT]
#   bash scripts/brokers.sh rabbitmqctl ARGS...
#
# start_* print the broker's PIDs on stdout and their progress (and the start time) on stderr, wait
# for the broker to answer its protocols (bounded), and return non-zero after stopping what they
# started if it does not. They refuse to start when a port is already taken: the readiness check
# would otherwise happily talk to somebody else's broker.
#
# Every port is bound to 127.0.0.1. State (config, logs, data, pid file) lives in
# ${ENCKE_BROKER_DIR:-/tmp/encke-brokers-$UID}/<name>/. Env, read at each call:
#
#   AMQ_STOMP_PORT=61613  AMQ_OPENWIRE_PORT=61616  AMQ_HEAP=256m  AMQ_START_TIMEOUT=60 (s)
#   AMQ_STOMP_SSL_PORT    also STOMP over TLS on this port, with a self-signed certificate whose PEM
#                         is <state dir>/activemq/conf/broker-cert.pem (unset: no TLS)
#   AMQ_PERSISTENT=1      KahaDB in the state dir, kept across restarts (durable subscriptions and
#                         persistent messages survive a stop/start); default: in memory, fresh each start
#   AMQ_PRODUCE_PERSISTENT=false   JMS delivery mode used by amq_produce
#   RABBIT_PORT=5674 (AMQP 0-9-1 and 1.0)  RABBIT_STOMP_PORT=61633  RABBIT_DIST_PORT=25674
#   RABBIT_EPMD_PORT=4379 (a private epmd, never the system one on 4369)  RABBIT_START_TIMEOUT=90 (s)
#   RABBIT_PERSISTENT=1   keep the Mnesia database across restarts (durable queues survive);
#                         default: wiped at each start
#
# Needs the Debian packages activemq and rabbitmq-server (scripts/setup.sh installs them). Nothing
# here needs root.

# No `set -euo pipefail` at the top level: this file is sourced into the caller's shell. The
# command-line entry at the bottom sets it for itself, and the functions are written to work both
# with and without it (a caller's `set -e` must not turn an expected failure inside them, such as a
# kill of a process that has just exited, into an exit of the caller).

_bk_amq_home=/usr/share/activemq
_bk_rabbit_server=/usr/lib/rabbitmq/bin/rabbitmq-server
_bk_rabbit_ctl=/usr/lib/rabbitmq/bin/rabbitmqctl

# ---------------------------------------------------------------- helpers

_bk_say() { printf 'brokers: %s\n' "$*" >&2; }
_bk_now_ms() { echo $(($(date +%s%N) / 1000000)); }
_bk_root() { echo "${ENCKE_BROKER_DIR:-/tmp/encke-brokers-$UID}"; }
_bk_dir() { echo "$(_bk_root)/$1"; }

# True once something accepts TCP connections on 127.0.0.1:PORT (a refused loopback connect fails
# at once, so no timeout is needed).
_bk_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

_bk_ports_free() {
    local name=$1 p
    shift
    for p in "$@"; do
        if _bk_port_open "$p"; then
            _bk_say "$name: 127.0.0.1:$p is already in use; not starting (set the port variables to move it)"
            return 1
        fi
    done
}

# The start time of a process (clock ticks since boot, field 22 of /proc/PID/stat). Recorded with
# each PID so that a stale pid file can never make us signal an unrelated process that reused it.
_bk_starttime() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }                  # the command name may contain spaces and parentheses
    # shellcheck disable=SC2086  # split on purpose: the fields are numbers and single letters
    set -- $stat
    echo "${20}"                       # field 22 overall = 20th after pid and comm
}

# PID is alive, not a zombie (a zombie holds no ports and only waits for its parent to reap it),
# and is still the process we recorded (same start time).
_bk_alive() {
    local pid=$1 want=${2:-}
    [[ -e /proc/$pid ]] || return 1
    grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null && return 1
    [[ -z $want || "$(_bk_starttime "$pid")" == "$want" ]]
}

# pid file: one line per process, "PID STARTTIME ROLE", in start order. Written as soon as a process
# is spawned (not only once it is ready), so that stop_broker can always clean up after an
# interrupted or timed-out start.
_bk_record() {  # NAME PID ROLE
    local d
    d=$(_bk_dir "$1")
    printf '%s %s %s\n' "$2" "$(_bk_starttime "$2" || echo 0)" "$3" >>"$d/pids"
    # Not a job of the caller's shell any more: the pid file tracks it. Otherwise a sourcing shell
    # prints "Killed" job notices after kill_broker, and an interactive one may SIGHUP it on exit.
    disown "$2" 2>/dev/null || true
}

# The recorded processes of NAME that are still alive, as "PID STARTTIME ROLE" lines, newest first.
_bk_live() {
    local f pid st role
    f="$(_bk_dir "$1")/pids"
    [[ -f $f ]] || return 0
    tac "$f" | while read -r pid st role; do
        if _bk_alive "$pid" "$st"; then printf '%s %s %s\n' "$pid" "$st" "$role"; fi
    done
    return 0
}

_bk_running() { [[ -n "$(_bk_live "$1")" ]]; }

# Wait (bounded) until every recorded process of NAME is gone; prints what is left.
_bk_wait_gone() {  # NAME DEADLINE_MS
    local deadline=$2 left
    while :; do
        left=$(_bk_live "$1")
        [[ -z $left ]] && return 0
        (($(_bk_now_ms) >= deadline)) && { printf '%s\n' "$left"; return 1; }
        sleep 0.05
    done
}

# _bk_wait_ready NAME TIMEOUT_S CHECK... — poll CHECK until it succeeds; fail early if one of the
# recorded processes died (its log says why), fail after TIMEOUT_S.
_bk_wait_ready() {
    local name=$1 timeout_s=$2
    shift 2
    local deadline=$(($(_bk_now_ms) + timeout_s * 1000)) pid st role
    while :; do
        "$@" && return 0
        while read -r pid st role; do
            if ! _bk_alive "$pid" "$st"; then
                _bk_say "$name: $role (pid $pid) exited during startup"
                return 1
            fi
        done <"$(_bk_dir "$name")/pids"
        if (($(_bk_now_ms) >= deadline)); then
            _bk_say "$name: not ready after ${timeout_s} s"
            return 1
        fi
        sleep 0.1
    done
}

# A failed start: stop what was spawned, show the end of the logs. (The caller returns 1.)
_bk_fail() {
    local name=$1 d f
    d=$(_bk_dir "$name")
    _bk_signal_all "$name" KILL 5 >/dev/null
    for f in "$d"/*.log "$d"/log/*.log; do
        [[ -s $f ]] || continue
        _bk_say "--- last lines of $f"
        tail -n 25 "$f" >&2
    done
    return 0
}

# Send SIG to every live recorded process (newest first: the broker before its epmd), wait up to
# GRACE_S for them to go, SIGKILL what is left, then forget the pid file.
_bk_signal_all() {  # NAME SIG GRACE_S
    local name=$1 sig=$2 grace=$3 pid st role left f
    f="$(_bk_dir "$name")/pids"
    [[ -f $f ]] || return 0
    while read -r pid st role; do
        kill "-$sig" "$pid" 2>/dev/null || true     # it may have exited meanwhile
    done < <(_bk_live "$name")
    if ! left=$(_bk_wait_gone "$name" $(($(_bk_now_ms) + grace * 1000))); then
        while read -r pid st role; do
            _bk_say "$name: $role (pid $pid) still running after ${grace} s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        done <<<"$left"
        _bk_wait_gone "$name" $(($(_bk_now_ms) + 5000)) >/dev/null
    fi
    rm -f "$f"
}

# Common start preamble: no broker of that name runs from the state dir, and the ports are free
# (checked in that order, so that restarting our own broker says so). Creates the state dir.
_bk_prepare() {  # NAME PORT...
    local name=$1 d
    shift
    d=$(_bk_dir "$name")
    if _bk_running "$name"; then
        _bk_say "$name is already running from $d (pids: $(_bk_live "$name" | awk '{print $1}' | xargs)); stop_broker $name first"
        return 1
    fi
    _bk_ports_free "$name" "$@" || return 1
    mkdir -p "$d" || return 1
    rm -f "$d/pids"
}

_bk_started() {  # NAME T0_MS
    local name=$1 pids
    pids=$(awk '{print $1}' "$(_bk_dir "$name")/pids" | xargs)
    _bk_say "$name ready in $(($(_bk_now_ms) - $2)) ms (pids $pids, state in $(_bk_dir "$name"))"
    echo "$pids"
}

# STOMP readiness: CONNECT is answered with CONNECTED. A listening port alone is not enough: the
# broker accepts a little before its protocol handlers are in place.
_bk_stomp_ready() {  # PORT HOST-HEADER
    local fd line=
    { exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
    printf 'CONNECT\naccept-version:1.2\nhost:%s\n\n\0' "$2" 1>&"$fd" 2>/dev/null
    IFS= read -r -t 3 line <&"$fd"
    printf 'DISCONNECT\n\n\0' 1>&"$fd" 2>/dev/null
    exec {fd}>&-
    [[ $line == CONNECTED ]]
}

# AMQP 1.0 readiness: the SASL protocol header "AMQP" 3 1 0 0 is echoed back. A broker without AMQP
# 1.0 on that port answers with the version it does speak (RabbitMQ: "AMQP" 0 0 9 1) and closes.
_bk_amqp10_ready() {  # PORT
    local fd reply
    { exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
    printf 'AMQP\003\001\000\000' 1>&"$fd" 2>/dev/null
    reply=$(timeout 3 head -c 8 <&"$fd" | od -An -tx1 | tr -d ' \n')
    exec {fd}>&-
    [[ $reply == 414d515003010000 ]]
}

# ---------------------------------------------------------------- ActiveMQ 5.17 (Debian package)
#
# Debian's ActiveMQ has no AMQP 1.0 module (it is not packaged), so Encke reaches it over STOMP; the
# OpenWire port is for JMS clients such as amq_produce. Debian's own instance config is not used:
# it enables only OpenWire and keeps its data under /var/lib. No JMX, no web console, anonymous
# access (no authentication plugin).

start_activemq() {
    local mode=${1:-}
    local stomp=${AMQ_STOMP_PORT:-61613} openwire=${AMQ_OPENWIRE_PORT:-61616}
    local persistent=${AMQ_PERSISTENT:-0}
    [[ $mode == persistent ]] && persistent=1
    [[ -f $_bk_amq_home/bin/activemq.jar ]] || { _bk_say "activemq is not installed (run scripts/setup.sh)"; return 1; }
    command -v java >/dev/null 2>&1 || { _bk_say "java is not on PATH (run scripts/setup.sh)"; return 1; }
    _bk_prepare activemq "$stomp" "$openwire" || return 1
    local d
    d=$(_bk_dir activemq)
    mkdir -p "$d/conf" "$d/tmp"

    # Persistent: KahaDB in data/, kept across restarts (only clean_broker removes it), so durable
    # subscriptions and persistent messages survive a stop, a kill and a start. Non-persistent: an
    # in-memory store and a scratch data dir of its own, emptied at each start, so a run without
    # AMQ_PERSISTENT=1 never wipes the persistent store.
    local store='persistent="false"' adapter='' data=$d/data-memory
    if [[ $persistent == 1 ]]; then
        store='persistent="true"'
        # shellcheck disable=SC2016  # ${activemq.data} is for ActiveMQ's property resolver
        adapter='<persistenceAdapter><kahaDB directory="${activemq.data}/kahadb"/></persistenceAdapter>'
        data=$d/data
    else
        rm -rf "$data"
    fi
    mkdir -p "$data"

    # STOMP over TLS when AMQ_STOMP_SSL_PORT is set: a self-signed certificate for 127.0.0.1 and
    # localhost, made once per state dir; conf/broker-cert.pem is what a client trusts.
    local ssl_context='' ssl_connector='' ssl_port=${AMQ_STOMP_SSL_PORT:-}
    if [[ -n $ssl_port ]]; then
        _bk_ports_free activemq "$ssl_port" || return 1
        if [[ ! -f $d/conf/broker.ks ]]; then
            keytool -genkeypair -alias broker -keyalg RSA -keysize 2048 -validity 3650 \
                -dname CN=127.0.0.1 -ext SAN=ip:127.0.0.1,dns:localhost \
                -keystore "$d/conf/broker.ks" -storetype PKCS12 -storepass encke-test -keypass encke-test \
                >/dev/null 2>&1 || { _bk_say "activemq: keytool could not make a certificate"; return 1; }
            keytool -exportcert -rfc -alias broker -keystore "$d/conf/broker.ks" -storepass encke-test \
                -file "$d/conf/broker-cert.pem" >/dev/null 2>&1 || { _bk_say "activemq: keytool -exportcert failed"; return 1; }
        fi
        ssl_context="<sslContext><sslContext keyStore=\"file:$d/conf/broker.ks\" keyStoreType=\"PKCS12\" keyStorePassword=\"encke-test\"/></sslContext>"
        ssl_connector="<transportConnector name=\"stomp+ssl\" uri=\"stomp+ssl://127.0.0.1:$ssl_port\"/>"
    fi
    cat >"$d/conf/activemq.xml" <<EOF
<!-- written by scripts/brokers.sh at each start; edits are lost -->
<beans xmlns="http://www.springframework.org/schema/beans"
       xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
       xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans-2.0.xsd
         http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <!-- resolves the \${...} properties below from the -D options given to the JVM -->
  <bean class="org.springframework.beans.factory.config.PropertyPlaceholderConfigurer"/>
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="encke-test" useJmx="false"
          $store dataDirectory="\${activemq.data}" schedulerSupport="false">
    $adapter
    $ssl_context
    <systemUsage>
      <systemUsage>
        <!-- a share of the heap: the default (1 GB) exceeds -Xmx and is cut down with a warning;
             explicit store/temp limits for the same reason (defaults 100 GB and 50 GB) -->
        <memoryUsage><memoryUsage percentOfJvmHeap="70"/></memoryUsage>
        <storeUsage><storeUsage limit="1 gb"/></storeUsage>
        <tempUsage><tempUsage limit="1 gb"/></tempUsage>
      </systemUsage>
    </systemUsage>
    <transportConnectors>
      <transportConnector name="openwire" uri="tcp://127.0.0.1:\${amq.openwire.port}"/>
      <!-- closeAsync=false: close sockets at once, which suits many short STOMP connections -->
      <transportConnector name="stomp" uri="stomp+nio://127.0.0.1:\${amq.stomp.port}?transport.closeAsync=false"/>
      $ssl_connector
    </transportConnectors>
  </broker>
</beans>
EOF
    # Debian's ActiveMQ logs through log4j 1.2 and ignores the log4j2 file it ships; without this
    # (found on the class path through activemq.classpath) it logs nothing at all.
    cat >"$d/conf/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.logger.org.springframework=WARN
log4j.logger.org.apache.xbean=WARN
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=%d{ISO8601} %-5p %c{1} - %m%n
EOF
    printf 'AMQ_STOMP_PORT=%s\nAMQ_OPENWIRE_PORT=%s\nAMQ_PERSISTENT=%s\n' "$stomp" "$openwire" "$persistent" >"$d/ports"

    local t0
    t0=$(_bk_now_ms)
    # activemq.home must be given: otherwise the launcher derives it from the jar's real path
    # (/usr/share/java/..) and cannot find its own classes. Java 17 runs the broker without the
    # --add-opens list of /usr/bin/activemq (not needed for OpenWire, STOMP and KahaDB).
    # shellcheck disable=SC2086  # AMQ_JAVA_OPTS is a list of flags
    java -Xms64m -Xmx"${AMQ_HEAP:-256m}" ${AMQ_JAVA_OPTS:-} \
        -Dactivemq.home="$_bk_amq_home" -Dactivemq.base="$d" -Dactivemq.conf="$d/conf" \
        -Dactivemq.data="$data" -Dactivemq.classpath="$d/conf" -Djava.io.tmpdir="$d/tmp" \
        -Damq.openwire.port="$openwire" -Damq.stomp.port="$stomp" \
        -jar "$_bk_amq_home/bin/activemq.jar" start "xbean:file:$d/conf/activemq.xml" \
        >"$d/activemq.log" 2>&1 </dev/null &
    _bk_record activemq $! broker
    _bk_wait_ready activemq "${AMQ_START_TIMEOUT:-60}" _bk_stomp_ready "$stomp" localhost || { _bk_fail activemq; return 1; }
    _bk_port_open "$openwire" || { _bk_say "activemq: STOMP is up but OpenWire is not"; _bk_fail activemq; return 1; }
    _bk_started activemq "$t0"
}

# amq_produce DEST MESSAGE [COUNT] — send COUNT (default 1) JMS TextMessages with body MESSAGE to
# DEST through OpenWire, with ActiveMQ's own JMS producer (a real JMS client, not STOMP). DEST is
# topic://NAME or queue://NAME; STOMP-style /topic/NAME and /queue/NAME are accepted too. ≈1 s per
# call, mostly JVM start. Port: AMQ_OPENWIRE_PORT, else the one the running broker was started with.
amq_produce() {
    local dest=${1:?amq_produce DEST MESSAGE [COUNT]} message=${2?amq_produce DEST MESSAGE [COUNT]} count=${3:-1}
    case $dest in
        /topic/*) dest=topic://${dest#/topic/} ;;
        /queue/*) dest=queue://${dest#/queue/} ;;
        topic://* | queue://*) ;;
        *) _bk_say "amq_produce: DEST must be topic://NAME or queue://NAME (a bare name would be a queue): $dest"; return 2 ;;
    esac
    [[ $count =~ ^[1-9][0-9]*$ ]] || { _bk_say "amq_produce: COUNT must be a positive integer: $count"; return 2; }
    local port=${AMQ_OPENWIRE_PORT:-} d
    d=$(_bk_dir activemq)
    [[ -z $port && -f $d/ports ]] && port=$(sed -n 's/^AMQ_OPENWIRE_PORT=//p' "$d/ports")
    port=${port:-61616}
    mkdir -p "$d"
    # One log per call: tests may run several producers at once.
    local log rc=0
    log=$(mktemp "$d/produce.XXXXXX.log") || return 1
    # --message: the same text for every message (the tool's default would be a generated
    # "test message: N" body). A small heap: the JVM would otherwise reserve a quarter of RAM.
    timeout --kill-after=5 "${AMQ_PRODUCE_TIMEOUT:-60}" \
        java -Xmx128m -Dactivemq.home="$_bk_amq_home" -Dactivemq.classpath="$d/conf" \
        -jar "$_bk_amq_home/bin/activemq.jar" producer \
        --brokerUrl "tcp://127.0.0.1:$port" --destination "$dest" --messageCount "$count" \
        --persistent "${AMQ_PRODUCE_PERSISTENT:-false}" --message "$message" \
        >"$log" 2>&1 </dev/null || rc=$?
    # The tool prints "... Produced: N messages" and exits 0 even when it could not connect, so
    # success is that line, not the exit status.
    if ((rc != 0)) || ! grep -q "Produced: $count messages" "$log"; then
        _bk_say "amq_produce: failed (exit $rc) sending to $dest on 127.0.0.1:$port (log: $log):"
        grep -m 2 -E '^(ERROR|Caused by)' "$log" >&2 || tail -n 5 "$log" >&2
        return 1
    fi
    rm -f "$log"
    _bk_say "amq_produce: sent $count message(s) to $dest on 127.0.0.1:$port"
}

# ---------------------------------------------------------------- RabbitMQ 3.10 (Debian package)
#
# The one real AMQP 1.0 broker in Debian 12 (plugin rabbitmq_amqp1_0, on the AMQP 0-9-1 port), plus
# STOMP. AMQP 1.0 addresses are /topic/<routing key>, /exchange/<x>/<key>, /queue/<q> (ActiveMQ's
# topic://NAME is refused). SASL ANONYMOUS maps to guest, which RabbitMQ allows on loopback only.
# STOMP clients must send host:/ (the vhost); host:localhost is refused.

start_rabbitmq() {
    local port=${RABBIT_PORT:-5674} stomp=${RABBIT_STOMP_PORT:-61633}
    local dist=${RABBIT_DIST_PORT:-25674} epmd_port=${RABBIT_EPMD_PORT:-4379}
    [[ -x $_bk_rabbit_server ]] || { _bk_say "rabbitmq-server is not installed (run scripts/setup.sh)"; return 1; }
    _bk_prepare rabbitmq "$port" "$stomp" "$dist" "$epmd_port" || return 1
    local d
    d=$(_bk_dir rabbitmq)
    [[ ${RABBIT_PERSISTENT:-0} == 1 ]] || rm -rf "$d/mnesia"
    mkdir -p "$d/mnesia" "$d/log" "$d/home"
    echo '[rabbitmq_amqp1_0,rabbitmq_stomp].' >"$d/enabled_plugins"
    cat >"$d/rabbitmq.conf" <<EOF
# written by scripts/brokers.sh at each start; edits are lost
listeners.tcp.default = 127.0.0.1:$port
stomp.listeners.tcp.1 = 127.0.0.1:$stomp
EOF
    # An empty env file stands in for /etc/rabbitmq/rabbitmq-env.conf: a system-wide NODENAME or
    # NODE_IP_ADDRESS set there must not move or widen this test broker.
    : >"$d/rabbitmq-env.conf"
    printf 'RABBIT_PORT=%s\nRABBIT_STOMP_PORT=%s\nRABBIT_DIST_PORT=%s\nRABBIT_EPMD_PORT=%s\n' \
        "$port" "$stomp" "$dist" "$epmd_port" >"$d/ports"

    local t0
    t0=$(_bk_now_ms)
    # A private epmd on loopback, started by us (foreground, so $! is epmd itself). Left alone, the
    # Erlang VM would spawn a system-wide `epmd -daemon` on 0.0.0.0:4369 that outlives the broker.
    epmd -address 127.0.0.1 -port "$epmd_port" >"$d/epmd.log" 2>&1 </dev/null &
    _bk_record rabbitmq $! epmd
    # RUNNING_UNDER_SYSTEMD=true makes the launcher exec the VM, so $! is beam.smp and SIGTERM stops
    # the broker cleanly (otherwise $! is a sh wrapper). HOME holds the Erlang cookie: it must be
    # ours and never empty. inet_dist_use_interface keeps the distribution port off 0.0.0.0.
    env HOME="$d/home" RUNNING_UNDER_SYSTEMD=true RABBITMQ_NODENAME=encke@localhost \
        RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf" RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf" \
        RABBITMQ_ADVANCED_CONFIG_FILE="$d/advanced.config" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" \
        RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/log" ERL_CRASH_DUMP="$d/erl_crash.dump" \
        RABBITMQ_DIST_PORT="$dist" ERL_EPMD_PORT="$epmd_port" ERL_EPMD_ADDRESS=127.0.0.1 \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}' \
        "$_bk_rabbit_server" >"$d/rabbitmq.log" 2>&1 </dev/null &
    _bk_record rabbitmq $! broker
    _bk_wait_ready rabbitmq "${RABBIT_START_TIMEOUT:-90}" _bk_rabbit_ready "$port" "$stomp" || { _bk_fail rabbitmq; return 1; }
    _bk_started rabbitmq "$t0"
}
# Ready = AMQP 1.0 answers on the AMQP port and STOMP answers CONNECTED (the plugins start after
# the core listener, so either alone can be early).
_bk_rabbit_ready() { _bk_amqp10_ready "$1" && _bk_stomp_ready "$2" /; }

# rabbit_ctl ARGS... — rabbitmqctl against the broker started by start_rabbitmq (same node name,
# cookie and epmd), e.g. `rabbit_ctl list_connections`, `rabbit_ctl close_all_connections why`.
rabbit_ctl() {
    local d
    d=$(_bk_dir rabbitmq)
    [[ -f $d/ports ]] || { _bk_say "rabbit_ctl: no RabbitMQ state in $d"; return 1; }
    local epmd_port
    epmd_port=$(sed -n 's/^RABBIT_EPMD_PORT=//p' "$d/ports")
    # The enabled-plugins file lets rabbitmqctl find the plugins' commands (list_stomp_connections).
    env HOME="$d/home" RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf" ERL_EPMD_PORT="$epmd_port" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" \
        ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_MNESIA_BASE="$d/mnesia" ERL_CRASH_DUMP="$d/erl_crash.dump" \
        timeout 60 "$_bk_rabbit_ctl" -n encke@localhost "$@" </dev/null
}

# ---------------------------------------------------------------- stop / kill

# stop_broker NAME — SIGTERM to the recorded PIDs (RabbitMQ before its epmd), SIGKILL after 10 s.
# Returns once they are gone, so the ports are free again. Stopping a broker that is not running is
# not an error.
stop_broker() {
    local name=${1:?stop_broker activemq|rabbitmq}
    if ! _bk_running "$name"; then
        rm -f "$(_bk_dir "$name")/pids"
        _bk_say "$name is not running"
        return 0
    fi
    local t0
    t0=$(_bk_now_ms)
    _bk_signal_all "$name" TERM "${BROKER_STOP_TIMEOUT:-10}"
    _bk_say "$name stopped in $(($(_bk_now_ms) - t0)) ms"
}

# kill_broker NAME — SIGKILL: the broker dies without closing anything, as in a crash. RabbitMQ's
# private epmd goes too (it is ours, and a restart needs its port).
kill_broker() {
    local name=${1:?kill_broker activemq|rabbitmq}
    _bk_running "$name" || { _bk_say "$name is not running"; rm -f "$(_bk_dir "$name")/pids"; return 0; }
    _bk_signal_all "$name" KILL 5
    _bk_say "$name killed"
}

# broker_status NAME — 0 if running (prints its processes and ports), 1 if not.
broker_status() {
    local name=${1:?broker_status activemq|rabbitmq} d live
    d=$(_bk_dir "$name")
    live=$(_bk_live "$name")
    if [[ -z $live ]]; then
        echo "$name: not running (state dir $d)"
        return 1
    fi
    echo "$name: running, state dir $d"
    awk '{printf "  %-7s pid %s\n", $3, $1}' <<<"$live"
    [[ -f $d/ports ]] && sed 's/^/  /' "$d/ports"
    return 0
}

# clean_broker NAME — delete the state dir (data, logs) of a stopped broker.
clean_broker() {
    local name=${1:?clean_broker activemq|rabbitmq}
    _bk_running "$name" && { _bk_say "$name is running; stop it first"; return 1; }
    rm -rf "$(_bk_dir "$name")"
}

# ---------------------------------------------------------------- command line

_bk_usage() {
    cat >&2 <<'EOF'
usage: bash scripts/brokers.sh start activemq [persistent] | start rabbitmq
       bash scripts/brokers.sh stop|kill|status|clean activemq|rabbitmq
       bash scripts/brokers.sh produce DEST MESSAGE [COUNT]      (JMS TextMessages to ActiveMQ)
       bash scripts/brokers.sh rabbitmqctl ARGS...
Ports, state dir and persistence come from the environment: see the top of scripts/brokers.sh.
EOF
}

_bk_main() {
    set -euo pipefail
    local cmd=${1:-} name=${2:-}
    case $cmd in
        start | stop | kill | status | clean)
            [[ $name == activemq || $name == rabbitmq ]] || { _bk_usage; return 2; }
            case $cmd in
                start) "start_$name" "${@:3}" >/dev/null ;;
                stop) stop_broker "$name" ;;
                kill) kill_broker "$name" ;;
                status) broker_status "$name" ;;
                clean) clean_broker "$name" ;;
            esac
            ;;
        produce) shift; amq_produce "$@" ;;
        rabbitmqctl) shift; rabbit_ctl "$@" ;;
        -h | --help | help) _bk_usage ;;
        *) _bk_usage; return 2 ;;
    esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    _bk_main "$@"
fi
