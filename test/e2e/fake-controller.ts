/**
 * A fake controller for the liveness tests (issue 9, item 8): `node fake-controller.js --socket
 * PATH --name NAME [--pong]` connects to vswitchd's socket, registers under NAME with the
 * current protocol version, and then does none of a controller's work: it never answers
 * ControlSwitch or RegisterAddress. With --pong it answers Ping (it looks alive but is not
 * doing its job); without it, it answers nothing at all. It writes each line the daemon sends
 * to stdout and exits 0 when the daemon closes the connection.
 */
import { createConnection } from 'node:net';
import { parseArgs } from 'node:util';
import { LineSplitter, PROTOCOL_VERSION, decodeToController, encode } from '../../src/protocol/controller.js';

const { values } = parseArgs({ options: { socket: { type: 'string' }, name: { type: 'string' }, pong: { type: 'boolean' } } });
if (values.socket === undefined || values.name === undefined) {
  process.stderr.write('usage: fake-controller --socket PATH --name NAME [--pong]\n');
  process.exit(2);
}
const c = createConnection(values.socket);
const lines = new LineSplitter();
c.setEncoding('utf8');
c.on('connect', () => c.write(encode({ t: 'register', name: values.name!, pid: process.pid, version: PROTOCOL_VERSION })));
c.on('data', (chunk: string) => {
  for (const line of lines.push(chunk)) {
    process.stdout.write(`${line}\n`);
    const d = decodeToController(line);
    if (values.pong && d.ok && d.msg.t === 'ping') c.write(encode({ t: 'pong', seq: d.msg.seq }));
  }
});
c.on('close', () => process.exit(0));
c.on('error', (e) => { process.stderr.write(`fake-controller: ${String(e)}\n`); process.exit(1); });
