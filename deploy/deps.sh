#!/usr/bin/env bash
# Installs whatever Cube needs that is missing, with apt. Quick when all is present.
# Each -dev library is chosen in docs/decisions.md.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PKGS=(
    make gcc clang pkg-config libclang-rt-14-dev clang-format
    nginx nginx-dev redis-server redis-tools mariadb-server mariadb-client
    debootstrap iproute2 nftables curl jq procps util-linux e2fsprogs
    libhiredis-dev libmariadb-dev-compat libseccomp-dev libbpf-dev liblua5.4-dev
    libpcre2-dev libssl-dev nettle-dev libevent-dev libjansson-dev libcmocka-dev libcurl4-openssl-dev
    zlib1g-dev libnftables-dev
    libmnl-dev libhttp-parser-dev
)
command -v node >/dev/null 2>&1 || PKGS+=(nodejs npm)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

say "installing: ${missing[*]}"
# Do not let the packages start the system's own nginx/redis/mariadb services: Cube runs
# its own instances with its own config, and must not change the machine's defaults.
added_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    added_policy=1
fi
trap '[ $added_policy = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
say "dependencies installed"
