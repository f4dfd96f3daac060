#!/bin/bash
# tool-bench.sh — the `mitogen` tool against the usual commands
#
#   bench/tool-bench.sh [--builddir DIR] [--size MIB] [--repeat N] [--runs N] [--no-ssh]
#
#  * `mitogen cp` of one SIZE MiB file (default 256) to a local context and
#    back, against cp(1) and rsync(1) copying the same file on the same
#    disk: the median of --repeat runs each (default 5), the destination
#    removed and the page cache flushed to disk (sync) before every run;
#    and the peak RSS of the tool and of its agent during a mitogen copy.
#  * The same file to 127.0.0.1 over ssh (the sshd of bench/ssh-host, when
#    it can start: root, openssh-server): `mitogen cp` to ssh:127.0.0.1
#    against scp and rsync -e ssh with the same key and cipher.
#  * The start of `mitogen run -t local true` against `sh -c true`, and of
#    `mitogen call -t local mitogen.noop`: the median of --runs runs each
#    (default 30), each a fresh process timed from fork to exit.
#
# It builds DIR first (default build/ at the top, or $BUILD_DIR), installs
# rsync with apt-get when it is missing and we are root, and writes the
# table to DIR/bench/tool-last-run.txt as well as to stdout.
#
# SPDX-License-Identifier: BSD-3-Clause
set -eu -o pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
builddir=${BUILD_DIR:-$top/build}
size=256
repeat=5
runs=30
no_ssh=

while [ $# -gt 0 ]; do
  case $1 in
    --builddir) builddir=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --no-ssh) no_ssh=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "tool-bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" "$top" -Dwerror=true >/dev/null
fi
ninja -C "$builddir" >/dev/null

if ! command -v rsync >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y rsync >/dev/null 2>&1 || true
  fi
fi

