#!/usr/bin/python3
"""The order of Alpine package versions, as aboutcode's `univers` (AlpineLinuxVersion, its
implementation of apk-tools' version comparison) decides it. Input (stdin): a JSON list of
versions. Output: a JSON object version -> rank (equal versions share a rank), without
the versions univers refuses. Run in its own venv: univers brings its own `packaging`."""

import functools
import json
import sys

from univers.versions import AlpineLinuxVersion


def main():
    parsed = {}
    for v in json.load(sys.stdin):
        try:
            parsed[v] = AlpineLinuxVersion(v)
        except Exception:
            pass
    ordered = sorted(parsed, key=functools.cmp_to_key(
        lambda a, b: -1 if parsed[a] < parsed[b] else 1 if parsed[b] < parsed[a] else 0))
    ranks, rank = {}, 0
    for i, v in enumerate(ordered):
        if i and parsed[ordered[i - 1]] < parsed[v]:
            rank += 1
        ranks[v] = rank
    json.dump(ranks, sys.stdout)


if __name__ == "__main__":
    main()
