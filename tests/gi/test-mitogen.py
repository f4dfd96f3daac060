#!/usr/bin/python3
# Mitogen-1.0 through PyGObject: the calls a Python user makes, with real
# child contexts. Prints TAP. Needs GI_TYPELIB_PATH and LD_LIBRARY_PATH to
# point at the typelib and library under test (the build tree, or an
# installed prefix).
#
# SPDX-License-Identifier: BSD-3-Clause

import os
import sys
import threading
import traceback
import weakref
import gc

import gi

gi.require_version('GLib', '2.0')
gi.require_version('Gio', '2.0')
gi.require_version('GIRepository', '2.0')
gi.require_version('Mitogen', '1.0')
from gi.repository import GLib, Gio, GIRepository, Mitogen  # noqa: E402

TIMEOUT = 30.0
MAIN_THREAD = threading.get_ident()
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


def run_loop_until(done, what, timeout=TIMEOUT):
    """Iterates the default main context until done() or the deadline."""
    context = GLib.MainContext.default()
    deadline = GLib.get_monotonic_time() + int(timeout * 1e6)
    while not done() and GLib.get_monotonic_time() < deadline:
        # A short timer bounds each blocking iteration.
        GLib.timeout_add(10, lambda: GLib.SOURCE_REMOVE)
        context.iteration(True)
    check(done(), 'timed out waiting for ' + what)


def echo_request(context, value, reply_to):
    """A CALL_FUNCTION message for mitogen.echo, replying to reply_to."""
    body = GLib.Variant('(sva{sv})', ('mitogen.echo', GLib.Variant('(i)', (value,)), {}))
    message = Mitogen.Message.new(context.get_id(), Mitogen.Handle.CALL_FUNCTION, body)
    message.set_reply_to(reply_to)
    return message


@test
def loaded_from_expected_tree():
    """The typelib and the library come from the tree under test (MITOGEN_TEST_EXPECT_TREE)."""
    tree = os.environ.get('MITOGEN_TEST_EXPECT_TREE')
    if not tree:
        return 'skip', 'MITOGEN_TEST_EXPECT_TREE is not set'
    tree = os.path.realpath(tree) + os.sep
    Mitogen.is_master()  # GI opens the library at the first call
    typelib = GIRepository.Repository.get_default().get_typelib_path('Mitogen')
    check(os.path.realpath(typelib).startswith(tree), 'typelib %s is under %s' % (typelib, tree))
    with open('/proc/self/maps') as maps:
        libraries = {line.split()[-1] for line in maps if 'libmitogen-1.0.so' in line}
    equal(len(libraries), 1, 'one libmitogen-1.0 loaded: %s' % libraries)
    library = libraries.pop()
    check(os.path.realpath(library).startswith(tree), 'library %s is under %s' % (library, tree))


class Fixture:
    router = None
    context = None


F = Fixture()


@test
def local_context():
    """Router.new() and Router.local() give a connected child context."""
    F.router = Mitogen.Router.new()
    check(isinstance(F.router, Mitogen.Router), 'Router.new() returns a Mitogen.Router')
    equal(F.router.get_context_id(), 0, 'the master is context 0')
    F.context = F.router.local(None, None)
    check(isinstance(F.context, Mitogen.Context), 'local() returns a Mitogen.Context')
    check(F.context.get_id() > 0, 'a child has a non-zero id')
    check(F.context.is_connected(), 'the child is connected')
    check(F.context.get_router() == F.router, 'the context knows its router')
    check(F.router.context_by_id(F.context.get_id()) == F.context, 'context_by_id finds it')
    check(F.context.get_name(), 'the context has a name')


@test
def blocking_call():
    """Context.call() returns the remote function's value as a GLib.Variant."""
    pid = F.context.call('os.getpid', None, None)
    equal(pid.get_type_string(), 'x', 'os.getpid type')
    check(pid.unpack() > 0 and pid.unpack() != os.getpid(), 'the pid is another process')
    equal(F.context.call('os.getuid', None, None).unpack(), os.getuid(), 'os.getuid')
    value = GLib.Variant('(a{sv}as)', ({'k': GLib.Variant('t', 2 ** 40)}, ['a', 'b']))
    echoed = F.context.call('mitogen.echo', value, None)
    equal(echoed.unpack(), ({'k': 2 ** 40}, ['a', 'b']), 'mitogen.echo round trip')
    identity = F.context.call('mitogen.identity', None, None).unpack()
    equal(identity['context_id'], F.context.get_id(), 'the child knows its id')
    equal(identity['is_master'], False, 'the child is not the master')
    check(Mitogen.is_master(), 'this process is the master')
    equal(Mitogen.parent_id(), -1, 'the master has no parent')
    equal(list(Mitogen.parent_ids()), [], 'the master has no ancestors')


