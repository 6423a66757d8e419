#!/usr/bin/env bash
# Makes sure the PostgreSQL and MariaDB test servers answer on 127.0.0.1, starting them when they
# do not, and exports the URLs the tests use. Source it (`. scripts/services.sh`): it sets no
# shell options, and returns non-zero when a server does not come up.

upgrader_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

upgrader_wait_for() {
  local _
  for _ in $(seq 1 60); do
    upgrader_answers "$1" && return 0
    sleep 0.5
  done
  echo "error: $2 does not answer on 127.0.0.1:$1" >&2
  return 1
}

if ! upgrader_answers 5432; then
  echo "starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
fi
if ! upgrader_answers 3306; then
  echo "starting MariaDB" >&2
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi
upgrader_wait_for 5432 PostgreSQL && upgrader_wait_for 3306 MariaDB &&
  export UPGRADER_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/postgres" &&
  export UPGRADER_TEST_MYSQL_URL="mysql://root@127.0.0.1:3306/mysql"
