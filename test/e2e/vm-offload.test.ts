/**
 * End to end, the offload mismatch (issue 4): a namespace guest's TAP NIC has offloads on (the
 * daemon opens it with IFF_VNET_HDR and TSO4/TSO6/CSUM), so its kernel hands the daemon TCP
 * super-frames (up to 64 KiB) and partially checksummed frames; a QEMU VM on a STREAM NIC has no
 * virtio-net header at all, so everything bound for it must be segmented to MTU-sized frames
 * and fully checksummed in software (src/wire/segment.ts, via the egress in
 * src/dataplane/egress.ts). On an ETHERNET-mode switch (IPv4 and IPv6) with no uplink:
 *   - namespace guest -> VM, 10 MB over TCP on IPv4 and again on IPv6: the sha256 the VM
 *     computes over what it received equals the sender's;
 *   - VM -> namespace guest, the same 10 MB back, on IPv6 and IPv4 (the namespace guest's ACKs
 *     carry partial checksums, completed in software for the VM);
 * and the evidence that segmentation really happened: during each namespace -> VM transfer the
 * daemon's rx counters for the namespace NIC average more than 1514 bytes a frame (super-frames
 * came in), the VM's eth0 rx counters average at most 1514 with at least one frame per MSS of
 * payload (MTU-sized frames went out), the VM's kernel counted no TCP checksum errors, and the
 * switch counted no bad-offload drops. Figures (transfer times, frame sizes) are printed as
 * test diagnostics.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetLab, waitFor } from '../helpers/netlab.js';
import { Daemon } from '../helpers/daemon.js';
import { dropCount } from '../helpers/query.js';
import { Vm } from '../helpers/vm.js';

const lab = new NetLab('vo');
let d: Daemon;
let vm: Vm | null = null;
let hostNs: string, g1: string;
const dir = mkdtempSync(join(tmpdir(), 'vswoff-'));
const A4 = '10.251.0.1', V4 = '10.251.0.2';
const A6 = 'fd00:251::1', V6 = 'fd00:251::2';
const SIZE = 10 << 20;
const payload = randomBytes(SIZE);
const payloadSha = createHash('sha256').update(payload).digest('hex');
const payloadFile = join(dir, 'payload');

function secs(ms: number): string { return `${(ms / 1000).toFixed(2)} s`; }
function mbit(ms: number): string { return `${((SIZE * 8) / (ms / 1000) / 1e6).toFixed(0)} Mbit/s`; }

/** The daemon's view: counters of both NICs and the switch's bad-offload drops. */
interface SwitchFigures {
  ns: { rxFrames: number; rxBytes: number; txFrames: number; txBytes: number };
  vm: { rxFrames: number; rxBytes: number; txFrames: number; txBytes: number; txDrops: number };
  badOffload: number;
}

function switchFigures(): SwitchFigures {
  const doc = d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS');
  const sw = doc.switches.find((s: { name: string }) => s.name === 'SW1');
  const nic = (guest: string): any => {
    const n = sw.nics.find((x: { guest: string }) => x.guest === guest);
    assert.ok(n?.counters, `NIC of ${guest} has a port: ${JSON.stringify(sw.nics)}`);
    return n.counters;
  };
  return { ns: nic('LINUX1'), vm: nic('VM1'), badOffload: dropCount(doc, 'SW1', 'bad-offload') };
}

/** The VM's view: eth0 counters and the TCP checksum error count (v4 and v6 share the TCP MIB). */
interface VmFigures { rxBytes: number; rxPackets: number; rxErrors: number; txBytes: number; txPackets: number; tcpCsumErrors: number; tcpRetrans: number }

