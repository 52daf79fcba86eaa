/**
 * A userspace stand-in for Linux 802.1Q VLAN devices, for kernels built without
 * CONFIG_VLAN_8021Q (the CI machines' kernel has neither `ip link add ... type vlan` nor
 * bridge VLAN filtering nor tc's vlan action). Run inside a namespace:
 *
 *   node vlan-relay.js PARENT VID[,VID...]
 *
 * it opens an AF_PACKET socket on PARENT (with virtio-net headers, as the switch's uplink does)
 * and one TAP per VID named PARENT.VID with PARENT's MAC, as `ip link add link PARENT name
 * PARENT.VID type vlan id VID` would make; then relays: a frame PARENT receives tagged with
 * VID (the kernel keeps the tag aside; PacketVlanRx puts it back) goes out of the TAP untagged,
 * a frame the namespace sends on PARENT.VID goes out of PARENT tagged VID. Untagged frames and
 * other VLANs stay PARENT's own, as with real VLAN devices. Prints "ready" once the TAPs exist;
 * runs until killed (the TAPs go with it). Test use only.
 */
import { openTap, openUplink } from '../../src/host/devices.js';
import {
  EAGAIN, EPOLLIN, EPOLL_CTL_ADD, EPOLL_EVENT_SIZE, allocBytes, epollCreate, epollCtl, errno, raw,
} from '../../src/sys/libc.js';
import { PacketVlanRx } from '../../src/dataplane/packet-socket.js';
import { tagFrame, untagFrame } from '../../src/wire/vlan.js';

const [parent, list] = process.argv.slice(2);
const vids = list.split(',').map(Number);
const up = openUplink(parent, { netns: null });
const rx = new PacketVlanRx(up.fd);
const taps = new Map<number, number>();
const vidOfFd = new Map<number, number>();
for (const v of vids) {
  const t = openTap({ netns: null, name: `${parent}.${v}`, mac: up.mac, persist: false });
  taps.set(v, t.fd);
  vidOfFd.set(t.fd, v);
}
const ep = epollCreate();
epollCtl(ep, EPOLL_CTL_ADD, up.fd, EPOLLIN, up.fd);
for (const fd of taps.values()) epollCtl(ep, EPOLL_CTL_ADD, fd, EPOLLIN, fd);
const events = allocBytes(16 * EPOLL_EVENT_SIZE);
const mem = allocBytes(70000);
const b = mem.bytes;
const HDR = 16;
const VNET = 10;
process.stdout.write('ready\n');

for (;;) {
  const n = raw.epoll_wait(ep, events.addr, 16, 1000) as number;
  for (let i = 0; i < n; i++) {
    const fd = events.view.getUint32(i * EPOLL_EVENT_SIZE + 4, true);
    for (;;) {
      if (fd === up.fd) {
        const r = rx.read(mem.addr + HDR, 65600);
        if (r < 0) { if (errno() === EAGAIN) break; continue; }
        const hdr = HDR - rx.tag(b, HDR, HDR + VNET);
        const eth = hdr + VNET;
        if ((b[eth + 12] << 8 | b[eth + 13]) !== 0x8100) continue;
        const t = taps.get((b[eth + 14] << 8 | b[eth + 15]) & 0xfff);
        if (t === undefined) continue;
        const e = untagFrame(b, hdr, eth);
        raw.writeAt(t, mem.addr + e - VNET, HDR + r - (e - VNET));
      } else {
        const r = raw.readAt(fd, mem.addr + HDR, 65600) as number;
        if (r < 0) { if (errno() === EAGAIN) break; continue; }
        const e = tagFrame(b, HDR, HDR + VNET, vidOfFd.get(fd)!);
        raw.writeAt(up.fd, mem.addr + e - VNET, HDR + r - (e - VNET));
      }
    }
  }
}
