#!/usr/bin/env bash
# Builds a real Debian bookworm image for the tests and the benchmark:
#   layer 0: `debootstrap --variant=minbase bookworm`
#   layer 1: `less` and `netbase` installed, `tzdata` purged (umoci computes the diff,
#            whiteouts included)
# and writes into OUT:
#   layout/               OCI image layout, tag `bookworm` (2 gzip layers)
#   debian.tar            the same image as a docker-archive (skopeo)
#   dpkg-query.txt        `dpkg-query -W` over the final root: Package Version source:Package source:Version
# Exit 77 when Debian's archive cannot be reached (the caller skips loudly).
set -euo pipefail
out="${1:?usage: debian-image.sh OUT}"
mirror="${FERRET_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

# Several test binaries may ask at once: one builds, the others wait for it.
mkdir -p "$(dirname "$out")"
exec 9>"$out.lock"
flock 9
if [[ -f "$out/done" ]]; then
  exit 0
fi
for tool in debootstrap umoci skopeo; do
  command -v "$tool" >/dev/null || { echo "debian-image: $tool is not installed" >&2; exit 2; }
done
if ! /usr/bin/python3 - "$mirror" <<'PY'
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/dists/bookworm/Release", timeout=20).read(64)
except Exception as e:
    print(f"debian-image: {sys.argv[1]} is unreachable: {e}", file=sys.stderr)
    sys.exit(1)
PY
then
  exit 77
fi

rm -rf "$out"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

layout="$out/layout"
umoci init --layout "$layout"
umoci new --image "$layout:bookworm"
umoci unpack --image "$layout:bookworm" "$work/bundle" >/dev/null
rootfs="$work/bundle/rootfs"

debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -20 "$work/debootstrap.log" >&2
  exit 1
}
umoci repack --refresh-bundle --image "$layout:bookworm" "$work/bundle"

cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
echo "deb $mirror bookworm main" >"$rootfs/etc/apt/sources.list"
chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
  sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends less netbase >/dev/null && apt-get purge -y -qq tzdata >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*'
: >"$rootfs/etc/resolv.conf"
umoci repack --image "$layout:bookworm" "$work/bundle"

chroot "$rootfs" dpkg-query -W -f='${Package} ${Version} ${source:Package} ${source:Version}\n' | sort >"$out/dpkg-query.txt"
skopeo --insecure-policy copy --quiet "oci:$layout:bookworm" "docker-archive:$out/debian.tar:debian:bookworm"
touch "$out/done"
