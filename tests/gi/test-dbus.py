#!/usr/bin/python3
# mitogen_context_open_dbus () through PyGObject: a private dbus-daemon,
# a local context, the connection opened from a main loop (async) and
# blocking; a proxy call, a cancelled open, a bad address. Prints TAP.
# Needs dbus-daemon (.ci/run installs it).
#
# SPDX-License-Identifier: BSD-3-Clause

import os
import shutil
import subprocess
import sys
import tempfile
import traceback

import gi

gi.require_version('GLib', '2.0')
gi.require_version('Gio', '2.0')
gi.require_version('Mitogen', '1.0')
from gi.repository import GLib, Gio, Mitogen  # noqa: E402

CONFIG = ('<busconfig><type>session</type><listen>unix:path=%s/bus</listen>'
          '<auth>EXTERNAL</auth><policy context="default"><allow user="*"/>'
          '<allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/>'
          '<allow own="*"/></policy></busconfig>')


def run_loop_until(done, what, timeout=30.0):
    context = GLib.MainContext.default()
    deadline = GLib.get_monotonic_time() + int(timeout * 1e6)
    while not done() and GLib.get_monotonic_time() < deadline:
        GLib.timeout_add(10, lambda: GLib.SOURCE_REMOVE)
        context.iteration(True)
    if not done():
        raise AssertionError('timed out waiting for ' + what)


def list_names(bus):
    proxy = Gio.DBusProxy.new_sync(bus, Gio.DBusProxyFlags.DO_NOT_LOAD_PROPERTIES, None,
                                   'org.freedesktop.DBus', '/org/freedesktop/DBus',
                                   'org.freedesktop.DBus', None)
    return proxy.ListNames()


def main():
    if shutil.which('dbus-daemon') is None:
        print('1..0 # SKIP dbus-daemon is not installed')
        return 0
    tmp = tempfile.mkdtemp(prefix='mitogen-gi-dbus-')
    conf = os.path.join(tmp, 'bus.conf')
    with open(conf, 'w') as f:
        f.write(CONFIG % tmp)
    address = 'unix:path=%s/bus' % tmp
    daemon = subprocess.Popen(['dbus-daemon', '--config-file=' + conf, '--nofork', '--nopidfile',
                               '--print-address=1'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    router = None
    failed = 0
    try:
        daemon.stdout.readline()
        router = Mitogen.Router.new()
        context = router.local(None, None)
        print('1..3')

        # 1: async from a main loop, a proxy call through it.
        try:
            got = {}
            context.open_dbus_async(Gio.BusType.NONE, address, None,
                                    lambda c, r, d: got.update(bus=c.open_dbus_finish(r)), None)
            run_loop_until(lambda: 'bus' in got, 'open_dbus_async')
            bus = got['bus']
            names = list_names(bus)
            assert bus.get_unique_name() in names, names
            assert not bus.get_capabilities() & Gio.DBusCapabilityFlags.UNIX_FD_PASSING
            bus.close_sync(None)
            assert bus.is_closed()
            print('ok 1 open_dbus_async')
        except Exception:
            failed += 1
            print('not ok 1 open_dbus_async')
            print('# ' + traceback.format_exc().replace('\n', '\n# '))

        # 2: blocking; cancelled at once.
        try:
            bus = context.open_dbus(Gio.BusType.SESSION, address, None)
            assert 'org.freedesktop.DBus' in list_names(bus)
            bus.close_sync(None)
            cancellable = Gio.Cancellable()
            cancellable.cancel()
            try:
                context.open_dbus(Gio.BusType.SESSION, address, cancellable)
                raise AssertionError('a cancelled open succeeded')
            except GLib.Error as e:
                assert e.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED), e.message
            print('ok 2 open_dbus and cancellation')
        except Exception:
            failed += 1
            print('not ok 2 open_dbus and cancellation')
            print('# ' + traceback.format_exc().replace('\n', '\n# '))

        # 3: an address the context cannot use: a GLib.Error saying why.
        try:
            try:
                context.open_dbus(Gio.BusType.SESSION, 'tcp:host=localhost,port=1', None)
                raise AssertionError('a tcp: address was accepted')
            except GLib.Error as e:
                assert e.matches(Mitogen.error_quark(), Mitogen.Error.CALL), (e.domain, e.code)
                assert "transport 'tcp' is not supported" in e.message, e.message
            print('ok 3 bad address')
        except Exception:
            failed += 1
            print('not ok 3 bad address')
            print('# ' + traceback.format_exc().replace('\n', '\n# '))
    finally:
        if router is not None:
            router.shutdown()
        daemon.terminate()
        daemon.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
