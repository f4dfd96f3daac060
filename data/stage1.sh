# mitogen stage 1 (see docs/protocol.md, "Bootstrap"). POSIX sh: runs under
# dash, bash and busybox sh. Run as:
#   sh -c "$this" mitogen-stage1 NAME CACHE HASH [LOCAL [FORMAT]]
# It reports on one line, reads exactly the announced number of agent bytes
# from stdin (never more: the rest of stdin is the agent's stream), finds a
# directory it may write to and execute from, and execs the agent there.
# The agent unlinks its own file at start. Exit codes 101-106 name the step.
# Nothing here may need /dev/null or /proc: unwanted output goes to a
# closed descriptor (2>&-) instead.
# HASH: the agent's (to find it cached), or "PATTERN=HASH ..." for
# agents of several CPUs (`uname -m` picks). LOCAL: the master's agent
# (may be empty); FORMAT: the master's preferred one (gz, xz, zst, raw).
# Closure mode (HASH is "closure"): NAME CACHE closure LOCAL, then
# INDEX ROLE SHA256 SIZE NAME per file of a program run through its own
# ELF loader (agent=self, dynamic); see the block below.
n=$1 c=$2 h=$3 p=${4:-}
d=${HOME:-/tmp}/.cache/mitogen
# The report. `local` and `cached` need no `uname` (the master checks the
# CPU only before it ships something): one process less.
say() { echo "MITOGEN0 $1 $(uname -sm 2>&- || echo '? ?')${2:+ $2}"; }
# Exactly len bytes, in 64 KiB blocks then the rest, so the decompressor
# works while they still arrive (dd never reads past its blocks); dd's
# statistics go to a scratch file $e: a closed stderr makes GNU dd fail.
get() { q=$((len / 65536)) r=$((len % 65536))
        { [ "$q" = 0 ] || dd bs=65536 count="$q" iflag=fullblock 2>"$e"; } &&
        { [ "$r" = 0 ] || dd bs="$r" count=1 iflag=fullblock 2>"$e"; }; }
