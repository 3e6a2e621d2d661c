#!/usr/bin/env bash
# Make sure a Java 17+ runtime is there for the Spark engine and its parity test (PySpark 4 needs 17+).
# Idempotent and quiet when one is there; otherwise installs Debian's headless JRE with apt-get.
set -euo pipefail

java_major() {
    local bin="${JAVA_HOME:+$JAVA_HOME/bin/}java"
    command -v "$bin" >/dev/null 2>&1 || { echo 0; return; }
    "$bin" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1
}

if [ "$(java_major)" -ge 17 ] 2>/dev/null; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "error: Java 17+ is missing and this user cannot install it (not root, no sudo):" >&2
        echo "       install Debian's 'openjdk-17-jre-headless' package, then run the tests again" >&2
        exit 1
    fi
fi

echo "installing Debian's openjdk-17-jre-headless for the Spark engine (apt-get)..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
java -version 2>&1 | head -1
