#!/usr/bin/env bash
# Kernel compatibility matrix (Documentation/KernelMatrix.md): every BPF program of the project, verified and
# differential-tested on Debian's 5.10, 6.1, 6.12 and 7.2 kernels under qemu (TCG) and on the
# host kernel. See Documentation/KernelMatrix.md for what it measures and how to read it.
#
#   Scripts/kernel-matrix.sh [--kernels "5.10 6.1 6.12 7.2"] [--out DIR] [--seeded N] [--seed S]
#                            [--swift-cases N|all|0] [--fqdnctl PATH] [--timeout SECONDS] [--mem MB]
#                            [--loop-variants] [--variants "v3 v2"] [--only "parser_test trie_test"]
#                            [--no-datapath]
#
# --variants keeps only the named builds (default: v3 = clang 21's default -mcpu, and v2);
# --loop-variants adds v3-iter and v3-for (the parser's other driver loops); --only limits the
# project objects to the named sources (the probes always run); --no-datapath skips the datapath
# differential (Scripts/kmatrix/dptest.c: the veth and cgroup programs run on shared maps).
#
# Output: DIR/matrix.md (tables), DIR/matrix.json (everything, machine-readable), DIR/logs/
# (raw guest consoles). Default DIR: .build-kmatrix/report. Downloads and builds are cached
# under .build-kmatrix/ (gitignored). Needs root (BPF on the host), network for the first run.
# Exit status: 0 when the run completed (the verdicts are in the report, not in the status);
# 1 when the harness itself failed; 2 when a differential case disagrees between kernels or
# with the Swift reference, a datapath sanity assertion fails on the host, or a program listed
# in Scripts/kmatrix/required.txt no longer loads on its kernel (a regression).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT_DIR=$PWD
KM=$ROOT_DIR/Scripts/kmatrix
WORK=${KMATRIX_WORK:-$ROOT_DIR/.build-kmatrix}

kernels="5.10 6.1 6.12 7.2"
out="$WORK/report"
seeded=3000
seed=1
swift_cases=600
fqdnctl=""
guest_timeout=900
guest_mem=4096
loop_variants=false
only_variants=""
only_sources=""
datapath=true
while (($#)); do
  case "$1" in
    --kernels) kernels=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --seeded) seeded=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --swift-cases) swift_cases=$2; shift 2 ;;
    --fqdnctl) fqdnctl=$2; shift 2 ;;
    --timeout) guest_timeout=$2; shift 2 ;;
    --mem) guest_mem=$2; shift 2 ;;
    --loop-variants) loop_variants=true; shift ;;
    --variants) only_variants=$2; shift 2 ;;
    --only) only_sources=$2; shift 2 ;;
    --no-datapath) datapath=false; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "kernel-matrix: unknown option $1" >&2; exit 1 ;;
  esac
done
mkdir -p "$out/logs"
out=$(realpath "$out")
t_start=$(date +%s.%N)
declare -A phase
stamp() { date +%s.%N; }
since() { python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(stamp)"; }
log() { echo "kernel-matrix: $*" >&2; }

CLANG=${CLANG:-/opt/swift/usr/bin/clang}
[[ -x $CLANG ]] || CLANG=clang
MULTIARCH=/usr/include/$(uname -m)-linux-gnu

# ------------------------------------------------------------------ tools
need=()
for pkg in qemu-system-x86 busybox-static libbpf-dev libelf-dev zlib1g-dev gcc libc6-dev python3 debian-archive-keyring; do
  [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) == "install ok installed" ]] || need+=("$pkg")
