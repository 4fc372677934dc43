#!/usr/bin/env bash
# Make sure Debian's Chromium is there for the browser test (Playwright drives the system browser;
# nothing downloads a browser). Installs it with apt when missing and we are root (CI runs as root).
# Exit 1 when there is none: the browser test then skips, saying why.
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! [ -x /usr/bin/chromium ]; then
  { apt-get update -q && apt-get install -y -q chromium; } >/dev/null 2>&1 || { echo "apt-get install chromium failed" >&2; exit 1; }
fi
/usr/bin/chromium --version >/dev/null 2>&1 || { echo "/usr/bin/chromium does not run" >&2; exit 1; }
