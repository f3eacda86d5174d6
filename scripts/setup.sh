#!/usr/bin/env bash
# Installs what capd needs on a Debian or Ubuntu machine, skipping what is already there.
#
#   scripts/setup.sh          build needs only: libpcap-dev
#   scripts/setup.sh test     and what the tests drive: tshark, tcpdump, openssl, python3,
#                             nftables and iproute2 (network namespaces), jq; and g++, which
#                             builds libFuzzer when `make lint` checks the fuzz targets
#   scripts/setup.sh bench    the test tools and GNU time (peak memory), for scripts/bench.sh
#
# apt-get update runs once, and only when something is missing. Root runs apt-get directly;
# anyone else goes through sudo.
set -euo pipefail

packages=(libpcap-dev pkg-config)
if [ "${1:-}" = test ] || [ "${1:-}" = bench ]; then
    packages+=(tshark tcpdump openssl python3 nftables iproute2 jq wireshark-common g++)
fi
if [ "${1:-}" = bench ]; then
    packages+=(time)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || {
        echo "setup: apt-get is not available; install these packages by hand: ${missing[*]}" >&2
        exit 1
    }
    sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    echo "setup: installing ${missing[*]}"
    # tshark asks whether non-root users may capture; the answer (no) is not needed here.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | "${sudo[@]}" debconf-set-selections 2>/dev/null || true
    "${sudo[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

command -v cargo >/dev/null || {
    echo "setup: cargo is not installed; install Rust with rustup (https://rustup.rs) and run this again" >&2
    exit 1
}
