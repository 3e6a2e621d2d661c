#!/usr/bin/env bash
# Make sure Debian's Chromium is at /usr/bin/chromium for the browser tests (tests/web/test_browser.py).
# Idempotent and quiet when it is already there. Playwright drives this browser: never
# `playwright install`, which downloads a browser of its own.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "error: $CHROMIUM is missing and this user cannot install it (not root, no sudo):" >&2
        echo "       install Debian's 'chromium' package, then run the tests again" >&2
        exit 1
    fi
fi

echo "installing Debian's chromium for the browser tests (apt-get)..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
"$CHROMIUM" --version
