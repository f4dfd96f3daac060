#!/usr/bin/python3
# test-fakessh.py — `mitogen fakessh` with the real rsync, scp, sftp and git
# against a real sudo context: root becomes a dedicated test user, so every
# file the tools write "remotely" is owned by that user, which proves the
# data went through sudo and the context.
#
#   test-fakessh.py PATH-TO-MITOGEN [TEST-NAME...]
#
# (or MITOGEN_TOOL=PATH). Needs root, sudo, rsync, git, scp and sftp; exits
# 77 (skip) without them. Creates the user MITOGEN_FAKESSH_USER (default
# mitogen-fakessh; useradd -M -s /bin/sh) if missing and removes it at the
# end if it created it. MITOGEN_TEST_BIG=N makes the big file N MiB
# (default 256). Plain asserts; every test runs, failures are listed at the
# end, exit status 1 if any.
#
# The tool runs with TMPDIR set to a private directory, so the fakessh
# private directory (mitogen-fakessh-XXXXXX) of each run can be checked
# for exactly: /tmp is shared with other fakessh runs on the machine.
#
# SPDX-License-Identifier: BSD-3-Clause

import hashlib
import os
import pwd
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

SKIP = 77

TOOL = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MITOGEN_TOOL", "")
TOOL = os.path.abspath(TOOL) if TOOL else TOOL
if not TOOL:
    sys.exit("usage: test-fakessh.py PATH-TO-MITOGEN (or set MITOGEN_TOOL)")
ONLY = sys.argv[2:]

USER = os.environ.get("MITOGEN_FAKESSH_USER", "mitogen-fakessh")
# The host the tools are told to reach. fakessh ignores it; .invalid never
# resolves, so an ssh that bypasses fakessh cannot reach anything real.
HOST = "fakessh-test.invalid"
CHAIN = f"sudo:{USER}"
BIG_MIB = int(os.environ.get("MITOGEN_TEST_BIG", "256"))
MiB = 1024 * 1024
N_FILES = 1000

USAGE, CONNECT, TIMED_OUT, NOT_FOUND, SSH_FAILED = 2, 3, 124, 127, 255
PREFIX = "ssh (mitogen fakessh): "

# Set up by main ().
TEST_UID = None
WORK = None      # root-owned, 0755
LOCAL = None     # root-owned: the local side
REMOTE = None    # owned by the test user: the context's side
TMPD = None      # TMPDIR of the tool
ENV = None
BIG = None       # LOCAL/big.bin, made on first use
_sha_cache = {}


# --- helpers -------------------------------------------------------------------

def run_tool(*args, input=None, timeout=120, env=None):
    p = subprocess.run([TOOL, *args], capture_output=True, env=env or ENV, timeout=timeout,
                       input=input if input is not None else b"")
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def fakessh(*program, input=None, timeout=120, options=()):
    return run_tool("fakessh", "-t", CHAIN, *options, "--", *program, input=input, timeout=timeout)


def fakessh_ok(*program, input=None, timeout=120):
    rc, out, err = fakessh(*program, input=input, timeout=timeout)
    assert rc == 0, f"fakessh {list(program)}: exit {rc}, stdout {out[-2000:]!r}, stderr {err[-3000:]!r}"
    return out, err


def in_context(script, timeout=60):
    """Runs a shell script in the sudo context (as the test user)."""
    rc, out, err = run_tool("run", "-t", CHAIN, "--", "sh", "-c", script, timeout=timeout)
    assert rc == 0, f"in the context: {script!r}: exit {rc}, stdout {out!r}, stderr {err!r}"
    return out.decode(errors="replace")


