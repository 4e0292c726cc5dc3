#!/usr/bin/env bash
# Make sure what leadworker's demo and tests need is there: PostgreSQL, RabbitMQ and (with --browser) Chromium.
# Idempotent: starts only what is down (or restarts a broker that does not answer), installs only what is
# missing. Used by `make setup`, `make test` and CI.
set -u

want_browser=0
clean_leftovers=0
test_tools=0
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    --clean-test-leftovers) clean_leftovers=1 ;;
    --test-tools) test_tools=1 ;;
    *) echo "usage: $0 [--browser] [--clean-test-leftovers] [--test-tools]" >&2; exit 2 ;;
  esac
done

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && exec 3>&- ; }

wait_port() {
  local port=$1 name=$2
  for _ in $(seq 1 60); do port_open "$port" && return 0; sleep 1; done
  echo "ensure-services: $name did not come up on port $port" >&2
  return 1
}

if ! port_open 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "ensure-services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    wait_port 5432 PostgreSQL || exit 1
  else
    echo "ensure-services: PostgreSQL is not running on 127.0.0.1:5432 and cannot be started here;" \
         "set LEADWORKER_TEST_DATABASE_URL or start it (deploy/compose.yaml has one)" >&2
  fi
fi

# rabbitmq-server switches to its user through su, whose PAM session sets the soft limit of open files back
# to 1024. With hundreds of quorum queues (an interrupted run's leftovers) the broker's file handle cache
# then runs out, and new connections hang in their handshake while the port stays open. RabbitMQ's own
# advice is tens of thousands; the machine's hard limit is the most that can be given.
if (( EUID == 0 )) && [ -d /etc/security/limits.d ] && [ ! -f /etc/security/limits.d/rabbitmq.conf ]; then
  nofile=$(ulimit -Hn)
  if [ "$nofile" = unlimited ] || (( nofile > 65536 )); then nofile=65536; fi
  echo "rabbitmq - nofile $nofile" > /etc/security/limits.d/rabbitmq.conf
fi

if ! port_open 5672; then
  if command -v rabbitmq-server >/dev/null 2>&1; then
    echo "ensure-services: starting RabbitMQ"
    rabbitmq-server -detached || true
    wait_port 5672 RabbitMQ || exit 1
    rabbitmqctl await_startup --timeout 60 >/dev/null 2>&1 || true
  else
    echo "ensure-services: RabbitMQ is not running on 127.0.0.1:5672 and cannot be started here;" \
         "set LEADWORKER_TEST_AMQP_URL or start it (deploy/compose.yaml has one)" >&2
  fi
fi

# A broker that accepts connections can still block every publisher (a memory or disk alarm) or hang in
# start-up: then every test would wait on it. Check it answers, and restart it once if it does not.
rabbit_healthy() {
  timeout 60 rabbitmq-diagnostics -q check_running >/dev/null 2>&1 \
    && timeout 60 rabbitmq-diagnostics -q check_local_alarms >/dev/null 2>&1 \
    && rabbit_has_file_handles
}
# A broker started before the limits file above (the machine's own start) still runs with 1024.
rabbit_has_file_handles() {
  local pid soft
  pid=$(pgrep -u rabbitmq -f 'beam.smp.*-s rabbit boot' | head -n1) || return 0
  [ -r "/proc/$pid/limits" ] || return 0
  soft=$(awk '/^Max open files/ {print $4}' "/proc/$pid/limits")
  [ "$soft" = unlimited ] || (( soft >= 4096 ))
}
if command -v rabbitmq-diagnostics >/dev/null 2>&1 && port_open 5672 && ! rabbit_healthy; then
  echo "ensure-services: RabbitMQ is up but unhealthy (not running, an alarm set, or 1024 open files at most); restarting it" >&2
  timeout 120 rabbitmqctl stop >/dev/null 2>&1 || pkill -9 -u rabbitmq -f 'beam.smp.*-s rabbit boot' || true
  sleep 2
  rabbitmq-server -detached || true
  wait_port 5672 RabbitMQ || exit 1
  timeout 90 rabbitmqctl await_startup --timeout 60 >/dev/null 2>&1 || true
  rabbit_healthy || { echo "ensure-services: RabbitMQ still unhealthy after a restart" >&2; exit 1; }
