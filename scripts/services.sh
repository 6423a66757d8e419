#!/usr/bin/env bash
# Makes sure the PostgreSQL and MariaDB test servers answer on 127.0.0.1, starting them when they
# do not, and prints the URLs the tests use. Source it: `. scripts/services.sh`.
set -euo pipefail

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
  local port=$1 name=$2
  for _ in $(seq 1 60); do
    answers "$port" && return 0
    sleep 0.5
  done
  echo "error: $name does not answer on 127.0.0.1:$port" >&2
  return 1
}

if ! answers 5432; then
  echo "starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
fi
if ! answers 3306; then
  echo "starting MariaDB" >&2
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi
wait_for 5432 PostgreSQL
wait_for 3306 MariaDB

export UPGRADER_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/postgres"
export UPGRADER_TEST_MYSQL_URL="mysql://root@127.0.0.1:3306/mysql"