@test
def remote_error():
    """A remote failure is a GLib.Error in mitogen-error-quark, code CALL, with its detail."""
    try:
        F.context.call('mitogen.fail', GLib.Variant('(s)', ('it (broke)',)), None)
    except GLib.Error as e:
        error = e
    else:
        raise AssertionError('mitogen.fail did not raise')
    equal(error.domain, 'mitogen-error-quark', 'error domain')
    equal(error.code, int(Mitogen.Error.CALL), 'error code')
    check(error.matches(Mitogen.error_quark(), Mitogen.Error.CALL), 'GLib.Error.matches')
    equal(Mitogen.error_get_remote_domain(error), 'g-io-error-quark', 'remote domain')
    equal(Mitogen.error_get_remote_code(error), int(Gio.IOErrorEnum.FAILED), 'remote code')
    equal(Mitogen.error_get_remote_message(error), 'it (broke)', 'remote message')
    equal(Mitogen.error_get_context_name(error), F.context.get_name(), 'context name')
    equal(Mitogen.Error.get_remote_domain(error), 'g-io-error-quark', 'the same as a type function')
    check('it (broke)' in error.message, 'the message names the remote message')


@test
def local_errors():
    """Errors made locally carry their own codes: NOT_FOUND, TIMEOUT."""
    try:
        F.context.call('no.such_function', None, None)
    except GLib.Error as e:
        equal(e.domain, 'mitogen-error-quark', 'domain')
        # Unknown names are refused remotely: a CALL error whose remote
        # error is NOT_FOUND in our own domain.
        equal(e.code, int(Mitogen.Error.CALL), 'code')
        equal(Mitogen.error_get_remote_domain(e), 'mitogen-error-quark', 'remote domain')
        equal(Mitogen.error_get_remote_code(e), int(Mitogen.Error.NOT_FOUND), 'remote code')
    else:
        raise AssertionError('calling an unknown function did not raise')
    receiver = Mitogen.Receiver.new(F.router, 0, False, None)
    try:
        receiver.get(0.05)
    except GLib.Error as e:
        equal((e.domain, e.code), ('mitogen-error-quark', int(Mitogen.Error.TIMEOUT)), 'timeout error')
        equal(Mitogen.error_get_remote_domain(e), None, 'a local error has no remote domain')
    else:
        raise AssertionError('an empty receiver returned a message')
    receiver.close()


NOT_A_TUPLE_SCRIPT = r'''
import json, sys
import gi
gi.require_version('GLib', '2.0')
gi.require_version('Mitogen', '1.0')
from gi.repository import GLib, Mitogen

def error_of(func):
    try:
        func()
    except GLib.Error as e:
        return [e.domain, e.code, e.message,
                Mitogen.error_get_remote_domain(e), Mitogen.error_get_remote_code(e),
                Mitogen.error_get_remote_message(e)]
    return None

router = Mitogen.Router.new()
context = router.local(None, None)
out = {}
out['call'] = error_of(lambda: context.call('os.listdir', GLib.Variant('s', '/'), None))
results = []
context.call_async('os.listdir', GLib.Variant('s', '/'), None, lambda c, r: results.append(r))
loop_context = GLib.MainContext.default()
while not results:
    loop_context.iteration(True)
out['call_async'] = error_of(lambda: context.call_finish(results[0]))
receiver = context.begin_call('os.listdir', GLib.Variant('s', '/'))
out['begin_call'] = error_of(lambda: receiver.get_data(10))
out['after'] = context.call('os.listdir', GLib.Variant('(s)', ('/',)), None).get_type_string()
router.shutdown()
print(json.dumps(out))
'''


