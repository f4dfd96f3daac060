#!/bin/bash
# fakessh-bench.sh — rsync through `mitogen fakessh` against rsync over OpenSSH
#
#   bench/fakessh-bench.sh [--builddir DIR] [--size MIB] [--repeat N] [--runs N]
#
#  * One SIZE MiB file of random bytes (default 256) copied with
#    `rsync -a --whole-file FILE root@127.0.0.1:DIR/` to the throwaway sshd
#    of bench/ssh-host, three ways, in the same run, alternating (the order
#    rotating each round), --repeat rounds (default 5):
#      direct   rsync -e 'ssh -p PORT -i KEY ...' (the OpenSSH client)
#      ssh      mitogen fakessh -t ssh:root@127.0.0.1?port=PORT&... -- rsync
#               (the remote rsync runs through our ssh context; the tool
#               connects every run, so its connect time is included)
#      local    mitogen fakessh -t local -- rsync (no ssh: the floor)
#    Each run from fork to exit, the destination removed and `sync` run
#    before it; every copy checked against the source's SHA-256.
#  * The connect alone, interleaved the same way (median of --runs,
#    default 10): `ssh ... true` and `mitogen run -t CHAIN true`.
#
# It builds DIR first (default build/ at the top, or $BUILD_DIR) and writes
# the table to DIR/bench/fakessh-last-run.txt as well as to stdout. Without
# the sshd (not root, no openssh-server) the two ssh rows are NA.
#
# SPDX-License-Identifier: BSD-3-Clause
set -eu -o pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
builddir=${BUILD_DIR:-$top/build}
size=256
repeat=5
runs=10

while [ $# -gt 0 ]; do
  case $1 in
    --builddir) builddir=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fakessh-bench.sh: unknown argument $1" >&2; exit 2 ;;
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
  command -v rsync >/dev/null 2>&1 || { echo "fakessh-bench.sh: needs rsync" >&2; exit 1; }
fi

tool=$builddir/tools/mitogen
out=$builddir/bench/fakessh-last-run.txt
mkdir -p "$builddir/bench"
work=$(mktemp -d "${TMPDIR:-/tmp}/mitogen-fakessh-bench.XXXXXX")
ssh_dir=
cleanup() {
  if [ -n "$ssh_dir" ]; then "$top/bench/ssh-host" stop "$ssh_dir" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# The throwaway sshd (MITOGEN_BENCH_SSH_*), if it starts.
if ssh_env=$("$top/bench/ssh-host" start 2>/dev/null); then
  eval "$ssh_env"
  ssh_dir=$MITOGEN_BENCH_SSH_DIR
  export MITOGEN_BENCH_SSH_HOST MITOGEN_BENCH_SSH_PORT MITOGEN_BENCH_SSH_USER MITOGEN_BENCH_SSH_KEY \
    MITOGEN_BENCH_SSH_CIPHER
else
  eval "$ssh_env" 2>/dev/null || true
  export MITOGEN_BENCH_SSH_NA=${MITOGEN_BENCH_SSH_NA:-sshd did not start}
fi

head -c "$((size * 1024 * 1024))" /dev/urandom > "$work/src"
sync

/usr/bin/python3 - "$tool" "$work" "$size" "$repeat" "$runs" <<'EOF' | tee "$out"
import hashlib, os, shutil, statistics, subprocess, sys, time

tool, work, size, repeat, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
src = os.path.join(work, "src")
dst = os.path.join(work, "dst")
env = dict(os.environ, MITOGEN_PROGRESS="0")
env.pop("G_MESSAGES_DEBUG", None)
nbytes = size * 1024 * 1024


def timed(argv):
    """Seconds from fork to exit."""
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                          env=env)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"fakessh-bench: {' '.join(argv)} failed ({proc.returncode}): "
                 f"{proc.stderr.decode(errors='replace')}")
    return seconds


def fresh():
    shutil.rmtree(dst, ignore_errors=True)
    subprocess.run(["sync"])


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


expected = sha(src)
rsync = ["rsync", "-a", "--whole-file", src]
# name, argv of the copy; the fakessh rows give rsync no -e: fakessh sets
# RSYNC_RSH (and PATH) to its own ssh, and the host name is ignored.
copies = []
connects = []
na = os.environ.get("MITOGEN_BENCH_SSH_NA", "no sshd")
if os.environ.get("MITOGEN_BENCH_SSH_PORT"):
    host, port = os.environ["MITOGEN_BENCH_SSH_HOST"], os.environ["MITOGEN_BENCH_SSH_PORT"]
    user, key = os.environ["MITOGEN_BENCH_SSH_USER"], os.environ["MITOGEN_BENCH_SSH_KEY"]
    cipher = os.environ["MITOGEN_BENCH_SSH_CIPHER"]
    chain = (f"ssh:{user}@{host}?port={port}&identity_file={key.replace('/', '%2F')}"
             f"&check_host_keys=ignore&ssh_config=false&compression_level=0")
    ssh = ["ssh", "-F", "none", "-p", port, "-i", key, "-c", cipher, "-o", "BatchMode=yes",
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes", "-o", "Compression=no",
           "-o", "LogLevel=ERROR"]
    copies.append(("direct", "rsync -e ssh (direct OpenSSH)",
                   rsync[:1] + ["-e", " ".join(ssh)] + rsync[1:] + [f"{user}@{host}:{dst}/"]))
    copies.append(("ssh", "mitogen fakessh -t ssh:... -- rsync",
                   [tool, "fakessh", "-t", chain, "--"] + rsync + [f"x:{dst}/"]))
    connects.append(("ssh", "ssh ... true (OpenSSH)", ssh + ["-T", "-n", f"{user}@{host}", "true"]))
    connects.append(("mssh", "mitogen run -t ssh:... true", [tool, "run", "-t", chain, "true"]))
