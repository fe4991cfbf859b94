#!/usr/bin/env bash
# Debian's chromium for the Web UI's browser tests (make browser). playwright drives /usr/bin/chromium
# (tests/e2e/browser.py) and never downloads a browser: `playwright install` is not used.
# Does nothing when /usr/bin/chromium is there; otherwise installs it with apt-get (as root, or sudo -n)
# and, if that fails, says so in one line.
set -euo pipefail

[ -x /usr/bin/chromium ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "make browser: /usr/bin/chromium is missing and installing it needs root (apt-get install chromium)" >&2
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "${as_root[@]}" apt-get update -qq \
       && "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } \
     >"$log" 2>&1 || [ ! -x /usr/bin/chromium ]; then
  echo "make browser: apt-get could not install chromium: $(grep -v '^\s*$' "$log" | tail -n 1)" >&2
  exit 1
fi
echo "Installed $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
