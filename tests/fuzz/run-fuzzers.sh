#!/usr/bin/env bash
# run-fuzzers.sh BUILDDIR SECONDS [RESULTS]
#
# Runs every libFuzzer target of BUILDDIR (configured with -Dfuzzing=true,
# built with `ninja -C BUILDDIR fuzzers`) for SECONDS each, one after the
# other, on a copy of its seed corpus (tests/fuzz/corpus/TARGET) with its
# dictionary. Exits non-zero if any target crashed, leaked, timed out or
# did not run, naming the target and where the reproducer was kept
# (BUILDDIR/fuzz-artifacts/TARGET/). Prints one line per target: the
# executions, the corpus before and after. RESULTS (optional): a file of
# meson testlog.json lines, one per target, for .ci/summarize.py.
#
# FUZZ_SEED (default 1): libFuzzer's -seed. A fixed seed makes a CI run
# reproducible: the same inputs are tried in the same order, so a
# failure in CI fails the same way on a developer's machine and a clean
# run does not turn red by chance on the next commit. FUZZ_SEED=0 is a
# random seed: use it (with a longer SECONDS) to explore.
#
# A reproducer replays with `BUILDDIR/tests/fuzz/fuzz-TARGET FILE`; once
# fixed, it goes in tests/fuzz/regressions/TARGET/ (test-fuzz-replay).
set -uo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 BUILDDIR SECONDS [RESULTS]" >&2
  exit 2
fi
builddir=$(cd "$1" && pwd) || exit 2
seconds=$2
seed=${FUZZ_SEED:-1}
results=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
targets=(frame stream protocol report chain json fakessh-args)

[ -n "$results" ] && : > "$results"
work=$(mktemp -d "${TMPDIR:-/tmp}/mitogen-fuzz-XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT

# GLib without its slice allocator, so ASan sees every block.
export G_SLICE=always-malloc G_DEBUG=gc-friendly
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

json_string () {
  python3 -c 'import json, sys; print(json.dumps(sys.stdin.read()))'
}

failed=0
printf '%-14s %10s %8s %8s  %s\n' target execs before after result
for target in "${targets[@]}"; do
  program=$builddir/tests/fuzz/fuzz-$target
  corpus=$work/$target/corpus
  artifacts=$builddir/fuzz-artifacts/$target
  log=$work/$target/log
  mkdir -p "$corpus" "$artifacts"
  cp "$here/corpus/$target/"* "$corpus/"
  before=$(find "$corpus" -type f | wc -l)
  dict=()
  [ -f "$here/dict/$target.dict" ] && dict=(-dict="$here/dict/$target.dict")

  result=OK
  if [ ! -x "$program" ]; then
    echo "$program: not built (meson setup -Dfuzzing=true, ninja fuzzers)" > "$log"
    result=FAIL
  else
    rm -f "$artifacts"/*
    "$program" -seed="$seed" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -detect_leaks=1 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" "$corpus" > "$log" 2>&1
    status=$?
    if [ $status -ne 0 ] || [ -n "$(ls -A "$artifacts")" ]; then
      result=FAIL
    fi
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  after=$(find "$corpus" -type f | wc -l)
  printf '%-14s %10s %8s %8s  %s\n' "$target" "${execs:-?}" "$before" "$after" "$result"

  if [ "$result" != OK ]; then
    failed=$((failed + 1))
    echo "fuzz-$target FAILED; reproducer(s):" >&2
    for f in "$artifacts"/*; do [ -e "$f" ] && echo "  $f" >&2; done
    echo "  replay: $program <file>" >&2
    echo "--- last lines of its log:" >&2
    tail -n 40 "$log" >&2
  fi
  if [ -n "$results" ]; then
    out=$(printf 'fuzz-%s: %s executions in %s s, corpus %s -> %s files: %s\n' \
            "$target" "${execs:-?}" "$seconds" "$before" "$after" "$result" | json_string)
    printf '{"name": "fuzz-%s", "result": "%s", "stdout": %s}\n' "$target" "$result" "$out" >> "$results"
  fi
done

if [ $failed -ne 0 ]; then
  echo "$failed of ${#targets[@]} fuzz targets failed" >&2
  exit 1
fi
exit 0
