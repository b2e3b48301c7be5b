#!/usr/bin/env bash
# Installs what building and testing Romulus needs on a fresh Debian 12 machine (idempotent).
# Sourced by scripts/test and scripts/demo.
set -euo pipefail

romulus_need_packages() {
    local missing=()
    command -v java >/dev/null 2>&1 && java -version 2>&1 | grep -q 'version "17' || missing+=(openjdk-17-jdk-headless)
    command -v mvn >/dev/null 2>&1 || missing+=(maven)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v ss >/dev/null 2>&1 || missing+=(iproute2)
    command -v tar >/dev/null 2>&1 || missing+=(tar)
    if [ "${#missing[@]}" -gt 0 ]; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "Romulus needs these Debian packages: ${missing[*]}; run as root or install them first." >&2
            exit 1
        fi
        echo "Installing ${missing[*]} ..."
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

romulus_need_packages
