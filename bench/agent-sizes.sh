#!/bin/sh
# agent-sizes.sh [BUILDDIR] — the size of every agent image the build made
# (the host's mitogen-agent and each foreign mitogen-agent-ARCH of
# -Dagent_archs), raw and as shipped: the build's own .gz and .xz.
# BUILDDIR defaults to build/ at the top of the tree.
#
# SPDX-License-Identifier: BSD-3-Clause
set -eu

dir=${1:-$(dirname "$0")/../build}
agent=$dir/agent
[ -f "$agent/mitogen-agent" ] || { echo "agent-sizes: no $agent/mitogen-agent (build first)" >&2; exit 1; }

size() { if [ -f "$1" ]; then wc -c < "$1" | tr -d ' '; else echo -; fi; }

printf '%-24s %-10s %10s %10s %10s %6s\n' image cpu raw gz xz 'xz %'
for f in "$agent"/mitogen-agent "$agent"/mitogen-agent-*; do
  case $f in *.gz|*.zst|*.xz|*.sha256|*.tmp|*-dynamic|*.p) continue ;; esac
  [ -f "$f" ] || continue
  [ "$(od -An -tx1 -N4 "$f" | tr -d ' ')" = 7f454c46 ] || continue   # ELF only
  # The ELF header's e_machine (bytes 18-19, in the file's byte order).
  cpu=$(od -An -tx1 -j4 -N1 "$f" | tr -d ' ')/$(od -An -tx1 -j5 -N1 "$f" | tr -d ' ')/$(od -An -tx1 -j18 -N2 "$f" | tr -d ' ')
  case $cpu in
    02/01/3e00) cpu=x86_64 ;;
    01/01/0300) cpu=i386 ;;
    02/01/b700) cpu=aarch64 ;;
    01/01/2800) cpu=arm ;;
    02/02/0016) cpu=s390x ;;
    02/01/1500) cpu=ppc64le ;;
    *) cpu=? ;;
  esac
  raw=$(size "$f"); gz=$(size "$f.gz"); xz=$(size "$f.xz")
  pct=-
  [ "$xz" = - ] || pct=$(awk -v a="$xz" -v b="$raw" 'BEGIN { printf "%.1f", 100 * a / b }')
  printf '%-24s %-10s %10s %10s %10s %6s\n' "$(basename "$f")" "$cpu" "$raw" "$gz" "$xz" "$pct"
done