@test
def call_args_not_a_tuple():
    """A bare GLib.Variant('s', '/') as arguments: INVALID_ARGUMENT naming the tuple type, no critical."""
    import json
    import subprocess
    # A child without fatal-criticals, so that a critical would show on its
    # stderr (as the report had it) rather than abort this test.
    env = dict(os.environ)
    env.pop('G_DEBUG', None)
    child = subprocess.run([sys.executable, '-c', NOT_A_TUPLE_SCRIPT], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    stderr = child.stderr.decode(errors='replace')
    equal(child.returncode, 0, 'the child ran (stderr: %s)' % stderr)
    check('CRITICAL' not in stderr and 'WARNING' not in stderr, 'no critical or warning: %s' % stderr)
    out = json.loads(child.stdout)
    expected = "os.listdir: arguments must be a tuple (GVariant type '(...)'), not 's'"
    for entry in ('call', 'call_async'):
        domain, code, message = out[entry][:3]
        equal((domain, code), ('mitogen-error-quark', int(Mitogen.Error.INVALID_ARGUMENT)), entry + ' error')
        check(message.startswith(expected) and "'(s)'" in message, entry + ' message: ' + message)
        check('router is gone' not in message, entry + ': not the false router error')
    domain, code, message, remote_domain, remote_code, remote_message = out['begin_call']
    equal((domain, code), ('mitogen-error-quark', int(Mitogen.Error.CALL)), 'begin_call: the reply is the error')
    equal((remote_domain, remote_code), ('mitogen-error-quark', int(Mitogen.Error.INVALID_ARGUMENT)),
          'begin_call: remote domain and code')
    check(remote_message.startswith(expected), 'begin_call message: ' + remote_message)
    equal(out['after'], 'as', 'the context serves on')


@test
def begin_call_many_contexts():
    """begin_call() on several contexts; each receiver gets its own context's reply."""
    contexts = [F.context] + [F.router.local(None, None) for _ in range(2)]
    equal(len({c.get_id() for c in contexts}), 3, 'three distinct contexts')
    receivers = [c.begin_call('mitogen.identity', None) for c in contexts]
    for r in receivers:
        check(isinstance(r, Mitogen.Receiver), 'begin_call returns a Mitogen.Receiver')
        check(r.get_handle() >= int(Mitogen.Handle.FIRST_USER), 'a user handle')
    for c, r in zip(contexts, receivers):
        message = r.get(TIMEOUT)
        check(not message.is_dead() and not message.is_error(), 'a value reply')
        equal(message.get_src_id(), c.get_id(), 'the reply comes from the context')
        equal(message.get_value().unpack()['context_id'], c.get_id(), 'the context answered')
    for c in contexts[1:]:
        check(c.shutdown(TIMEOUT), 'shutdown() succeeds')


@test
def select_many_contexts():
    """A Select gathers replies of calls on several contexts, in any order."""
    if not hasattr(getattr(Mitogen, 'Select', None), 'add'):
        return 'skip', 'Mitogen.Select is not in this build'
    contexts = [F.context] + [F.router.local(None, None) for _ in range(2)]
    select = Mitogen.Select.new(True)
    expected = {}
    for c in contexts:
        r = c.begin_call('mitogen.identity', None)
        select.add(r)
        expected[r.get_handle()] = c.get_id()
    seen = set()
    for _ in contexts:
        message = select.get(TIMEOUT)
        receiver = message.get_receiver()
        check(receiver is not None, 'the message names its receiver')
        want = expected[receiver.get_handle()]
        equal(message.get_value().unpack()['context_id'], want, 'the reply matches its receiver')
        seen.add(want)
    equal(seen, set(expected.values()), 'every context answered once')
    for c in contexts[1:]:
        c.shutdown(TIMEOUT)


@test
def async_call():
    """call_async()/call_finish() complete in the default main context, values and errors."""
    results = {}

    def done(context, result, key):
        results[key] = threading.get_ident()
        try:
            results[key, 'value'] = context.call_finish(result)
        except GLib.Error as e:
            results[key, 'error'] = e

    F.context.call_async('mitogen.echo', GLib.Variant('(s)', ('async',)), None, done, 'ok')
    F.context.call_async('mitogen.fail', GLib.Variant('(s)', ('async boom',)), None, done, 'fail')
    check(not results, 'nothing completes before the loop runs')
    run_loop_until(lambda: 'ok' in results and 'fail' in results, 'two async calls')
    equal(results['ok'], MAIN_THREAD, 'completed on this thread')
    equal(results['ok', 'value'].unpack(), 'async', 'the async value')
    error = results['fail', 'error']
    equal((error.domain, error.code), ('mitogen-error-quark', int(Mitogen.Error.CALL)), 'async error')
    equal(Mitogen.error_get_remote_message(error), 'async boom', 'async remote message')

    cancellable = Gio.Cancellable()
    F.context.call_async('mitogen.sleep', GLib.Variant('(d)', (5.0,)), cancellable, done, 'cancel')
    cancellable.cancel()
    run_loop_until(lambda: 'cancel' in results, 'a cancelled call')
    error = results['cancel', 'error']
    check(error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED), 'cancelled: %s' % error.message)


