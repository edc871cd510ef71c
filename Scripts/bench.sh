#!/usr/bin/env bash
# The benchmark (Documentation/Benchmarks.md), one command, as root:
#
#   Scripts/bench.sh [--quick] [--out DIR] [--publish] [--only LIST] [--with-trie]
#
# Installs what it needs (dnsperf, knot, dnsmasq, dnsdist, matplotlib, bpftool: Debian packages), builds
# fqdnctl and DatapathBench in release mode (scratch path .build-bench), holds a PM QoS request
# (no deep C-states) for the whole run, and measures:
#   verifier  fqdnctl verifier-report: instructions processed per program vs the 1M limit
#   micro     DatapathBench micro: query path, responses, egress checks (test_run, with floors)
#             and fqdnctl bench-parser: the parser alone on the knot corpus
#   control   DatapathBench control: YAML parse / compile / apply / +1 update at 1k/10k/100k patterns
#   net       Scripts/bench/netbench.py: dnsperf through (a) no policy, (b) FQDNPolicy (fqdnctl agent),
#             (c) dnsmasq and dnsdist, at 5k qps and at max rate; the first-connect race;
#             the agent's RSS and reload times. Namespaces of its own, always removed.
# and writes DIR/report.md (all tables) and DIR/dns-latency-cdf.png. --publish also copies the
# plot to Documentation/images/dns-latency-cdf.png. --quick: fewer/shorter runs (a smoke test).
# --with-trie also runs TrieBench (100,000 patterns; Documentation/Benchmarks.md has its section).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

quick=0; publish=0; only="verifier,micro,control,net"; trie=0
out="$root/.build-bench/results/$(date +%Y%m%d-%H%M%S)"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --publish) publish=1 ;;
    --with-trie) trie=1 ;;
    --out) out="$2"; shift ;;
    --only) only="$2"; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "bench: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
want() { [[ ",$only," == *",$1,"* ]]; }
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (namespaces, BPF)" >&2; exit 1; }

Scripts/setup.sh
packages=(dnsperf knot knot-dnsutils dnsmasq-base dnsdist python3-matplotlib bpftool)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bench: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

started=$(date +%s)
echo "bench: building (release, .build-bench)"
swift build -c release --scratch-path .build-bench --product fqdnctl
swift build -c release --scratch-path .build-bench --product DatapathBench
[ "$trie" -eq 1 ] && swift build -c release --scratch-path .build-bench --product TrieBench
bin="$root/.build-bench/release"
built=$(date +%s)

mkdir -p "$out"
# PM QoS: 0 µs wake-up latency while this shell holds the file open (the kernel drops the
# request when it is closed). Without it, vCPU idle exits dominate the tail latencies.
exec 9>/dev/cpu_dma_latency && printf '\x00\x00\x00\x00' >&9 || echo "bench: warning: no PM QoS request" >&2

{
  echo "commit:  $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- BPFPrograms Sources Package.swift || echo ' (+ uncommitted changes)')"
  echo "kernel:  $(uname -r)"
  echo "cpu:     $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "memory:  $(free -m | awk '/Mem:/ {print $2}') MiB"
  echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at start"
  echo "swift:   $(swift --version 2>&1 | head -1)"
  echo "mode:    $([ $quick -eq 1 ] && echo quick || echo full), parts: $only"
} > "$out/machine.txt"
cat "$out/machine.txt"

if want verifier; then
  echo "bench: verifier-report"
  "$bin/fqdnctl" verifier-report --json > "$out/verifier.jsonl"
fi
if want micro; then
  echo "bench: datapath micro-benchmarks"
  if [ $quick -eq 1 ]; then "$bin/DatapathBench" micro --repeat 5000 --rounds 3 > "$out/micro.md"
  else "$bin/DatapathBench" micro --repeat 20000 --rounds 9 > "$out/micro.md"; fi
  "$bin/fqdnctl" bench-parser --repeat 20000 --rounds 9 > "$out/parser.md"
fi
if want control; then
  echo "bench: control plane"
  if [ $quick -eq 1 ]; then "$bin/DatapathBench" control --sizes 1000,10000 > "$out/control.md"
  else "$bin/DatapathBench" control --sizes 1000,10000,100000 > "$out/control.md"; fi
fi
if [ "$trie" -eq 1 ]; then
  echo "bench: TrieBench 100000"
  "$bin/TrieBench" 100000 > "$out/trie.md"
fi
if want net; then
  echo "bench: DNS through each setup (netbench.py)"
  if [ $quick -eq 1 ]; then
    /usr/bin/python3 Scripts/bench/netbench.py --fqdnctl "$bin/fqdnctl" --datapath-bench "$bin/DatapathBench" --out "$out" --runs 2 --fixed-seconds 3 --max-seconds 3 --cycles 1000
  else
    /usr/bin/python3 Scripts/bench/netbench.py --fqdnctl "$bin/fqdnctl" --datapath-bench "$bin/DatapathBench" --out "$out" --runs 5 --fixed-seconds 10 --max-seconds 5 --cycles 10000
  fi
fi
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at end; build $((built - started)) s, measuring $(( $(date +%s) - built )) s" >> "$out/machine.txt"

/usr/bin/python3 Scripts/bench/report.py "$out"
if [ "$publish" -eq 1 ] && [ -f "$out/dns-latency-cdf.png" ]; then
  mkdir -p Documentation/images
  cp "$out/dns-latency-cdf.png" Documentation/images/dns-latency-cdf.png
  echo "bench: plot copied to Documentation/images/dns-latency-cdf.png"
fi
echo "bench: done in $(( $(date +%s) - started )) s: $out/report.md"
