#!/usr/bin/env bash
# Make sure PostgreSQL's server binaries (initdb, pg_ctl, postgres) are installed for the write-back
# tests (tests/pg_server.py starts a throwaway server from them; nothing here starts one).
# Idempotent and quiet when they are there: Debian puts them in /usr/lib/postgresql/<version>/bin.
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    exit 0
fi

# shellcheck source=apt.sh
source "$(dirname "$0")/apt.sh"
apt_sudo "PostgreSQL's server binaries are missing" postgresql

# policy-rc.d 101: the package must not start its own cluster service (the tests start their own server)
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
    # removed however the install ends: left behind, it would stop every later package's service from starting
    trap '$SUDO rm -f "$POLICY"' EXIT
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod +x "$POLICY"
fi
apt_install postgresql "for the write-back tests"
ls /usr/lib/postgresql/*/bin/initdb
