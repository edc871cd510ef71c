#!/usr/bin/env bash
# Installs what FQDNPolicy needs on a Debian machine and mounts bpffs. Idempotent: it only
# installs packages that are missing and mounts only when nothing is mounted.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "setup: need root (or sudo) to install packages and mount bpffs" >&2; exit 1
  fi
fi

# libbpf-dev/libelf-dev/zlib1g-dev: the loader (CLibbpf); pkg-config finds them.
# iproute2: namespaces, veth, tc. knot + knot-dnsutils (kdig) + bind9-dnsutils (dig): the real
# DNS server and clients of the integration tests and the demo. dnsperf: the DNS load of the
# resilience tests (agent killed under load). python3: fixture scripts. python3-scapy: the hostile
# pod of the security tests (raw frames: VLAN tags, forged DNS, TCP Fast Open SYNs).
packages=(libbpf-dev libelf-dev zlib1g-dev pkg-config iproute2 knot knot-dnsutils bind9-dnsutils dnsperf python3 python3-scapy)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! mountpoint -q /sys/fs/bpf 2>/dev/null; then
  echo "setup: mounting bpffs at /sys/fs/bpf"
  $SUDO mount -t bpf bpf /sys/fs/bpf
fi

if ! command -v swift >/dev/null; then
  echo "setup: no swift on PATH (Swift 6.1 or later is needed; on these machines /opt/swift/usr/bin)" >&2
  exit 1
fi
