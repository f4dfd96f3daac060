#!/usr/bin/gjs
// Mitogen-1.0 through gjs: the calls a JavaScript user makes, with real
// child contexts. Prints TAP. Needs GI_TYPELIB_PATH and LD_LIBRARY_PATH to
// point at the typelib and library under test (the build tree, or an
// installed prefix).
//
// SPDX-License-Identifier: BSD-3-Clause

imports.gi.versions.GLib = '2.0';
imports.gi.versions.Gio = '2.0';
imports.gi.versions.GIRepository = '2.0';
imports.gi.versions.Mitogen = '1.0';
const {GLib, GObject, Gio, GIRepository, Mitogen} = imports.gi;
const System = imports.system;

const TIMEOUT = 30.0;
const tests = [];
const F = {router: null, context: null};

function test(name, func) {
    tests.push([name, func]);
}

function check(condition, what) {
    if (!condition)
        throw new Error(`check failed: ${what}`);
}

function equal(actual, expected, what) {
    const a = JSON.stringify(actual), e = JSON.stringify(expected);
    if (a !== e)
        throw new Error(`${what}: got ${a}, expected ${e}`);
}

function raises(func, what) {
    try {
        func();
    } catch (e) {
        return e;
    }
    throw new Error(`${what}: did not throw`);
}

function runLoopUntil(done, what) {
    const context = GLib.MainContext.default();
    const deadline = GLib.get_monotonic_time() + TIMEOUT * 1e6;
    while (!done() && GLib.get_monotonic_time() < deadline) {
        GLib.timeout_add(GLib.PRIORITY_DEFAULT, 10, () => GLib.SOURCE_REMOVE);
        context.iteration(true);
    }
    check(done(), `timed out waiting for ${what}`);
}

function echoRequest(context, value, replyTo) {
    const body = new GLib.Variant('(sva{sv})', ['mitogen.echo', new GLib.Variant('(i)', [value]), {}]);
    const message = Mitogen.Message.new(context.get_id(), Mitogen.Handle.CALL_FUNCTION, body);
    message.set_reply_to(replyTo);
    return message;
}

test('loaded_from_expected_tree', () => {
    const tree = GLib.getenv('MITOGEN_TEST_EXPECT_TREE');
    if (!tree)
        return 'SKIP MITOGEN_TEST_EXPECT_TREE is not set';
    const real = path => Gio.File.new_for_path(GLib.canonicalize_filename(path, null)).get_path();
    const root = real(tree) + '/';
    Mitogen.is_master();  // GI opens the library at the first call
    const typelib = GIRepository.Repository.get_default().get_typelib_path('Mitogen');
    check(real(typelib).startsWith(root), `typelib ${typelib} is under ${root}`);
    const [, maps] = GLib.file_get_contents('/proc/self/maps');
    const libraries = new Set(new TextDecoder().decode(maps).split('\n')
        .filter(line => line.includes('libmitogen-1.0.so')).map(line => line.trim().split(/\s+/).pop()));
    equal(libraries.size, 1, 'one libmitogen-1.0 loaded');
    const library = [...libraries][0];
    check(real(library).startsWith(root), `library ${library} is under ${root}`);
    return null;
});

test('local_context', () => {
    F.router = Mitogen.Router.new();
    check(F.router instanceof Mitogen.Router, 'Router.new() returns a Mitogen.Router');
    equal(F.router.get_context_id(), 0, 'the master is context 0');
    F.context = F.router.local(null, null);
    check(F.context instanceof Mitogen.Context, 'local() returns a Mitogen.Context');
    check(F.context.get_id() > 0, 'a child has a non-zero id');
    check(F.context.is_connected(), 'the child is connected');
    check(F.context.get_router() === F.router, 'the context knows its router');
    check(F.router.context_by_id(F.context.get_id()) === F.context, 'context_by_id finds it');
});