@test
def receiver_get_async():
    """Receiver.get_async()/get_finish() with a main loop."""
    receiver = F.context.begin_call('mitogen.echo', GLib.Variant('(u)', (7,)))
    got = []
    receiver.get_async(None, lambda r, res, data: got.append(r.get_finish(res)), None)
    run_loop_until(lambda: got, 'get_async')
    equal(got[0].get_value().unpack(), 7, 'the reply')


@test
def streaming_to_a_receiver():
    """A stream of routed messages into one persistent receiver, in order."""
    receiver = Mitogen.Receiver.new(F.router, 0, True, None)
    handle = receiver.get_handle()
    for i in range(5):
        check(F.router.route(Mitogen.Message.new(0, handle, GLib.Variant('(is)', (i, 'item')))), 'route')
    for i in range(5):
        message = receiver.get(TIMEOUT)
        equal(message.get_handle(), handle, 'the handle')
        equal(message.get_value().unpack(), (i, 'item'), 'in order')
    check(receiver.empty(), 'nothing more')
    receiver.close()
    try:
        receiver.get(1.0)
    except GLib.Error as e:
        check(e.domain == 'mitogen-error-quark', 'a closed receiver raises')
    else:
        raise AssertionError('a closed receiver returned a message')


@test
def sender_streaming():
    """A Sender streams values to a child's channel; the child echoes them back; close() ends it."""
    if not hasattr(getattr(Mitogen, 'Sender', None), 'put'):
        return 'skip', 'Mitogen.Sender is not in this build'
    if 'mitogen.channel_echo' not in Mitogen.list_functions():
        return 'skip', 'no mitogen.channel_echo built-in in this build'
    receiver = Mitogen.Receiver.new(F.router, 0, True, F.context)
    call = F.context.begin_call('mitogen.channel_echo', GLib.Variant('(uu)', (receiver.get_handle(), 0)))
    child_handle = receiver.get(TIMEOUT).get_value().unpack()
    check(child_handle >= int(Mitogen.Handle.FIRST_USER), 'the child sends its channel handle first')
    sender = Mitogen.Sender.new(F.context, child_handle)
    check(isinstance(sender, Mitogen.Sender), 'Sender.new() returns a Mitogen.Sender')
    for i in range(10):
        check(sender.put(GLib.Variant('(is)', (i, 'x' * i))), 'put() queues')
    values = [receiver.get(TIMEOUT).get_value().unpack() for _ in range(10)]
    equal(values, [(i, 'x' * i) for i in range(10)], 'echoed in order')
    check(sender.close(), 'close() sends the dead marker')
    try:
        receiver.get(TIMEOUT)
    except GLib.Error as e:
        check(e.matches(Mitogen.error_quark(), Mitogen.Error.CHANNEL), 'the child closes its end in turn')
    else:
        raise AssertionError('the child did not close its end')
    equal(call.get(TIMEOUT).get_value().unpack(), 10, 'the child echoed 10 values')
    receiver.close()


@test
def streaming_replies_from_a_child():
    """Many requests whose replies stream back from a child into one receiver."""
    receiver = Mitogen.Receiver.new(F.router, 0, True, F.context)
    for i in range(20):
        check(F.router.route(echo_request(F.context, i, receiver.get_handle())), 'route')
    values = sorted(receiver.get(TIMEOUT).get_value().unpack() for _ in range(20))
    equal(values, list(range(20)), 'every reply arrived')
    receiver.close()


