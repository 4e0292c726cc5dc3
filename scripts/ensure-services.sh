#!/usr/bin/env bash
# Make sure what leadworker's demo and tests need is there: PostgreSQL, RabbitMQ and (with --browser) Chromium.
# Idempotent: starts only what is down, installs only what is missing. Used by `make setup` and CI.
set -u

want_browser=0
[[ "${1:-}" == "--browser" ]] && want_browser=1

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
exit 0
