/**
 * vswitchd's --metrics / --http addresses (src/daemon/http/listen-address.ts): the forms taken,
 * the ones refused with a reason, and vswitchd refusing a bad one before it starts anything.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { observeOptions, parseListenAddress, urlOf } from '../../src/daemon/http/listen-address.js';
import { VSWITCHD } from '../helpers/daemon.js';
import { run } from '../helpers/netlab.js';

test('ADDR:PORT, [IPv6]:PORT and PORT (loopback)', () => {
  assert.deepEqual(parseListenAddress('metrics', '9464'), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseListenAddress('metrics', '0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
  assert.deepEqual(parseListenAddress('http', '[::1]:0'), { host: '::1', port: 0 });
  assert.equal(urlOf({ host: '::1', port: 9 }), 'http://[::1]:9');
  assert.equal(urlOf({ host: '10.0.0.1', port: 9 }), 'http://10.0.0.1:9');
  assert.deepEqual(observeOptions({}), { metrics: null, http: null, httpOpen: false }, 'off by default');
  assert.deepEqual(observeOptions({ http: '1' }), { metrics: null, http: { host: '127.0.0.1', port: 1 }, httpOpen: false });
  assert.deepEqual(observeOptions({ http: '1', 'http-open': true }), { metrics: null, http: { host: '127.0.0.1', port: 1 }, httpOpen: true });
  assert.throws(() => observeOptions({ metrics: '1', 'http-open': true }), /--http-open is about the live page: give --http ADDR:PORT too/);
});

test('anything else is refused with the option and the reason', () => {
  for (const [text, re] of [
    ['', /--http takes ADDR:PORT/], ['localhost:80', /'localhost' is not an IPv4 address/], ['1.2.3.4:65536', /takes ADDR:PORT/],
    ['::1:80', /takes ADDR:PORT/], ['[1.2.3.4]:80', /not an IPv4 address or a bracketed IPv6/], ['1.2.3:80', /not an IPv4/],
    ['1.2.3.4:', /takes ADDR:PORT/], ['1.2.3.4:80x', /takes ADDR:PORT/],
  ] as Array<[string, RegExp]>) {
    assert.throws(() => parseListenAddress('http', text), re, text);
  }
});

test('vswitchd refuses a bad --metrics before it starts anything', () => {
  const r = run(VSWITCHD, ['--metrics', 'nowhere', '--state-dir', '/nonexistent/never-made']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^vswitchd: --metrics takes ADDR:PORT, \[IPv6\]:PORT or PORT, not 'nowhere'\nusage: vswitchd .*--metrics ADDR:PORT\] \[--http ADDR:PORT \[--http-open\]\]/);
});
