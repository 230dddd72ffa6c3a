#!/usr/bin/env bash
# Benchmark: `ferret scan` against `ferret sbom` on the Debian bookworm image of bench/run.sh,
# with an advisory database holding every feed sample (shared and this repository's). Prints medians of RUNS (default 5):
# wall time of both commands, and the matching step alone (from the scan's info log).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
shared=../shared/testdata/advisories
img="target/bench/debian-bookworm"
[ -d "$img/layout" ] || scripts/debian-image.sh "$img"
cargo build --release -q
ferret=target/release/ferret
db=$(mktemp -d)
trap 'rm -rf "$db"' EXIT
$ferret db import --db-dir "$db" osv "$shared"/osv/*.jsonl "$shared/ubuntu-osv" "$shared/other-osv" >/dev/null
$ferret db import --db-dir "$db" debian-tracker "$shared/debian/vunnel-debian-tracker-sample.json" >/dev/null
find "$shared/alpine-secdb" "$shared/wolfi-secdb" -type f \( -name '*.json' -o -name '*.yaml' \) 2>/dev/null |
  xargs -r $ferret db import --db-dir "$db" secdb >/dev/null || true
# The feeds kept in this repository: the RPM distros' OVAL and ALAS, and what the CVE feeds
# say about ids (NVD, CVE JSON 5, GitHub's advisories, KEV, EPSS).
own=testdata/advisories
$ferret db import --db-dir "$db" oval "$own"/oracle/oval/*.xml "$own"/azurelinux/oval/*.xml "$own"/photon/oval/*.xml >/dev/null
$ferret db import --db-dir "$db" alas "$own"/amazon/updateinfo/*.xml >/dev/null
$ferret db import --db-dir "$db" osv "$own/ghsa" >/dev/null
$ferret db import --db-dir "$db" nvd "$own/nvd/nvdcve-2.0-sample.json" >/dev/null
$ferret db import --db-dir "$db" cve5 "$own/cve5" >/dev/null
$ferret db import --db-dir "$db" kev "$own/kev/known_exploited_vulnerabilities.json" >/dev/null
$ferret db import --db-dir "$db" epss "$own"/epss/*.csv >/dev/null
image="oci:$img/layout:bookworm"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_of() { /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -1; }
sbom=$(for _ in $(seq "$RUNS"); do time_of $ferret sbom -q -f json "$image"; done | median)
scan=$(for _ in $(seq "$RUNS"); do time_of $ferret scan -q --db-dir "$db" -f json "$image"; done | median)
match=$(for _ in $(seq "$RUNS"); do
  FERRET_LOG=info $ferret scan -q --db-dir "$db" -f json "$image" 2>&1 >/dev/null |
    sed -n 's/.*packages=\([0-9]*\) micros=\([0-9]*\).*/\2 \1/p'
done | sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}')
packages=${match#* }
micros=${match% *}
echo "image: $image; database: every feed sample (shared and this repository's); $RUNS runs each, median"
echo "ferret sbom        ${sbom} s"
echo "ferret scan        ${scan} s"
awk -v m="$micros" -v p="$packages" 'BEGIN { printf "matching alone     %.2f ms for %d packages (%.2f ms per 1,000)\n", m/1000, p, m/p }'
