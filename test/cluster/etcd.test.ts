/**
 * The etcd test helper on the real etcd 3.4 (test/helpers/etcd.ts): three members in three
 * test namespaces form one cluster; a key written through one member is read through another;
 * with one member killed the cluster still takes writes, with two it refuses them, and the
 * restarted members rejoin with every acknowledged write.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { NetLab, waitFor } from '../helpers/netlab.js';
import { clusterNet, EtcdCluster } from '../helpers/etcd.js';

const lab = new NetLab('ce');
let etcd: EtcdCluster;

before(async () => {
  const net = clusterNet(lab, '10.231.0');
  etcd = await EtcdCluster.start(net.hosts);
});

after(async () => {
  await etcd?.stop();
  lab.cleanup();
});

test('a write through one member is read through another', () => {
  const put = etcd.ctl(['put', '/t/a', 'one'], 'e1');
  assert.equal(put.code, 0, put.stderr);
  const get = run3(['get', '/t/a', '--print-value-only']);
  assert.equal(get.stdout.trim(), 'one');
});

test('one member down: writes go on; two down: refused; back: nothing lost', async () => {
  await etcd.kill('e1');
  // If e1 led, the other two elect a new leader first (about a second; longer under load).
  assert.ok(await waitFor(() => etcd.ctl(['put', '/t/b', 'two'], 'e2').code === 0, 20_000, 500), 'a quorum of two takes writes');
  await etcd.kill('e2');
  const refused = etcd.ctl(['put', '/t/c', 'three'], 'e3');
  assert.notEqual(refused.code, 0, 'one member of three has no quorum');
  assert.equal(etcd.healthy('e3'), false);
  await Promise.all([etcd.restart('e1'), etcd.restart('e2')]);
  for (const m of ['e1', 'e2', 'e3']) {
    const got = await waitFor(() => etcd.ctl(['get', '/t/b', '--print-value-only'], m).stdout.trim() === 'two', 20_000, 500);
    assert.ok(got, `member ${m} has the write made while e1 was down`);
  }
});

function run3(args: string[]) {
  return etcd.ctl(args, 'e3');
}
