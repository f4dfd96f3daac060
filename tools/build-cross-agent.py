#!/usr/bin/env python3
# build-cross-agent.py — the static agent for a foreign CPU, by a nested
# meson cross build (meson -Dagent_archs=..., agent/meson.build).
#
#   build-cross-agent.py --arch ARCH --source-root SRC --work-dir DIR
#                        --out-dir OUT [--meson MESON] [--ninja NINJA] [--xz]
#                        [-D opt=val ...]
#
# DIR holds, for the Debian architecture ARCH:
#   debs/      the target's -dev packages (apt-get download, kept as a cache)
#   sysroot/   those packages unpacked (headers, static archives, .pc files)
#   sysroot.txt  a cross file defining the constant 'sysroot' for
#              data/cross/ARCH.txt
#   build/     the nested build: -Dagent_only=true -Dstatic_agent=enabled
# and OUT gets mitogen-agent-ARCH with the siblings the host agent has:
# .gz (the image gzip-compressed: gzip -9, or zopfli where installed), .sha256 (its hex digest), .xz with --xz.
#
# The packages are unpacked rather than installed: dpkg's multiarch wants
# every Multi-Arch: same package at one version on all architectures, which
# fails whenever the host has a security update the foreign architecture
# has not (Debian 12's LTS builds none for s390x). The C library is the
# cross compiler's own (gcc-TRIPLET, libc6-dev-ARCH-cross).
#
# SPDX-License-Identifier: BSD-3-Clause

import argparse
import filecmp
import glob
import os
import re
import shutil
import subprocess
import sys
import time

# What the static agent links (agent/meson.build), and what the .pc files
# of gio-2.0 name in Requires.private (pkg-config wants them to exist).
SYSROOT_PACKAGES = [
    'libglib2.0-dev', 'zlib1g-dev', 'libffi-dev', 'libpcre2-dev',
    'libselinux1-dev', 'libsepol-dev', 'libmount-dev', 'libblkid-dev',
]
SUFFIXES = ['', '.gz', '.sha256']


def fail(message):
    print('build-cross-agent: ' + message, file=sys.stderr)
    sys.exit(1)


def run_logged(cmd, log_path, env=None, cwd=None):
    """Runs cmd with its output in log_path; on failure shows the log's tail."""
    with open(log_path, 'w', encoding='utf-8') as log:
        log.write('$ ' + ' '.join(cmd) + '\n')
        log.flush()
        status = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env=env, cwd=cwd)
    if status != 0:
        with open(log_path, encoding='utf-8', errors='replace') as log:
            lines = log.readlines()
        sys.stderr.write(''.join(lines[-60:]))
        fail('%s failed (exit status %d); whole log: %s' % (cmd[0], status, log_path))


def read_text(path):
    """The file's text, or None when there is no file."""
    try:
        with open(path, encoding='utf-8') as f:
            return f.read()
    except FileNotFoundError:
        return None


def write_if_changed(path, text):
    if read_text(path) != text:
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)


def triplet_of(cross_file):
    with open(cross_file, encoding='utf-8') as f:
        m = re.search(r"^triplet = '([^']+)'", f.read(), re.M)
    if not m:
        fail('%s names no triplet' % cross_file)
    return m.group(1)


