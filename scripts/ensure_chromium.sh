#!/usr/bin/env bash
# Make sure Debian's Chromium is at /usr/bin/chromium for the browser tests (tests/web/test_browser.py).
# Idempotent and quiet when it is already there. Playwright drives this browser: never
# `playwright install`, which downloads a browser of its own.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    exit 0
fi

# shellcheck source=apt.sh
source "$(dirname "$0")/apt.sh"
apt_sudo "$CHROMIUM is missing" chromium

apt_install chromium "for the browser tests"
"$CHROMIUM" --version
