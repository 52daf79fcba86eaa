/** Test fixtures: IPv6 frames captured from the Linux kernel. */
import { hex } from './hex.js';

// Captured with tcpdump -xx on a veth (Linux 6.18): 2001:db8::1 asks for 2001:db8::2.
export const capturedNs = hex(`
  3333ff000002 020000000001 86dd 6000
  0000 0020 3aff 20010db8000000000000000000000001 ff0200000000000000000001ff000002
  8700 1c27 0000 0000 20010db8000000000000000000000002 0101 020000000001`);
