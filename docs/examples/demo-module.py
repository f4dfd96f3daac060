#!/usr/bin/python3
# demo-module.py — compiled functions of your own, called from Python in
# another context: the context gets demo.so (demo-module.c) from this
# master the first time one of its functions is called.
#
#     demo-module.py [MODULE_DIR]
#
# MODULE_DIR holds demo.so (default: this script's directory). Run with
# the Mitogen typelib and library on GI_TYPELIB_PATH and LD_LIBRARY_PATH
# when they are not installed.
#
# SPDX-License-Identifier: BSD-3-Clause

import os
import sys

import gi

gi.require_version('GLib', '2.0')
gi.require_version('Mitogen', '1.0')
from gi.repository import GLib, Mitogen  # noqa: E402


def main():
    module_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    router = Mitogen.Router.new()
    # Serve demo.so from here. Contexts must be able to load modules: this
    # also makes the dynamically linked agent (agent=dynamic) the default.
    router.add_module_path(module_dir)
    context = router.local(None, None)
    try:
        total = context.call('demo.add', GLib.Variant('(ii)', (2, 3)), None).unpack()
        words = context.call('demo.word_count', GLib.Variant('(s)', ('the quick brown fox',)), None).unpack()
        info = context.call('demo.sysinfo', None, None).unpack()
        shipped = context.call('mitogen.modules', None, None).unpack()['demo']
    except GLib.Error as e:
        print('demo-module: %s' % e.message, file=sys.stderr)
        return 1
    finally:
        router.shutdown()
    print('demo.add(2, 3) = %d; demo.word_count() = %d; demo.sysinfo() = pid %d, context %d '
          '(master pid %d); %d bytes of demo.so shipped'
          % (total, words, info['pid'], info['context_id'], os.getpid(), shipped['bytes']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
