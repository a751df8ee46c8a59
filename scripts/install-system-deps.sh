#!/usr/bin/env bash
# Installs the Debian packages the test suites drive as outside checkers or real parts, when missing.
# openssl and curl: outside checkers; softhsm2: the PKCS#11 token; swtpm + tpm2-tools: the software TPM;
# iproute2: network namespaces for mDNS tests; chromium: renders the simulation report;
# systemd: systemd-analyze verify/security on deploy/systemd (test/deploy/systemd.spec.ts).
# prometheus: a real Prometheus server and promtool scraping a node and the CA (test/metrics/prometheus.spec.ts, promtool check metrics).
# nftables: the WAN lab's NAT routers and faults (test/lab/*.spec.ts, npm run lab); miniupnpd + miniupnpd-nftables: its UPnP router.
set -euo pipefail
want=(openssl curl iproute2 softhsm2 swtpm swtpm-tools tpm2-tools libtpm2-pkcs11-1 chromium systemd prometheus nftables miniupnpd miniupnpd-nftables)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "install-system-deps: missing ${missing[*]} and not root; the suites that need them say so and skip." >&2
  exit 0
fi
echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