test('blocking_call', () => {
    const pid = F.context.call('os.getpid', null, null);
    equal(pid.get_type_string(), 'x', 'os.getpid type');
    check(pid.unpack() > 0, 'a pid');
    const echoed = F.context.call('mitogen.echo', new GLib.Variant('(sas)', ['x', ['a', 'b']]), null);
    equal(echoed.deepUnpack(), ['x', ['a', 'b']], 'mitogen.echo round trip');
    const identity = F.context.call('mitogen.identity', null, null).deepUnpack();
    equal(identity['context_id'].unpack(), F.context.get_id(), 'the child knows its id');
    equal(identity['is_master'].unpack(), false, 'the child is not the master');
    check(Mitogen.is_master(), 'this process is the master');
    equal(Mitogen.parent_id(), -1, 'the master has no parent');
});

test('remote_error', () => {
    const e = raises(() => F.context.call('mitogen.fail', new GLib.Variant('(s)', ['it (broke)']), null),
        'mitogen.fail');
    check(e instanceof GLib.Error, 'a GLib.Error');
    equal(GLib.quark_to_string(e.domain), 'mitogen-error-quark', 'error domain');
    equal(e.code, Mitogen.Error.CALL, 'error code');
    check(e.matches(Mitogen.error_quark(), Mitogen.Error.CALL), 'GLib.Error.matches');
    equal(Mitogen.error_get_remote_domain(e), 'g-io-error-quark', 'remote domain');
    equal(Mitogen.error_get_remote_code(e), Gio.IOErrorEnum.FAILED, 'remote code');
    equal(Mitogen.error_get_remote_message(e), 'it (broke)', 'remote message');
    equal(Mitogen.error_get_context_name(e), F.context.get_name(), 'context name');
    check(Mitogen.error_get_remote_backtrace(e) !== null, 'gjs keeps the whole GError, backtrace included');
});

// A bare GLib.Variant('s', '/') as a call's arguments, in a gjs child
// without fatal-criticals, so that a critical would show on its stderr (as
// the report had it) rather than abort this test.
const NOT_A_TUPLE_SCRIPT = `
imports.gi.versions.Mitogen = '1.0';
const {GLib, Mitogen} = imports.gi;
const errorOf = func => {
    try {
        func();
    } catch (e) {
        return [GLib.quark_to_string(e.domain), e.code, e.message,
            Mitogen.error_get_remote_domain(e), Mitogen.error_get_remote_code(e),
            Mitogen.error_get_remote_message(e)];
    }
    return null;
};
const router = Mitogen.Router.new();
const context = router.local(null, null);
const out = {};
out.call = errorOf(() => context.call('os.listdir', new GLib.Variant('s', '/'), null));
let result = null;
context.call_async('os.listdir', new GLib.Variant('s', '/'), null, (c, r) => {
    result = r;
});
while (result === null)
    GLib.MainContext.default().iteration(true);
out.call_async = errorOf(() => context.call_finish(result));
const receiver = context.begin_call('os.listdir', new GLib.Variant('s', '/'));
out.begin_call = errorOf(() => receiver.get_data(10));
out.after = context.call('os.listdir', new GLib.Variant('(s)', ['/']), null).get_type_string();
router.shutdown();
print(JSON.stringify(out));
`;

test('call_args_not_a_tuple', () => {
    const envp = GLib.get_environ().filter(kv => !kv.startsWith('G_DEBUG='));
    const gjs = GLib.find_program_in_path('gjs');
    const [, stdout, stderr, status] = GLib.spawn_sync(null, [gjs, '-c', NOT_A_TUPLE_SCRIPT], envp,
        GLib.SpawnFlags.DEFAULT, null);
    const err = new TextDecoder().decode(stderr);
    check(GLib.spawn_check_wait_status(status), `the child ran (stderr: ${err})`);
    check(!err.includes('CRITICAL') && !err.includes('WARNING'), `no critical or warning: ${err}`);
    const out = JSON.parse(new TextDecoder().decode(stdout));
    const expected = "os.listdir: arguments must be a tuple (GVariant type '(...)'), not 's'";
    for (const entry of ['call', 'call_async']) {
        const [domain, code, message] = out[entry];
        equal([domain, code], ['mitogen-error-quark', Mitogen.Error.INVALID_ARGUMENT], `${entry} error`);
        check(message.startsWith(expected) && message.includes("'(s)'"), `${entry} message: ${message}`);
        check(!message.includes('router is gone'), `${entry}: not the false router error`);
    }
    const [domain, code, , remoteDomain, remoteCode, remoteMessage] = out.begin_call;
    equal([domain, code], ['mitogen-error-quark', Mitogen.Error.CALL], 'begin_call: the reply is the error');
    equal([remoteDomain, remoteCode], ['mitogen-error-quark', Mitogen.Error.INVALID_ARGUMENT],
        'begin_call: remote domain and code');
    check(remoteMessage.startsWith(expected), `begin_call message: ${remoteMessage}`);
    equal(out.after, 'as', 'the context serves on');
});