@test
def received_signal():
    """::received is emitted on this thread from the default main context, with the message."""
    receiver = Mitogen.Receiver.new(F.router, 0, True, F.context)
    got = []

    def on_received(r, message):
        got.append((threading.get_ident(), r, message.get_value().unpack(), message.get_src_id()))

    receiver.connect('received', on_received)
    for i in range(3):
        F.router.route(echo_request(F.context, 100 + i, receiver.get_handle()))
    run_loop_until(lambda: len(got) == 3, '3 ::received emissions')
    equal(sorted(v for _, _, v, _ in got), [100, 101, 102], 'the values')
    for thread, r, _, src in got:
        equal(thread, MAIN_THREAD, 'emitted on the main thread')
        check(r == receiver, 'the signal passes the receiver')
        equal(src, F.context.get_id(), 'from the child')
    check(receiver.empty(), 'push mode: nothing queued')
    receiver.close()


@test
def process_async_main_loop():
    """MitogenProcess from a GLib main loop: start, queued writes, close, reads, wait, cancel."""
    loop = GLib.MainLoop.new(None, False)
    process = Mitogen.Process.new(F.context, ['sh', '-c', 'cat; echo done >&2; exit 4'])
    process.set_window(64 * 1024)
    events = []
    out = {1: bytearray(), 2: bytearray()}
    pieces = [bytes([i]) * (100000 + i) for i in range(3)] + [b'tail\n']
    outcome = {}

    def fail(where, error):
        outcome['error'] = '%s: %s' % (where, error)
        loop.quit()

    def on_waited(p, result):
        try:
            outcome['waited'] = p.wait_finish(result)
        except GLib.Error as e:
            return fail('wait', e)
        loop.quit()

    def on_read(p, result):
        try:
            chunk, fd = p.read_finish(result)
        except GLib.Error as e:
            return fail('read', e)
        if chunk is None:
            events.append('eof')
            p.wait_async(None, on_waited)
            return
        out[fd] += chunk.get_data()
        p.read_async(None, on_read)

    def on_written(index):
        def done(p, result):
            try:
                p.write_finish(result)
            except GLib.Error as e:
                return fail('write', e)
            events.append('write %d' % index)
        return done

    def on_closed(p, result):
        try:
            p.close_stdin_finish(result)
        except GLib.Error as e:
            return fail('close', e)
        events.append('close')

    def on_started(p, result):
        try:
            p.start_finish(result)
        except GLib.Error as e:
            return fail('start', e)
        events.append('started')
        for i, piece in enumerate(pieces):
            p.write_async(GLib.Bytes.new(piece), None, on_written(i))
        p.close_stdin_async(None, on_closed)
        p.read_async(None, on_read)

    process.start_async(None, on_started)
    GLib.timeout_add_seconds(int(TIMEOUT), lambda: fail('loop', 'timed out') or GLib.SOURCE_REMOVE)
    loop.run()
    check('error' not in outcome, outcome.get('error'))
    equal(events[:5], ['started', 'write 0', 'write 1', 'write 2', 'write 3'], 'writes complete in order')
    check(events.index('close') < events.index('eof'), 'close before the end of output: %s' % events)
    equal(bytes(out[1]), b''.join(pieces), 'cat echoed every byte in order')
    equal(bytes(out[2]), b'done\n', 'stderr')
    check(outcome.get('waited') and process.get_if_exited(), 'wait_finish')
    equal(process.get_exit_status(), 4, 'exit status')

    # A read cancelled with a cancel signal set stops the program.
    sleeper = Mitogen.Process.new(F.context, ['sleep', '60'])
    sleeper.start(None)
    sleeper.set_cancel_signal(15)
    equal(sleeper.get_cancel_signal(), 15, 'cancel signal')
    cancellable = Gio.Cancellable.new()
    result = {}

    def on_cancelled_read(p, res):
        try:
            p.read_finish(res)
        except GLib.Error as e:
            result['error'] = e
        loop.quit()

    sleeper.read_async(cancellable, on_cancelled_read)
    GLib.timeout_add(100, lambda: cancellable.cancel() or GLib.SOURCE_REMOVE)
    loop.run()
    check(result['error'].matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED), 'cancelled read')
    done = []
    sleeper.wait_async(None, lambda p, res: done.append(p.wait_finish(res)))
    run_loop_until(lambda: done, 'the program to end')
    equal(sleeper.get_term_sig(), 15, 'the program got SIGTERM')
    try:
        Mitogen.Process.new(F.context, ['true']).wait(None)
    except GLib.Error as e:
        check(e.matches(Gio.io_error_quark(), Gio.IOErrorEnum.NOT_CONNECTED), 'wait before start: %s' % e)
    else:
        raise AssertionError('wait before start did not raise')