done
if ((${#need[@]})); then
  log "installing ${need[*]}"
  apt-get -qq update >&2 || true
  DEBIAN_FRONTEND=noninteractive apt-get -y -qq install "${need[@]}" >&2
fi
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

# ------------------------------------------------------------------ kernels
t=$(stamp)
declare -A vmlinuz
for k in $kernels; do
  vmlinuz[$k]=$("$KM/fetch-kernel.sh" "$k" "$WORK")
done
phase[fetch]=$(since "$t")

# ------------------------------------------------------------------ loader + objects
t=$(stamp)
STAGE=$WORK/stage
rm -rf "$STAGE"
mkdir -p "$STAGE"/{obj,probes,cases,expect}
gcc -O2 -Wall -static -I "$ROOT_DIR/BPFPrograms/include" -o "$STAGE/kmloader" "$KM/kmloader.c" \
    -lbpf -lelf -lz 2> >(grep -v -e 'getaddrinfo' -e 'statically linked' >&2)
if $datapath; then
  gcc -O2 -Wall -static -I "$ROOT_DIR/BPFPrograms/include" -o "$STAGE/dptest" "$KM/dptest.c" \
      -lbpf -lelf -lz 2> >(grep -v -e 'getaddrinfo' -e 'statically linked' >&2)
  python3 "$KM/dpgen.py" --out "$STAGE/dp"
fi

# Build variants: "name|clang flags|only for sources whose dependencies mention this word".
# v3 is clang 21's default (the build plugin's objects). --loop-variants adds the parser's
# other driver loops (dns_parser.h: FQDN_DNS_LOOP): minutes more under TCG (1M-insn rejections).
VARIANTS=${KMATRIX_VARIANTS:-"v3|-mcpu=v3|;v2|-mcpu=v2|"}
if $loop_variants; then
  VARIANTS="$VARIANTS;v3-iter|-mcpu=v3 -DFQDN_DNS_LOOP=2|FQDN_DNS_LOOP;v3-for|-mcpu=v3 -DFQDN_DNS_LOOP=3|FQDN_DNS_LOOP"
fi
compile_log=$out/compile.jsonl
: > "$compile_log"
: > "$STAGE/obj/VARIANTS"
sources=( "$ROOT_DIR"/BPFPrograms/*.bpf.c "$ROOT_DIR"/BPFPrograms/tests/*.bpf.c )
probes=( "$KM"/probes/*.bpf.c )
IFS=';' read -r -a varlist <<<"$VARIANTS"
for spec in "${varlist[@]}"; do
  IFS='|' read -r vname vflags vword <<<"$spec"
  if [[ -n $only_variants && " $only_variants " != *" $vname "* ]]; then continue; fi
  echo "$vname" >> "$STAGE/obj/VARIANTS"
  for kind in obj probes; do
    if [[ $kind == obj ]]; then list=("${sources[@]}"); inc=$ROOT_DIR/BPFPrograms/include; else list=("${probes[@]}"); inc=$KM/probes; fi
    mkdir -p "$STAGE/$kind/$vname"
    for src in "${list[@]}"; do
      [[ -f $src ]] || continue
      name=$(basename "$src" .bpf.c)
      if [[ $kind == obj && -n $only_sources && " $only_sources " != *" $name "* ]]; then continue; fi
      # shellcheck disable=SC2086
      deps=$("$CLANG" -target bpf $vflags -I "$inc" -I "$MULTIARCH" -MM "$src" 2>/dev/null | tr -d '\\\n' | cut -d: -f2-) || deps=$src
      # shellcheck disable=SC2086
      [[ -z $vword ]] || grep -qw -- "$vword" $deps 2>/dev/null || continue
      # Objects are cached by the hash of the flags and of every file the source includes.
      # shellcheck disable=SC2086
      key=$( { echo "$CLANG $vflags"; cat $deps; } 2>/dev/null | sha256sum | cut -c1-24)
      cached=$WORK/objcache/$name-$vname-$key
      mkdir -p "$WORK/objcache"
      if [[ -f $cached.o ]]; then
        cp "$cached.o" "$STAGE/$kind/$vname/$name.o"; ok=true; err=""
      elif [[ -f $cached.err ]]; then
        ok=false; err=$(cat "$cached.err")
      # shellcheck disable=SC2086
      elif err=$("$CLANG" -target bpf $vflags -O2 -g -Wall -I "$inc" -I "$MULTIARCH" -c "$src" \
                 -o "$STAGE/$kind/$vname/$name.o" 2>&1); then
        ok=true; cp "$STAGE/$kind/$vname/$name.o" "$cached.o"
      else
        ok=false; echo "$err" > "$cached.err"
      fi
      python3 -c 'import json,sys; print(json.dumps({"variant":sys.argv[1],"kind":sys.argv[2],"source":sys.argv[3],"flags":sys.argv[4],"ok":sys.argv[5]=="true","stderr":sys.argv[6][-2000:]}))' \
        "$vname" "$kind" "${src#"$ROOT_DIR"/}" "$vflags" "$ok" "$err" >> "$compile_log"
    done
  done
done
# Differential programs: "object program cases [loader options]".
cat > "$STAGE/diff.conf" <<'EOF'
parser_test parse_packet packets.bin
parser_test parse_buffer buffers.bin --msg-map msg_in
EOF
python3 "$KM/gencases.py" --corpus "$ROOT_DIR/Tests/Fixtures/dns-corpus/knot" --out "$STAGE/cases" \
    --seeded "$seeded" --seed "$seed" >&2
phase[build]=$(since "$t")

# ------------------------------------------------------------------ host kernel
t=$(stamp)
HOSTROOT=$WORK/hostroot
rm -rf "$HOSTROOT"
mkdir -p "$HOSTROOT/dump"
for f in kmloader obj probes cases diff.conf dptest dp; do if [[ -e $STAGE/$f ]]; then ln -s "$STAGE/$f" "$HOSTROOT/$f"; fi; done
sh "$KM/suite.sh" "$HOSTROOT" > "$out/logs/host.log" 2>&1 || true
# The host's v3 results are what every guest is compared with.
python3 - "$out/logs/host.log" "$STAGE/expect" <<'EOF'
import sys
cur = None
files = {}
for line in open(sys.argv[1], errors="replace"):
    p = line.split()
    if line.startswith("KMS run "):
        cur = p[4] if p[2] == "v3" else None
        if cur:
            files[cur] = open("%s/%s.txt" % (sys.argv[2], cur), "w")
    elif line.startswith("KMR ") and cur:
        files[cur].write(" ".join(p[1:6]) + "\n")
    elif line.startswith("KMJ "):
        pass
EOF
phase[host]=$(since "$t")

# ------------------------------------------------------------------ Swift reference
t=$(stamp)
swift_json=$out/swift.json
rm -f "$swift_json"
if [[ $swift_cases != 0 ]]; then
  if [[ -z $fqdnctl ]]; then
    log "building fqdnctl (scratch path .build-kmatrix/swift)"
    if nice -n 10 swift build --scratch-path "$WORK/swift" --product fqdnctl > "$out/logs/swift-build.log" 2>&1; then
      fqdnctl=$WORK/swift/debug/fqdnctl
    else
      log "fqdnctl does not build (see $out/logs/swift-build.log): no Swift comparison"
    fi
  fi
  if [[ -n $fqdnctl && -x $fqdnctl ]]; then
    python3 "$KM/swiftcompare.py" --fqdnctl "$fqdnctl" --cases "$STAGE/cases/cases.json" \
        --dump "$HOSTROOT/dump" --header "$ROOT_DIR/BPFPrograms/include/fqdn_shared.h" \
        --limit "$swift_cases" --out "$swift_json" >&2 || true
  fi
fi
phase[swift]=$(since "$t")

# ------------------------------------------------------------------ initramfs
t=$(stamp)
IRD=$WORK/initramfs
rm -rf "$IRD"
mkdir -p "$IRD/common/bin" "$IRD/common/cases" "$IRD/common/expect"
cp /bin/busybox "$IRD/common/bin/busybox"
for app in sh mount mkdir insmod sed uname cat poweroff tee grep; do ln -s busybox "$IRD/common/bin/$app"; done
cp "$KM/init.sh" "$IRD/common/init"
cp "$KM/suite.sh" "$IRD/common/suite.sh"
cp "$STAGE/kmloader" "$STAGE/diff.conf" "$IRD/common/"
cp -r "$STAGE/obj" "$STAGE/probes" "$IRD/common/"
if $datapath; then cp -r "$STAGE/dptest" "$STAGE/dp" "$IRD/common/"; fi
cp "$STAGE"/cases/*.bin "$IRD/common/cases/"
cp "$STAGE"/expect/*.txt "$IRD/common/expect/" 2>/dev/null || true
python3 "$KM/mkinitramfs.py" "$IRD/common" "$IRD/common.cpio.gz"
for k in $kernels; do
  kd=$(dirname "${vmlinuz[$k]}")
  rel=$(awk '{print $3}' "$kd/SOURCE" | sed -E 's#^\./(boot/vmlinuz-|usr/lib/modules/)([^/]+).*#\2#')
  mkdir -p "$IRD/$k/modules/$rel"
  # clsact before cls_bpf
  for m in sch_ingress cls_bpf; do
    [[ -f $kd/modules/$m.ko ]] && cp "$kd/modules/$m.ko" "$IRD/$k/modules/$rel/$( [[ $m == sch_ingress ]] && echo 1 || echo 2)-$m.ko"
  done
  python3 "$KM/mkinitramfs.py" "$IRD/$k" "$IRD/$k.cpio.gz"
  cat "$IRD/common.cpio.gz" "$IRD/$k.cpio.gz" > "$IRD/initrd-$k.gz"
done
phase[initramfs]=$(since "$t")

# ------------------------------------------------------------------ guests, one at a time
t=$(stamp)
declare -A boot
for k in $kernels; do
  tk=$(stamp)
  log "booting $k"
  # -accel tcg: /dev/kvm is not usable here. nice: others compile on the 2 cores.
  # 4 GB: 7.2's verifier was OOM-killed at 2 GB on programs near the 1M-insn limit (TCG
  # allocates guest memory lazily, so the host pays only for what the guest touches).
  timeout "$guest_timeout" nice -n 10 qemu-system-x86_64 -accel tcg -cpu max -m "$guest_mem" -smp 1 \
    -nodefaults -display none -serial stdio -no-reboot -nic none \
    -kernel "${vmlinuz[$k]}" -initrd "$IRD/initrd-$k.gz" \
    -append 'console=ttyS0 panic=-1 quiet loglevel=1' < /dev/null > "$out/logs/guest-$k.log" 2>&1 || \
    log "qemu for $k exited with $? (timeout ${guest_timeout}s?)"
  boot[$k]=$(since "$tk")
done
phase[guests]=$(since "$t")

# ------------------------------------------------------------------ report
timings=$(for p in "${!phase[@]}"; do echo "phase.$p=${phase[$p]}"; done; for k in "${!boot[@]}"; do echo "guest.$k=${boot[$k]}"; done; echo "total=$(since "$t_start")")
args=()
for k in $kernels; do args+=(--guest "$k=$out/logs/guest-$k.log=$(dirname "${vmlinuz[$k]}")/SOURCE"); done
python3 "$KM/report.py" --host "$out/logs/host.log" "${args[@]}" --compile "$compile_log" \
  --swift "$swift_json" --cases "$STAGE/cases/cases.json" --timings "$timings" \
  --command "Scripts/kernel-matrix.sh --kernels \"$kernels\" --seeded $seeded --seed $seed --swift-cases $swift_cases$($loop_variants && echo ' --loop-variants')${only_variants:+ --variants \"$only_variants\"}${only_sources:+ --only \"$only_sources\"}$($datapath || echo ' --no-datapath')" \
  --required "$KM/required.txt" --json "$out/matrix.json" --md "$out/matrix.md"
