#!/usr/bin/env bash
# Make sure a PostgreSQL server (initdb, pg_ctl, postgres) is installed, for the multi-worker study
# test (tests/test_postgres_study.py starts its own throw-away cluster on loopback). Idempotent:
# a no-op when the binaries are present; otherwise installs Debian's `postgresql` package (needs
# root and the Debian mirror). Without it the test reports itself skipped, with the reason.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup_postgres: no PostgreSQL server and cannot apt-get install it; its test will skip" >&2
  exit 0
fi
echo "setup_postgres: installing Debian's postgresql (server) package"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