def ensure_sysroot(arch, work):
    """Unpacks the target's -dev packages into work/sysroot (once)."""
    sysroot = os.path.join(work, 'sysroot')
    stamp = os.path.join(sysroot, '.mitogen-packages')
    wanted = '\n'.join(SYSROOT_PACKAGES) + '\n'
    if read_text(stamp) == wanted:
        return sysroot

    debs = os.path.join(work, 'debs')
    os.makedirs(debs, exist_ok=True)
    missing = [p for p in SYSROOT_PACKAGES
               if not glob.glob(os.path.join(debs, '%s_*_%s.deb' % (p, arch)))]
    if missing:
        # apt-get's sandbox user may not write here; root then downloads
        # unsandboxed (a warning only).
        cmd = ['apt-get', 'download', '-q'] + ['%s:%s' % (p, arch) for p in missing]
        status = subprocess.call(cmd, cwd=debs, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if status != 0:
            fail('could not download %s for %s: add the architecture first '
                 '(dpkg --add-architecture %s && apt-get update)'
                 % (', '.join(missing), arch, arch))

    tmp = sysroot + '.tmp'
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for p in SYSROOT_PACKAGES:
        found = sorted(glob.glob(os.path.join(debs, '%s_*_%s.deb' % (p, arch))))
        subprocess.check_call(['dpkg-deb', '-x', found[-1], tmp])
    with open(os.path.join(tmp, '.mitogen-packages'), 'w', encoding='utf-8') as f:
        f.write(wanted)
    shutil.rmtree(sysroot, ignore_errors=True)
    os.rename(tmp, sysroot)
    return sysroot


def install_if_changed(src, dst):
    """Copies src to dst unless equal (then dst keeps its time)."""
    if os.path.exists(dst) and filecmp.cmp(src, dst, shallow=False):
        return
    tmp = dst + '.tmp'
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--arch', required=True)
    ap.add_argument('--source-root', required=True)
    ap.add_argument('--work-dir', required=True)
    ap.add_argument('--out-dir', required=True)
    ap.add_argument('--meson', default='meson')
    ap.add_argument('--ninja', default='ninja')
    ap.add_argument('--xz', action='store_true')
    ap.add_argument('-D', dest='options', action='append', default=[])
    args = ap.parse_args()

    start = time.monotonic()
    arch = args.arch
    cross_file = os.path.join(args.source_root, 'data', 'cross', arch + '.txt')
    if not os.path.exists(cross_file):
        fail('no cross file %s' % cross_file)
    triplet = triplet_of(cross_file)
    if shutil.which(triplet + '-gcc') is None:
        fail('%s-gcc not found: apt-get install gcc-%s libc6-dev-%s-cross'
             % (triplet, triplet, arch))

    work = os.path.abspath(args.work_dir)
    os.makedirs(work, exist_ok=True)
    sysroot = ensure_sysroot(arch, work)
    # Rewritten only when it changes: a newer cross file makes the nested
    # ninja run meson again.
    sysroot_file = os.path.join(work, 'sysroot.txt')
    write_if_changed(sysroot_file, "[constants]\nsysroot = '%s'\n" % sysroot)

    # No pkg-config search path from outside: only the target's .pc files.
    env = {k: v for k, v in os.environ.items() if not k.startswith('PKG_CONFIG')}

    build = os.path.join(work, 'build')
    setup_args = ['--cross-file', sysroot_file, '--cross-file', cross_file,
                  '-Dagent_only=true', '-Dstatic_agent=enabled', '-Dtests=false',
                  '-Dintrospection=disabled'] + ['-D' + o for o in args.options]
    stamp = os.path.join(work, 'setup-args')
    configured = read_text(stamp) == '\n'.join(setup_args)
    if not (configured and os.path.exists(os.path.join(build, 'build.ninja'))):
        shutil.rmtree(build, ignore_errors=True)
        if os.path.exists(stamp):
            os.unlink(stamp)
        run_logged([args.meson, 'setup', build, args.source_root] + setup_args,
                   os.path.join(work, 'setup.log'), env=env)
        with open(stamp, 'w', encoding='utf-8') as f:
            f.write('\n'.join(setup_args))
    # Ninja re-runs meson itself when a meson.build changed.
    run_logged([args.ninja, '-C', build], os.path.join(work, 'compile.log'), env=env)

    suffixes = SUFFIXES + (['.xz'] if args.xz else [])
    sizes = []
    for suffix in suffixes:
        src = os.path.join(build, 'agent', 'mitogen-agent' + suffix)
        if not os.path.exists(src):
            fail('the nested build made no %s' % src)
        install_if_changed(src, os.path.join(args.out_dir, 'mitogen-agent-%s%s' % (arch, suffix)))
        if suffix != '.sha256':
            sizes.append('%d %s' % (os.path.getsize(src), suffix[1:] or 'bytes'))
    print('mitogen-agent-%s: %s (%s, cross build %.1f s)'
          % (arch, ', '.join(sizes), triplet, time.monotonic() - start))


if __name__ == '__main__':
    main()
