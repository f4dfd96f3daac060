#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""The mitogen-bench scenarios, measured with Python Mitogen and execnet.

Run with the system interpreter (/usr/bin/python3), which has the Debian
packages python3-mitogen (0.3.3) and python3-execnet (1.9):

    /usr/bin/python3 bench/peers.py [--quick] [--calls N] [--peer NAME]

Prints one line per figure on stdout: peer<TAB>name<TAB>value<TAB>unit.
A scenario that fails prints peer<TAB>name<TAB>NA<TAB>reason instead and the
others still run; the exit status is 0 unless the arguments were wrong.
Progress and tracebacks go to stderr.

Python Mitogen ships this module to its children to run the functions
below, so everything that must not run there stays behind the __main__
guard, and execnet is imported only inside the execnet scenarios.
"""

import argparse
import gc
import os
import resource
import signal
import statistics
import sys
import threading
import time
import traceback

PYTHON = '/usr/bin/python3'
BULK_SIZE = 1024 * 1024
WATCHDOG_S = 600


# ---------------------------------------------------------------------------
# Functions the Python Mitogen children run (shipped as module __main__).

def noop():
    return None


def zeros(n):
    return b'\0' * n


def getpid():
    return os.getpid()


def proc_status_kb(pid, field):
    """A "VmXXX:" field of /proc/PID/status, in kB, or None."""
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss(pid):
    """Resets VmHWM of pid to its current RSS (Linux >= 4.0); True if done."""
    try:
        with open('/proc/%d/clear_refs' % pid, 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


class PeakRss:
    """Peak RSS of this process during a with-block, minus RSS before it,
    in kB; and the peak RSS of a child (pid) during it. Falls back to
    getrusage's all-time maximum where VmHWM cannot be reset."""

    def __init__(self, child_pid):
        self.child_pid = child_pid

    def __enter__(self):
        self.reset = reset_peak_rss(os.getpid())
        self.child_reset = reset_peak_rss(self.child_pid)
        self.before = proc_status_kb(os.getpid(), 'VmRSS') if self.reset else maxrss_kb()
        return self

    def __exit__(self, *exc):
        after = proc_status_kb(os.getpid(), 'VmHWM') if self.reset else maxrss_kb()
        self.growth = after - self.before
        self.child_peak = proc_status_kb(self.child_pid, 'VmHWM')


def maxrss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# ---------------------------------------------------------------------------
# Output

class Timeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise Timeout('no answer within %d s' % WATCHDOG_S)


def emit(peer, name, value, unit):
    if value >= 1000:
        text = '%.0f' % value
    elif value >= 10:
        text = '%.1f' % value
    else:
        text = '%.3f' % value
    print('%s\t%s\t%s\t%s' % (peer, name, text, unit), flush=True)


def emit_na(peer, name, reason):
    reason = ' '.join(str(reason).split())[:120] or 'failed'
    print('%s\t%s\tNA\t%s' % (peer, name, reason), flush=True)


def note(text):
    print('peers.py: ' + text, file=sys.stderr, flush=True)


def scenario(peer, names, fn, *args):
    """Run fn(*args), which emits its own lines; on failure emit NA for
    every name it was meant to produce."""
    signal.alarm(WATCHDOG_S)
    try:
        fn(*args)
    except BaseException as e:  # noqa: B902 -- report everything, even Timeout
        if isinstance(e, KeyboardInterrupt):
            raise
        note('%s %s failed:' % (peer, names[0]))
        traceback.print_exc(file=sys.stderr)
        for name in names:
            emit_na(peer, name, '%s: %s' % (type(e).__name__, e))
    finally:
        signal.alarm(0)


# ---------------------------------------------------------------------------
# Python Mitogen

