#!/bin/sh
# make-root.sh DEBARCH DEST — a busybox-only root for a foreign CPU, for
# `chroot DEST /bin/sh` under qemu-user (run setup-binfmt.sh first).
#
# DEST gets busybox-static of that Debian architecture, /bin/sh and every
# applet as links to it, /tmp (mode 1777), /home, /root and a two-line
# /etc/passwd. The package is downloaded once (apt-get download; the
# architecture must be added: dpkg --add-architecture DEBARCH && apt-get
# update) and kept in DEST's parent folder for the next root. Idempotent.
# Prints DEST. Exits 77 with a one-line reason when it cannot make the
# root or cannot run the foreign busybox here.
#
# SPDX-License-Identifier: BSD-3-Clause
set -eu

skip() { echo "make-root: $*"; exit 77; }

[ $# = 2 ] || { echo "usage: make-root.sh DEBARCH DEST" >&2; exit 2; }
arch=$1
case $arch in
  arm64|armhf|s390x|ppc64el|i386|amd64) ;;
  *) echo "make-root: unknown architecture $arch" >&2; exit 2 ;;
esac
dest=$(realpath -m "$2")
cache=$(dirname "$dest")
mkdir -p "$cache"

if [ ! -e "$dest/.mitogen-root" ]; then
  deb=$(ls "$cache"/busybox-static_*_"$arch".deb 2>/dev/null | tail -n 1)
  if [ -z "$deb" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && apt-get download -q "busybox-static:$arch" >/dev/null 2>&1) ||
      skip "cannot download busybox-static:$arch (dpkg --add-architecture $arch && apt-get update)"
    deb=$(ls "$tmp"/busybox-static_*_"$arch".deb)
    cp "$deb" "$cache/"
    deb=$cache/$(basename "$deb")
    rm -rf "$tmp"
    trap - EXIT
  fi
  rm -rf "$dest"
  mkdir -p "$dest"
  dpkg-deb -x "$deb" "$dest"
  [ -x "$dest/bin/busybox" ] || skip "$deb has no bin/busybox"

  # The applets: the foreign busybox installs its own links where it runs
  # (one process); else links from the host busybox's list (the same
  # Debian release has the same set).
  mkdir -p "$dest/bin" "$dest/sbin" "$dest/usr/bin" "$dest/usr/sbin"
  if ! chroot "$dest" /bin/busybox --install -s 2>/dev/null; then
    list=$(busybox --list-full 2>/dev/null) ||
      skip "cannot run $arch's busybox here (setup-binfmt.sh $arch) nor a host busybox to list applets"
    for path in $list; do
      [ -e "$dest/$path" ] || [ -L "$dest/$path" ] || ln -s /bin/busybox "$dest/$path"
    done
  fi
  [ -e "$dest/bin/sh" ] || ln -s busybox "$dest/bin/sh"
  mkdir -p "$dest/tmp" "$dest/home" "$dest/root" "$dest/etc"
  chmod 1777 "$dest/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dest/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$dest/etc/group"
  basename "$deb" > "$dest/.mitogen-root"
fi

"$dest/bin/busybox" true 2>/dev/null ||
  skip "cannot run $arch programs here (setup-binfmt.sh $arch)"
echo "$dest"
