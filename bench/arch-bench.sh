#!/bin/sh
# arch-bench.sh [BUILDDIR] [RUNS] — starting the foreign agents the build
# made (-Dagent_archs) under qemu-user: registers binfmt_misc handlers
# (tests/foreign/setup-binfmt.sh), makes a busybox root of each CPU
# (tests/foreign/make-root.sh, kept in BUILDDIR/tests/foreign/ARCH), then
# prints agent-sizes.sh's table and mitogen-arch-bench's medians of RUNS
# (default 5) cold and cached starts per CPU. Needs root (chroot).
# Figures only: under emulation they say what qemu costs.
#
# SPDX-License-Identifier: BSD-3-Clause
set -eu

here=$(cd "$(dirname "$0")" && pwd)
dir=$(cd "${1:-$here/../build}" && pwd)
runs=${2:-5}
[ -x "$dir/bench/mitogen-arch-bench" ] || { echo "arch-bench: no $dir/bench/mitogen-arch-bench (build first)" >&2; exit 1; }

arches=
for f in "$dir"/agent/mitogen-agent-*; do
  case ${f##*/} in *.*|*-dynamic) continue ;; esac
  [ -f "$f" ] && arches="$arches ${f##*/mitogen-agent-}"
done
[ -n "$arches" ] || { echo "arch-bench: no foreign agents in $dir/agent (configure with -Dagent_archs=...)" >&2; exit 1; }

sh "$here/agent-sizes.sh" "$dir"
echo
# shellcheck disable=SC2086
sh "$here/../tests/foreign/setup-binfmt.sh" $arches >&2
pairs=
for a in $arches; do
  root=$(sh "$here/../tests/foreign/make-root.sh" "$a" "$dir/tests/foreign/$a")
  pairs="$pairs $a=$root"
done
# shellcheck disable=SC2086
exec "$dir/bench/mitogen-arch-bench" --runs "$runs" $pairs