test('begin_call_many_contexts', () => {
    const contexts = [F.context, F.router.local(null, null), F.router.local(null, null)];
    equal(new Set(contexts.map(c => c.get_id())).size, 3, 'three distinct contexts');
    const receivers = contexts.map(c => c.begin_call('mitogen.identity', null));
    receivers.forEach((r, i) => {
        const message = r.get(TIMEOUT);
        check(!message.is_dead() && !message.is_error(), 'a value reply');
        equal(message.get_src_id(), contexts[i].get_id(), 'the reply comes from the context');
        equal(message.get_value().deepUnpack()['context_id'].unpack(), contexts[i].get_id(), 'the context answered');
    });
    contexts.slice(1).forEach(c => check(c.shutdown(TIMEOUT), 'shutdown() succeeds'));
});

test('select_many_contexts', () => {
    if (Mitogen.Select === undefined || Mitogen.Select.prototype.add === undefined)
        return 'SKIP Mitogen.Select is not in this build';
    const contexts = [F.context, F.router.local(null, null), F.router.local(null, null)];
    const select = Mitogen.Select.new(true);
    const expected = new Map();
    for (const c of contexts) {
        const r = c.begin_call('mitogen.identity', null);
        select.add(r);
        expected.set(r.get_handle(), c.get_id());
    }
    const seen = new Set();
    for (let i = 0; i < contexts.length; i++) {
        const message = select.get(TIMEOUT);
        const want = expected.get(message.get_receiver().get_handle());
        equal(message.get_value().deepUnpack()['context_id'].unpack(), want, 'the reply matches its receiver');
        seen.add(want);
    }
    equal(seen.size, contexts.length, 'every context answered once');
    contexts.slice(1).forEach(c => c.shutdown(TIMEOUT));
    return null;
});

test('async_call', () => {
    const results = {};
    const done = key => (context, result) => {
        try {
            results[key] = {value: context.call_finish(result)};
        } catch (e) {
            results[key] = {error: e};
        }
    };
    F.context.call_async('mitogen.echo', new GLib.Variant('(s)', ['async']), null, done('ok'));
    F.context.call_async('mitogen.fail', new GLib.Variant('(s)', ['async boom']), null, done('fail'));
    check(Object.keys(results).length === 0, 'nothing completes before the loop runs');
    runLoopUntil(() => results.ok && results.fail, 'two async calls');
    equal(results.ok.value.unpack(), 'async', 'the async value');
    check(results.fail.error.matches(Mitogen.error_quark(), Mitogen.Error.CALL), 'async error');
    equal(Mitogen.error_get_remote_message(results.fail.error), 'async boom', 'async remote message');

    const cancellable = new Gio.Cancellable();
    F.context.call_async('mitogen.sleep', new GLib.Variant('(d)', [5.0]), cancellable, done('cancel'));
    cancellable.cancel();
    runLoopUntil(() => results.cancel, 'a cancelled call');
    check(results.cancel.error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED), 'cancelled');
});

test('streaming_to_a_receiver', () => {
    const receiver = Mitogen.Receiver.new(F.router, 0, true, null);
    const handle = receiver.get_handle();
    for (let i = 0; i < 5; i++)
        check(F.router.route(Mitogen.Message.new(0, handle, new GLib.Variant('(is)', [i, 'item']))), 'route');
    for (let i = 0; i < 5; i++) {
        const message = receiver.get(TIMEOUT);
        equal(message.get_handle(), handle, 'the handle');
        equal(message.get_value().deepUnpack(), [i, 'item'], 'in order');
    }
    check(receiver.empty(), 'nothing more');
    receiver.close();
    const e = raises(() => receiver.get(1.0), 'get() on a closed receiver');
    equal(GLib.quark_to_string(e.domain), 'mitogen-error-quark', 'a closed receiver raises');
});

