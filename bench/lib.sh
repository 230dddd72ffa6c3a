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

# shellcheck disable=SC2154  # out and work are set by the sourcing script
# image NAME FILL: a one-layer image at $out/NAME whose root FILL (a function) populates.
image() {
  local name=$1 fill=$2
  [[ -f "$out/$name/done" ]] && return
  rm -rf "${out:?}/$name"
  mkdir -p "$out/$name"
  umoci init --layout "$out/$name/layout"
  umoci new --image "$out/$name/layout:$name"
  umoci unpack --rootless --image "$out/$name/layout:$name" "$work/$name" >/dev/null
  "$fill" "$work/$name/rootfs"
  umoci repack --image "$out/$name/layout:$name" "$work/$name"
  touch "$out/$name/done"
}
