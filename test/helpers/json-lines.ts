/**
 * Test-only: `onJsonLines(sock, fn)` calls fn with each newline-terminated JSON value a socket
 * receives (the control socket's replies), in order.
 */
import type { Socket } from 'node:net';

export function onJsonLines(sock: Socket, fn: (value: unknown) => void): void {
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      fn(JSON.parse(line));
    }
  });
}
