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

# shellcheck source=apt.sh
source "$(dirname "$0")/apt.sh"
apt_sudo "Java 17+ is missing" openjdk-17-jre-headless

apt_install openjdk-17-jre-headless "for the Spark engine"
java -version 2>&1 | head -1
