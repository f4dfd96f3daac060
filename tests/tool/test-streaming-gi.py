#!/usr/bin/python3
# test-streaming-gi.py — MitogenProcess and MitogenTransfer through GObject
# introspection (PyGObject): the API is usable from a binding, callbacks
# (progress, async) included. Prints TAP.
#
# SPDX-License-Identifier: BSD-3-Clause

import hashlib
import os
import sys
import tempfile
import time
import traceback

import gi
gi.require_version("Mitogen", "1.0")
from gi.repository import GLib, Mitogen  # noqa: E402

TESTS = []


def test(func):
    TESTS.append(func)
    return func


def local(router):
    return router.connect("local", GLib.Variant("a{sv}", {}), None, None)


@test
def process_streams_and_exit_status():
    router = Mitogen.Router.new()
    process = Mitogen.Process.new(local(router), ["sh", "-c", "echo first; sleep 1; cat; echo err >&2; exit 5"])
    start = time.monotonic()
    process.start(None)
    assert process.get_pid() > 0
    chunks = []
    first_at = None
    process.write(GLib.Bytes.new(b"from stdin\n"), None)
    process.close_stdin()
    while True:
        data, fd = process.read(None)
        if data is None:
            break
        if first_at is None:
            first_at = time.monotonic() - start
        chunks.append((fd, data.get_data()))
    assert first_at is not None and first_at < 0.8, first_at
    out = b"".join(d for fd, d in chunks if fd == 1)
    err = b"".join(d for fd, d in chunks if fd == 2)
    assert (out, err) == (b"first\nfrom stdin\n", b"err\n"), chunks
    assert process.get_finished() and process.get_if_exited() and process.get_exit_status() == 5


@test
def process_spawn_error():
    router = Mitogen.Router.new()
    process = Mitogen.Process.new(local(router), ["/nonexistent/program"])
    try:
        process.start(None)
    except GLib.Error as e:
        assert e.matches(Mitogen.Error.quark(), Mitogen.Error.CALL), e
        assert "nonexistent" in e.message, e.message
    else:
        raise AssertionError("start() should have failed")


@test
def fakessh_from_python():
    # fakessh through the binding: the program's ssh runs in the context,
    # its status comes back; bad input is a GLib.Error.
    router = Mitogen.Router.new()
    context = local(router)
    try:
        status = Mitogen.fakessh_run(router, context, ["sh", "-c", "test \"$(ssh h echo hi)\" = hi && ssh h 'exit 5'"],
                                     None, 60, None)
        assert status == 5, status
        try:
            Mitogen.fakessh_run(router, context, ["/nonexistent/program"], None, 0, None)
        except GLib.Error as e:
            assert e.matches(Mitogen.Error.quark(), Mitogen.Error.NOT_FOUND), e
        else:
            raise AssertionError("fakessh_run() should have failed")
        # The async form, in a GLib main loop.
        loop = GLib.MainLoop()
        results = []

        def done(source, result):
            results.append(Mitogen.fakessh_run_finish(router, result))
            loop.quit()

        Mitogen.fakessh_run_async(router, context, ["sh", "-c", "ssh h 'exit 9'"], None, 60, None, done)
        GLib.timeout_add_seconds(30, loop.quit)
        loop.run()
        assert results == [9], results
    finally:
        router.shutdown()


@test
def transfer_progress_and_async():
    router = Mitogen.Router.new()
    context = local(router)
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "src")
        data = os.urandom(3 * 1024 * 1024 + 1)
        with open(src, "wb") as f:
            f.write(data)
        os.chmod(src, 0o604)
        progress = []
        transfer = Mitogen.Transfer.new(context, Mitogen.TransferDirection.PUT, src, os.path.join(d, "put"),
                                        Mitogen.TransferFlags.NONE)
        transfer.set_chunk_size(256 * 1024)
        transfer.set_progress_func(lambda t, done, total: progress.append((done, total)))
        transfer.run(None)
        assert progress[-1] == (len(data), len(data)) and len(progress) > 5, progress[-3:]
        assert transfer.dup_sha256() == hashlib.sha256(data).hexdigest()
        assert transfer.get_files_done() == 1 and transfer.get_bytes_done() == len(data)
        assert os.stat(os.path.join(d, "put")).st_mode & 0o7777 == 0o604

        loop = GLib.MainLoop()
        outcome = []

        def done(source, result):
            outcome.append(source.run_finish(result))
            loop.quit()

        transfer = Mitogen.Transfer.new(context, Mitogen.TransferDirection.GET, os.path.join(d, "put"),
                                        os.path.join(d, "got"), Mitogen.TransferFlags.NONE)
        reports = []
        transfer.set_progress_func(lambda t, done_bytes, total: reports.append(done_bytes))
        transfer.run_async(None, done)
        loop.run()
        assert outcome == [True], outcome
        assert reports and reports[-1] == len(data), reports[-3:]
        assert open(os.path.join(d, "got"), "rb").read() == data

        assert context.put_file(src, os.path.join(d, "p2"), Mitogen.TransferFlags.NONE, None)
        assert context.get_file(os.path.join(d, "p2"), os.path.join(d, "g2"), Mitogen.TransferFlags.NONE, None)
        assert open(os.path.join(d, "g2"), "rb").read() == data
        try:
            context.get_file(d, os.path.join(d, "x"), Mitogen.TransferFlags.NONE, None)
        except GLib.Error as e:
            assert "directory" in e.message, e.message
        else:
            raise AssertionError("a directory without RECURSIVE should fail")
        assert context.get_file(d, os.path.join(d, "tree"), Mitogen.TransferFlags.RECURSIVE, None)
        assert open(os.path.join(d, "tree", "src"), "rb").read() == data


def main():
    print(f"1..{len(TESTS)}")
    failed = 0
    for i, func in enumerate(TESTS, 1):
        try:
            func()
        except Exception:
            failed += 1
            print(f"not ok {i} {func.__name__}")
            for line in traceback.format_exc().splitlines():
                print(f"# {line}")
        else:
            print(f"ok {i} {func.__name__}")
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