class MitogenPeer:
    name = 'python-mitogen'

    def __init__(self, opts):
        import mitogen.master
        self.opts = opts
        self.mitogen_master = mitogen.master

    def __enter__(self):
        self.broker = self.mitogen_master.Broker()
        self.router = self.mitogen_master.Router(self.broker)
        return self

    def __exit__(self, *exc):
        self.broker.shutdown()
        self.broker.join()

    def start(self):
        return self.router.local(python_path=PYTHON)

    @staticmethod
    def stop(ctx):
        ctx.shutdown(wait=True)

    def local_start(self):
        ms = []
        for _ in range(self.opts.start_runs):
            t0 = time.monotonic()
            ctx = self.start()
            ctx.call(getpid)
            ms.append((time.monotonic() - t0) * 1e3)
            self.stop(ctx)
        emit(self.name, 'local_start_ms', statistics.median(ms), 'ms')

    def call_rtt(self):
        ctx = self.start()
        self._call_rtt(ctx, 'call_rtt_us')
        self.stop(ctx)

    def _call_rtt(self, ctx, name):
        call = ctx.call
        for _ in range(min(self.opts.calls, 1000)):
            call(noop)
        means = []
        for _ in range(self.opts.batches):
            t0 = time.monotonic()
            for _ in range(self.opts.calls):
                call(noop)
            means.append((time.monotonic() - t0) * 1e6 / self.opts.calls)
        emit(self.name, name, statistics.median(means), 'us')

    def pipelined(self):
        ctx = self.start()
        ctx.call(noop)
        n = self.opts.pipelined
        rates = []
        for _ in range(self.opts.runs):
            t0 = time.monotonic()
            receivers = [ctx.call_async(noop) for _ in range(n)]
            for recv in receivers:
                recv.get().unpickle()
            rates.append(n / (time.monotonic() - t0))
            del receivers
        emit(self.name, 'pipelined_calls_per_s', statistics.median(rates), 'calls/s')
        self.stop(ctx)

    def bulk(self):
        ctx = self.start()
        pid = ctx.call(getpid)
        inflight = []

        def issue():
            inflight.append(ctx.call_async(zeros, BULK_SIZE))

        def take():
            return inflight.pop(0).get().unpickle()

        with PeakRss(pid) as peak:
            rates = bulk_runs(self.opts, issue, take)
        emit_bulk(self.name, rates, peak)
        self.stop(ctx)

    def _start_one(self):
        ctx = self.start()
        ctx.call(getpid)
        return ctx

    def start_seq(self):
        ms = []
        for _ in range(self.opts.runs):
            t0 = time.monotonic()
            contexts = [self._start_one() for _ in range(self.opts.start_n)]
            ms.append((time.monotonic() - t0) * 1e3)
            for ctx in contexts:
                self.stop(ctx)
        emit(self.name, 'start%d_seq_ms' % self.opts.start_n, statistics.median(ms), 'ms')

    def start_par(self):
        ms = []
        for _ in range(self.opts.runs):
            t0 = time.monotonic()
            contexts = run_threads(self._start_one, self.opts.start_n)
            ms.append((time.monotonic() - t0) * 1e3)
            for ctx in contexts:
                self.stop(ctx)
        emit(self.name, 'start%d_par_ms' % self.opts.start_n, statistics.median(ms), 'ms')

    # -- over ssh (the sshd of bench/ssh-host; see ssh_host()) --

    def start_ssh(self):
        host = ssh_host()
        # The OpenSSH client, as Python Mitogen always uses it: the sshd's
        # only cipher named (as for openssh_true_ms), no ssh config files
        # (-F none, as for ours and openssh_true_ms), no compression (its
        # default is on; ours and OpenSSH's are off).
        return self.router.ssh(
            hostname=host['host'], port=host['port'], username=host['user'],
            identity_file=host['key'], check_host_keys='ignore',
            python_path=PYTHON, compression=False,
            ssh_args=['-F', 'none', '-o', 'Ciphers=%s' % host['cipher']])

    def ssh_start(self):
        ms = []
        for _ in range(self.opts.ssh_runs):
            t0 = time.monotonic()
            ctx = self.start_ssh()
            ctx.call(getpid)
            ms.append((time.monotonic() - t0) * 1e3)
            self.stop(ctx)
        emit(self.name, 'ssh_start_ms', statistics.median(ms), 'ms')

    def ssh_call_rtt(self):
        ctx = self.start_ssh()
        self._call_rtt(ctx, 'ssh_call_rtt_us')
        self.stop(ctx)

    def ssh_bulk(self):
        ctx = self.start_ssh()
        ctx.call(noop)
        inflight = []

        def issue():
            inflight.append(ctx.call_async(zeros, BULK_SIZE))

        def take():
            return inflight.pop(0).get().unpickle()

        rates = bulk_runs(self.opts, issue, take, self.opts.ssh_bulk_count)
        emit(self.name, 'ssh_bulk_MBps', statistics.median(rates), 'MB/s')
        self.stop(ctx)

    # -- sudo (as root, to nobody: sudo does not prompt root) --

    def sudo_start(self):
        if os.getuid() != 0:
            raise SudoUnavailable('needs root: sudo would prompt anyone else for a password')
        ms = []
        self.stop(self.router.sudo(username='nobody', python_path=PYTHON))  # warm-up
        for _ in range(5 if self.opts.quick else 15):
            t0 = time.monotonic()
            ctx = self.router.sudo(username='nobody', python_path=PYTHON)
            ctx.call(getpid)
            ms.append((time.monotonic() - t0) * 1e3)
            self.stop(ctx)
        emit(self.name, 'sudo_start_ms', statistics.median(ms), 'ms')

    def idle_rss(self):
        ctx = self.start()
        pid = None
        for _ in range(10):
            ctx.call(noop)
            pid = ctx.call(getpid)
        time.sleep(0.2)
        rss = proc_status_kb(pid, 'VmRSS')
        if rss is None:
            raise RuntimeError('cannot read VmRSS of pid %d' % pid)
        emit(self.name, 'idle_agent_rss_kB', rss, 'kB')
        self.stop(ctx)


