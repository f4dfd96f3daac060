#!/usr/bin/python3
# Function modules through PyGObject: a Python master adds a directory of
# compiled modules to its router's module path and calls their functions
# in a local context; the context gets each module from the master on
# first use. Prints TAP.
#
#   test-modules.py MODULE_DIR
#
# Needs GI_TYPELIB_PATH and LD_LIBRARY_PATH as test-mitogen.py does;
# MODULE_DIR holds demo.so and depmod.so (tests/modules/).
#
# SPDX-License-Identifier: BSD-3-Clause

import os
import sys
import traceback

import gi

gi.require_version('GLib', '2.0')
gi.require_version('Mitogen', '1.0')
from gi.repository import GLib, Mitogen  # noqa: E402

MODULE_DIR = os.path.realpath(sys.argv[1])
tests = []


def test(func):
    tests.append(func)
    return func


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def equal(actual, expected, what):
    if actual != expected:
        raise AssertionError('%s: got %r, expected %r' % (what, actual, expected))


class Fixture:
    router = None
    context = None


F = Fixture()


@test
def module_path():
    """add_module_path() keeps the directory and makes `dynamic` the default agent."""
    F.router = Mitogen.Router.new()
    equal(F.router.get_default_agent(), 'stock', 'default agent before')
    equal(list(F.router.get_module_path()), [], 'no module path yet')
    F.router.add_module_path(MODULE_DIR)
    equal(list(F.router.get_module_path()), [MODULE_DIR], 'module path')
    equal(F.router.get_default_agent(), 'dynamic', 'default agent after')


@test
def call_module_function():
    """demo.add in a local context: demo.so comes from the master on first use."""
    F.context = F.router.local(None, None)
    equal(F.context.call('demo.add', GLib.Variant('(ii)', (2, 3)), None).unpack(), 5, 'demo.add(2, 3)')
    equal(F.context.call('demo.hello', GLib.Variant('(s)', ('python',)), None).unpack(),
          'hello, python', 'demo.hello')
    modules = F.context.call('mitogen.modules', None, None).unpack()
    equal(modules['demo']['files'], ['demo.so'], 'files shipped')
    equal(modules['demo']['origin'], 0, 'served by the master')


@test
def library_travels():
    """depmod.triple: the module's own library is shipped with it."""
    equal(F.context.call('depmod.triple', GLib.Variant('(i)', (14,)), None).unpack(), 42, 'depmod.triple(14)')
    modules = F.context.call('mitogen.modules', None, None).unpack()
    equal(modules['depmod']['files'], ['libmtdep.so', 'depmod.so'], 'files shipped')


@test
def unknown_module():
    """A module that is not on the path: a CALL error naming it and the path."""
    try:
        F.context.call('nosuch.run', None, None)
    except GLib.Error as e:
        equal((e.domain, e.code), ('mitogen-error-quark', int(Mitogen.Error.CALL)), 'error')
        equal(Mitogen.error_get_remote_code(e), int(Mitogen.Error.NOT_FOUND), 'remote code')
        check("module 'nosuch' is not on the master's module path" in e.message, e.message)
        check(MODULE_DIR in e.message, 'the message names the directory: ' + e.message)
    else:
        raise AssertionError('nosuch.run did not fail')


@test
def shutdown():
    """The router shuts down cleanly."""
    F.router.shutdown()
    check(not F.context.is_connected(), 'the context is disconnected')


def main():
    print('1..%d' % len(tests))
    failed = 0
    for number, func in enumerate(tests, 1):
        try:
            func()
        except Exception:
            failed += 1
            print('not ok %d %s' % (number, func.__name__))
            for line in traceback.format_exc().splitlines():
                print('# ' + line)
            continue
        print('ok %d %s' % (number, func.__name__))
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
