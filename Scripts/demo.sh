#!/usr/bin/env bash
# The main job. For now: decode a real DNS answer (captured from Knot DNS) with the reference
# parser and print its facts as JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
swift build --product fqdnctl
bin="$(swift build --show-bin-path)/fqdnctl"
for f in cname_chain aaaa_via_cname; do
  echo "== fqdnctl decode Tests/Fixtures/dns-corpus/knot/$f.bin"
  "$bin" decode "Tests/Fixtures/dns-corpus/knot/$f.bin"
done