fi

# What an interrupted test run leaves behind: private broker nodes and PostgreSQL clusters of the ops and
# fault tests (their data lives in /tmp/lw-rabbit-*, /tmp/lw-postgres-*, /tmp/lw-pgbouncer-*), queues of the per-test prefix
# (t<10 hex>.) and of the benchmarks (bench<8 hex>.) and lw_test_*/lw_tmpl_* databases. Only these names are touched; nobody else's. `make test` asks for
# this just before it starts pytest, so never run it beside a test run you want to keep.
if (( clean_leftovers )); then
  for dir in /tmp/lw-rabbit-* /tmp/lw-postgres-* /tmp/lw-pgbouncer-*; do
    [ -d "$dir" ] || continue
    if [ -f "$dir/pid" ]; then kill -9 "$(head -n1 "$dir/pid")" 2>/dev/null || true; fi
    if [ -f "$dir/data/postmaster.pid" ]; then kill -9 "$(head -n1 "$dir/data/postmaster.pid")" 2>/dev/null || true; fi
    rm -rf "$dir"
  done
  if command -v rabbitmqctl >/dev/null 2>&1 && port_open 5672; then
    timeout 60 rabbitmqctl -q list_queues name 2>/dev/null | grep -E '^(t[0-9a-f]{10}|bench[0-9a-f]{8})\.' | while read -r q; do
      timeout 30 rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1 || true
    done
  fi
  if command -v psql >/dev/null 2>&1 && port_open 5432; then
    for db in $(psql -h 127.0.0.1 -U postgres -Atc "SELECT datname FROM pg_database WHERE datname ~ '^lw_(test|tmpl)_[0-9a-f]{12}\$'" 2>/dev/null); do
      psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
    done
  fi
fi

if (( want_browser )); then
  if [ -z "${LEADWORKER_BROWSER_EXECUTABLE:-}" ] && [ ! -x /usr/bin/chromium-headless-shell ] && [ ! -x /usr/bin/chromium ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      echo "ensure-services: installing chromium-headless-shell (Debian) for Playwright"
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -q chromium-headless-shell >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium-headless-shell >/dev/null; } \
        || { echo "ensure-services: could not install chromium-headless-shell" >&2; exit 1; }
    else
      echo "ensure-services: no Chromium found; install chromium-headless-shell (or chromium)" \
           "or set LEADWORKER_BROWSER_EXECUTABLE" >&2
      exit 1
    fi
  fi
fi
# Tools the tests use and must not skip for: systemd-analyze verifies the shipped unit file.
if (( test_tools )) && ! command -v systemd-analyze >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "ensure-services: installing systemd (for systemd-analyze verify)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends systemd >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends systemd >/dev/null; } \
      || { echo "ensure-services: could not install systemd (systemd-analyze)" >&2; exit 1; }
  else
    echo "ensure-services: systemd-analyze is missing; install systemd" >&2
    exit 1
  fi
fi
# PgBouncer: the tests marked pgbouncer (and bench scale) start private ones in transaction mode. Installing
# the Debian package also enables its service on systems with systemd; the tests never use that one.
if (( test_tools )) && ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "ensure-services: installing pgbouncer (for the PgBouncer tests)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends pgbouncer >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends pgbouncer >/dev/null; } \
      || { echo "ensure-services: could not install pgbouncer" >&2; exit 1; }
  else
    echo "ensure-services: pgbouncer is missing; install pgbouncer" >&2
    exit 1
  fi
fi
exit 0