if [ "$h" = closure ]; then
  shift 4
  umask 077
  # The same machine (sudo): the program itself, if this user can run it.
  if [ -n "$p" ] && [ -r "$p" ] && [ -x "$p" ] && "$p" --mitogen-agent --probe <&- >&2; then
    echo "MITOGEN0 local"
    exec "$p" --mitogen-agent "$n"
  fi
  z=raw
  if [ -n "$(command -v gzip)" ]; then z="gz,$z"; fi
  v=$(command -v sha256sum)
  # Files by hash: the user's cache, or (CACHE 0) ours alone, removed with
  # us. A user whose home is not writable (HOME=/, a service account) has
  # one in a temp dir instead: .mitogen-cache-UID, made 0700 by that user
  # and used only while it is a directory of theirs, not a link.
  C=
  if [ "$c" = 1 ]; then
    u=$(id -u 2>&-)
    for g in "$d/files" "${XDG_RUNTIME_DIR:-/nonexistent}/.mitogen-cache-$u" "${TMPDIR:-/tmp}/.mitogen-cache-$u" \
             "/tmp/.mitogen-cache-$u" "/var/tmp/.mitogen-cache-$u"; do
      case $g in *-cache-) continue ;; esac
      if [ -d "$g" ] && [ ! -h "$g" ] && [ -O "$g" ] && [ -w "$g" ]; then C=$g; break; fi
    done
  fi
  I= l=
  while [ $# -ge 5 ]; do
    case $1:$4:$3 in [0-9]*:[0-9]*:*[0-9a-f]) ;; *) echo "mitogen stage1: bad manifest" >&2; exit 106 ;; esac
    case $1$4$3 in *[!0-9a-f]*) echo "mitogen stage1: bad manifest" >&2; exit 106 ;; esac
    eval "r_$1=\$2 s_$1=\$3 z_$1=\$4 m_$1=\$5 g_$1="
    I="$I $1"
    if [ -n "$C" ] && [ -f "$C/$3" ]; then l="$l $3"; fi
    shift 5
  done
  # A cached file counts only if sha256sum says it is intact; else it is
  # asked for again (and never run).
  k=
  if [ -n "$l" ] && [ -n "$v" ]; then k=$(cd "$C" && sha256sum $l 2>&-); fi
  w=
  for i in $I; do
    eval "x=\$s_$i"
    case "$k" in *"$x  $x"*) eval "g_$i=1" ;; *) w="$w,$i" ;; esac
  done
  w=${w#,}
  say "closure-$z" "${w:--}"
  # INDEX LENGTH FORMAT, LENGTH bytes; ... then "end". Nothing is written
  # before the first line: a refused target keeps nothing.
  IFS=' ' read -r i len fmt || { echo "mitogen stage1: no file record" >&2; exit 101; }
  # Run directories .mitogen-run.PID of agents that are gone (ours: stale).
  for t in "${XDG_RUNTIME_DIR:-}" /dev/shm "${TMPDIR:-/tmp}" /tmp /var/tmp "${HOME:-}"; do
    for o in "$t"/.mitogen-run.*; do
      case ${o##*.} in ''|*[!0-9]*) continue ;; esac
      if [ "${o##*.}" = $$ ] || ! kill -0 "${o##*.}" 2>&-; then rm -rf "$o" 2>&-; fi
    done
  done
  R=
  for t in "${XDG_RUNTIME_DIR:-}" /dev/shm "${TMPDIR:-/tmp}" /tmp /var/tmp "${HOME:-}"; do
    if [ -n "$t" ] && [ -d "$t" ] && [ -w "$t" ] && mkdir "$t/.mitogen-run.$$" 2>&-; then R=$t/.mitogen-run.$$; break; fi
  done
  [ -n "$R" ] || { echo "mitogen stage1: no writable directory" >&2; exit 102; }
  trap 'rm -rf "$R"' EXIT
  if [ "$c" = 1 ] && [ -z "$C" ]; then
    if mkdir -p "$d/files" 2>&- && [ -w "$d/files" ]; then C=$d/files
    elif [ -n "$u" ]; then
      for t in "${XDG_RUNTIME_DIR:-}" "${TMPDIR:-/tmp}" /tmp /var/tmp; do
        [ -n "$t" ] && [ -d "$t" ] && [ -w "$t" ] || continue
        g=$t/.mitogen-cache-$u
        mkdir -m 700 "$g" 2>&-
        if [ -d "$g" ] && [ ! -h "$g" ] && [ -O "$g" ] && [ -w "$g" ]; then C=$g; break; fi
      done
    fi
  fi
  if [ -z "$C" ]; then C=$R/.files; mkdir "$C" || exit 102; fi
  e=$R/.e
  until [ "$i" = end ]; do
    x=
    case $i$len in ''|*[!0-9]*) ;; *) eval "x=\${s_$i:-}" ;; esac
    [ -n "$x" ] || { echo "mitogen stage1: bad file record" >&2; exit 106; }
    f=$C/.$x.$$
    case $fmt in
      gz) get | gzip -dc > "$f" ;;
      xz) get | xz -dc > "$f" ;;
      raw) get > "$f" ;;
      *) false ;;
    esac || { rm -f "$f"; echo "mitogen stage1: receiving file $i ($fmt) failed" >&2; exit 103; }
    if [ -n "$v" ]; then
      [ "$(cd "$C" && sha256sum ".$x.$$" 2>&-)" = "$x  .$x.$$" ] ||
        { rm -f "$f"; echo "mitogen stage1: file $i does not match its hash" >&2; exit 103; }
    fi
    chmod 700 "$f" && mv -f "$f" "$C/$x" || { echo "mitogen stage1: cannot store file $i" >&2; exit 104; }
    eval "g_$i=1"
    IFS=' ' read -r i len fmt || break
  done
  for i in $I; do
    eval "x=\$g_$i"
    [ -n "$x" ] || { echo "mitogen stage1: file $i never arrived" >&2; exit 101; }
  done
  rm -f "$e"
  # The run directory: links (or copies) named as the loader wants them.
  mk() {
    mkdir -p "$1/transports" && : > "$1/.manifest" || return 1
    for i in $I; do
      eval "o=\$r_$i x=\$s_$i y=\$z_$i m=\$m_$i"
      case $o in interp) ip=$m ;; exe) ex=$m ;; esac
      t=$1/$m
      if [ "$o" = plugin ]; then t=$1/transports/$m; fi
      if [ "$2" = ln ]; then ln -s "$C/$x" "$t"; else cp "$C/$x" "$t" && chmod 700 "$t"; fi &&
        echo "$o $x $y $m" >> "$1/.manifest" || return 1
    done
  }
  run() {
    if [ -n "$ip" ]; then "$1/$ip" --library-path "$1" "$1/$ex" --mitogen-agent --probe
    else "$1/$ex" --mitogen-agent --probe; fi <&- >&2
  }
  ip= ex=
  X=
  if mk "$R" ln && run "$R"; then X=$R; else
    # The files' own mount is noexec: copies where exec works.
    for t in "$R" "${XDG_RUNTIME_DIR:-}" /dev/shm "${TMPDIR:-/tmp}" /tmp /var/tmp "${HOME:-}"; do
      [ -n "$t" ] && [ -d "$t" ] && [ -w "$t" ] || continue
      g=$t/.mitogen-run.$$
      if [ "$t" = "$R" ]; then g=$R/.c; fi
      [ -e "$g" ] && continue
      if mk "$g" cp && run "$g"; then X=$g; break; fi
      rm -rf "$g"
    done
    [ -n "$X" ] || { rm -rf "$R"; echo "mitogen stage1: no directory lets the agent execute (noexec everywhere?)" >&2; exit 105; }
    if [ "$X" != "$R/.c" ]; then rm -rf "$R"; R=$X; fi
  fi
  if [ -n "$ip" ]; then set -- "$X/$ip" --library-path "$X" "$X/$ex"; else set -- "$X/$ex"; fi
  trap - EXIT
  exec "$@" --mitogen-agent "$n" --mitogen-run-dir "$R" --mitogen-closure-dir "$X"
