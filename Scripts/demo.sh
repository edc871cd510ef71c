#!/usr/bin/env bash
# The main job: FQDNPolicy enforcing a DNS-name egress policy in the kernel, end to end, in
# network namespaces the demo makes (a pod, Knot DNS, two web servers behind a routing node).
# Installs what it needs (Scripts/setup.sh: knot, kdig, iproute2, libbpf, ...; plus curl),
# builds fqdnctl and the demo program (Examples/Demo), runs it, and removes everything it made
# at the end, also on failure or Ctrl-C. Needs root.
#
#   Scripts/demo.sh            # FQDN_SCRATCH=DIR to build in another scratch directory
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh

# The demo's clients: curl (HTTP) and python3 (web servers); setup.sh brings the rest.
missing=()
for p in curl python3; do command -v "$p" >/dev/null || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "demo: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build=(swift build)
[ -n "${FQDN_SCRATCH:-}" ] && build+=(--scratch-path "$FQDN_SCRATCH")
"${build[@]}" --product fqdnctl
"${build[@]}" --product fqdn-demo
bin="$("${build[@]}" --show-bin-path)"

if [ "$(id -u)" -ne 0 ]; then
  exec sudo "$bin/fqdn-demo" --fqdnctl "$bin/fqdnctl" "$@"
fi
exec "$bin/fqdn-demo" --fqdnctl "$bin/fqdnctl" "$@"
