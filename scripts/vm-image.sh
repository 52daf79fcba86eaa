#!/usr/bin/env bash
# Test VM image for vswitch: a Debian kernel and a small busybox initramfs that QEMU boots
# (TCG, -kernel/-initrd) so the tests can put a real Linux VM's NIC on the switch.
#
# Contract:
#   - Run as root on Debian 12. Uses only Debian's packages: installs qemu-system-x86
#     (--no-install-recommends) and busybox-static when missing; fetches the kernel package
#     that linux-image-amd64 depends on with `apt-get download` and unpacks it with
#     `dpkg-deb -x` into the cache; the host's own kernel and /boot are never touched.
#   - Output, in $VSWITCH_VM_CACHE (default /var/cache/vswitch-vm):
#       vmlinuz    the kernel
#       initrd.gz  cpio newc + gzip: busybox, the virtio_net / virtio_pci modules and their
#                  dependencies (uncompressed .ko), and /init (below)
#   - Idempotent: rebuilds only when this script, the kernel package or busybox changed
#     (a stamp file). Safe to run concurrently (flock on the cache).
#   - Prints on stdout, one per line: kernel=PATH, initrd=PATH, kver=KERNEL_RELEASE.
#     Progress and errors go to stderr; exit status non-zero on failure.
#
# The VM's /init (see INIT below): mounts proc/sys/dev/tmp, loads the modules, brings up lo
# and every NIC, configures eth0 from the kernel command line, then serves a command protocol
# on the serial console ttyS0 (console=ttyS0):
#   kernel command line: vsw.ip=A.B.C.D/N  vsw.gw=A.B.C.D  vsw.ip6=X::Y/N  vsw.mtu=N
#                        vsw.ipv6=off  vsw.hostname=NAME
#   ready:   the line  @@VSW-READY@@  once the network is configured
#   request: one line  ID SECONDS BASE64   (ID: [A-Za-z0-9_-]+, BASE64: the command text)
#   reply:   @@VSW-BEGIN ID@@\n  OUTPUT  \n@@VSW-END ID STATUS@@\n
#            OUTPUT is the command's stdout+stderr exactly (the reply adds the \n before END);
#            the command runs in a fresh `sh` with stdin /dev/null, killed (SIGKILL, status 137)
#            after SECONDS. The tty is raw without echo, so nothing else is printed.
set -euo pipefail

SCRIPT_PATH="$(readlink -f "$0")"
CACHE="${VSWITCH_VM_CACHE:-/var/cache/vswitch-vm}"
# Kernel modules the VM needs (their dependencies come from modules.dep); built-ins are skipped.
ROOT_MODULES=(virtio_pci virtio_net)

