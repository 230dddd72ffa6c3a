#!/usr/bin/env bash
# Benchmark: the hub's queue (crates/ferret/benches/queue.rs) on SQLite and, when a
# PostgreSQL answers (FERRET_TEST_POSTGRES_URL, or 127.0.0.1:5432 as on the project's
# machines), on PostgreSQL too. Passes BENCH_ONLY, BENCH_JOBS, BENCH_DEPTHS,
# BENCH_SCANNERS and BENCH_BLOB_STORE through; keeps the output in target/bench/queue.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${FERRET_TEST_POSTGRES_URL:-}" ] && command -v pg_isready >/dev/null &&
  pg_isready -q -h 127.0.0.1 -p 5432; then
  export FERRET_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
fi
mkdir -p target/bench
cargo bench -p ferret --bench queue 2>&1 | tee target/bench/queue.txt