def sha256_file(path):
    st = os.stat(path)
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if key in _sha_cache:
        return _sha_cache[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(MiB)
            if not block:
                break
            h.update(block)
    # Only cache big files: small ones are cheap and may be rewritten in place.
    if st.st_size >= MiB:
        _sha_cache[key] = h.hexdigest()
    return h.hexdigest()


def listing(root):
    """{relative path: ("dir",) | ("link", target) | ("file", size, sha256)}"""
    result = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                result[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                result[rel] = ("dir",)
            else:
                result[rel] = ("file", os.path.getsize(path), sha256_file(path))
    return result


def diff_listings(a, b, a_name, b_name):
    """A short human description of how two listings differ ('' if equal)."""
    if a == b:
        return ""
    only_a = sorted(set(a) - set(b))
    only_b = sorted(set(b) - set(a))
    changed = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    return (f"{len(a)} entries in {a_name}, {len(b)} in {b_name}; "
            f"only in {a_name}: {only_a[:5]!r}{'...' if len(only_a) > 5 else ''}; "
            f"only in {b_name}: {only_b[:5]!r}{'...' if len(only_b) > 5 else ''}; "
            f"different: {[(k, a[k], b[k]) for k in changed[:3]]!r}{'...' if len(changed) > 3 else ''}")


def assert_same_tree(a, b, a_name, b_name):
    la, lb = listing(a), listing(b)
    problem = diff_listings(la, lb, a_name, b_name)
    assert not problem, problem
    return la


def assert_owned_by_test_user(root):
    wrong = []
    paths = [root]
    for dirpath, dirnames, filenames in os.walk(root):
        paths += [os.path.join(dirpath, n) for n in dirnames + filenames]
    for path in paths:
        uid = os.lstat(path).st_uid
        if uid != TEST_UID:
            wrong.append((os.path.relpath(path, os.path.dirname(root)), uid))
    assert not wrong, (f"{len(wrong)} of {len(paths)} entries under {root} not owned by {USER} "
                       f"(uid {TEST_UID}): {wrong[:5]!r}")
    return len(paths)


def remote_dir(name):
    path = os.path.join(REMOTE, name)
    os.mkdir(path)
    os.chown(path, TEST_UID, TEST_UID)
    return path


def write_random(path, size, rng=None):
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, 4 * MiB)
            f.write(rng.randbytes(n) if rng is not None else os.urandom(n))
            left -= n


def big_file():
    global BIG
    if BIG is None:
        path = os.path.join(LOCAL, "big.bin")
        start = time.monotonic()
        write_random(path, BIG_MIB * MiB)
        print(f"  wrote {BIG_MIB} MiB of random data in {time.monotonic() - start:.1f} s", flush=True)
        BIG = path
    return BIG


ODD = ["with space", "quote'single", 'dq"uote', "dollar$HOME", "semi;colon&amp", "paren(1)",
       "star*q?", "-leading-dash", "tab\there", "ünïcödé", "back\\slash", "new\nline", "  two  spaces "]


def make_tree(root, n_files, seed, max_size=8192):
    """n_files files of random sizes in nested directories with odd names,
    plus a relative symlink, a dangling symlink and an empty directory."""
    rng = random.Random(seed)
    os.makedirs(root)
    dirs = [root]
    for i in range(14):
        parent = rng.choice(dirs)
        path = os.path.join(parent, f"d{i} {ODD[i % len(ODD)]}")
        os.mkdir(path)
        dirs.append(path)
    files = []
    for i in range(n_files):
        name = f"f{i:04d}" + (f" {ODD[i % len(ODD)]}" if i % 4 == 0 else "") + ".dat"
        path = os.path.join(rng.choice(dirs), name)
        with open(path, "wb") as f:
            f.write(rng.randbytes(rng.randint(0, max_size)))
        files.append(path)
    os.symlink(os.path.relpath(files[1], root), os.path.join(root, "link to f0001"))
    os.symlink("no/such/target", os.path.join(root, "dangling link"))
    os.mkdir(os.path.join(root, "empty dir"))
    return files


# --- processes -------------------------------------------------------------------

class Proc:
    __slots__ = ("pid", "ppid", "uid", "state", "start", "argv", "comm")

    def __init__(self, pid, ppid, uid, state, start, argv, comm):
        self.pid, self.ppid, self.uid, self.state, self.start, self.argv = pid, ppid, uid, state, start, argv
        self.comm = comm

    def __repr__(self):
        return f"<pid {self.pid} ppid {self.ppid} uid {self.uid} {self.state} {' '.join(self.argv)[:120]!r}>"


def proc_info(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        uid = None
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    uid = int(line.split()[1])
                    break
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0")[:-1]]
    except (OSError, IndexError, ValueError):
        return None
    return Proc(pid, int(fields[1]), uid, fields[0], int(fields[19]), argv, comm)


def all_procs():
    procs = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            p = proc_info(int(entry))
            if p is not None:
                procs[p.pid] = p
    return procs


def descendants(pid, procs=None):
    procs = procs if procs is not None else all_procs()
    children = {}
    for p in procs.values():
        children.setdefault(p.ppid, []).append(p)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child.pid)
    return found


def is_alive(p):
    now = proc_info(p.pid)
    return now is not None and now.start == p.start and now.state not in ("Z", "X")


def test_user_procs():
    return [p for p in all_procs().values() if p.uid == TEST_UID and p.state not in ("Z", "X")]


def is_fake_ssh(p):
    """fakessh's ssh: the agent, run through the `ssh` link in the run's
    directory (argv[0] is that path, or just "ssh" when found in PATH)."""
    if p.comm != "ssh":
        return False
    try:
        exe = os.readlink(f"/proc/{p.pid}/exe")
    except OSError:
        return False
    return "mitogen" in os.path.basename(exe)


def fake_ssh_dir(p):
    """The fakessh run directory a fake ssh belongs to: its argv[0]'s, or
    else the first entry of its PATH (fakessh puts its directory there)."""
    if p.argv and "/" in p.argv[0]:
        return os.path.dirname(p.argv[0])
    try:
        with open(f"/proc/{p.pid}/environ", "rb") as f:
            for var in f.read().split(b"\0"):
                if var.startswith(b"PATH="):
                    return var[5:].decode(errors="replace").split(":")[0]
    except OSError:
        pass
    return None


def is_top_rsync_server(p, procs):
    """A remote `rsync --server` (not the receiver's forked generator)."""
    if p.uid != TEST_UID or not p.argv or os.path.basename(p.argv[0]) != "rsync" or "--server" not in p.argv:
        return False
    parent = procs.get(p.ppid)
    return not (parent and parent.argv and os.path.basename(parent.argv[0]) == "rsync")


def leftovers(snapshot, tmpdir=None):
    """What is still running of a run: anything of the snapshot, any process
    of the test user, any fake ssh of the run's private directory (or of
    any run, given TMPD)."""
    left = [p for p in snapshot if is_alive(p)]
    seen = {p.pid for p in left}
    for p in all_procs().values():
        if p.pid in seen or p.state in ("Z", "X"):
            continue
        if p.uid == TEST_UID or (tmpdir and is_fake_ssh(p) and
                                 ((fake_ssh_dir(p) or "") + "/").startswith(tmpdir + "/")):
            left.append(p)
    return left


def wait_no_leftovers(snapshot, within, tmpdir=None):
    deadline = time.monotonic() + within
    while True:
        left = leftovers(snapshot, tmpdir)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def kill_all(procs):
    """Failure path only: SIGKILL what we started (a snapshot of a run)."""
    for p in procs:
        if is_alive(p):
            try:
                os.kill(p.pid, signal.SIGKILL)
            except OSError:
                pass


def assert_clean(label, within=3.0):
    """No process of the test user is left, no fakessh private directory in
    the tool's TMPDIR. (/tmp itself is shared with whatever else runs on
    the machine, other fakessh runs included, so a before/after comparison
    there cannot tell whose a directory is: the tool runs with TMPDIR=TMPD,
    and the runs we watch check their own directory by name.)"""
    left = wait_no_leftovers([], within, TMPD)
    assert not left, f"{label}: processes left over after {within} s: {left!r}"
    mine = os.listdir(TMPD)
    assert not mine, f"{label}: left in the tool's TMPDIR {TMPD}: {mine!r}"


TESTS = []


def test(func):
    TESTS.append(func)
    return func


# --- 1. rsync: 1,000 files and a big file, there and back -------------------------

@test
def rsync_tree_and_big_file():
    src = os.path.join(LOCAL, "rsync-src")
    make_tree(src, N_FILES, seed=1)
    os.link(big_file(), os.path.join(src, f"big {BIG_MIB} MiB.bin"))
    dst = os.path.join(remote_dir("rsync"), "put here")  # rsync makes it, as the test user
    back = os.path.join(LOCAL, "rsync-back")

    start = time.monotonic()
    fakessh_ok("rsync", "-a", src + "/", f"{HOST}:{dst}/", timeout=300)
    t_put = time.monotonic() - start
    start = time.monotonic()
    fakessh_ok("rsync", "-a", f"user@other.{HOST}:{dst}/", back + "/", timeout=300)
    t_get = time.monotonic() - start

    src_list = assert_same_tree(src, dst, "source", "context")
    assert_same_tree(src, back, "source", "back")
    n_files = sum(1 for v in src_list.values() if v[0] == "file")
    n_links = sum(1 for v in src_list.values() if v[0] == "link")
    assert n_files == N_FILES + 1 and n_links == 2, \
        f"source tree: {n_files} files, {n_links} symlinks; wanted {N_FILES + 1} and 2"
    assert src_list[f"big {BIG_MIB} MiB.bin"][1] == BIG_MIB * MiB, src_list[f"big {BIG_MIB} MiB.bin"]
    owned = assert_owned_by_test_user(dst)
    print(f"  rsync {BIG_MIB} MiB + {N_FILES} files: put {t_put:.1f} s, get {t_get:.1f} s "
          f"({n_files} files, {n_links} symlinks, {owned} entries owned by {USER})", flush=True)
    assert_clean("rsync")


# --- 2. scp (SFTP and -O) and sftp -b - ----------------------------------------

@test
def scp_both_modes_and_sftp_batch():
    rng = random.Random(2)
    base = os.path.join(LOCAL, "scp")
    os.mkdir(base)
    one = os.path.join(base, "one.bin")
    write_random(one, 3 * MiB + 7, rng)
    tree = os.path.join(base, "tree")
    os.makedirs(os.path.join(tree, "sub", "deeper"))
    for i, rel in enumerate(["a.txt", "sub/b.bin", "sub/deeper/c.bin", "sub/empty"]):
        with open(os.path.join(tree, rel), "wb") as f:
            f.write(rng.randbytes(0 if rel.endswith("empty") else 1000 * (i + 1) ** 3))
    want = sha256_file(one)

    for mode, flags in (("sftp", []), ("legacy", ["-O"])):
        there = remote_dir(f"scp-{mode}")
        here = os.path.join(LOCAL, f"scp-back-{mode}")
        os.mkdir(here)
        # One file, to and from. -v: scp says which ssh it runs and how
        # (the SFTP subsystem or `scp -t`); our ssh ignores -v.
        out, err = fakessh_ok("scp", "-v", *flags, one, f"{HOST}:{there}/one.bin")
        ran = [line for line in err.splitlines() if line.startswith("Executing: program ")]
        how = "command sftp" if mode == "sftp" else "command scp -v -t "
        assert len(ran) == 1 and f"/{os.path.basename(TMPD)}/mitogen-fakessh-" in ran[0] and how in ran[0], \
            f"scp {mode}: wanted it to run our ssh in {TMPD} with '{how}': {ran!r}"
        got = sha256_file(os.path.join(there, "one.bin"))
        assert got == want, f"scp {mode} put: sha256 {got} in the context, {want} here"
        fakessh_ok("scp", *flags, f"{HOST}:{there}/one.bin", os.path.join(here, "one.bin"))
        got = sha256_file(os.path.join(here, "one.bin"))
        assert got == want, f"scp {mode} get: sha256 {got} back, {want} sent"
        # A tree, to and from.
        fakessh_ok("scp", *flags, "-r", tree, f"{HOST}:{there}/tree")
        assert_same_tree(tree, os.path.join(there, "tree"), "source", f"context ({mode})")
        fakessh_ok("scp", *flags, "-r", f"{HOST}:{there}/tree", os.path.join(here, "tree"))
        assert_same_tree(tree, os.path.join(here, "tree"), "source", f"back ({mode})")
        assert_owned_by_test_user(there)

    # sftp with its batch on the tool's stdin.
    there = os.path.join(REMOTE, "sftp")
    back = os.path.join(LOCAL, "sftp-back.bin")
    batch = (f"mkdir {there}\n"
             f"put {one} {there}/one.bin\n"
             f"get {there}/one.bin {back}\n"
             f"ls -l {there}\n").encode()
    out, err = fakessh_ok("sftp", "-b", "-", HOST, input=batch)
    text = out.decode(errors="replace")
    for command in batch.decode().splitlines():
        assert f"sftp> {command}" in text, f"sftp did not run {command!r} from stdin: stdout {text!r}"
    ls_lines = [line for line in text.splitlines() if line.endswith("/one.bin") and not line.startswith("sftp>")]
    assert len(ls_lines) == 1 and USER in ls_lines[0] and str(3 * MiB + 7) in ls_lines[0], \
        f"sftp ls -l: wanted one line for one.bin owned by {USER}: stdout {text!r}"
    for path in (os.path.join(there, "one.bin"), back):
        got = sha256_file(path)
        assert got == want, f"sftp: {path}: sha256 {got}, wanted {want}"
    assert_owned_by_test_user(there)
    assert_clean("scp/sftp")


@test
def scp_sftp_run_by_a_script():
    """scp and sftp started by PROGRAM (a script, make, Ansible...) rather
    than being PROGRAM themselves: their ssh must be ours too. They run
    their compiled-in /usr/bin/ssh unless given -S, which the scp and sftp
    wrappers in fakessh's private PATH directory add."""
    there = remote_dir("scp-script")
    one = os.path.join(LOCAL, "script-one.bin")
    write_random(one, 100 * 1024 + 3, random.Random(22))
    # BatchMode and ConnectTimeout only matter to an ssh that is not ours.
    safe = "-o BatchMode=yes -o ConnectTimeout=3"
    script = (f'scp {safe} "$1" "$HOST:$2/one.bin"; echo "scp=$?"; '
              f'printf "ls -l %s\\n" "$2" | sftp {safe} -b - "$HOST" >/dev/null; echo "sftp=$?"')
    rc, out, err = run_tool("fakessh", "-t", CHAIN, "--", "sh", "-c", script, "sh", one, there,
                            env=dict(ENV, HOST=HOST))
    copied = os.path.join(there, "one.bin")
    ok = os.path.exists(copied) and sha256_file(copied) == sha256_file(one) and os.stat(copied).st_uid == TEST_UID
    assert (rc, out, ok) == (0, b"scp=0\nsftp=0\n", True), (
        "scp/sftp run by a script under `mitogen fakessh` bypassed the fake ssh (their /usr/bin/ssh "
        f"tried to reach the real host {HOST}?): tool exit {rc}, stdout {out!r}, stderr {err!r}, copied: {ok}")
    assert_clean("scp from a script")


# --- 3. git clone (both URL forms), push -------------------------------------------

@test
def git_clone_and_push():
    repo = os.path.join(REMOTE, "repo")
    ident = "-c user.name=Remote -c user.email=remote@example.invalid"
    log = in_context(f"""set -e
        git init -q -b main {repo}
        cd {repo}
        echo one > one.txt; git add one.txt; git {ident} commit -q -m one
        echo two > two.txt; git add two.txt; git {ident} commit -q -m two
        git config receive.denyCurrentBranch updateInstead
        git log --format=%s""")
    assert log == "two\none\n", f"remote repository log: {log!r}"
    assert_owned_by_test_user(repo)

    clones = {}
    for label, url in (("scp-like", f"{HOST}:{repo}"), ("ssh://", f"ssh://git@{HOST}{repo}")):
        dest = os.path.join(LOCAL, f"clone-{'scp' if label == 'scp-like' else 'url'}")
        out, err = fakessh_ok("git", "clone", url, dest)
        subjects = subprocess.run(["git", "-C", dest, "log", "--format=%s"], capture_output=True, env=ENV).stdout
        assert subjects == b"two\none\n", f"clone of {url}: log {subjects!r}; git said {err!r}"
        with open(os.path.join(dest, "two.txt")) as f:
            assert f.read() == "two\n", f"clone of {url}: two.txt wrong"
        remote_url = subprocess.run(["git", "-C", dest, "remote", "get-url", "origin"], capture_output=True,
                                    env=ENV).stdout.decode().strip()
        assert remote_url == url, (remote_url, url)
        clones[label] = dest

    work = clones["ssh://"]
    with open(os.path.join(work, "three.txt"), "w") as f:
        f.write("three from root\n")
    subprocess.run(["git", "-C", work, "add", "three.txt"], check=True, env=ENV)
    subprocess.run(["git", "-C", work, "commit", "-q", "-m", "three"], check=True, env=ENV)
    head = subprocess.run(["git", "-C", work, "rev-parse", "HEAD"], capture_output=True, check=True,
                          env=ENV).stdout.decode().strip()
    out, err = fakessh_ok("git", "-C", work, "push", "origin", "HEAD:main")
    assert "main" in err, f"git push: stderr {err!r}"

    log = in_context(f"git -C {repo} log --format='%H %s'")
    assert log.splitlines()[0] == f"{head} three" and len(log.splitlines()) == 3, \
        f"remote log after the push: {log!r}, wanted {head} three first"
    pushed = os.path.join(repo, "three.txt")
    assert os.path.exists(pushed) and os.stat(pushed).st_uid == TEST_UID, \
        f"{pushed}: missing or not owned by {USER} after the push (updateInstead)"
    assert_owned_by_test_user(os.path.join(repo, ".git", "objects"))

    # The other clone sees it too (one more ssh: git fetch).
    other = clones["scp-like"]
    fakessh_ok("git", "-C", other, "fetch", "-q")
    fetched = subprocess.run(["git", "-C", other, "rev-parse", "origin/main"], capture_output=True,
                             env=ENV).stdout.decode().strip()
    assert fetched == head, f"git fetch: origin/main {fetched}, pushed {head}"
    assert_clean("git")


# --- 4 and 5. killing things mid-transfer --------------------------------------------

def start_throttled_rsync(dest):
    err_file = tempfile.TemporaryFile(dir=WORK)
    proc = subprocess.Popen([TOOL, "fakessh", "-t", CHAIN, "--", "rsync", "--bwlimit=20m", big_file(),
                             f"{HOST}:{dest}/"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=err_file, env=ENV)
    # Wait for the remote rsync --server, then let it transfer for a second.
    deadline = time.monotonic() + 15
    while True:
        procs = all_procs()
        tree = descendants(proc.pid, procs)
        if any(is_top_rsync_server(p, procs) for p in tree):
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            err_file.seek(0)
            raise AssertionError(f"the remote rsync --server never started (tool exit {proc.poll()}): "
                                 f"tree {tree!r}; stderr {err_file.read()!r}")
        time.sleep(0.02)
    time.sleep(1.0)
    assert proc.poll() is None, f"rsync of {BIG_MIB} MiB at 20 MB/s finished in 1 s? exit {proc.returncode}"
    tree = descendants(proc.pid)
    fake = [p for p in tree if is_fake_ssh(p)]
    assert len(fake) == 1, f"wanted one fake ssh under the tool: {tree!r}"
    tmpdir = fake_ssh_dir(fake[0])
    # The run's directory honours TMPDIR, so nothing of ours lands in /tmp
    # and TMPD empty afterwards means no directory was left.
    assert tmpdir and os.path.dirname(tmpdir) == TMPD, \
        f"the run's directory {tmpdir!r} is not in TMPDIR={TMPD} (fake ssh {fake[0]!r})"
    partial = 0
    for name in os.listdir(dest) if os.path.isdir(dest) else []:
        partial += os.path.getsize(os.path.join(dest, name))
    return proc, err_file, tree, tmpdir, partial


def stderr_of(err_file):
    err_file.seek(0)
    return err_file.read().decode(errors="replace")


def wait_gone(snapshot, within, tmpdir):
    """Seconds until nothing of the run is left (None if something is
    still there after @within), and what is left."""
    start = time.monotonic()
    left = wait_no_leftovers(snapshot, within, tmpdir)
    return (None if left else time.monotonic() - start), left


@test
def destination_killed_mid_transfer():
    dest = remote_dir("kill-dest")
    proc, err_file, tree, tmpdir, partial = start_throttled_rsync(dest)
    try:
        # The context's agent: the topmost process of the tree running as the
        # test user (its parent is sudo, running as root).
        by_pid = {p.pid: p for p in tree}
        agents = [p for p in tree if p.uid == TEST_UID and by_pid.get(p.ppid) is not None
                  and by_pid[p.ppid].uid != TEST_UID]
        assert len(agents) == 1, f"wanted exactly one agent (test user, parent not): {tree!r}"
        agent = agents[0]
        assert any("mitogen" in a for a in agent.argv), f"that is not an agent: {agent!r}"
        os.kill(agent.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the tool hangs 10 s after its destination was killed: "
                                 f"still running {descendants(proc.pid)!r}; stderr {stderr_of(err_file)!r}")
        took = time.monotonic() - killed_at
        err = stderr_of(err_file)
        gone, left = wait_gone(tree, 3.0, tmpdir)
        print(f"  agent {agent.pid} killed {partial / MiB:.1f} MiB into the transfer: tool exit {rc} "
              f"after {took:.2f} s, all of it gone {gone if gone is None else round(gone, 2)} s later", flush=True)
        assert rc != 0, f"tool exit 0 although its destination was killed; stderr {err!r}"
        assert any(line.startswith(PREFIX) for line in err.splitlines()), \
            f"the fake ssh did not say why it failed ('{PREFIX}...'): stderr {err!r}"
        assert not left, f"processes left 3 s after the tool exited (exit {rc}, stderr {err!r}): {left!r}"
        assert not os.path.exists(tmpdir), f"the run's directory {tmpdir} is left over"
        assert_clean("destination killed", within=0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_all(tree)
        err_file.close()


@test
def tool_terminated_mid_transfer():
    dest = remote_dir("kill-tool")
    proc, err_file, tree, tmpdir, partial = start_throttled_rsync(dest)
    try:
        proc.send_signal(signal.SIGTERM)
        sent_at = time.monotonic()
        try:
            rc = proc.wait(timeout=6)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the tool still runs 6 s after SIGTERM: {descendants(proc.pid)!r}; "
                                 f"stderr {stderr_of(err_file)!r}")
        took = time.monotonic() - sent_at
        err = stderr_of(err_file)
        gone, left = wait_gone(tree, 5.0, tmpdir)
        print(f"  SIGTERM {partial / MiB:.1f} MiB into the transfer: tool exit {rc} after {took:.2f} s, "
              f"all of it gone {gone if gone is None else round(gone, 2)} s later", flush=True)
        assert rc == 128 + signal.SIGTERM, f"tool exit {rc} after SIGTERM (expected 143); stderr {err!r}"
        assert not left, f"processes left 5 s after the tool exited (exit {rc}, stderr {err!r}): {left!r}"
        assert not os.path.exists(tmpdir), f"the run's directory {tmpdir} is left over"
        assert_clean("tool terminated", within=0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_all(tree)
        err_file.close()


@test
def tool_killed_mid_transfer():
    """SIGKILL: the tool cannot clean up; its fake ssh and the context must
    notice the master is gone and everything else must go by itself. (Only
    the run's directory stays: nobody is left to remove it.)"""
    dest = remote_dir("kill-9-tool")
    proc, err_file, tree, tmpdir, partial = start_throttled_rsync(dest)
    try:
        proc.kill()
        proc.wait()
        gone, left = wait_gone(tree, 5.0, tmpdir)
        err = stderr_of(err_file)
        print(f"  SIGKILL {partial / MiB:.1f} MiB into the transfer: all of it gone "
              f"{gone if gone is None else round(gone, 2)} s later", flush=True)
        assert not left, f"processes left 5 s after the tool was killed (stderr {err!r}): {left!r}"
        assert any(line.startswith(PREFIX) for line in err.splitlines()), \
            f"the fake ssh did not say why it failed ('{PREFIX}...'): stderr {err!r}"
    finally:
        kill_all(tree)
        err_file.close()
        shutil.rmtree(tmpdir, ignore_errors=True)
    assert_clean("tool killed", within=0)


# --- 6. several ssh at once --------------------------------------------------------

# Two throttled rsyncs and a plain ssh pipe at once, from one shell under
# one fakessh run. (Not scp: run by a script rather than as PROGRAM it uses
# /usr/bin/ssh; see scp_sftp_run_by_a_script.)
PUT_SCRIPT = """
rsync -a --bwlimit=20m "$1" "$HOST:$2" & a=$!
rsync -a --bwlimit=20m "$3" "$HOST:$4" & b=$!
ssh "$HOST" "cat > '$6'" < "$5" & c=$!
wait $a || exit 11
wait $b || exit 12
wait $c || exit 13
"""
GET_SCRIPT = """
rsync -a --bwlimit=20m "$HOST:$1" "$2" & a=$!
rsync -a --bwlimit=20m "$HOST:$3" "$4" & b=$!
ssh "$HOST" "cat '$5'" > "$6" & c=$!
wait $a || exit 11
wait $b || exit 12
wait $c || exit 13
"""


def run_watching_concurrency(args):
    """Runs the tool; returns (rc, stderr, most remote rsync --server at
    once, most fake ssh at once)."""
    err_file = tempfile.TemporaryFile(dir=WORK)
    proc = subprocess.Popen([TOOL, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err_file,
                            env=dict(ENV, HOST=HOST))
    most_servers = most_clients = 0
    seen = {}
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None:
            procs = all_procs()
            tree = descendants(proc.pid, procs)
            for p in tree:
                seen.setdefault((p.pid, p.start), p)
            most_servers = max(most_servers, sum(1 for p in tree if is_top_rsync_server(p, procs)))
            most_clients = max(most_clients, sum(1 for p in tree if is_fake_ssh(p)))
            assert time.monotonic() < deadline, f"{args}: still running after 120 s"
            time.sleep(0.01)
        return proc.returncode, stderr_of(err_file), most_servers, most_clients
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            kill_all(seen.values())
        err_file.close()


@test
def parallel_transfers():
    base = os.path.join(LOCAL, "parallel")
    rng = random.Random(6)
    sources = []
    for name in ("a", "b"):
        src = os.path.join(base, name)
        make_tree(src, 60, seed=ord(name))
        write_random(os.path.join(src, "big part.bin"), 24 * MiB, rng)
        sources.append(src)
    single = os.path.join(base, "single.bin")
    write_random(single, 16 * MiB, rng)
    want = sha256_file(single)
    there = remote_dir("parallel")

    start = time.monotonic()
    rc, err, servers, clients = run_watching_concurrency(
        ["fakessh", "-t", CHAIN, "--", "sh", "-c", PUT_SCRIPT, "sh",
         sources[0] + "/", f"{there}/a/", sources[1] + "/", f"{there}/b/", single, f"{there}/single.bin"])
    t_put = time.monotonic() - start
    assert rc == 0, f"parallel put: exit {rc}, stderr {err!r}"
    assert servers == 2, f"parallel put: at most {servers} remote rsync --server at once, wanted 2"
    assert clients >= 2, f"parallel put: at most {clients} fake ssh at once, wanted 2 or 3"
    for name, src in zip("ab", sources):
        assert_same_tree(src, os.path.join(there, name), f"source {name}", f"context {name}")
    got = sha256_file(os.path.join(there, "single.bin"))
    assert got == want, f"parallel ssh 'cat >': sha256 {got} in the context, {want} sent"
    assert_owned_by_test_user(there)

    back = os.path.join(LOCAL, "parallel-back")
    os.mkdir(back)
    start = time.monotonic()
    rc, err, servers2, clients2 = run_watching_concurrency(
        ["fakessh", "-t", CHAIN, "--", "sh", "-c", GET_SCRIPT, "sh",
         f"{there}/a/", f"{back}/a/", f"{there}/b/", f"{back}/b/", f"{there}/single.bin", f"{back}/single.bin"])
    t_get = time.monotonic() - start
    assert rc == 0, f"parallel get: exit {rc}, stderr {err!r}"
    assert servers2 == 2, f"parallel get: at most {servers2} remote rsync --server at once, wanted 2"
    for name, src in zip("ab", sources):
        assert_same_tree(src, os.path.join(back, name), f"source {name}", f"back {name}")
    got = sha256_file(os.path.join(back, "single.bin"))
    assert got == want, f"parallel ssh cat: sha256 {got} back, {want} sent"
    print(f"  2 rsync + 1 ssh pipe at once: put {t_put:.1f} s ({clients} fake ssh at once), "
          f"get {t_get:.1f} s ({clients2} at once)", flush=True)
    assert_clean("parallel")


# --- 7. the tool's own errors ------------------------------------------------------

def expect_one_line(label, err, prefix):
    assert err.endswith("\n") and err.count("\n") == 1 and err.startswith(prefix), \
        f"{label}: wanted exactly one stderr line '{prefix}...', got {err!r}"


@test
def tool_errors():
    # Missing -t.
    rc, out, err = run_tool("fakessh", "--", "true")
    assert (rc, out) == (USAGE, b""), f"no -t: exit {rc}, stdout {out!r}, stderr {err!r}"
    expect_one_line("no -t", err, "mitogen: ")
    # Unknown program.
    rc, out, err = fakessh("mitogen-no-such-program-xyz")
    assert (rc, out) == (NOT_FOUND, b""), f"unknown program: exit {rc}, stdout {out!r}, stderr {err!r}"
    expect_one_line("unknown program", err, "mitogen: ")
    assert "mitogen-no-such-program-xyz" in err, err
    # Unreachable destination: connect failure, PROGRAM never runs.
    marker = os.path.join(WORK, "must-not-exist")
    rc, out, err = run_tool("fakessh", "-t", "sudo:mitogen-no-such-user-xyz", "--", "touch", marker)
    assert rc == CONNECT and not os.path.exists(marker), \
        f"sudo to a missing user: exit {rc} (wanted {CONNECT}), ran PROGRAM: {os.path.exists(marker)}; stderr {err!r}"
    # --timeout.
    start = time.monotonic()
    rc, out, err = fakessh("sleep", "30", options=("--timeout", "1"), timeout=40)
    took = time.monotonic() - start
    assert rc == TIMED_OUT and took < 6, f"--timeout 1 sleep 30: exit {rc} after {took:.1f} s; stderr {err!r}"
    expect_one_line("--timeout", err, "mitogen: ")
    # The fake ssh itself, as PROGRAM: works, and refuses what it cannot do.
    rc, out, err = fakessh("ssh", HOST, "id -un; echo err >&2; exit 3")
    assert (rc, out, err) == (3, f"{USER}\n".encode(), "err\n"), f"ssh id -un: {(rc, out, err)!r}"
    created = os.path.join(REMOTE, "created-by-ssh -L")
    rc, out, err = fakessh("ssh", "-L", "1:a:2", HOST, "touch", f"'{created}'")
    assert (rc, out) == (SSH_FAILED, b""), f"ssh -L: tool exit {rc} (wanted 255), stdout {out!r}, stderr {err!r}"
    expect_one_line("ssh -L", err, PREFIX)
    assert not os.path.exists(created), f"ssh -L ran its command anyway: {created} exists"
    # Through a shell: the fake ssh exits 255 and the program carries on.
    rc, out, err = fakessh("sh", "-c", f'ssh -L 1:a:2 {HOST} true; echo "status=$?"')
    assert (rc, out) == (0, b"status=255\n"), f"sh -c 'ssh -L ...': exit {rc}, stdout {out!r}, stderr {err!r}"
    expect_one_line("sh -c 'ssh -L ...'", err, PREFIX)
    assert_clean("errors")


# --- main --------------------------------------------------------------------------

def skip(reason):
    print(f"SKIP: {reason}", flush=True)
    sys.exit(SKIP)


def setup():
    global TEST_UID, WORK, LOCAL, REMOTE, TMPD, ENV
    if os.geteuid() != 0:
        skip("needs root (sudo from root to a test user without a password)")
    for program in ("sudo", "rsync", "git", "scp", "sftp", "useradd", "userdel"):
        if shutil.which(program) is None:
            skip(f"{program} is not installed")
    if not os.access(TOOL, os.X_OK):
        sys.exit(f"{TOOL}: not an executable")
    created = False
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "-M", "-s", "/bin/sh", USER], check=True)
        created = True
    TEST_UID = pwd.getpwnam(USER).pw_uid
    WORK = tempfile.mkdtemp(prefix="mgfs-test-")
    os.chmod(WORK, 0o755)
    LOCAL = os.path.join(WORK, "local")
    os.mkdir(LOCAL)
    REMOTE = os.path.join(WORK, "remote")
    os.mkdir(REMOTE)
    os.chown(REMOTE, TEST_UID, TEST_UID)
    TMPD = os.path.join(WORK, "tmp")
    os.mkdir(TMPD, 0o700)
    ENV = dict(os.environ)
    for name in ("G_MESSAGES_DEBUG", "MITOGEN_PASSWORD_FILE", "MITOGEN_PROGRESS", "GIT_SSH", "GIT_SSH_COMMAND",
                 "RSYNC_RSH", "SSH_AUTH_SOCK"):
        ENV.pop(name, None)
    ENV.update(TMPDIR=TMPD, LC_ALL="C", GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null",
               GIT_AUTHOR_NAME="Local", GIT_AUTHOR_EMAIL="local@example.invalid",
               GIT_COMMITTER_NAME="Local", GIT_COMMITTER_EMAIL="local@example.invalid")
    return created


def cleanup(created):
    # Whatever of the test user still runs was started by us.
    deadline = time.monotonic() + 5
    while test_user_procs() and time.monotonic() < deadline:
        for p in test_user_procs():
            try:
                os.kill(p.pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.1)
    if WORK:
        shutil.rmtree(WORK, ignore_errors=True)
    if created:
        for _ in range(50):
            if subprocess.run(["userdel", USER], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)  # processes still exiting
        else:
            print(f"warning: could not remove the user {USER}", flush=True)


def main():
    # A SIGTERM (meson's timeout) still cleans up: finally blocks run.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    created = setup()
    failures = []
    selected = [t for t in TESTS if not ONLY or t.__name__ in ONLY]
    total = time.monotonic()
    try:
        print(f"# context {CHAIN} (uid {TEST_UID}), work dir {WORK}", flush=True)
        for func in selected:
            start = time.monotonic()
            try:
                func()
            except Exception:
                failures.append(func.__name__)
                print(f"FAIL {func.__name__}", flush=True)
                traceback.print_exc()
                sys.stdout.flush()
            else:
                print(f"ok   {func.__name__} ({time.monotonic() - start:.2f} s)", flush=True)
    finally:
        cleanup(created)
    print(f"# total {time.monotonic() - total:.1f} s")
    if failures:
        print(f"{len(failures)} of {len(selected)} failed: {', '.join(failures)}")
        return 1
    print(f"all {len(selected)} passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