def bulk_runs(opts, issue, take, count=None):
    """opts.runs runs of count (default opts.bulk_count) BULK_SIZE replies,
    at most opts.bulk_window in flight: issue() asks for one, take() waits
    for the oldest. The MB/s of each run (MB = 10^6 bytes)."""
    count, window = count or opts.bulk_count, opts.bulk_window
    rates = []
    for _ in range(opts.runs):
        t0 = time.monotonic()
        issued = done = 0
        while issued < min(count, window):
            issue()
            issued += 1
        while done < count:
            data = take()
            if len(data) != BULK_SIZE or data[0] != 0 or data[-1] != 0:
                raise RuntimeError('wrong bytes in a bulk reply')
            del data
            done += 1
            if issued < count:
                issue()
                issued += 1
        rates.append(count * BULK_SIZE / 1e6 / (time.monotonic() - t0))
    return rates


def emit_bulk(peer, rates, peak):
    emit(peer, 'bulk_MBps', statistics.median(rates), 'MB/s')
    emit(peer, 'bulk_master_maxrss_growth_kB', peak.growth, 'kB')
    if peak.child_peak is not None:
        emit(peer, 'bulk_agent_vmhwm_kB', peak.child_peak, 'kB')


def run_threads(fn, n):
    """fn() in n threads at once; their results, or the first exception."""
    results = [None] * n
    errors = []

    def body(i):
        try:
            results[i] = fn()
        except BaseException as e:  # noqa: B902
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


# ---------------------------------------------------------------------------
# execnet: a gateway is a Python child; remote_exec runs source text with a
# channel; "calls" are messages over a channel to a serving loop.

ECHO_SOURCE = '''
for item in channel:
    channel.send(item)
'''

ZEROS_SOURCE = '''
for n in channel:
    channel.send(b'\\0' * n)
'''

GETPID_SOURCE = 'import os; channel.send(os.getpid())'


