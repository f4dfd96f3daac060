#!/bin/sh
# Installs the build into a temporary DESTDIR and uses it from there: the
# library finds its plugins through MITOGEN_PLUGIN_PATH and its agent
# through MITOGEN_AGENT_PATH (not the build tree), and a program compiled
# against the installed pkg-config file runs a call.
#   install-test.sh BUILDDIR
set -eu
build=$1
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

meson install -C "$build" --destdir "$dest" --no-rebuild >/dev/null
prefix=$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
libdir=$(find "$dest$prefix" -name 'libmitogen-1.0.so.0' -printf '%h\n' | head -n1)
plugins=$(find "$dest$prefix" -name 'libmitogen-local.so' -printf '%h\n' | head -n1)
agent=$(find "$dest$prefix" -name mitogen-agent -type f | head -n1)
tool=$dest$prefix/bin/mitogen

export LD_LIBRARY_PATH=$libdir MITOGEN_PLUGIN_PATH=$plugins MITOGEN_AGENT_PATH=$agent

echo "1..6"
out=$("$tool" call -t local os.getpid)
[ -n "$out" ] && echo "ok 1 installed tool calls into a local context" || echo "not ok 1 installed tool"

# The build tree must not be what made that work.
if ldd "$tool" | grep -q "$libdir/libmitogen-1.0.so"; then
  echo "ok 2 the tool uses the installed library"
else
  echo "not ok 2 the tool does not use the installed library"
fi

cat > "$dest/prog.c" <<'C'
#include <mitogen/mitogen.h>
int main (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) child = mitogen_router_local (router, NULL, NULL, &error);
  g_autoptr(GVariant) pid = child ? mitogen_context_call (child, "os.getpid", NULL, NULL, &error) : NULL;
  if (pid == NULL) { g_printerr ("%s\n", error->message); return 1; }
  return 0;
}
C
pc=$(find "$dest$prefix" -name 'mitogen-1.0.pc' | head -n1)
mkdir "$dest/pc"
sed "s|^prefix=.*|prefix=$dest$prefix|" "$pc" > "$dest/pc/mitogen-1.0.pc"
flags=$(PKG_CONFIG_PATH=$dest/pc pkg-config --cflags --libs mitogen-1.0)
# A library built with -Db_sanitize needs programs built with the same
# sanitizer (its runtime must load first).
case ${MITOGEN_TEST_SANITIZE:-none} in
  none) ;;
  *) flags="$flags -fsanitize=$MITOGEN_TEST_SANITIZE" ;;
esac
if cc -o "$dest/prog" "$dest/prog.c" $flags && "$dest/prog"; then
  echo "ok 3 a program built with pkg-config mitogen-1.0 runs a call"
else
  echo "not ok 3 pkg-config build"
fi

# fakessh from the installed tree: its ssh is the installed agent.
out=$("$tool" fakessh -t local -- sh -c 'ssh anywhere "echo fake-\$((6 * 7))"' 2>&1) || true
if [ "$out" = "fake-42" ]; then
  echo "ok 4 installed fakessh runs ssh's command in the context"
else
  echo "not ok 4 installed fakessh: $out"
fi

# Out-of-tree transports: the .pc file names the installed plugin
# directory (where the local plugin is) and the installed version script,
# and a module linked with that script exports only GIO's entry points.
plugindir=$(PKG_CONFIG_PATH=$dest/pc pkg-config --variable=plugindir mitogen-1.0)
if [ -n "$plugindir" ] && [ -f "$plugindir/libmitogen-local.so" ] &&
   [ "$(cd "$plugindir" && pwd -P)" = "$(cd "$plugins" && pwd -P)" ]; then
  echo "ok 5 pkg-config plugindir is the installed plugin directory"
else
  echo "not ok 5 pkg-config plugindir '$plugindir' (plugins are in $plugins)"
fi
map=$(PKG_CONFIG_PATH=$dest/pc pkg-config --variable=pluginsmap mitogen-1.0)
cat > "$dest/plugin.c" <<'C'
void g_io_outoftree_load (void *module) { (void) module; }
void g_io_outoftree_unload (void *module) { (void) module; }
char **g_io_outoftree_query (void) { return 0; }
int outoftree_helper (void) { return 42; }
C
case $map in
  "$dest"/*) in_dest=yes ;;
  *) in_dest=no ;;
esac
if [ "$in_dest" = yes ] && [ -f "$map" ] &&
   cc -shared -fPIC -o "$dest/libplugin.so" "$dest/plugin.c" "-Wl,--version-script,$map" &&
   exported=$(nm -D --defined-only "$dest/libplugin.so" | awk '$2 == "T" { print $3 }' | sort | tr '\n' ' ') &&
   [ "$exported" = "g_io_outoftree_load g_io_outoftree_query g_io_outoftree_unload " ]; then
  echo "ok 6 pkg-config pluginsmap is the installed version script"
else
  echo "not ok 6 pkg-config pluginsmap '$map': exports '${exported:-}'"
fi