@test
def function_registry():
    """register_function (the notified form) registers a Python function and frees it when replaced."""
    class Func:
        def __call__(self, call, args):
            return GLib.Variant('s', call.get_function())

    func = Func()
    alive = weakref.ref(func)
    Mitogen.register_function('gi_test.func', '(s)', 's', 'a Python function', func)
    del func
    gc.collect()
    found, args_type, return_type, description = Mitogen.lookup_function('gi_test.func')
    check(found, 'lookup_function finds it')
    equal((args_type, return_type, description), ('(s)', 's', 'a Python function'), 'its types')
    check('gi_test.func' in Mitogen.list_functions(), 'list_functions lists it')
    check('os.getpid' in Mitogen.list_functions(), 'built-ins are listed')
    check(alive() is not None, 'the registry keeps the function alive')
    Mitogen.register_function('gi_test.func', '()', 'u', None, lambda call, args: None)
    gc.collect()
    check(alive() is None, 'replacing the registration frees the old function')
    equal(Mitogen.lookup_function('gi_test.func')[1], '()', 'the new registration')


@test
def types_are_registered():
    """Enums and boxed types have GTypes; the error domain maps to Mitogen.Error."""
    equal(Mitogen.Error.__gtype__.name, 'MitogenError', 'MitogenError GType')
    equal(Mitogen.Handle.__gtype__.name, 'MitogenHandle', 'MitogenHandle GType')
    equal(int(Mitogen.Handle.CALL_FUNCTION), 101, 'CALL_FUNCTION')
    equal(GLib.quark_to_string(Mitogen.error_quark()), 'mitogen-error-quark', 'error quark')
    equal(Mitogen.Message.__gtype__.name, 'MitogenMessage', 'MitogenMessage GType')
    message = Mitogen.Message.new_dead(5, 1234)
    check(message.is_dead(), 'a dead message')
    equal((message.get_dst_id(), message.get_handle()), (5, 1234), 'header fields')
    check('local' in Mitogen.Transport.list_methods(), 'the local transport is found')


@test
def router_shutdown():
    """Shutting the router down disconnects its contexts; calls then fail cleanly."""
    F.router.shutdown()
    try:
        F.context.call('os.getpid', None, None)
    except GLib.Error as e:
        equal(e.domain, 'mitogen-error-quark', 'a call after shutdown fails in our domain')
        check(e.code in (int(Mitogen.Error.CHANNEL), int(Mitogen.Error.CLOSED)), 'CHANNEL or CLOSED: %d' % e.code)
    else:
        raise AssertionError('a call after shutdown succeeded')
    check(not F.context.is_connected(), 'the context is disconnected')


# --- MitogenInteraction: a Python subclass answers --------------------------

# A stand-in for sudo (the sudo method's sudo_path option): shows the
# prompt it is given on its controlling terminal (the transport's PTY) and
# runs the command only if "secret" is typed there. Real sudo and sshd:
# tests/test-interaction.c.
FAKE_SUDO = """#!/bin/sh
prompt=
while [ $# -gt 0 ]; do
  case $1 in
    -p) prompt=$2; shift 2 ;;
    --) shift; break ;;
    *) shift ;;
  esac
done
printf '%s' "$prompt" > /dev/tty
read -r answer < /dev/tty || exit 1
[ "$answer" = secret ] || { printf 'Sorry, try again.\\n%s' "$prompt" > /dev/tty; sleep 10; exit 1; }
exec "$@"
"""


class PasswordAsker(Mitogen.Interaction):
    """Answers password requests with a fixed answer, recording them."""

    def __init__(self, answer):
        super().__init__()
        self.answer = answer
        self.requests = []

    def do_ask_password(self, request, cancellable):
        self.requests.append((threading.get_ident(), request.get_method(), request.get_kind(),
                              request.get_target()))
        request.set_answer(self.answer)
        return Mitogen.InteractionResult.HANDLED


def with_fake_sudo(func):
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        fake = os.path.join(d, 'sudo')
        with open(fake, 'w') as f:
            f.write(FAKE_SUDO)
        os.chmod(fake, 0o755)
        return func(GLib.Variant('a{sv}', {'sudo_path': GLib.Variant('s', fake),
                                            'connect_timeout': GLib.Variant('d', TIMEOUT)}))