class ExecnetPeer:
    name = 'execnet'

    def __init__(self, opts):
        import execnet
        self.opts = opts
        self.execnet = execnet

    def __enter__(self):
        self.group = self.execnet.Group()
        return self

    def __exit__(self, *exc):
        self.group.terminate(timeout=5)

    def start(self):
        return self.group.makegateway('popen//python=%s' % PYTHON)

    @staticmethod
    def stop(gw):
        gw.exit()
        gw.join(timeout=5)

    @staticmethod
    def getpid(gw):
        ch = gw.remote_exec(GETPID_SOURCE)
        pid = ch.receive()
        ch.waitclose()
        return pid

    def local_start(self):
        ms = []
        for _ in range(self.opts.start_runs):
            t0 = time.monotonic()
            gw = self.start()
            self.getpid(gw)
            ms.append((time.monotonic() - t0) * 1e3)
            self.stop(gw)
        emit(self.name, 'local_start_ms', statistics.median(ms), 'ms')

    def call_rtt(self):
        gw = self.start()
        ch = gw.remote_exec(ECHO_SOURCE)
        send, receive = ch.send, ch.receive
        for _ in range(min(self.opts.calls, 1000)):
            send(None)
            receive()
        means = []
        for _ in range(self.opts.batches):
            t0 = time.monotonic()
            for _ in range(self.opts.calls):
                send(None)
                receive()
            means.append((time.monotonic() - t0) * 1e6 / self.opts.calls)
        emit(self.name, 'call_rtt_us', statistics.median(means), 'us')
        ch.close()
        ch.waitclose()
        self.stop(gw)

    def pipelined(self):
        gw = self.start()
        ch = gw.remote_exec(ECHO_SOURCE)
        ch.send(None)
        ch.receive()
        n = self.opts.pipelined
        rates = []
        for _ in range(self.opts.runs):
            t0 = time.monotonic()
            for i in range(n):
                ch.send(i)
            for i in range(n):
                if ch.receive() != i:
                    raise RuntimeError('replies out of order')
            rates.append(n / (time.monotonic() - t0))
        emit(self.name, 'pipelined_calls_per_s', statistics.median(rates), 'calls/s')
        ch.close()
        ch.waitclose()
        self.stop(gw)

    def bulk(self):
        gw = self.start()
        pid = self.getpid(gw)
        ch = gw.remote_exec(ZEROS_SOURCE)
        ch.send(1)
        ch.receive()
        with PeakRss(pid) as peak:
            rates = bulk_runs(self.opts, lambda: ch.send(BULK_SIZE), ch.receive)
        emit_bulk(self.name, rates, peak)
        ch.close()
        ch.waitclose()
        self.stop(gw)

    def _start_one(self):
        gw = self.start()
        self.getpid(gw)
        return gw

    def start_seq(self):
        ms = []
        for _ in range(self.opts.runs):
            t0 = time.monotonic()
            gateways = [self._start_one() for _ in range(self.opts.start_n)]
            ms.append((time.monotonic() - t0) * 1e3)
            for gw in gateways:
                self.stop(gw)
        emit(self.name, 'start%d_seq_ms' % self.opts.start_n, statistics.median(ms), 'ms')

    def start_par(self):
        ms = []
        for _ in range(self.opts.runs):
            t0 = time.monotonic()
            gateways = run_threads(self._start_one, self.opts.start_n)
            ms.append((time.monotonic() - t0) * 1e3)
            for gw in gateways:
                self.stop(gw)
        emit(self.name, 'start%d_par_ms' % self.opts.start_n, statistics.median(ms), 'ms')

    def idle_rss(self):
        gw = self.start()
        ch = gw.remote_exec(ECHO_SOURCE)
        for _ in range(10):
            ch.send(None)
            ch.receive()
        ch.close()
        ch.waitclose()
        pid = self.getpid(gw)
        time.sleep(0.2)
        rss = proc_status_kb(pid, 'VmRSS')
        if rss is None:
            raise RuntimeError('cannot read VmRSS of pid %d' % pid)
        emit(self.name, 'idle_agent_rss_kB', rss, 'kB')
        self.stop(gw)


# ---------------------------------------------------------------------------

class SshUnavailable(Exception):
    pass