test('sender_streaming', () => {
    if (Mitogen.Sender === undefined || Mitogen.Sender.prototype.put === undefined)
        return 'SKIP Mitogen.Sender is not in this build';
    if (!Mitogen.list_functions().includes('mitogen.channel_echo'))
        return 'SKIP no mitogen.channel_echo built-in in this build';
    const receiver = Mitogen.Receiver.new(F.router, 0, true, F.context);
    const call = F.context.begin_call('mitogen.channel_echo', new GLib.Variant('(uu)', [receiver.get_handle(), 0]));
    const childHandle = receiver.get(TIMEOUT).get_value().unpack();
    check(childHandle >= Mitogen.Handle.FIRST_USER, 'the child sends its channel handle first');
    const sender = Mitogen.Sender.new(F.context, childHandle);
    for (let i = 0; i < 10; i++)
        check(sender.put(new GLib.Variant('(is)', [i, 'x'.repeat(i)])), 'put() queues');
    const values = [];
    for (let i = 0; i < 10; i++)
        values.push(receiver.get(TIMEOUT).get_value().deepUnpack());
    equal(values, [...Array(10).keys()].map(i => [i, 'x'.repeat(i)]), 'echoed in order');
    check(sender.close(), 'close() sends the dead marker');
    const closed = raises(() => receiver.get(TIMEOUT), 'get() after the child closed its end');
    check(closed.matches(Mitogen.error_quark(), Mitogen.Error.CHANNEL), 'the child closes its end in turn');
    equal(call.get(TIMEOUT).get_value().unpack(), 10, 'the child echoed 10 values');
    receiver.close();
    return null;
});

test('received_signal', () => {
    const receiver = Mitogen.Receiver.new(F.router, 0, true, F.context);
    const got = [];
    receiver.connect('received', (r, message) => {
        got.push([r, message.get_value().unpack(), message.get_src_id()]);
    });
    for (let i = 0; i < 3; i++)
        F.router.route(echoRequest(F.context, 100 + i, receiver.get_handle()));
    runLoopUntil(() => got.length === 3, '3 ::received emissions');
    equal(got.map(g => g[1]).sort(), [100, 101, 102], 'the values');
    for (const [r, , src] of got) {
        check(r === receiver, 'the signal passes the receiver');
        equal(src, F.context.get_id(), 'from the child');
    }
    check(receiver.empty(), 'push mode: nothing queued');
    receiver.close();
});

test('function_registry', () => {
    Mitogen.register_function('gi_test.js', '(s)', 's', 'a JavaScript function',
        (call, args) => new GLib.Variant('s', call.get_function()));
    const [found, argsType, returnType, description] = Mitogen.lookup_function('gi_test.js');
    check(found, 'lookup_function finds it');
    equal([argsType, returnType, description], ['(s)', 's', 'a JavaScript function'], 'its types');
    check(Mitogen.list_functions().includes('gi_test.js'), 'list_functions lists it');
});

test('types_are_registered', () => {
    equal(GLib.quark_to_string(Mitogen.error_quark()), 'mitogen-error-quark', 'error quark');
    equal(Mitogen.Handle.CALL_FUNCTION, 101, 'CALL_FUNCTION');
    equal(Mitogen.Handle.$gtype.name, 'MitogenHandle', 'MitogenHandle GType');
    const message = Mitogen.Message.new_dead(5, 1234);
    check(message.is_dead(), 'a dead message');
    equal([message.get_dst_id(), message.get_handle()], [5, 1234], 'header fields');
    check(Mitogen.Transport.list_methods().includes('local'), 'the local transport is found');
});


