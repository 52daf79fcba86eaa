/**
 * The data plane of two ETHERNET-mode switches joined uplink to uplink, for the VLAN bench rows
 * (bench/paths.ts: vswitch-eth-pair, vswitch-eth-vlan). Run as
 *
 *   node dist/bench/l2-pair.js vlan|plain G1NS G2NS W1NS W2NS
 *
 * (the namespaces exist; W1NS holds veth up1 and W2NS its peer up2). One data-plane worker
 * (production forwarders, driven by ToWorker messages as vswitchd drives it) gets switch 1
 * with G1's TAP enc600 and the uplink up1, switch 2 with the uplink up2 and G2's TAP. With
 * `vlan` both switches are VLAN-aware without a native VLAN and the guests are on ACCESS
 * ports of VLAN 10, so every frame between them is tagged at one uplink's egress and untagged
 * at the other's ingress; with `plain` the same switches are VLAN-unaware. Prints "ready" and
 * runs until killed. Until the CP commands for VLANs (issue 10) drive a whole vswitchd, this
 * is how the tag path is measured: both rows pass two switches, so they compare like for like.
 */
import { DataPlane } from '../src/host/dataplane.js';
import { openTap, openUplink } from '../src/host/devices.js';

const [how, g1, g2, w1, w2] = process.argv.slice(2);
const vlan = how === 'vlan';
const dp = await DataPlane.start({});
const sides: Array<[number, string, number, string, string]> = [[1, g1, 0x02bb00000001, w1, 'up1'], [2, g2, 0x02bb00000002, w2, 'up2']];
for (const [sw, g, mac, w, dev] of sides) {
  dp.post({ op: 'switch-add', sw, mode: 'ETHERNET', queueBytes: 0, policy: { vlanAware: vlan, nativeVid: 0, isolation: false } });
  const t = openTap({ netns: g, name: 'enc600', mac, persist: false });
  dp.post({ op: 'port-add', port: sw * 10, sw, role: 'nic', kind: 'tap', fd: t.fd, mac, vnet: true, name: 'enc600',
    policy: { portType: 'ACCESS', pvid: vlan ? 10 : 0, vlans: [], promiscuous: false, macProtect: false } });
  const u = openUplink(dev, { netns: w });
  dp.post({ op: 'port-add', port: sw * 10 + 1, sw, role: 'uplink', kind: 'afpacket', fd: u.fd, mac: u.mac, vnet: true, name: dev });
}
process.stdout.write('ready\n');
const stop = (): void => { void dp.stop().then(() => process.exit(0)); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