log() { echo "vm-image: $*" >&2; }
die() { echo "vm-image: error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (apt-get, device nodes in the initramfs)"

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

# ---- Debian packages -------------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
APT_UPDATED=0
apt_update() {
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    apt-get update -qq >&2
    APT_UPDATED=1
  fi
}

missing=()
for p in qemu-system-x86 busybox-static; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  apt_update
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
qemu-system-x86_64 --version >/dev/null 2>&1 || die "qemu-system-x86_64 does not run"
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "$BUSYBOX missing (busybox-static)"
BUSYBOX_VERSION="$(dpkg-query -W -f='${Version}' busybox-static)"

# ---- Kernel package --------------------------------------------------------------------
resolve_kernel() {
  apt-cache depends linux-image-amd64 2>/dev/null \
    | awk '$1 ~ /Depends:$/ && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }'
}
KPKG="$(resolve_kernel || true)"
if [ -z "$KPKG" ]; then
  apt_update
  KPKG="$(resolve_kernel || true)"
fi
mkdir -p "$CACHE/debs"
if [ -n "$KPKG" ]; then
  KVERSION="$(apt-cache show --no-all-versions "$KPKG" 2>/dev/null | awk '/^Version:/ { print $2; exit }')"
  [ -n "$KVERSION" ] || die "no version for $KPKG"
  DEB="$CACHE/debs/${KPKG}_${KVERSION}_amd64.deb"
  if [ ! -s "$DEB" ]; then
    log "downloading $KPKG $KVERSION"
    tmpd="$(mktemp -d "$CACHE/debs/dl.XXXXXX")"
    if ! (cd "$tmpd" && apt-get download -qq -o APT::Sandbox::User=root "$KPKG=$KVERSION" >&2); then
      apt_update
      (cd "$tmpd" && apt-get download -qq -o APT::Sandbox::User=root "$KPKG=$KVERSION" >&2) \
        || { rm -rf "$tmpd"; die "apt-get download $KPKG failed"; }
    fi
    got="$(ls "$tmpd"/*.deb)"
    mv "$got" "$DEB"
    rm -rf "$tmpd"
    # Keep only the current kernel package.
    find "$CACHE/debs" -maxdepth 1 -name 'linux-image-*.deb' ! -path "$DEB" -delete
  fi
else
  # No apt metadata (offline): fall back to the package already in the cache.
  DEB="$(ls -t "$CACHE"/debs/linux-image-*.deb 2>/dev/null | head -n1 || true)"
  [ -n "$DEB" ] || die "cannot resolve linux-image-amd64's kernel package"
  log "apt metadata unavailable; using cached $(basename "$DEB")"
fi

# ---- Stamp: skip when nothing changed ------------------------------------------------------
STAMP="$(sha256sum "$SCRIPT_PATH" | cut -d' ' -f1) $(basename "$DEB") busybox=$BUSYBOX_VERSION"
print_paths() {
  echo "kernel=$CACHE/vmlinuz"
  echo "initrd=$CACHE/initrd.gz"
  echo "kver=$(cat "$CACHE/kver")"
}
if [ -s "$CACHE/vmlinuz" ] && [ -s "$CACHE/initrd.gz" ] && [ -s "$CACHE/kver" ] \
   && [ "$(cat "$CACHE/stamp" 2>/dev/null)" = "$STAMP" ]; then
  print_paths
  exit 0
fi

log "building image from $(basename "$DEB")"
BUILD="$(mktemp -d "$CACHE/build.XXXXXX")"
trap 'rm -rf "$BUILD"' EXIT
KX="$BUILD/kernel"
dpkg-deb -x "$DEB" "$KX"
KVER="$(ls "$KX/lib/modules" | head -n1)"
[ -n "$KVER" ] && [ -f "$KX/boot/vmlinuz-$KVER" ] || die "no kernel in $(basename "$DEB")"
MODDIR="$KX/lib/modules/$KVER"
# The package ships no modules.dep (its postinst runs depmod): make one inside the unpacked tree.
depmod -b "$KX" "$KVER"

# ---- Modules: roots plus dependencies, in load order -----------------------------------------
declare -A DEPS=() PATHS=() SEEN=()
while IFS= read -r line; do
  file="${line%%:*}"
  name="$(basename "$file")"; name="${name%%.ko*}"; name="${name//-/_}"
  PATHS[$name]="$file"
  DEPS[$name]="${line#*:}"
done < "$MODDIR/modules.dep"
BUILTIN=" "
while IFS= read -r f; do
  n="$(basename "$f")"; n="${n%%.ko*}"; BUILTIN+="${n//-/_} "
done < "$MODDIR/modules.builtin"

ORDER=()
add_module() {  # depth-first: dependencies before the module
  local name="${1//-/_}" dep dn
  [ -z "${SEEN[$name]:-}" ] || return 0
  SEEN[$name]=1
  if [ -z "${PATHS[$name]:-}" ]; then
    case "$BUILTIN" in *" $name "*) return 0;; esac
    die "module $name is neither built in nor in modules.dep"
  fi
  for dep in ${DEPS[$name]}; do
    dn="$(basename "$dep")"; dn="${dn%%.ko*}"
    add_module "$dn"
  done
  ORDER+=("$name")
}
for m in "${ROOT_MODULES[@]}"; do add_module "$m"; done

# ---- Initramfs tree ------------------------------------------------------------------------
R="$BUILD/root"
mkdir -p "$R"/{bin,dev,proc,sys,tmp,etc,lib/modules,root}
ln -s bin "$R/sbin"
mkdir -p "$R/usr"; ln -s ../bin "$R/usr/bin"; ln -s ../bin "$R/usr/sbin"
cp "$BUSYBOX" "$R/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$R/bin/$applet"
done
mknod -m 600 "$R/dev/console" c 5 1
mknod -m 666 "$R/dev/null" c 1 3

: > "$R/lib/modules/load-order"
for name in "${ORDER[@]}"; do
  src="$MODDIR/${PATHS[$name]}"
  dst="$R/lib/modules/$name.ko"
  case "$src" in
    *.ko) cp "$src" "$dst" ;;
    *.ko.xz) xz -dc "$src" > "$dst" ;;
    *.ko.zst) zstd -qdc "$src" > "$dst" ;;
    *.ko.gz) gzip -dc "$src" > "$dst" ;;
    *) die "unknown module format: $src" ;;
  esac
  echo "$name" >> "$R/lib/modules/load-order"