// MitogenInteraction: a gjs subclass answers sudo's password (a stand-in
// for sudo through the sudo_path option: it shows its prompt on the PTY
// and runs the command for "secret"; real sudo and sshd are in
// tests/test-interaction.c).
const FAKE_SUDO = `#!/bin/sh
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
`;

const PasswordAsker = GObject.registerClass(
class PasswordAsker extends Mitogen.Interaction {
    _init(answer) {
        super._init();
        this.answer = answer;
        this.requests = [];
    }

    vfunc_ask_password(request, cancellable) {
        this.requests.push([request.get_method(), request.get_kind(), request.get_target()]);
        request.set_answer(this.answer);
        return Mitogen.InteractionResult.HANDLED;
    }
});

test('interaction_answers_sudo_password', () => {
    const dir = GLib.dir_make_tmp('mitogen-gjs-XXXXXX');
    const fake = GLib.build_filenamev([dir, 'sudo']);
    GLib.file_set_contents(fake, FAKE_SUDO);
    GLib.spawn_sync(null, ['chmod', '755', fake], null, GLib.SpawnFlags.SEARCH_PATH, null);
    try {
        const options = new GLib.Variant('a{sv}', {
            sudo_path: new GLib.Variant('s', fake),
            connect_timeout: new GLib.Variant('d', TIMEOUT),
        });
        const router = Mitogen.Router.new();
        const asker = new PasswordAsker('secret');
        router.set_interaction(asker);
        check(router.interaction === asker, 'the interaction property');
        const context = router.connect('sudo', options, null, null);
        check(context.call('os.getpid', null, null).unpack() > 0, 'the context runs');
        equal(asker.requests.length, 1, 'asked once');
        equal(asker.requests[0][0], 'sudo', 'method');
        equal(asker.requests[0][1], Mitogen.SecretKind.PASSWORD, 'kind');
        check(asker.requests[0][2].startsWith('sudo -u '), `target ${asker.requests[0][2]}`);

        router.set_interaction(new Mitogen.Interaction());
        const e = raises(() => router.connect('sudo', options, null, null), 'no answer');
        check(e.matches(Mitogen.error_quark(), Mitogen.Error.PASSWORD), `PASSWORD: ${e.message}`);
        router.shutdown();
    } finally {
        GLib.unlink(fake);
        GLib.rmdir(dir);
    }
});

test('interaction_host_key_request', () => {
    const HostKeys = GObject.registerClass(
    class HostKeys extends Mitogen.Interaction {
        vfunc_ask_host_key(request, cancellable) {
            request.set_answer(Mitogen.HostKeyAnswer.ACCEPT_ONCE);
            return Mitogen.InteractionResult.HANDLED;
        }
    });
    const request = Mitogen.HostKeyRequest.new('db', 2222, 'ssh-ed25519', 'SHA256:abc', true, null);
    equal(new HostKeys().ask_host_key(request, null), Mitogen.InteractionResult.HANDLED, 'handled');
    equal(request.get_answer(), Mitogen.HostKeyAnswer.ACCEPT_ONCE, 'the answer');
    equal([request.get_host(), request.get_port(), request.get_changed()], ['db', 2222, true], 'fields');
});

test('router_shutdown', () => {
    F.router.shutdown();
    const e = raises(() => F.context.call('os.getpid', null, null), 'a call after shutdown');
    check(e.matches(Mitogen.error_quark(), Mitogen.Error.CHANNEL) ||
          e.matches(Mitogen.error_quark(), Mitogen.Error.CLOSED), `CHANNEL or CLOSED: ${e.message}`);
    check(!F.context.is_connected(), 'the context is disconnected');
});

print(`1..${tests.length}`);
let failed = 0;
tests.forEach(([name, func], i) => {
    let outcome;
    try {
        outcome = func();
    } catch (e) {
        failed++;
        print(`not ok ${i + 1} ${name}`);
        for (const line of `${e}\n${e.stack || ''}`.split('\n'))
            print(`# ${line}`);
        return;
    }
    if (typeof outcome === 'string' && outcome.startsWith('SKIP'))
        print(`ok ${i + 1} ${name} # ${outcome}`);
    else
        print(`ok ${i + 1} ${name}`);
});
System.exit(failed ? 1 : 0);
