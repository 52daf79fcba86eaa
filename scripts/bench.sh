#!/usr/bin/env bash
# `npm run bench`: the performance comparison of issue 5 (not part of the test suite).
# Runs the set-up (system packages, npm ci, build), installs the benchmark-only Debian package
# (openvswitch-switch, for the Open vSwitch userspace-datapath row) without starting its system
# service, then runs dist/bench/run.js with the arguments given:
#
#   npm run bench                      every path, median of 3
#   npm run bench -- --quick           1 repetition, short runs
#   npm run bench -- --only bridge,vswitch-ip
#   npm run bench -- --only ipv6 --quick    the IPv6 rows (bridge-ipv6, vswitch-ip-ipv6)
#   npm run bench -- --only vswitch-ip --compare VSWITCH_ADAPTIVE_POLL=1   a lever on and off, one run
#   npm run bench -- --only vswitch-ip --profile results/prof            perf profiles of the worker
#
# Results go to results/<timestamp>/ (results.json, chart.svg, report.txt). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

BENCH_PACKAGES=(openvswitch-switch iperf3 netsniff-ng vde2 iproute2 iputils-ping curl linux-perf)
missing=()
for p in "${BENCH_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bench: installing ${missing[*]}" >&2
  # The benchmark runs its own ovsdb-server/ovs-vswitchd on a private database; the package's
  # system service must not start. policy-rc.d (Debian's mechanism for exactly this) is put in
  # place only for the install, and only if the machine has none.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  trap '[ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  made_policy=0
fi

exec node dist/bench/run.js "$@"