@test
def interaction_answers_sudo_password():
    """A subclass's do_ask_password answers the sudo prompt (typed through
    the PTY), on the thread that called connect()."""
    def body(options):
        router = Mitogen.Router.new()
        asker = PasswordAsker('secret')
        router.set_interaction(asker)
        check(router.props.interaction is asker, 'the interaction property')
        context = router.connect('sudo', options, None, None)
        equal(context.call('os.getuid', None, None).unpack(), os.getuid(), 'the context runs')
        equal(len(asker.requests), 1, 'asked once')
        thread, method, kind, target = asker.requests[0]
        equal(thread, MAIN_THREAD, 'asked on the calling thread')
        equal((method, kind), ('sudo', Mitogen.SecretKind.PASSWORD), 'the request')
        check(target.startswith('sudo -u '), 'the target: ' + target)

        # A wrong answer, and none: MITOGEN_ERROR_PASSWORD.
        for interaction, fragment in ((PasswordAsker('wrong'), 'incorrect'),
                                      (Mitogen.Interaction(), 'did not answer')):
            router.set_interaction(interaction)
            try:
                router.connect('sudo', options, None, None)
            except GLib.Error as e:
                check(e.matches(Mitogen.error_quark(), Mitogen.Error.PASSWORD), 'PASSWORD: ' + e.message)
                check(fragment in e.message, e.message)
            else:
                raise AssertionError('connected without the password')
        router.shutdown()
    with_fake_sudo(body)


@test
def interaction_requests():
    """The requests' fields and answers, and the synchronous calls."""
    class HostKeys(Mitogen.Interaction):
        def do_ask_host_key(self, request, cancellable):
            if request.get_changed():
                return Mitogen.InteractionResult.UNHANDLED
            request.set_answer(Mitogen.HostKeyAnswer.ACCEPT_ALWAYS)
            return Mitogen.InteractionResult.HANDLED

    request = Mitogen.HostKeyRequest.new('db', 2222, 'ssh-ed25519', 'SHA256:abc', False, '/k')
    equal(request.get_answer(), Mitogen.HostKeyAnswer.REFUSE, 'refused by default')
    equal(HostKeys().ask_host_key(request, None), Mitogen.InteractionResult.HANDLED, 'handled')
    equal(request.get_answer(), Mitogen.HostKeyAnswer.ACCEPT_ALWAYS, 'the answer')
    equal((request.get_host(), request.get_port(), request.get_key_type(), request.get_fingerprint(),
           request.get_known_hosts_file()), ('db', 2222, 'ssh-ed25519', 'SHA256:abc', '/k'), 'fields')
    changed = Mitogen.HostKeyRequest.new('db', 22, 'ssh-rsa', 'SHA256:x', True, None)
    equal(HostKeys().ask_host_key(changed, None), Mitogen.InteractionResult.UNHANDLED, 'unhandled')

    questions = Mitogen.QuestionsRequest.new('ssh', 'u@db:22', 'OTP', 'Answer both', ['Code: ', 'Name: '],
                                             [False, True])
    equal(list(questions.get_prompts()), ['Code: ', 'Name: '], 'prompts')
    equal((questions.get_echo(0), questions.get_echo(1)), (False, True), 'echo flags')
    check(not questions.set_answers(['one']), 'one answer for two prompts is refused')
    check(questions.set_answers(['1234', 'me']), 'answers set')
    equal(list(questions.get_answers()), ['1234', 'me'], 'answers')
    equal(Mitogen.Interaction().ask_questions(questions, None), Mitogen.InteractionResult.UNHANDLED,
          'the base class answers nothing')
    ia = Mitogen.Interaction()
    equal(ia.props.timeout, 120.0, 'the default timeout')
    ia.set_timeout(5)
    equal(ia.get_timeout(), 5.0, 'timeout')


def main():
    print('1..%d' % len(tests))
    failed = 0
    for number, func in enumerate(tests, 1):
        name = func.__name__
        try:
            outcome = func()
        except Exception:
            failed += 1
            print('not ok %d %s' % (number, name))
            for line in traceback.format_exc().splitlines():
                print('# ' + line)
            continue
        if isinstance(outcome, tuple) and outcome[0] == 'skip':
            print('ok %d %s # SKIP %s' % (number, name, outcome[1]))
        else:
            print('ok %d %s' % (number, name))
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
