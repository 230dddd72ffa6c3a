#!/usr/bin/env bash
# Benchmark: Go reachability on an image of many Go binaries, as large images of Go tools
# are. One gzip layer holds COPIES (default 4) sets of every real Go executable on this
# machine: Debian's Go toolchain (go, gofmt and the 20 tools of pkg/tool), docker-registry,
# skopeo and umoci (all installed by .ci/run), and, where installed, others under /usr/bin
# and the Google Cloud SDK's (kubectl, kpt, anthoscli: 50 to 127 MB each, read as they
# stream past, since they are too large to hold). The database holds every shared OSV
# sample (the Go vulnerability database's records with their symbols among them).
# Medians of RUNS (default 3): `ferret sbom`, `ferret scan --show-unreachable` (no symbol
# reading) and `ferret scan` (every Go binary's pc-line table searched for the vulnerable
# symbols); target: scan at most sbom + 10%.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-3}"
copies="${COPIES:-4}"
export DEBIAN_FRONTEND=noninteractive
need=()
for p in time umoci golang-go docker-registry skopeo; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
((${#need[@]})) && { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }

cargo build --release -q -p ferret
ferret=target/release/ferret
# shellcheck source=bench/lib.sh
source bench/lib.sh
out=target/bench/go
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

go_binaries() {
  for f in /usr/bin/* /usr/lib/go-*/bin/* /usr/lib/go-*/pkg/tool/*/* /usr/lib/google-cloud-sdk/bin/*; do
    f=$(readlink -f "$f")
    [[ -f $f && -x $f ]] && go version "$f" 2>/dev/null | grep -q ': go1' && echo "$f"
  done | sort -u
}

fill_gobins() {
  local root=$1
  mapfile -t bins < <(go_binaries)
  for c in $(seq "$copies"); do
    for b in "${bins[@]}"; do
      local dest="$root/opt/set$c${b%/*}"
      mkdir -p "$dest"
      cp "$b" "$dest/"
    done
  done
}

image gobins fill_gobins
layout="$out/gobins/layout"
image="oci:$layout:gobins"

db="$work/db"
$ferret db import --db-dir "$db" osv ../shared/testdata/advisories/osv/*.jsonl >/dev/null

doc="$work/scan.json"
$ferret scan -q --db-dir "$db" -f json "$image" >"$doc"
python3 - "$doc" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
paths = {p["location"]["path"] for p in d["packages"] if p["kind"] == "go-module"}
kept = sum(d["packages"][f["package"]]["kind"] == "go-module" for f in d["findings"])
gone = sum(s["by"] == "reachability" for s in d["suppressed"])
print(f"{len(paths)} Go binaries; Go findings: {kept} kept, {gone} suppressed as unreachable")
PY
blob=$(python3 -c "import json; l='$layout'; m=json.load(open(l+'/index.json'))['manifests'][0]['digest'].split(':')[1]; print(l+'/blobs/sha256/'+json.load(open(l+'/blobs/sha256/'+m))['layers'][0]['digest'].split(':')[1])")
echo "image: $(($(stat -c %s "$blob") / 1000000)) MB compressed; $runs runs each, median"
# In rounds (one run of each command per round), so that a machine slowing down or
# speeding up over the minutes weighs on all three alike.
names=("ferret sbom" "scan, all" "ferret scan")
commands=(
  "$ferret sbom -q -f json $image"
  "$ferret scan -q --db-dir $db -f json --show-unreachable $image"
  "$ferret scan -q --db-dir $db -f json $image"
)
results="$work/results"
for _ in $(seq "$runs"); do
  for i in 0 1 2; do
    # shellcheck disable=SC2086  # the command is split on purpose
    /usr/bin/time -o "$work/t" -f '%e %M' ${commands[$i]} >/dev/null 2>&1
    echo "$i $(tail -1 "$work/t")" >>"$results"
  done
done
for i in 0 1 2; do
  awk -v i="$i" '$1 == i { print $2, $3 }' "$results" | sort -n |
    awk -v name="${names[$i]}" '{ t[NR] = $1; if ($2 > rss) rss = $2 } END { print name, t[int((NR + 1) / 2)], rss }'
done | table "ferret sbom"