copies.append(("local", "mitogen fakessh -t local -- rsync",
               [tool, "fakessh", "-t", "local", "--"] + rsync + [f"x:{dst}/"]))
connects.append(("mlocal", "mitogen run -t local true", [tool, "run", "-t", "local", "true"]))

print(f"# fakessh bench: rsync -a --whole-file of {size} MiB to 127.0.0.1, median of {repeat} "
      f"alternating rounds; connects: median of {runs}")
print(f"# {os.uname().sysname} {os.uname().release}, {os.cpu_count()} CPUs, "
      f"{time.strftime('%Y-%m-%d %H:%M')}")

# One untimed warm-up of each (page cache of the programs, the sshd's first
# session), checked like the timed ones.
for key_, name, argv in copies:
    fresh()
    timed(argv)
    if sha(os.path.join(dst, "src")) != expected:
        sys.exit(f"fakessh-bench: {name} produced a different file")

times = {k: [] for k, _, _ in copies}
for r in range(repeat):
    order = copies[r % len(copies):] + copies[:r % len(copies)]
    for key_, name, argv in order:
        fresh()
        times[key_].append(timed(argv))
        if sha(os.path.join(dst, "src")) != expected:
            sys.exit(f"fakessh-bench: {name} produced a different file")
        print(f"round {r + 1}: {key_} {times[key_][-1]:.3f} s", file=sys.stderr)
fresh()

ctimes = {k: [] for k, _, _ in connects}
for k, _, argv in connects:
    timed(argv)
for r in range(runs):
    order = connects[r % len(connects):] + connects[:r % len(connects)]
    for k, _, argv in order:
        ctimes[k].append(timed(argv) * 1000)

med = {k: statistics.median(v) for k, v in times.items()}
direct = med.get("direct")
print()
print(f"{'rsync of ' + str(size) + ' MiB':38s} {'median s':>9s} {'MB/s':>7s} {'min s':>7s} {'max s':>7s} "
      f"{'/direct':>8s}")
if "direct" not in med:
    print(f"{'rsync -e ssh (direct OpenSSH)':38s} NA: {na}")
    print(f"{'mitogen fakessh -t ssh:... -- rsync':38s} NA: {na}")
for k, name, _ in copies:
    m = med[k]
    ratio = f"{m / direct:8.2f}" if direct else f"{'NA':>8s}"
    print(f"{name:38s} {m:9.3f} {nbytes / 1e6 / m:7.1f} {min(times[k]):7.3f} {max(times[k]):7.3f} {ratio}")
if direct:
    for k in ("ssh", "local"):
        paired = [a / b for a, b in zip(times[k], times["direct"])]
        print(f"paired {k}/direct per round: median {statistics.median(paired):.2f} "
              f"(min {min(paired):.2f}, max {max(paired):.2f})")

print()
print(f"{'connect only, start to exit':38s} {'median ms':>9s} {'min ms':>7s} {'max ms':>7s}")
for k, name, _ in connects:
    v = ctimes[k]
    print(f"{name:38s} {statistics.median(v):9.1f} {min(v):7.1f} {max(v):7.1f}")
if direct:
    # The transfer without the connect: each copy's median minus its
    # connect's median.
    d = med["direct"] - statistics.median(ctimes["ssh"]) / 1000
    f = med["ssh"] - statistics.median(ctimes["mssh"]) / 1000
    print()
    print(f"without the connect: direct {d:.3f} s ({nbytes / 1e6 / d:.1f} MB/s), "
          f"fakessh over ssh {f:.3f} s ({nbytes / 1e6 / f:.1f} MB/s), ratio {f / d:.2f}")

# Many short ssh invocations in one program (what a build script, git with
# submodules, or an Ansible-like tool does): each direct one opens an ssh
# connection; through fakessh each is a fake client on the connection
# mitogen already has (one connect for the whole run, included).
loops = 20
loop = f"i=0; while [ $i -lt {loops} ]; do ssh x true || exit 1; i=$((i+1)); done"
many = []
if direct:
    direct_loop = (f"i=0; while [ $i -lt {loops} ]; do {' '.join(ssh)} -T -n {user}@{host} true || exit 1; "
                   f"i=$((i+1)); done")
    many.append(("direct", f"{loops} x ssh true (direct OpenSSH)", ["sh", "-c", direct_loop]))
    many.append(("ssh", f"{loops} x ssh true, fakessh -t ssh:...", [tool, "fakessh", "-t", chain, "--", "sh", "-c", loop]))
many.append(("local", f"{loops} x ssh true, fakessh -t local", [tool, "fakessh", "-t", "local", "--", "sh", "-c", loop]))
mtimes = {k: [] for k, _, _ in many}
for k, _, argv in many:
    timed(argv)
for r in range(max(3, repeat)):
    order = many[r % len(many):] + many[:r % len(many)]
    for k, _, argv in order:
        mtimes[k].append(timed(argv))
print()
print(f"{'many invocations, whole run':38s} {'median s':>9s} {'ms each':>8s} {'/direct':>8s}")
for k, name, _ in many:
    m = statistics.median(mtimes[k])
    ratio = f"{m / statistics.median(mtimes['direct']):8.2f}" if direct else f"{'NA':>8s}"
    print(f"{name:38s} {m:9.3f} {m * 1000 / loops:8.1f} {ratio}")
EOF