tool=$builddir/tools/mitogen
out=$builddir/bench/tool-last-run.txt
mkdir -p "$builddir/bench"
work=$(mktemp -d "${TMPDIR:-/tmp}/mitogen-tool-bench.XXXXXX")
ssh_dir=
cleanup() {
  if [ -n "$ssh_dir" ]; then "$top/bench/ssh-host" stop "$ssh_dir" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# The throwaway sshd for the ssh rows (MITOGEN_BENCH_SSH_*), if it starts.
if [ -z "$no_ssh" ]; then
  if ssh_env=$("$top/bench/ssh-host" start 2>/dev/null); then
    eval "$ssh_env"
    ssh_dir=$MITOGEN_BENCH_SSH_DIR
    export MITOGEN_BENCH_SSH_HOST MITOGEN_BENCH_SSH_PORT MITOGEN_BENCH_SSH_KEY MITOGEN_BENCH_SSH_CIPHER
  else
    eval "$ssh_env" 2>/dev/null || true
    export MITOGEN_BENCH_SSH_NA=${MITOGEN_BENCH_SSH_NA:-sshd did not start}
  fi
else
  export MITOGEN_BENCH_SSH_NA="--no-ssh"
fi

head -c "$((size * 1024 * 1024))" /dev/urandom > "$work/src"
sync

MITOGEN_PROGRESS=0 /usr/bin/python3 - "$tool" "$work" "$size" "$repeat" "$runs" <<'EOF' | tee "$out"
import hashlib, os, shutil, statistics, subprocess, sys, time

tool, work, size, repeat, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
src = os.path.join(work, "src")
dst = os.path.join(work, "dst")
env = dict(os.environ, MITOGEN_PROGRESS="0")
env.pop("G_MESSAGES_DEBUG", None)


def children(pid):
    found = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open(f"/proc/{e}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(e))
            except (OSError, ValueError, IndexError):
                pass
    return found


def hwm(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


def timed(argv, measure_rss=False):
    """Seconds from fork to exit (and peak RSS of the process and of its
    largest child, in KiB, when asked)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=env)
    peaks = {}
    if measure_rss:
        while proc.poll() is None:
            for pid in [proc.pid] + children(proc.pid):
                peaks[pid] = max(peaks.get(pid, 0), hwm(pid))
            time.sleep(0.002)
    err = proc.stderr.read()
    proc.wait()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"tool-bench: {' '.join(argv)} failed ({proc.returncode}): {err.decode(errors='replace')}")
    own = peaks.pop(proc.pid, 0)
    return seconds, own, max(peaks.values(), default=0)


def fresh():
    if os.path.isdir(dst):
        shutil.rmtree(dst)
    elif os.path.exists(dst):
        os.unlink(dst)
    subprocess.run(["sync"])


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


expected = sha(src)
copies = [
    ("mitogen cp (put to local context)", [tool, "cp", src, f"local:{dst}"]),
    ("mitogen cp (get from local context)", [tool, "cp", f"local:{src}", dst]),
    ("cp", ["cp", src, dst]),
]
if shutil.which("rsync"):
    copies.append(("rsync", ["rsync", src, dst]))
    copies.append(("rsync --whole-file --inplace", ["rsync", "--whole-file", "--inplace", src, dst]))

print(f"# mitogen tool bench: {size} MiB file, median of {repeat} runs; starts: median of {runs} runs")
print(f"# {os.uname().sysname} {os.uname().release}, {os.cpu_count()} CPUs, "
      f"{time.strftime('%Y-%m-%d %H:%M')}")
ssh_copies = []
if os.environ.get("MITOGEN_BENCH_SSH_PORT"):
    host, port = os.environ["MITOGEN_BENCH_SSH_HOST"], os.environ["MITOGEN_BENCH_SSH_PORT"]
    key, cipher = os.environ["MITOGEN_BENCH_SSH_KEY"], os.environ["MITOGEN_BENCH_SSH_CIPHER"]
    chain = f"ssh:{host}?port={port}&identity_file={key.replace('/', '%2F')}&check_host_keys=ignore"
    ssh_opts = ["-i", key, "-c", cipher, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "BatchMode=yes"]
    ssh_copies = [
        ("mitogen cp (put over ssh)", [tool, "cp", src, f"{chain}:{dst}"]),
        ("mitogen cp (get over ssh)", [tool, "cp", f"{chain}:{src}", dst]),
        ("scp -O", ["scp", "-O", "-q", "-P", port] + ssh_opts + [src, f"root@{host}:{dst}"]),
    ]
    if shutil.which("rsync"):
        ssh_copies.append(("rsync -e ssh", ["rsync", "-e", " ".join(["ssh", "-p", port] + ssh_opts), src,
                                            f"root@{host}:{dst}"]))

print()
print(f"{'copy of ' + str(size) + ' MiB':40s} {'median s':>9s} {'MiB/s':>8s} {'min s':>7s} {'max s':>7s}")
results = {}
for heading, rows in (("same disk", copies), ("to 127.0.0.1 over ssh", ssh_copies)):
    print(f"-- {heading}")
    if not rows:
        print(f"   NA: {os.environ.get('MITOGEN_BENCH_SSH_NA', 'no sshd')}")
    for name, argv in rows:
        times = []
        for i in range(repeat):
            fresh()
            seconds, _, _ = timed(argv)
            times.append(seconds)
            if sha(dst) != expected:
                sys.exit(f"tool-bench: {name} produced a different file")
        med = statistics.median(times)
        results[name] = med
        print(f"{name:40s} {med:9.3f} {size / med:8.1f} {min(times):7.3f} {max(times):7.3f}")

fresh()
_, tool_kib, agent_kib = timed([tool, "cp", src, f"local:{dst}"], measure_rss=True)
fresh()
_, tool_kib2, agent_kib2 = timed([tool, "cp", f"local:{src}", dst], measure_rss=True)
print()
print(f"peak RSS during mitogen cp, put: tool {tool_kib / 1024:.1f} MiB, agent {agent_kib / 1024:.1f} MiB; "
      f"get: tool {tool_kib2 / 1024:.1f} MiB, agent {agent_kib2 / 1024:.1f} MiB")

starts = [
    ("sh -c true", ["sh", "-c", "true"]),
    ("mitogen run -t local true", [tool, "run", "-t", "local", "true"]),
    ("mitogen call -t local mitogen.noop", [tool, "call", "-t", "local", "mitogen.noop"]),
]
print()
print(f"{'start to exit':40s} {'median ms':>9s} {'min ms':>8s} {'max ms':>8s}")
for name, argv in starts:
    for _ in range(3):  # warm the page cache
        timed(argv)
    times = [timed(argv)[0] * 1000 for _ in range(runs)]
    print(f"{name:40s} {statistics.median(times):9.2f} {min(times):8.2f} {max(times):8.2f}")
EOF
