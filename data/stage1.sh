# mitogen stage 1 (see docs/protocol.md, "Bootstrap"). POSIX sh: runs under
# dash, bash and busybox sh. Run as: sh -c "$this" mitogen-stage1 NAME CACHE HASH
# It reports on one line, reads exactly the announced number of agent bytes
# from stdin (never more: the rest of stdin is the agent's stream), finds a
# directory it may write to and execute from, and execs the agent there.
# The agent unlinks its own file at start. Exit codes 101-105 name the step.
# Nothing here may need /dev/null or /proc: unwanted output goes to a
# closed descriptor (2>&-) instead.
n=$1 c=$2 h=$3 p=${4:-}
d=${HOME:-/tmp}/.cache/mitogen
say() { echo "MITOGEN0 $1 $(uname -sm 2>&- || echo '? ?')"; }
# The same machine (sudo): the master's own agent, if we may run it.
if [ -n "$p" ] && [ -r "$p" ] && [ -x "$p" ]; then
  say local
  exec "$p" "$n"
fi
if [ "$c" = 1 ] && [ -x "$d/agent-$h" ]; then
  say cached
  exec "$d/agent-$h" "$n"
fi
# Offer the decompressors we have: XZ Utils (with the x86 filter), gzip, none.
z=raw
if [ -n "$(command -v gzip)" ]; then z="gz,$z"; fi
case $(xz --version 2>&-) in *"XZ Utils"*) z="xz,$z" ;; esac
say "need-$z"
IFS=' ' read -r len fmt || { echo "mitogen stage1: no length line" >&2; exit 101; }
f=
for t in "${XDG_RUNTIME_DIR:-}" /dev/shm "${TMPDIR:-/tmp}" /tmp /var/tmp "${HOME:-}"; do
  if [ -n "$t" ] && [ -d "$t" ] && [ -w "$t" ]; then f=$t/.mitogen-agent.$$; break; fi
done
[ -n "$f" ] || { echo "mitogen stage1: no writable directory" >&2; exit 102; }
# dd's statistics go to a scratch file: a closed stderr makes GNU dd fail.
# Exactly len bytes, in 64 KiB blocks then the rest, so the decompressor
# works while the image still arrives (dd never reads past its blocks).
e=$f.e
q=$((len / 65536)) r=$((len % 65536))
get() { { [ "$q" = 0 ] || dd bs=65536 count="$q" iflag=fullblock 2>"$e"; } &&
        { [ "$r" = 0 ] || dd bs="$r" count=1 iflag=fullblock 2>"$e"; }; }
case $fmt in
  xz) get | xz -dc > "$f" ;;
  gz) get | gzip -dc > "$f" ;;
  *) get > "$f" ;;
esac || { rm -f "$f" "$e"; echo "mitogen stage1: receiving the agent ($fmt) failed" >&2; exit 103; }
rm -f "$e"
chmod 700 "$f" || exit 104
for t in "" "${XDG_RUNTIME_DIR:-}" /dev/shm "${TMPDIR:-/tmp}" /tmp /var/tmp "${HOME:-}"; do
  if [ -n "$t" ]; then
    [ -d "$t" ] && [ -w "$t" ] || continue
    g=$t/.mitogen-agent.$$
    [ "$g" = "$f" ] && continue
    cp "$f" "$g" 2>&- && chmod 700 "$g" || continue
    rm -f "$f"
    f=$g
  fi
  if "$f" --probe <&- ; then
    if [ "$c" = 1 ]; then
      mkdir -p "$d" 2>&- && cp "$f" "$d/agent-$h.$$" 2>&- && mv -f "$d/agent-$h.$$" "$d/agent-$h"
    fi
    exec "$f" "$n" --unlink "$f"
  fi
done
rm -f "$f"
echo "mitogen stage1: no directory lets the agent execute (noexec everywhere?)" >&2
exit 105
