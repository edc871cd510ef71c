#!/usr/bin/env bash
# Fetch one Debian kernel image (vmlinuz only) with a PRIVATE apt configuration: the system's
# sources, lists and cache are not touched. Everything lands under CACHE (gitignored).
#
#   fetch-kernel.sh VERSION CACHE      e.g. fetch-kernel.sh 6.1 .build-kmatrix
# Prints the path of the extracted vmlinuz on stdout (logs go to stderr).
# Suites per version (override with KMATRIX_SUITES_<major>_<minor>="suite ..."):
#   5.10 bullseye-security   6.1 bookworm bookworm-security
#   6.12 trixie trixie-security bookworm-backports   7.2 sid
set -euo pipefail
version=$1
cache=$(realpath -m "$2")
key=${version//./_}
override_var="KMATRIX_SUITES_${key}"
case "$version" in
  5.10) suites="bullseye-security" ;;
  6.1)  suites="bookworm bookworm-security" ;;
  6.12) suites="trixie trixie-security bookworm-backports" ;;
  *)    suites="sid" ;;
esac
suites=${!override_var:-$suites}

out="$cache/kernels/$version"
if [[ -s "$out/vmlinuz" ]]; then echo "$out/vmlinuz"; exit 0; fi
mkdir -p "$out"

apt="$cache/apt/$version"
mkdir -p "$apt"/{etc/sources.list.d,etc/preferences.d,etc/apt.conf.d,lists/partial,cache/archives/partial}
: > "$apt/etc/sources.list"
for s in $suites; do
  case "$s" in
    *-security) uri=http://deb.debian.org/debian-security ;;
    *)          uri=http://deb.debian.org/debian ;;
  esac
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $s main" >> "$apt/etc/sources.list"
done
cat > "$apt/apt.conf" <<CONF
Dir::Etc "$apt/etc";
Dir::Etc::sourcelist "$apt/etc/sources.list";
Dir::Etc::sourceparts "$apt/etc/sources.list.d";
Dir::Etc::parts "$apt/etc/apt.conf.d";
Dir::Etc::preferencesparts "$apt/etc/preferences.d";
Dir::State::Lists "$apt/lists";
Dir::State::status "/var/lib/dpkg/status";
Dir::Cache "$apt/cache";
APT::Architecture "amd64";
Acquire::Languages "none";
APT::Sandbox::User "root";
// The mirror behind deb.debian.org here can serve an expired Release file.
Acquire::Check-Valid-Until "false";
CONF
export APT_CONFIG="$apt/apt.conf"
echo "kmatrix: apt-get update for $version ($suites)" >&2
apt-get -q update >&2

# Candidates, best first: the package that holds the image itself, highest version first.
re_ver=${version//./\\.}
mapfile -t cands < <(
  apt-cache search --names-only "^linux-(binary-unsigned|image)-${re_ver}(\.[0-9]+)*[-+][^ ]*-amd64(-unsigned)?\$" \
   | awk '{print $1}' | grep -Ev -- '-(cloud|rt)-amd64|dbg' \
   | while read -r p; do
       v=$(apt-cache show --no-all-versions "$p" | awk '/^Version:/{print $2; exit}')
       # prefer packages holding the image: *unsigned* first (rank 0), signed images (rank 1)
       case "$p" in *unsigned*) r=0 ;; *) r=1 ;; esac
       echo "$v $r $p"
     done | sort -t' ' -k1,1Vr -k2,2n | awk '{print $3}')
if (( ${#cands[@]} == 0 )); then
  echo "kmatrix: no linux-image package for $version in $suites" >&2; exit 1
fi
cd "$out"
# What we keep from the packages: the image, its config, and the two modules legacy tc needs
# (sch_ingress for clsact, cls_bpf), decompressed; Debian builds both as modules.
want_mods='/kernel/net/sched/(sch_ingress|cls_bpf)\.ko(\.xz|\.zst)?$'
extract_from() { # deb -> extracts config + modules found in it into $out
  local deb=$1 list f
  list=$(dpkg-deb --fsys-tarfile "$deb" | tar -t)
  f=$(grep -E '^\./(boot/config-|usr/lib/modules/[^/]+/config$)' <<<"$list" | head -1 || true)
  [[ -n "$f" && ! -s config ]] && dpkg-deb --fsys-tarfile "$deb" | tar -xO "$f" > config
  mkdir -p modules
  { grep -E "$want_mods" <<<"$list" || true; } | while read -r f; do
    local base; base=$(basename "$f")
    dpkg-deb --fsys-tarfile "$deb" | tar -xO "$f" > "modules/$base"
    case "$base" in
      *.xz)  xz -d -f "modules/$base" ;;
      *.zst) zstd -q -d --rm -f "modules/$base" ;;
    esac
  done
}
for p in "${cands[@]}"; do
  echo "kmatrix: trying $p" >&2
  rm -f ./*.deb
  apt-get -q download "$p" >&2 || continue
  deb=$(ls ./*.deb | head -1)
  list=$(dpkg-deb --fsys-tarfile "$deb" | tar -t)
  img=$(grep -E '^\./(boot/vmlinuz-|usr/lib/modules/[^/]+/vmlinuz)' <<<"$list" | head -1 || true)
  if [[ -z "$img" ]]; then rm -f "$deb"; continue; fi
  dpkg-deb --fsys-tarfile "$deb" | tar -xO "$img" > vmlinuz.tmp
  echo "$p $(dpkg-deb -f "$deb" Version) $img" > SOURCE
  extract_from "$deb"
  rm -f "$deb"
  # sid splits image, modules and config into separate packages (linux-modules-ABI, linux-base-ABI)
  abi=$(sed -E 's#^\./(boot/vmlinuz-|usr/lib/modules/)([^/]+).*#\2#' <<<"$img")
  for extra in "linux-modules-$abi" "linux-base-$abi"; do
    if [[ ! -s config || -z "$(ls modules)" ]] && apt-cache show "$extra" >/dev/null 2>&1; then
      apt-get -q download "$extra" >&2 && { extract_from ./"${extra}"_*.deb; rm -f ./"${extra}"_*.deb; }
    fi
  done
  mv vmlinuz.tmp vmlinuz
  echo "$out/vmlinuz"; exit 0
done
echo "kmatrix: no vmlinuz found in ${cands[*]}" >&2
exit 1
