# scripts/debian-root.sh - a throw-away Debian 12 root, shared by scripts/fresh-root-test
# and scripts/package-test (sourced, not run). The caller sets `target` (the root's folder,
# new or empty) and `keep` (yes: leave the root in place at the end); root_make makes it,
# root_mount mounts /proc, /sys and /dev in it, and the EXIT trap set by root_init ends
# processes left in it and unmounts and removes it.
# Environment: MIRROR (default http://deb.debian.org/debian), SECURITY_MIRROR (default
# http://deb.debian.org/debian-security).

MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
root_mounted=()

# Processes still running inside the root were started by this run: ended by PID.
root_stop_leftovers() {
  local pids=() p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$target" ] && pids+=("${p#/proc/}")
  done
  [ ${#pids[@]} -eq 0 ] && return 0
  say "ending processes left in the root: ${pids[*]}"
  kill -TERM "${pids[@]}" 2>/dev/null
  sleep 3
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  return 1
}

root_cleanup() {
  root_stop_leftovers
  local i
  for ((i = ${#root_mounted[@]} - 1; i >= 0; i--)); do
    umount "${root_mounted[$i]}" 2>/dev/null || umount -l "${root_mounted[$i]}" ||
      say "could not unmount ${root_mounted[$i]}"
  done
  root_mounted=()
  if [ "$keep" = no ]; then
    # Only once nothing is mounted below it, and never across into another file system.
    if grep -q " $target/" /proc/self/mounts; then
      say "something is still mounted below $target: not removing it"
    else
      rm -rf --one-file-system "$target"
    fi
  fi
}

# root_init FOLDER-OR-EMPTY PREFIX: sets target (a new folder under /var/tmp named after
# PREFIX when none is given) and the traps.
root_init() {
  if [ -n "$1" ]; then
    target=$1
    mkdir -p "$target" || exit 2
    if [ -n "$(ls -A "$target")" ]; then
      say "$target is not empty"
      exit 2
    fi
  else
    target=$(mktemp -d "/var/tmp/$2.XXXXXX") || exit 2
  fi
  target=$(cd "$target" && pwd)
  chmod 755 "$target"  # it is the root's /: every user must reach what is below it
  trap root_cleanup EXIT
  trap 'exit 130' INT TERM
}

root_mount_in() {  # root_mount_in TARGET-INSIDE-ROOT mount-arguments...
  local where=$target$1
  shift
  mkdir -p "$where"
  mount "$@" "$where" || { say "mount $* $where failed"; exit 1; }
  root_mounted+=("$where")
  # Nothing mounted below it travels back to the host's own mounts.
  mount --make-private "$where"
}

# root_make LOG: debootstrap (minbase: nothing but what every Debian system has) and
# apt's sources.
root_make() {
  local log=$1
  if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; } ||
      { say "could not install debootstrap"; exit 1; }
  fi
  say "making a Debian 12 root in $target"
  if ! debootstrap --variant=minbase bookworm "$target" "$MIRROR" >"$log" 2>&1; then
    tail -n 20 "$log"
    say "debootstrap failed (whole output: $log)"
    exit 1
  fi
  cat >"$target/etc/apt/sources.list" <<SOURCES
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $SECURITY_MIRROR bookworm-security main
SOURCES
  cp /etc/resolv.conf "$target/etc/resolv.conf"
}

root_mount() {
  root_mount_in /proc -t proc proc
  root_mount_in /sys -t sysfs sysfs
  root_mount_in /dev --bind /dev
  root_mount_in /dev/pts --bind /dev/pts
  root_mount_in /dev/shm -t tmpfs -o mode=1777 tmpfs
}

# root_run COMMAND...: COMMAND in the root as root, with a clean environment.
root_run() {
  chroot "$target" /usr/bin/env -i HOME=/root USER=root LOGNAME=root SHELL=/bin/bash LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}
