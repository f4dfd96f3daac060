#!/bin/sh
# Runs a test program under valgrind memcheck, with every agent it starts
# under valgrind too, and fails if either side shows an invalid access, a
# use of uninitialised memory or a definite leak.
#   valgrind-run.sh AGENT TEST-PROGRAM [ARGS...]
set -u
agent=$1; shift
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
supp=/usr/share/glib-2.0/valgrind/glib.supp
here=$(dirname "$0")

cat > "$logs/agent" <<WRAP
#!/bin/sh
# Run as fakessh's ssh (a link named ssh): say so, valgrind loses the name.
case "\$0" in */ssh) set -- --fakessh-client "\$@";; esac
exec valgrind --quiet --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
  --suppressions=$supp --log-file=$logs/agent.%p.log "$agent" "\$@"
WRAP
chmod +x "$logs/agent"

MITOGEN_AGENT_PATH=$logs/agent G_SLICE=always-malloc \
  valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite \
  --errors-for-leak-kinds=definite --suppressions=$supp \
  --suppressions="$here/mitogen.supp" "$@"
status=$?

bad=0
for log in "$logs"/agent.*.log; do
  [ -e "$log" ] || continue
  if grep -qE 'Invalid (read|write|free)|uninitialised|definitely lost in' "$log"; then
    echo "# valgrind found problems in an agent: $log" >&2
    sed 's/^/# /' "$log" >&2
    bad=1
  fi
done
[ $status -eq 0 ] && [ $bad -eq 0 ]