done
log "modules: ${ORDER[*]}"

echo "root:x:0:0:root:/root:/bin/sh" > "$R/etc/passwd"
echo "root:x:0:" > "$R/etc/group"

cat > "$R/init" <<'INIT'
#!/bin/sh
# vswitch test VM init (built by scripts/vm-image.sh; the protocol is described there).
export PATH=/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o size=128m tmpfs /tmp
exec </dev/ttyS0 >/dev/ttyS0 2>&1
dmesg -n 1

IP= GW= IP6= MTU= IPV6=on HN=vm
for a in $(cat /proc/cmdline); do
  case "$a" in
    vsw.ip=*) IP="${a#vsw.ip=}" ;;
    vsw.gw=*) GW="${a#vsw.gw=}" ;;
    vsw.ip6=*) IP6="${a#vsw.ip6=}" ;;
    vsw.mtu=*) MTU="${a#vsw.mtu=}" ;;
    vsw.ipv6=*) IPV6="${a#vsw.ipv6=}" ;;
    vsw.hostname=*) HN="${a#vsw.hostname=}" ;;
  esac
done
hostname "$HN"

while read -r m; do
  insmod "/lib/modules/$m.ko" || echo "@@VSW-WARN insmod $m failed@@"
done < /lib/modules/load-order

[ "$IPV6" = off ] && sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip link set lo up
if [ -n "$IP$IP6$GW$MTU" ]; then
  i=0
  while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do usleep 100000; i=$((i + 1)); done
  [ -e /sys/class/net/eth0 ] || echo "@@VSW-WARN no eth0@@"
fi
for d in /sys/class/net/*; do
  n="${d##*/}"
  [ "$n" = lo ] || ip link set "$n" up
done
[ -n "$MTU" ] && ip link set eth0 mtu "$MTU"
[ -n "$IP" ] && ip addr add "$IP" dev eth0
# busybox ip knows no "nodad": switch DAD off so the address is usable at once
[ -n "$IP6" ] && { sysctl -qw net.ipv6.conf.eth0.accept_dad=0; ip -6 addr add "$IP6" dev eth0; }
[ -n "$GW" ] && ip route add default via "$GW"

stty raw -echo
# The command loop runs in a child of PID 1, never in PID 1 itself: orphans (background jobs
# of commands, busybox timeout's watcher) are reparented to PID 1, and a SIGCHLD arriving while
# ash's `read` is part-way through a line makes it restart the read and drop the bytes it had.
sh /vsw-serve </dev/ttyS0 >/dev/ttyS0 2>&1 &
# PID 1 reaps orphans.
while :; do wait; sleep 1; done
INIT
cat > "$R/vsw-serve" <<'SERVE'
#!/bin/sh
# vswitch test VM command loop (started by /init; the protocol is described in vm-image.sh).
echo "@@VSW-READY@@"
while IFS= read -r line; do
  set -- $line
  id="$1" secs="$2" b64="$3"
  [ -n "$id" ] || continue
  echo "$b64" | base64 -d > /tmp/.vsw-cmd 2>/dev/null || : > /tmp/.vsw-cmd
  echo "@@VSW-BEGIN $id@@"
  timeout -s KILL "${secs:-60}" sh /tmp/.vsw-cmd </dev/null 2>&1
  rc=$?
  printf '\n@@VSW-END %s %s@@\n' "$id" "$rc"
done
poweroff -f
SERVE
chmod 755 "$R/vsw-serve"
chmod 755 "$R/init"

(cd "$R" && find . | sort | "$BUSYBOX" cpio -o -H newc 2>/dev/null) | gzip -9n > "$BUILD/initrd.gz"
cp "$KX/boot/vmlinuz-$KVER" "$BUILD/vmlinuz"
echo "$KVER" > "$BUILD/kver"
rm -f "$CACHE/stamp"
mv -f "$BUILD/vmlinuz" "$CACHE/vmlinuz"
mv -f "$BUILD/initrd.gz" "$CACHE/initrd.gz"
mv -f "$BUILD/kver" "$CACHE/kver"
echo "$STAMP" > "$CACHE/stamp"
log "built $(du -h "$CACHE/initrd.gz" | cut -f1) initrd for $KVER"
print_paths
