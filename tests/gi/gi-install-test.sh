#!/bin/sh
# Installs the build into a temporary DESTDIR and runs the PyGObject and
# gjs tests against it: typelib, library, plugins and agent all come from
# the installed tree (the tests check where the typelib and the library
# were loaded from). Prints TAP: one line per language, the program's own
# TAP as comments.
#   gi-install-test.sh BUILDDIR PYTHON|- GJS|- PY_TEST JS_TEST
set -eu
build=$1 python=$2 gjs=$3 py_test=$4 js_test=$5
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

meson install -C "$build" --destdir "$dest" --no-rebuild >"$dest.log" 2>&1 || {
  echo "1..1"; echo "not ok 1 meson install"; sed 's/^/# /' "$dest.log"; rm -f "$dest.log"; exit 0; }
rm -f "$dest.log"
prefix=$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
root=$dest$prefix
typelibs=$(find "$root" -name 'Mitogen-1.0.typelib' -printf '%h\n' | head -n1)
libdir=$(find "$root" -name 'libmitogen-1.0.so.0' -printf '%h\n' | head -n1)
plugins=$(find "$root" -name 'libmitogen-local.so' -printf '%h\n' | head -n1)
agent=$(find "$root" -name mitogen-agent -type f | head -n1)
gir=$(find "$root" -name 'Mitogen-1.0.gir' | head -n1)

echo "1..3"
if [ -n "$typelibs" ] && [ -n "$gir" ] && [ -n "$libdir" ] && [ -n "$plugins" ] && [ -n "$agent" ]; then
  echo "ok 1 the typelib, GIR, library, plugin and agent are installed"
else
  echo "not ok 1 installed tree incomplete: typelib '$typelibs' gir '$gir' lib '$libdir' plugins '$plugins' agent '$agent'"
  exit 0
fi

export GI_TYPELIB_PATH=$typelibs LD_LIBRARY_PATH=$libdir
export MITOGEN_PLUGIN_PATH=$plugins MITOGEN_AGENT_PATH=$agent
export MITOGEN_TEST_EXPECT_TREE=$root

n=1
for lang in python gjs; do
  n=$((n + 1))
  if [ "$lang" = python ]; then prog=$python test=$py_test; else prog=$gjs test=$js_test; fi
  if [ "$prog" = - ]; then
    echo "ok $n $lang against the installed tree # SKIP $lang with GI is not available"
    continue
  fi
  if "$prog" "$test" >"$dest/out" 2>&1 && ! grep -q '^not ok' "$dest/out"; then
    echo "ok $n $lang against the installed tree ($(grep -c '^ok' "$dest/out") tests)"
  else
    echo "not ok $n $lang against the installed tree"
  fi
  sed 's/^/#   /' "$dest/out"
done
