#!/usr/bin/env bash
# Make sure PostgreSQL's server binaries (initdb, pg_ctl, postgres) are installed for the write-back
# tests (tests/pg_server.py starts a throwaway server from them; nothing here starts one).
# Idempotent and quiet when they are there: Debian puts them in /usr/lib/postgresql/<version>/bin.
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "error: PostgreSQL's server binaries are missing and this user cannot install them (not root, no sudo):" >&2
        echo "       install Debian's 'postgresql' package, then run the tests again" >&2
        exit 1
    fi
fi

echo "installing Debian's postgresql for the write-back tests (apt-get)..."
$SUDO apt-get update -qq
# policy-rc.d 101: the package must not start its own cluster service (the tests start their own server)
POLICY=/usr/sbin/policy-rc.d
CREATED=""
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod +x "$POLICY"
    CREATED=1
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
if [ -n "$CREATED" ]; then
    $SUDO rm -f "$POLICY"
fi
ls /usr/lib/postgresql/*/bin/initdb
