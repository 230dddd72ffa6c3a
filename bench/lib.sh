# Shared by the benchmark scripts: `measure NAME CMD...` runs CMD $runs times and prints
# NAME, the median wall time in seconds and the peak RSS in KiB; `table` formats those
# lines, each tool's time also as a multiple of the first line's.

# shellcheck disable=SC2154  # runs is set by the sourcing script
measure() {
  local name=$1; shift
  local times=() rss=0
  for _ in $(seq "$runs"); do
    local out tf
    tf=$(mktemp)
    /usr/bin/time -o "$tf" -f '%e %M' "$@" >/dev/null 2>&1 || true
    out=$(tail -1 "$tf")
    rm -f "$tf"
    times+=("${out% *}")
    local r=${out#* }
    ((r > rss)) && rss=$r
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%s %s %s\n' "$name" "$median" "$rss"
}

# table BASELINE-NAME: reads measure lines on stdin.
table() {
  awk -v base="$1" '
    { name = $0; sub(/ [^ ]+ [^ ]+$/, "", name); t[NR] = $(NF-1); r[NR] = $NF; n[NR] = name }
    END {
      printf "%-14s %10s %12s %10s\n", "tool", "wall (s)", "peak RSS", "vs " base
      for (i = 1; i <= NR; i++) printf "%-14s %10.2f %9.1f MiB %9.2fx\n", n[i], t[i], r[i] / 1024, t[i] / (t[1] > 0 ? t[1] : 0.01)
    }'
}