async function vmFigures(): Promise<VmFigures> {
  const s = '/sys/class/net/eth0/statistics';
  const r = await vm!.run(`cat ${s}/rx_bytes ${s}/rx_packets ${s}/rx_errors ${s}/tx_bytes ${s}/tx_packets; grep '^Tcp:' /proc/net/snmp`);
  assert.equal(r.code, 0, r.output);
  const lines = r.output.trim().split('\n');
  const [rxBytes, rxPackets, rxErrors, txBytes, txPackets] = lines.slice(0, 5).map(Number);
  const head = lines[5].split(/\s+/);
  const vals = lines[6].split(/\s+/);
  const i = head.indexOf('InCsumErrors');
  assert.ok(i > 0, `no InCsumErrors in /proc/net/snmp: ${r.output}`);
  const j = head.indexOf('RetransSegs');
  return { rxBytes, rxPackets, rxErrors, txBytes, txPackets, tcpCsumErrors: Number(vals[i]), tcpRetrans: Number(vals[j]) };
}

/** A receiver in the VM on `port`: busybox nc hands the connection to `cat > file`. */
async function vmListen(port: number, file: string): Promise<void> {
  const r = await vm!.run([
    `printf '#!/bin/sh\\ncat > ${file}\\n' > /tmp/rx${port}.sh && chmod +x /tmp/rx${port}.sh`,
    `rm -f ${file}`,
    `nc -l -p ${port} -e /tmp/rx${port}.sh </dev/null >/dev/null 2>&1 &`,
    `for i in $(seq 100); do netstat -ltn | grep -q ":${port} " && exit 0; usleep 100000; done; exit 1`,
  ].join('\n'));
  assert.equal(r.code, 0, `receiver in the VM not listening: ${r.output}`);
}

/** The sender in the namespace: writes the file, half-closes, exits when the peer has closed. */
const SENDER = `
const net = require('node:net'); const fs = require('node:fs');
const data = fs.readFileSync(process.argv[3]);
const s = net.connect({ port: Number(process.argv[1]), host: process.argv[2] }, () => { s.end(data); });
s.on('error', (e) => { process.stderr.write(String(e) + '\\n'); process.exit(2); });
s.on('close', () => process.exit(0));
setTimeout(() => { process.stderr.write('sender timeout\\n'); process.exit(3); }, 30000);
`;

/** The receiver in the namespace: hashes what arrives, prints { bytes, sha256 } at EOF. */
const RECEIVER = `
const net = require('node:net'); const crypto = require('node:crypto');
const srv = net.createServer((s) => { const h = crypto.createHash('sha256'); let n = 0;
  s.on('data', (d) => { h.update(d); n += d.length; });
  s.on('end', () => { process.stdout.write(JSON.stringify({ bytes: n, sha256: h.digest('hex') }) + '\\n'); s.end(); srv.close(); }); });
srv.listen(Number(process.argv[1]), process.argv[2], () => process.stdout.write('listening\\n'));
setTimeout(() => { process.stderr.write('receiver timeout\\n'); process.exit(3); }, 30000);
`;

