/**
 * What an AF_PACKET port (the uplink, a host TAP's kernel side) needs beyond read and write.
 *
 * VLAN tags on receive (PacketVlanRx): the kernel takes the 802.1Q tag off every frame it
 * receives (skb_vlan_untag, or the NIC's VLAN offload) before a packet socket sees it, and a
 * plain read() returns the frame without it; the tag is only in the PACKET_AUXDATA control
 * message (struct tpacket_auxdata: tp_status, tp_len, tp_snaplen, tp_mac, tp_net, tp_vlan_tci,
 * tp_vlan_tpid; TP_STATUS_VLAN_VALID 0x10, TP_STATUS_VLAN_TPID_VALID 0x40), as libpcap
 * knows. read() here is a recvmsg with that control message; the port then puts the tag back
 * into the frame in place (insert: src/wire/vlan.ts, which also moves the virtio-net header
 * and its csum_start, which the kernel counted from the untagged frame), so the switch sees the
 * frame as it was on the wire. One msghdr, iovec and control buffer in foreign memory, made
 * once; nothing allocates per frame.
 *
 * Address filters (PacketFilter): PACKET_ADD_MEMBERSHIP with PACKET_MR_UNICAST puts a MAC in
 * the interface's unicast filter (dev_uc_add; a device without unicast filtering goes
 * promiscuous by itself), PACKET_MR_ALLMULTI asks for every multicast frame; both last as long
 * as the socket (closing it drops them). set() replaces the whole set; control path only.
 */
import {
  PACKET_ADD_MEMBERSHIP, PACKET_AUXDATA, PACKET_DROP_MEMBERSHIP, PACKET_MR_ALLMULTI, PACKET_MR_UNICAST, SOL_PACKET,
  allocBytes, errno, errnoName, packetSocketIfindex, raw, setsockoptInt, type ForeignBytes,
} from '../sys/libc.js';
import { writeMac } from '../wire/addr.js';
import { tagFrame } from '../wire/vlan.js';

const MSGHDR = 0;
const IOV = 56;
const CONTROL = 72;
const CONTROL_LEN = 64;
const TP_STATUS_VLAN_VALID = 0x10;
const TP_STATUS_VLAN_TPID_VALID = 0x40;

function setAddr(v: DataView, off: number, addr: number): void {
  v.setUint32(off, addr % 0x100000000, true);
  v.setUint32(off + 4, Math.floor(addr / 0x100000000), true);
}

export class PacketVlanRx {
  private readonly m: ForeignBytes;
  private readonly v: DataView;

  /** Turns PACKET_AUXDATA on for `fd` (throws when the fd is not a packet socket). */
  constructor(private readonly fd: number) {
    setsockoptInt(fd, SOL_PACKET, PACKET_AUXDATA, 1);
    this.m = allocBytes(CONTROL + CONTROL_LEN);
    this.v = this.m.view;
    this.m.bytes.fill(0);
    const a = this.m.addr;
    const v = this.v;
    setAddr(v, MSGHDR + 16, a + IOV); // msg_iov
    setAddr(v, MSGHDR + 24, 1); // msg_iovlen
    setAddr(v, MSGHDR + 32, a + CONTROL); // msg_control
  }

  /**
   * Read one frame into foreign memory at `addr` (at most `cap` bytes), as read() would: its
   * length, or -1 with errno set. The frame's 802.1Q tag, if it had one, is left for tag().
   */
  read(addr: number, cap: number): number {
    const v = this.v;
    setAddr(v, IOV, addr);
    setAddr(v, IOV + 8, cap);
    setAddr(v, MSGHDR + 40, CONTROL_LEN); // msg_controllen (the kernel lowers it)
    return raw.recvmsgAt(this.fd, this.m.addr + MSGHDR, 0) as number;
  }

  /**
   * After read(): put the frame's tag back. The frame (with its virtio-net header, when
   * hdr !== eth) starts at b[hdr]; the 4 bytes before it must be free. Returns how far the
   * frame's start moved back (4 with a tag, else 0).
   */
  tag(b: Uint8Array, hdr: number, eth: number): number {
    const v = this.v;
    const clen = v.getUint32(MSGHDR + 40, true);
    if (clen < 16 + 20) return 0;
    if (v.getInt32(CONTROL + 8, true) !== SOL_PACKET || v.getInt32(CONTROL + 12, true) !== PACKET_AUXDATA) return 0;
    const status = v.getUint32(CONTROL + 16, true);
    if ((status & TP_STATUS_VLAN_VALID) === 0) return 0;
    const tci = v.getUint16(CONTROL + 32, true);
    const tpid = (status & TP_STATUS_VLAN_TPID_VALID) !== 0 ? v.getUint16(CONTROL + 34, true) : 0x8100;
    const e = tagFrame(b, hdr, eth, tci);
    if (tpid !== 0x8100) {
      b[e + 12] = tpid >> 8;
      b[e + 13] = tpid;
    }
    return 4;
  }
}

export class PacketFilter {
  private readonly macs = new Set<number>();
  private allMulti = false;
  private readonly mr = Buffer.alloc(16);

  constructor(private readonly fd: number) {}

  private member(add: boolean, type: number, mac: number): string | null {
    const mr = this.mr;
    mr.fill(0);
    mr.writeInt32LE(packetSocketIfindex(this.fd), 0);
    mr.writeUInt16LE(type, 4);
    if (mac >= 0) {
      mr.writeUInt16LE(6, 6);
      writeMac(mr, 8, mac);
    }
    const r = raw.setsockopt(this.fd, SOL_PACKET, add ? PACKET_ADD_MEMBERSHIP : PACKET_DROP_MEMBERSHIP, mr, 16) as number;
    return r < 0 ? errnoName(errno()) : null;
  }

  /** Receive these unicast MACs and all multicast (null: neither); null or the failures in words. */
  set(macs: readonly number[] | null): string | null {
    const errs: string[] = [];
    const want = new Set(macs ?? []);
    for (const mac of [...this.macs]) {
      if (want.has(mac)) continue;
      const e = this.member(false, PACKET_MR_UNICAST, mac);
      if (e !== null) errs.push(`drop unicast ${mac.toString(16)}: ${e}`);
      this.macs.delete(mac);
    }
    for (const mac of want) {
      if (this.macs.has(mac)) continue;
      const e = this.member(true, PACKET_MR_UNICAST, mac);
      if (e !== null) errs.push(`add unicast ${mac.toString(16)}: ${e}`);
      else this.macs.add(mac);
    }
    const multi = macs !== null;
    if (multi !== this.allMulti) {
      const e = this.member(multi, PACKET_MR_ALLMULTI, -1);
      if (e !== null) errs.push(`${multi ? 'add' : 'drop'} all-multicast: ${e}`);
      else this.allMulti = multi;
    }
    return errs.length === 0 ? null : errs.join('; ');
  }

  /** The unicast MACs registered now (tests, reports). */
  registered(): number[] {
    return [...this.macs];
  }
}
