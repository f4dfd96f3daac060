#!/bin/sh
# Installs the build into a temporary DESTDIR and uses it from there: the
# library finds its plugins through MITOGEN_PLUGIN_PATH and its agent
# through MITOGEN_AGENT_PATH (not the build tree), and a program compiled
# against the installed pkg-config file runs a call.
# Then builds the out-of-tree transport tests/oot-plugin/ (a meson project)
# against the installed tree, installs it into the plugin directory the
# .pc file names, and uses it: listed, directly, one hop down through an
# intermediate that lacks it (`via`), and through the C API.
#   install-test.sh BUILDDIR [SOURCEDIR]
set -eu
build=$1
source=${2:-$(dirname "$0")/..}
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

meson install -C "$build" --destdir "$dest" --no-rebuild >/dev/null
prefix=$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
libdir=$(find "$dest$prefix" -name 'libmitogen-1.0.so.0' -printf '%h\n' | head -n1)
plugins=$(find "$dest$prefix" -name 'libmitogen-local.so' -printf '%h\n' | head -n1)
agent=$(find "$dest$prefix" -name mitogen-agent -type f | head -n1)
tool=$dest$prefix/bin/mitogen

export LD_LIBRARY_PATH=$libdir MITOGEN_PLUGIN_PATH=$plugins MITOGEN_AGENT_PATH=$agent

echo "1..11"
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

# An out-of-tree plugin: tests/oot-plugin/ built with meson against the
# installed tree (-Werror -Wall -Wextra -Wshadow -Wstrict-prototypes),
# installed into pkg-config's plugindir.
oot_flags=
case ${MITOGEN_TEST_SANITIZE:-none} in
  none) ;;
  *) oot_flags="-Db_sanitize=$MITOGEN_TEST_SANITIZE -Db_lundef=false" ;;
esac
if PKG_CONFIG_PATH=$dest/pc meson setup $oot_flags "$dest/oot-build" "$source/tests/oot-plugin" >"$dest/oot.log" 2>&1 &&
   ninja -C "$dest/oot-build" >>"$dest/oot.log" 2>&1 &&
   meson install -C "$dest/oot-build" --no-rebuild >>"$dest/oot.log" 2>&1 &&
   [ -f "$plugindir/libmitogen-nice.so" ]; then
  echo "ok 7 the out-of-tree plugin builds with -Werror against the installed tree and installs into plugindir"
else
  echo "not ok 7 out-of-tree plugin build"
  sed 's/^/# /' "$dest/oot.log"
fi

# The tool finds it by MITOGEN_PLUGIN_PATH and shows its short form.
out=$("$tool" methods --describe 2>&1) || true
if printf '%s\n' "$out" | grep -qx 'nice  (nice:VALUE sets adjustment)' &&
   printf '%s\n' "$out" | grep -q '^  adjustment  *integer -20\.\.19  *10 '; then
  echo "ok 8 mitogen methods --describe lists the out-of-tree method and its short form"
else
  echo "not ok 8 methods --describe:"
  printf '%s\n' "$out" | sed 's/^/# /'
fi

# nice:7 sets its declared short option; the context runs at niceness 7.
base=$(nice)
out=$("$tool" call -t nice:7 subprocess.check_output '[["nice"]]' 2>&1) || true
if [ "$out" = "\"$((base + 7))\\n\"" ]; then
  echo "ok 9 mitogen call -t nice:7 runs the context through the plugin"
else
  echo "not ok 9 nice:7: $out"
fi

# One hop down: the installed (static) agent has no nice plugin; the
# master sends it the command line, and it runs it (also bootstrapping).
out=$("$tool" call -t 'local/nice:5' subprocess.check_output '[["nice"]]' 2>&1) || true
out2=$("$tool" call -t 'local/nice?adjustment=3&bootstrap=true/local' subprocess.check_output '[["nice"]]' 2>&1) || true
ident=$("$tool" call --json -t 'local/nice:2' mitogen.identity 2>&1) || true
if [ "$out" = "\"$((base + 5))\\n\"" ] && [ "$out2" = "\"$((base + 3))\\n\"" ] &&
   printf '%s' "$ident" | grep -q '"parent_ids":\[1,0\]'; then
  echo "ok 10 the out-of-tree plugin works via an intermediate that lacks it"
else
  echo "not ok 10 via: '$out' '$out2' $ident"
fi

# Through the API, directly and via a local context; a bad option is
# refused in the master.
cat > "$dest/oot.c" <<'C'
#include <mitogen/mitogen.h>
#include <string.h>
static gboolean
check (MitogenRouter *router, MitogenContext *via, int adjustment, int base, GError **error)
{
  GVariantBuilder options;
  g_autoptr(MitogenContext) child = NULL;
  g_autoptr(GVariant) out = NULL;
  g_autofree char *want = g_strdup_printf ("%d\n", base + adjustment);
  const char *argv[] = { "nice", NULL };
  gsize n = 0;
  const char *got;

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&options, "{sv}", "adjustment", g_variant_new_int32 (adjustment));
  child = mitogen_router_connect (router, "nice", g_variant_builder_end (&options), via, NULL, error);
  if (child == NULL)
    return FALSE;
  out = mitogen_context_call (child, "subprocess.check_output",
                              g_variant_new ("(^as)", argv), NULL, error);
  if (out == NULL)
    return FALSE;
  got = g_variant_get_fixed_array (out, &n, 1);
  if (n != strlen (want) || memcmp (got, want, n) != 0)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT, "niceness %.*s, not %s", (int) n, got, want);
      return FALSE;
    }
  return TRUE;
}
int main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenRouter) router = mitogen_router_new ();
  g_autoptr(MitogenContext) local = NULL;
  g_autoptr(MitogenContext) bad = NULL;
  int base = argc > 1 ? atoi (argv[1]) : 0;

  local = mitogen_router_local (router, NULL, NULL, &error);
  if (local == NULL || !check (router, NULL, 4, base, &error) || !check (router, local, 6, base, &error))
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  bad = mitogen_router_connect (router, "nice", g_variant_new_parsed ("{'adjustment': <'x'>}"), local, NULL, &error);
  if (bad != NULL || !g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT) ||
      strstr (error->message, "adjustment") == NULL)
    {
      g_printerr ("a bad option via: %s\n", error != NULL ? error->message : "connected");
      return 1;
    }
  return 0;
}
C
if cc -o "$dest/oot" "$dest/oot.c" $flags && out=$("$dest/oot" "$base" 2>&1); then
  echo "ok 11 the out-of-tree plugin works through the API, directly and via"
else
  echo "not ok 11 API: ${out:-build failed}"
fi
