#!/bin/sh
# setup-binfmt.sh [DEBARCH...] — lets this machine run programs of other
# CPUs through qemu-user (package qemu-user-static): mounts binfmt_misc
# if needed and makes sure a qemu handler is registered and enabled for
# each Debian architecture named (default: arm64 armhf s390x ppc64el i386),
# with the F flag (the kernel opens the emulator once, at registration),
# so a chroot needs no qemu binary inside.
#
# i386 is emulated on an x86_64 machine too (qemu-i386): not every x86_64
# kernel runs 32-bit programs, and under qemu `uname -m` says i686. The
# handler then catches every i386 program on the machine.
#
# Prints one line per architecture. Exits 77 with a one-line reason when
# it cannot be done here (not root, no binfmt_misc, no qemu-user-static).
#
# SPDX-License-Identifier: BSD-3-Clause
set -eu

skip() { echo "setup-binfmt: $*"; exit 77; }

[ $# -gt 0 ] || set -- arm64 armhf s390x ppc64el i386
[ "$(id -u)" = 0 ] || skip "needs root (binfmt_misc registration)"

B=/proc/sys/fs/binfmt_misc
if [ ! -e $B/status ]; then
  mount -t binfmt_misc binfmt_misc $B 2>/dev/null || skip "cannot mount binfmt_misc on $B"
fi
[ -w $B/register ] || skip "$B/register is not writable (a container without the privilege?)"
[ "$(cat $B/status)" = enabled ] || echo 1 > $B/status

host=$(uname -m)
for arch in "$@"; do
  case $arch in
    arm64) cpu=aarch64 ;;
    armhf) cpu=arm ;;
    s390x) cpu=s390x ;;
    ppc64el) cpu=ppc64le ;;
    i386) cpu=i386 ;;
    *) echo "setup-binfmt: unknown architecture $arch" >&2; exit 2 ;;
  esac
  case $cpu/$host in
    aarch64/aarch64|arm/armv7l|arm/armv8l|s390x/s390x|ppc64le/ppc64le|i386/i686)
      echo "$arch: native"; continue ;;
  esac
  e=$B/qemu-$cpu
  def=/usr/share/binfmts/qemu-$cpu
  if [ ! -e "$e" ] || ! grep -q '^flags:.*F' "$e"; then
    if [ -r "$def" ]; then
      emu=$(sed -n 's/^interpreter //p' "$def")
      magic=$(sed -n 's/^magic //p' "$def")
      mask=$(sed -n 's/^mask //p' "$def")
    elif [ "$cpu" = i386 ]; then
      # qemu-user-static has no definition for the host's own family:
      # an ELF32 little-endian executable or PIE of machine EM_386.
      emu=/usr/bin/qemu-i386-static
      magic='\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00'
      mask='\xff\xff\xff\xff\xff\xff\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
    else
      skip "no $def (apt-get install qemu-user-static)"
    fi
    [ -n "$emu" ] && [ -x "$emu" ] || skip "no emulator $emu for qemu-$cpu (apt-get install qemu-user-static)"
    [ -n "$magic" ] && [ -n "$mask" ] || skip "$def has no magic or mask"
    # Registered without F (the emulator is then found by path at each
    # exec, so it must be inside a chroot too): register it again.
    if [ -e "$e" ]; then echo -1 > "$e"; fi
    # P: the program sees the argv[0] it was started with (qemu 7 reads
    # the kernel's AT_FLAGS; Debian's *-binfmt-P names say it too).
    flags=FP
    # The kernel decodes the \x escapes itself.
    printf ':qemu-%s:M::%s:%s:%s:%s\n' "$cpu" "$magic" "$mask" "$emu" "$flags" > $B/register 2>/dev/null ||
      skip "the kernel refused the qemu-$cpu handler (no F flag before Linux 4.8?)"
  fi
  grep -qx enabled "$e" || echo 1 > "$e"
  grep -qx enabled "$e" || skip "qemu-$cpu handler stays disabled"
  grep -q '^flags:.*F' "$e" || skip "qemu-$cpu handler has no F flag"
  echo "$arch: qemu-$cpu $(sed -n 's/^interpreter //p' "$e") ($(sed -n 's/^flags: //p' "$e"))"
done
