#!/usr/bin/env bash
# Shared by the ensure_*.sh scripts: install a Debian package with apt-get, as root or through sudo.
# Source it, then:
#   apt_sudo "WHAT IS MISSING" PACKAGE   # sets SUDO ("" as root, "sudo"), or exits 1 with what to install
#   apt_install PACKAGE "WHAT FOR"       # apt-get update + a quiet install without recommends

SUDO=""

apt_sudo() {
    local missing=$1 package=$2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            SUDO="sudo"
        else
            echo "error: $missing and this user cannot install it (not root, no sudo):" >&2
            echo "       install Debian's '$package' package, then run the tests again" >&2
            exit 1
        fi
    fi
}

apt_install() {
    local package=$1 purpose=$2
    echo "installing Debian's $package $purpose (apt-get)..."
    $SUDO apt-get update -qq
    # through env: sudo resets the environment, so a variable set in front of it would not reach apt-get
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >/dev/null
}
