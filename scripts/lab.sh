#!/usr/bin/env bash
# The lab: starts vswitchd on the embedded default configuration (config/lab.config) and shows
# two container guests reaching each other and a LAN host through one IP-mode uplink.
#
#   bash scripts/lab.sh          set up, start, demonstrate, then keep running until Ctrl-C
#   bash scripts/lab.sh --once   set up, start, demonstrate, tear down (exit status = result)
#
# The daemon runs in the vswlab-sw network namespace (nsenter --net: not `ip netns exec`, whose
# private mount namespace would hide the guest namespaces the daemon creates).
# Everything lives in network namespaces it makes (vswlab-sw: the switch's host side,
# vswlab-lan: a LAN host, vswlab-g1/-g2: the guests); the host's own network is not touched.
# While it runs, type commands in another shell:  bin/vswitch --socket /run/vswitch-lab.sock Q VSWITCH LABSW DETAILS
# The daemon serves its metrics (127.0.0.1:9464/metrics) and live page (127.0.0.1:9465/) on the
# loopback of vswlab-sw; the lab prints both, and while it runs it forwards the page to this
# host's 127.0.0.1:9465 (socat, loopback only) so a browser here can open it. The daemon shows its
# page to root and its administrators' group only; through the forward it sees socat, which runs as
# root, so any local user of this host who opens 127.0.0.1:9465 sees the lab's page (a lab, not a deployment).
set -euo pipefail
cd "$(dirname "$0")/.."
ONCE=0; [ "${1:-}" = "--once" ] && ONCE=1
bash scripts/setup.sh

SOCK=/run/vswitch-lab.sock
STATE=/var/lib/vswitch-lab
NSS=(vswlab-sw vswlab-lan vswlab-g1 vswlab-g2)
METRICS=127.0.0.1:9464
PAGE=127.0.0.1:9465
DPID=
CPID=
FPID=

cleanup() {
  [ -n "$FPID" ] && kill "$FPID" 2>/dev/null && wait "$FPID" 2>/dev/null || true
  [ -n "$CPID" ] && kill "$CPID" 2>/dev/null && wait "$CPID" 2>/dev/null || true
  [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null || true
  for ns in "${NSS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$STATE" "$SOCK"
}
trap cleanup EXIT
trap "exit 130" INT TERM
cleanup   # a previous lab that was killed hard

ip netns add vswlab-sw
ip netns add vswlab-lan
ip -n vswlab-sw link set lo up
ip -n vswlab-lan link set lo up
ip -n vswlab-sw link add vswlab-up type veth peer name lan0 netns vswlab-lan
ip -n vswlab-sw link set vswlab-up up
ip -n vswlab-lan addr add 10.60.0.1/24 dev lan0
ip -n vswlab-lan link set lan0 up

echo "== starting vswitchd on config/lab.config"
nsenter --net=/run/netns/vswlab-sw bin/vswitchd --config config/lab.config --socket "$SOCK" --state-dir "$STATE" \
  --metrics "$METRICS" --http "$PAGE" 2> >(sed 's/^/vswitchd: /' >&2) &
DPID=$!
for _ in $(seq 100); do bin/vswitch --socket "$SOCK" Q VSWITCH ALL >/dev/null 2>&1 && break; sleep 0.1; done

echo "== starting the controller DTCVSW1 (the uplink's control path; registers guest addresses)"
nsenter --net=/run/netns/vswlab-sw bin/vswitch-controller --name DTCVSW1 --socket "$SOCK" 2> >(sed 's/^/controller: /' >&2) &
CPID=$!
for _ in $(seq 100); do bin/vswitch --socket "$SOCK" Q CONTROLLER DTCVSW1 >/dev/null 2>&1 && break; sleep 0.1; done

echo "== guests configure their addresses, as on any Ethernet LAN"
ip -n vswlab-g1 addr add 10.60.0.11/24 dev enc600; ip -n vswlab-g1 link set enc600 up
ip -n vswlab-g2 addr add 10.60.0.12/24 dev enc600; ip -n vswlab-g2 link set enc600 up
sleep 1

fail=0
demo() { echo "\$ $*"; "$@" || fail=1; }
demo ip netns exec vswlab-g1 ping -c 3 -i 0.2 10.60.0.12
demo ip netns exec vswlab-g1 ping -c 3 -i 0.2 10.60.0.1
demo ip netns exec vswlab-lan ping -c 3 -i 0.2 10.60.0.12
echo "\$ ip -n vswlab-lan neigh   (both guests appear at the uplink's MAC)"
ip -n vswlab-lan neigh show dev lan0
demo bin/vswitch --socket "$SOCK" QUERY VSWITCH LABSW DETAILS
demo bin/vswitch --socket "$SOCK" QUERY VSWITCH LABSW ACCESSLIST
demo bin/vswitch --socket "$SOCK" QUERY CONTROLLER
echo "\$ ip netns exec vswlab-sw curl -s http://$METRICS/metrics | grep '^vswitch_nic_receive_frames_total'"
ip netns exec vswlab-sw curl -sf "http://$METRICS/metrics" | grep '^vswitch_nic_receive_frames_total' || fail=1
echo "== metrics:   http://$METRICS/metrics   (Prometheus text; in the network namespace vswlab-sw)"
echo "== live page: http://$PAGE/   (in the network namespace vswlab-sw)"
if [ "$fail" = 0 ]; then echo "== lab OK"; else echo "== lab FAILED" >&2; fi

if [ "$ONCE" = 1 ]; then exit "$fail"; fi
# The page for a browser on this host: its loopback forwarded into vswlab-sw's (nothing else is bound).
socat "TCP-LISTEN:${PAGE##*:},bind=${PAGE%:*},reuseaddr,fork" "EXEC:ip netns exec vswlab-sw socat STDIO TCP\:${PAGE%:*}\:${PAGE##*:}" &
FPID=$!
sleep 0.2
if kill -0 "$FPID" 2>/dev/null; then
  echo "== live page for a browser on this host: http://$PAGE/   (forwarded into vswlab-sw)"
else
  FPID=
  echo "== $PAGE is taken on this host: open the page from inside vswlab-sw (ip netns exec vswlab-sw ...)" >&2
fi
echo "== vswitchd is running; try: bin/vswitch --socket $SOCK Q NIC DETAILS FOR LINUX1   (Ctrl-C ends the lab)"
wait "$DPID"