/** Namespace guest -> VM: send the payload, check sha256 in the VM and the frame figures. */
async function nsToVm(t: { diagnostic(s: string): void }, family: 4 | 6, port: number): Promise<void> {
  assert.ok(vm, 'VM booted');
  const file = `/tmp/recv${family}`;
  await vmListen(port, file);
  const sw0 = switchFigures();
  const vm0 = await vmFigures();
  const t0 = Date.now();
  const tx = lab.spawn(g1, process.execPath, ['-e', SENDER, String(port), family === 4 ? V4 : V6, payloadFile]);
  let err = '';
  tx.stderr!.setEncoding('utf8').on('data', (s: string) => { err += s; });
  const code = await new Promise<number | null>((res) => tx.once('exit', (c) => res(c)));
  const ms = Date.now() - t0;
  const sw1 = switchFigures();
  const vm1 = await vmFigures();
  assert.equal(code, 0, `sender: ${err}; meanwhile the VM counted ${vm1.tcpCsumErrors - vm0.tcpCsumErrors} TCP checksum errors, ` +
    `${vm1.rxPackets - vm0.rxPackets} rx packets, the switch ${sw1.badOffload - sw0.badOffload} bad-offload drops`);
  const got = await vm!.run(`sha256sum ${file} && wc -c < ${file}`, 30_000);
  assert.equal(got.code, 0, got.output);
  const [sum, size] = [got.output.split(/\s+/)[0], got.output.trim().split(/\s+/).pop()];
  assert.equal(size, String(SIZE), 'size of the file the VM received');
  assert.equal(sum, payloadSha, 'sha256 of the file the VM received');

  // Super-frames came in from the namespace guest's TAP ...
  const nsFrames = sw1.ns.rxFrames - sw0.ns.rxFrames;
  const nsBytes = sw1.ns.rxBytes - sw0.ns.rxBytes;
  const inRatio = nsBytes / nsFrames;
  // ... and MTU-sized frames went out to the VM, at least one per MSS of payload.
  const outFrames = sw1.vm.txFrames - sw0.vm.txFrames;
  const outBytes = sw1.vm.txBytes - sw0.vm.txBytes;
  const vmPackets = vm1.rxPackets - vm0.rxPackets;
  const vmBytes = vm1.rxBytes - vm0.rxBytes;
  const vmRatio = vmBytes / vmPackets;
  const mssMax = 1500 - (family === 4 ? 40 : 60);
  t.diagnostic(`IPv${family} namespace guest -> VM: 10 MB in ${secs(ms)} (${mbit(ms)}), sha256 ${sum.slice(0, 16)}... matches`);
  t.diagnostic(`  daemon rx from the namespace NIC: ${nsFrames} frames, ${nsBytes} bytes, ${inRatio.toFixed(0)} bytes/frame`);
  t.diagnostic(`  daemon tx to the VM NIC: ${outFrames} frames, ${outBytes} bytes, ${(outBytes / outFrames).toFixed(0)} bytes/frame`);
  t.diagnostic(`  VM eth0 rx: ${vmPackets} packets, ${vmBytes} bytes, ${vmRatio.toFixed(0)} bytes/packet; rx errors ${vm1.rxErrors - vm0.rxErrors}; TCP checksum errors ${vm1.tcpCsumErrors - vm0.tcpCsumErrors}; bad-offload drops ${sw1.badOffload - sw0.badOffload}`);
  assert.ok(inRatio > 1514, `the namespace guest sent super-frames: ${inRatio.toFixed(0)} bytes/frame`);
  assert.ok(outBytes / outFrames <= 1514, `the daemon sent MTU-sized frames to the VM: ${(outBytes / outFrames).toFixed(0)} bytes/frame`);
  assert.ok(vmRatio <= 1514, `the VM received MTU-sized frames: ${vmRatio.toFixed(0)} bytes/packet`);
  assert.ok(vmPackets >= Math.ceil(SIZE / mssMax), `the VM received at least one frame per MSS: ${vmPackets} < ${Math.ceil(SIZE / mssMax)}`);
  assert.ok(outFrames >= Math.ceil(SIZE / mssMax), `the daemon sent at least one frame per MSS: ${outFrames}`);
  assert.equal(sw1.vm.txDrops - sw0.vm.txDrops, 0, 'no tx drops on the VM NIC');
  assert.equal(sw1.badOffload - sw0.badOffload, 0, 'no bad-offload drops');
  assert.equal(vm1.rxErrors - vm0.rxErrors, 0, 'no rx errors in the VM');
  assert.equal(vm1.tcpCsumErrors - vm0.tcpCsumErrors, 0, 'no TCP checksum errors in the VM');
}

/**
 * VM -> namespace guest: the VM sends back the file it received (made afresh if an earlier
 * transfer failed, so this test stands alone); the namespace hashes what arrives.
 */
