#!/usr/bin/env bash
# Debian packages oddping's tests and tools need: tshark (peer decoder), tcpdump (benchmark peer
# and live-capture helper), iputils-ping (real echo traffic), openssl (the secured test
# broker). Installed only when missing, and only when we are root (otherwise we say what to
# install and carry on).
set -euo pipefail
need=()
command -v tshark >/dev/null || need+=(tshark)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v ping >/dev/null || need+=(iputils-ping)
command -v openssl >/dev/null || need+=(openssl) # the test broker's CA and certificates
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "oddping: please install Debian packages: ${need[*]}" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
