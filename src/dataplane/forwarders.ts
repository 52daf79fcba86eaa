/**
 * The production forwarder factory: IP mode -> IpSwitch, ETHERNET mode -> EthernetSwitch.
 * The data-plane worker uses it unless it was started with a test factory module.
 */
import { IpSwitch } from '../forward/ip-switch.js';
import { EthernetSwitch } from '../forward/ethernet-switch.js';
import type { Forwarder } from '../forward/api.js';
import type { ForwarderFactory } from './loop.js';

export const createForwarder: ForwarderFactory = (sw, mode, counters, egress, events): Forwarder => {
  if (mode === 'IP') return new IpSwitch(sw, counters, egress, events);
  return new EthernetSwitch(sw, counters, egress);
};
