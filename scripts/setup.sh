#!/usr/bin/env bash
# Set-up for a fresh Debian 12 machine, as root: system packages (apt-get), npm dependencies,
# build. Idempotent and quiet when everything is already there; every other script calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "vswitch needs root (network namespaces, TAP, AF_PACKET): run as root" >&2
  exit 1
fi

# Debian packages the switch, its lab, its tests and its benchmark use (chromium: the live
# page's browser test; systemd: systemd-analyze verify on contrib/systemd, no systemd as PID 1
# needed; curl and socat: the lab's metrics scrape and its page forward; podman, runc and
# containernetworking-plugins: the CNI plugin's tests with the real client and its delegated
# IPAM plugins in /usr/lib/cni; libvirt-*: the host-TAP NIC's test through libvirtd and virsh; etcd-server and etcd-client:
# the cluster's store, a real 3-member etcd 3.4 in test/cluster, and etcdctl; iputils-arping: the VLAN tests'
# broadcast probes; radvd: the IPv6 test's LAN router, whose advertisements the guests autoconfigure from;
# dnsmasq-base and isc-dhcp-client: the DHCPv6 test's LAN server and guest client).
PACKAGES=(iproute2 iputils-ping iperf3 tcpdump netsniff-ng vde2 procps psmisc kmod ca-certificates
          qemu-system-x86 busybox-static cpio xz-utils zstd chromium systemd curl socat iputils-tracepath tshark
          podman runc containernetworking-plugins libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
          etcd-server etcd-client iputils-arping radvd dnsmasq-base isc-dhcp-client)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes
  # tshark's package asks whether non-root users may capture: no.
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# TAP needs /dev/net/tun.
if [ ! -c /dev/net/tun ]; then
  mkdir -p /dev/net
  mknod /dev/net/tun c 10 200
  chmod 0666 /dev/net/tun
fi

# npm dependencies, exactly as locked; reinstalled only when the lock file changed.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi

# Build (TypeScript to dist/), from scratch so no output of a deleted source survives.
rm -rf dist
npx tsc -p tsconfig.json