fi
# The same machine (sudo): the master's own agent, if we may run it.
if [ -n "$p" ] && [ -r "$p" ] && [ -x "$p" ]; then
  echo "MITOGEN0 local"
  exec "$p" "$n"
fi
# Several CPUs' agents: HASH is "PATTERN=HASH ...", the first pattern
# our `uname -m` matches names ours (the cache keeps one file per hash).
case $h in *=*)
  m=$(uname -m 2>&-) x=$h h=-
  set -f
  for a in $x; do case $m in ${a%%=*}) h=${a#*=}; break ;; esac; done
  set +f ;;
esac
case $h in *[!0-9a-f-]*) echo "mitogen stage1: bad agent hash" >&2; exit 106 ;; esac
if [ "$c" = 1 ] && [ "$h" != - ] && [ -x "$d/agent-$h" ]; then
  echo "MITOGEN0 cached"
  exec "$d/agent-$h" "$n"
fi
# Offer the decompressors we have: gzip, none, and the master's preferred
# format if it is another (each probe costs a process): XZ Utils (the
# build picks the branch filter for the agent's CPU), zstd. Without gzip,
# both are looked for. The master takes its preference, else gz, zst, xz,
# raw. One subshell prints gzip's path, zstd's (each or -) and `uname -sm`
# for the report: processes cost milliseconds each on a cold start.
w=${5:-}
i=$({ command -v gzip || { echo -; w=xz,zst; }; }
    case ,$w, in *,zst,*) command -v zstd || echo - ;; *) echo - ;; esac
    uname -sm 2>&- || echo '? ?')
o=$IFS IFS='
'
set -f; set -- $i; set +f
IFS=$o
z=raw
if [ "$1" != - ]; then z="gz,$z"; else w=xz,zst; fi
case ,$w, in *,xz,*) case $(xz --version 2>&-) in *"XZ Utils"*) z="xz,$z" ;; esac ;; esac
if [ "${2:--}" != - ]; then z="zst,$z"; fi
echo "MITOGEN0 need-$z ${3:-? ?}"
IFS=' ' read -r len fmt || { echo "mitogen stage1: no length line" >&2; exit 101; }
f=
for t in "${XDG_RUNTIME_DIR:-}" /dev/shm "${TMPDIR:-/tmp}" /tmp /var/tmp "${HOME:-}"; do
  if [ -n "$t" ] && [ -d "$t" ] && [ -w "$t" ]; then f=$t/.mitogen-agent.$$; break; fi
done
[ -n "$f" ] || { echo "mitogen stage1: no writable directory" >&2; exit 102; }
e=$f.e
case $fmt in
  zst) get | zstd -dcq > "$f" ;;
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
    # Cached under a second name (a hard link: the agent unlinks only its
    # own; a copy across file systems), renamed into place whole.
    if [ "$c" = 1 ] && [ "$h" != - ]; then
      { [ -d "$d" ] || mkdir -p "$d" 2>&-; } &&
        { ln "$f" "$d/agent-$h.$$" 2>&- || cp "$f" "$d/agent-$h.$$" 2>&-; } &&
        mv -f "$d/agent-$h.$$" "$d/agent-$h"
    fi
    exec "$f" "$n" --unlink "$f"
  fi
done
rm -f "$f"
echo "mitogen stage1: no directory lets the agent execute (noexec everywhere?)" >&2
exit 105
