#!/bin/sh
# Runs an example and checks that it succeeds and that its output has a
# line matching an extended regular expression.
#   check-output.sh REGEX PROGRAM [ARGS...]
set -u
regex=$1; shift
out=$("$@")
status=$?
printf '%s\n' "$out"
if [ $status -ne 0 ]; then
  echo "example exited with status $status" >&2
  exit 1
fi
if ! printf '%s\n' "$out" | grep -Eq "$regex"; then
  echo "no line of the output matches: $regex" >&2
  exit 1
fi
