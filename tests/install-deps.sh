#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine: the
# package with its test extras, and the real components the tests run against
# (Prometheus, Alertmanager, tmux, PostgreSQL). Fails loudly if any of them cannot be had.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
command -v ssh-agent >/dev/null 2>&1 || need+=(openssh-client)  # signed sign-offs: ssh-keygen -Y, ssh-agent
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)  # the browser view's tests (Playwright drives it)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian's packages start system services where they can; the tests run their own instances.
  for svc in prometheus prometheus-alertmanager prometheus-node-exporter postgresql; do
    $SUDO service "$svc" stop >/dev/null 2>&1 || true
  done
fi
for bin in prometheus prometheus-alertmanager tmux chromium ssh-agent ssh-keygen ssh-add; do
  command -v "$bin" >/dev/null 2>&1 || { echo "FATAL: $bin is required by the tests and could not be installed" >&2; exit 1; }
done
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { echo "FATAL: PostgreSQL (Debian postgresql) is required by the tests and could not be installed" >&2; exit 1; }

python3 -m pip install -q --disable-pip-version-check -e '.[test]'  # the test extras hold psycopg (the pg extra) too
