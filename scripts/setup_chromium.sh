#!/usr/bin/env bash
# Make sure a headless Chromium is installed, for the report's screenshot test
# (tests/test_report_html.py renders a report's index.html to a PNG). Idempotent: a no-op when
# /usr/bin/chromium exists; otherwise installs Debian's `chromium` package (needs root and the
# Debian mirror). Without it the test reports itself skipped, with the reason.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup_chromium: no /usr/bin/chromium and cannot apt-get install it; its test will skip" >&2
  exit 0
fi
echo "setup_chromium: installing Debian's chromium package"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium >/dev/null