def ssh_host():
    """The sshd that bench/ssh-host started (bench/run exports its
    MITOGEN_BENCH_SSH_* variables); raises SshUnavailable with the reason
    if there is none."""
    env = os.environ
    if env.get('MITOGEN_BENCH_SSH_NA'):
        raise SshUnavailable(env['MITOGEN_BENCH_SSH_NA'])
    try:
        return {
            'host': env['MITOGEN_BENCH_SSH_HOST'],
            'port': int(env['MITOGEN_BENCH_SSH_PORT']),
            'user': env['MITOGEN_BENCH_SSH_USER'],
            'key': env['MITOGEN_BENCH_SSH_KEY'],
            'cipher': env['MITOGEN_BENCH_SSH_CIPHER'],
        }
    except (KeyError, ValueError):
        raise SshUnavailable('no sshd given: run through bench/run, or '
                             'eval "$(bench/ssh-host start)" first')


class SudoUnavailable(Exception):
    pass


SUDO_SCENARIOS = [
    (['sudo_start_ms'], 'sudo_start'),
]

SSH_SCENARIOS = [
    (['ssh_start_ms'], 'ssh_start'),
    (['ssh_call_rtt_us'], 'ssh_call_rtt'),
    (['ssh_bulk_MBps'], 'ssh_bulk'),
]


def run_peer(cls, opts):
    n = opts.start_n
    scenarios = [
        (['local_start_ms'], 'local_start'),
        (['call_rtt_us'], 'call_rtt'),
        (['pipelined_calls_per_s'], 'pipelined'),
        (['bulk_MBps', 'bulk_master_maxrss_growth_kB', 'bulk_agent_vmhwm_kB'], 'bulk'),
        (['start%d_seq_ms' % n], 'start_seq'),
        (['start%d_par_ms' % n], 'start_par'),
        (['idle_agent_rss_kB'], 'idle_rss'),
    ]
    if not opts.no_ssh:
        scenarios += [s for s in SSH_SCENARIOS if hasattr(cls, s[1])]
    scenarios += [s for s in SUDO_SCENARIOS if hasattr(cls, s[1])]
    name = cls.name
    try:
        peer = cls(opts)
    except Exception as e:
        traceback.print_exc(file=sys.stderr)
        for names, _ in scenarios:
            for scenario_name in names:
                emit_na(name, scenario_name, 'import failed: %s' % e)
        return
    for names, method in scenarios:
        if opts.only and not set(names) & set(opts.only):
            continue
        if (names, method) in SSH_SCENARIOS:
            try:
                ssh_host()
            except SshUnavailable as e:
                for scenario_name in names:
                    emit_na(name, scenario_name, e)
                continue
        note('%s %s' % (name, names[0]))

        def body(method=method):
            # A fresh broker/group per scenario, so one failure does not
            # poison the rest.
            with peer:
                getattr(peer, method)()

        scenario(name, names, body)
        gc.collect()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true', help='few iterations: a smoke run')
    parser.add_argument('--calls', type=int, default=0, metavar='N',
                        help='calls per call_rtt_us batch (default 20000, 2000 with --quick)')
    parser.add_argument('--peer', action='append', choices=['python-mitogen', 'execnet'],
                        help='only this peer (repeatable)')
    parser.add_argument('--only', action='append', metavar='NAME',
                        help="only this scenario (repeatable; 'ssh': all ssh figures)")
    parser.add_argument('--no-ssh', action='store_true', help='skip the ssh figures')
    opts = parser.parse_args()
    if opts.only and 'ssh' in opts.only:
        opts.only += [n for names, _ in SSH_SCENARIOS for n in names]
    if opts.calls < 0:
        parser.error('--calls must be positive')

    opts.start_n = 32
    opts.bulk_window = 8
    opts.runs = 3
    if opts.quick:
        opts.calls = opts.calls or 2000
        opts.batches, opts.start_runs, opts.pipelined, opts.bulk_count = 3, 5, 2000, 32
        opts.ssh_runs, opts.ssh_bulk_count = 3, 32
    else:
        opts.calls = opts.calls or 20000
        opts.batches, opts.start_runs, opts.pipelined, opts.bulk_count = 5, 30, 10000, 256
        opts.ssh_runs, opts.ssh_bulk_count = 15, 256

    signal.signal(signal.SIGALRM, _on_alarm)
    for cls in (MitogenPeer, ExecnetPeer):
        if opts.peer and cls.name not in opts.peer:
            continue
        run_peer(cls, opts)
    return 0


if __name__ == '__main__':
    sys.exit(main())
