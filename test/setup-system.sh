#!/usr/bin/env bash
# Installs the Debian packages the test suite and the benchmark use, when they are missing:
# real DNS clients (dig, kdig), real servers to compare and forward to (dnsmasq, unbound, knot),
# dnsperf, and iproute2/util-linux for the network-namespace tests. Needs root (or sudo).
set -euo pipefail

declare -A package_for=(
  [dig]=bind9-dnsutils
  [kdig]=knot-dnsutils
  [dnsmasq]=dnsmasq-base
  [dnsperf]=dnsperf
  [unbound]=unbound
  [knotd]=knot
  [ip]=iproute2
  [unshare]=util-linux
  [getent]=libc-bin
)

missing=()
for tool in "${!package_for[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("${package_for[$tool]}")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-system: all test tools present"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-system: missing ${missing[*]} and no apt-get here; tests needing them will skip with a reason" >&2
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup-system: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian packages enable their daemons; the tests start their own on loopback.
for service in unbound knot dnsmasq; do
  $sudo systemctl disable --now "$service" >/dev/null 2>&1 || true
done
echo "setup-system: done"