async function vmToNs(t: { diagnostic(s: string): void }, family: 4 | 6, port: number, file: string): Promise<void> {
  assert.ok(vm, 'VM booted');
  const mk = await vm!.run(`{ [ -f ${file} ] && [ "$(wc -c < ${file})" = ${SIZE} ]; } || dd if=/dev/urandom of=${file} bs=1M count=10 2>/dev/null; sha256sum ${file}`, 60_000);
  assert.equal(mk.code, 0, mk.output);
  const sent = mk.output.split(/\s+/)[0];
  assert.match(sent, /^[0-9a-f]{64}$/);
  const rx = lab.spawn(g1, process.execPath, ['-e', RECEIVER, String(port), family === 4 ? A4 : A6]);
  let out = '', err = '';
  rx.stdout!.setEncoding('utf8').on('data', (s: string) => { out += s; });
  rx.stderr!.setEncoding('utf8').on('data', (s: string) => { err += s; });
  assert.ok(await waitFor(() => out.includes('listening'), 10_000), `receiver listening: ${out} ${err}`);
  const sw0 = switchFigures();
  const vm0 = await vmFigures();
  const t0 = Date.now();
  const send = await vm!.run(`nc ${family === 4 ? A4 : A6} ${port} < ${file}`, 30_000);
  const ms = Date.now() - t0;
  const line = await waitFor(() => out.split('\n').find((l) => l.startsWith('{')), send.code === 0 ? 10_000 : 1000);
  const sw1 = switchFigures();
  const vm1 = await vmFigures();
  const why = (): string => {
    const drops = Object.entries(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS').switches[0].drops).filter(([, n]) => n !== 0);
    return `VM nc exit ${send.code} after ${secs(ms)}: ${send.output}; receiver: ${out} ${err}; VM TCP retransmitted segments ` +
      `${vm1.tcpRetrans - vm0.tcpRetrans}, checksum errors ${vm1.tcpCsumErrors - vm0.tcpCsumErrors}; daemon: VM NIC rx ` +
      `${sw1.vm.rxFrames - sw0.vm.rxFrames} frames, tx ${sw1.vm.txFrames - sw0.vm.txFrames} (drops ${sw1.vm.txDrops - sw0.vm.txDrops}); ` +
      `namespace NIC rx ${sw1.ns.rxFrames - sw0.ns.rxFrames}, tx ${sw1.ns.txFrames - sw0.ns.txFrames}; switch drops ${JSON.stringify(drops)}`;
  };
  assert.equal(send.code, 0, why());
  assert.ok(line, why());
  const r = JSON.parse(line!);
  assert.equal(r.bytes, SIZE, 'received size');
  assert.equal(r.sha256, sent, 'sha256 of what arrived in the namespace');
  // The namespace guest's ACKs come with partial checksums (CSUM offload): completed for the VM.
  const ackFrames = sw1.vm.txFrames - sw0.vm.txFrames;
  t.diagnostic(`IPv${family} VM -> namespace guest: 10 MB in ${secs(ms)} (${mbit(ms)}), sha256 ${r.sha256.slice(0, 16)}... matches`);
  t.diagnostic(`  daemon rx from the VM NIC: ${sw1.vm.rxFrames - sw0.vm.rxFrames} frames, ${((sw1.vm.rxBytes - sw0.vm.rxBytes) / (sw1.vm.rxFrames - sw0.vm.rxFrames)).toFixed(0)} bytes/frame; ACK frames to the VM: ${ackFrames}; VM TCP checksum errors ${vm1.tcpCsumErrors - vm0.tcpCsumErrors}; bad-offload drops ${sw1.badOffload - sw0.badOffload}`);
  assert.equal(sw1.badOffload - sw0.badOffload, 0, 'no bad-offload drops');
  assert.equal(vm1.tcpCsumErrors - vm0.tcpCsumErrors, 0, 'no TCP checksum errors in the VM (ACKs checksummed)');
  assert.equal(vm1.rxErrors - vm0.rxErrors, 0, 'no rx errors in the VM');
}

before(async () => {
  writeFileSync(payloadFile, payload);
  await Vm.image(); // build (or reuse) the kernel and initramfs once, before any timing
  hostNs = lab.netns('h');
  g1 = lab.adopt(lab.name('g1'));
  d = new Daemon({ netns: hostNs });
  await d.start();
  d.commands([
    'DEFINE VSWITCH SW1 ETHERNET',
    `DEFINE GUEST LINUX1 NETNS ${g1}`,
    'DEFINE NIC 0600 TYPE QDIO FOR LINUX1',
    'SET VSWITCH SW1 GRANT LINUX1', 'COUPLE 0600 TO SYSTEM SW1 FOR LINUX1',
    'DEFINE GUEST VM1 QEMU',
    'DEFINE NIC 0600 TYPE QDIO FOR VM1',
    'SET VSWITCH SW1 GRANT VM1', 'COUPLE 0600 TO SYSTEM SW1 FOR VM1',
  ]);
  lab.configureNic(g1, 'enc600', `${A4}/24`, `${A6}/64 nodad`);
});

after(async () => {
  try {
    await vm?.shutdown();
    await d?.stop();
  } finally {
    lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a VM on a STREAM NIC and a namespace guest with offloads reach each other on IPv4 and IPv6', { timeout: 180_000 }, async (t) => {
  const nic = d.json('QUERY', 'NIC', '0600', 'DETAILS', 'FOR', 'VM1').nics[0];
  assert.equal(nic.transport, 'STREAM');
  vm = await Vm.boot({ name: `vswtest-vmo-${process.pid}`, netdevArgs: [], deviceArgs: [], extraArgs: nic.qemu.args,
    cmdline: `vsw.ip=${V4}/24 vsw.ip6=${V6}/64 vsw.hostname=vmo` });
  t.diagnostic(`VM boot to ready: ${secs(vm.bootMs)}`);
  // The image's init adds vsw.ip6 with DAD off, so the address is usable at once (not tentative).
  const a6 = await vm.run('ip -6 addr show dev eth0');
  assert.equal(a6.code, 0, a6.output);
  assert.match(a6.output, new RegExp(`inet6 ${V6}/64 scope global \\n`), `no tentative flag: ${a6.output}`);
  const connected = await waitFor(() => d.json('QUERY', 'NIC', '0600', 'DETAILS', 'FOR', 'VM1').nics[0].qemu.state.startsWith('CONNECTED to QEMU at '), 5000);
  assert.ok(connected, 'the daemon connected to QEMU');
  const mtu = lab.ip(g1, '-o', 'link', 'show', 'enc600');
  assert.match(mtu, /mtu 1500 /, 'the namespace NIC has the standard MTU');
  for (const [addr, what] of [[A4, 'IPv4'], [A6, 'IPv6']]) {
    const p = await vm.run(`ping -c 2 -W 5 ${addr}`, 30_000);
    assert.equal(p.code, 0, `${what}: ${p.output}`);
  }
  assert.equal(lab.exec(g1, 'ping', ['-c', '1', '-W', '3', V6]).code, 0, 'the namespace guest pings the VM on IPv6');
});

test('10 MB namespace guest -> VM over TCP/IPv4: super-frames in, MTU-sized frames out, same sha256', { timeout: 120_000 }, async (t) => {
  await nsToVm(t, 4, 5004);
});

test('10 MB namespace guest -> VM over TCP/IPv6: super-frames in, MTU-sized frames out, same sha256', { timeout: 120_000 }, async (t) => {
  await nsToVm(t, 6, 5006);
});

test('10 MB VM -> namespace guest over TCP/IPv6 (and IPv4): same sha256, ACKs checksummed', { timeout: 180_000 }, async (t) => {
  await vmToNs(t, 6, 5106, '/tmp/recv6');
  await vmToNs(t, 4, 5104, '/tmp/recv4');
});
