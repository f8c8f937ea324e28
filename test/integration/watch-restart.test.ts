// A restarted dockerd loses no start: the watcher follows a Docker daemon of the test's own (its
// own socket, data root, exec root and pidfile; never the machine's), which is stopped and started
// again. Its restart=always container comes back in a new namespace while no stream is open, and
// two more start right after: the watcher reconnects with backoff, lists again and plumbs all
// three, and they ping each other. Root.
//
// Names: containers wa-r…, bridge br-wa2, addresses 10.247.3.x, the daemon under /tmp/wa-dockerd.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cleanupPrefix } from './helpers/guard.js';
import { dockerApi } from './helpers/docker.js';
import {
  OwnDockerd, addressesOf, dockerRemovePrefix, dockerRun, importImage, pingFrom, runningPid, startWatcher,
  type Started, type WatcherProc, type WatchLine,
} from './watch-lib.js';

const BR = 'br-wa2';
const IMAGE = 'pipework-test-busybox:latest';
const daemon = new OwnDockerd('/tmp/wa-dockerd');
let watcher: WatcherProc | undefined;

const attached = (name: string) => (l: WatchLine) => l.action === 'attach' && l.container === name && l.interface === 'eth1' && l.result === 'created';

describe('pipework watch when its dockerd restarts', { timeout: 240_000 }, () => {
  before(async () => {
    assert.ok(existsSync('/usr/sbin/dockerd') || existsSync('/usr/bin/dockerd'), 'this test needs dockerd');
    await cleanupPrefix(BR);
    await daemon.start();
    await importImage(daemon.socket, IMAGE);
  });

  after(async () => {
    if (watcher) await watcher.stop('SIGKILL');
    if (daemon.child !== undefined) await dockerRemovePrefix(daemon.socket, 'wa-r');
    await daemon.dispose();
    await cleanupPrefix(BR);
  });

  test('no start is lost: a container the daemon restarts and two started right after it came back are plumbed', async () => {
    const r1 = await dockerRun(daemon.socket, 'wa-r1', { restart: 'always', labels: { 'pipework.eth1': `${BR} 10.247.3.1/24` } });
    watcher = await startWatcher(['--allow', BR, '--docker', daemon.socket]);
    const w = watcher;
    await w.waitFor('wa-r1 plumbed', attached('wa-r1'));
    assert.deepEqual(await addressesOf(r1.pid, 'eth1'), ['10.247.3.1/24']);

    const from = w.lines.length;
    await daemon.stop();
    await w.waitFor('the stream lost', (l) => l.action === 'connect' && l.result === 'lost', 20_000, from);
    await daemon.start();
    // wa-r1 comes back by its restart policy, in a new namespace; two more start at once.
    const r1pid = await runningPid(daemon.socket, r1.id, r1.pid);
    const more: Started[] = await Promise.all([2, 3].map((n) => dockerRun(daemon.socket, `wa-r${n}`, { labels: { 'pipework.eth1': `${BR} 10.247.3.${n}/24` } })));
    await w.waitFor('reconnected', (l) => l.action === 'connect' && l.result === 'reconnected', 30_000, from);
    for (const name of ['wa-r1', 'wa-r2', 'wa-r3']) await w.waitFor(`${name} plumbed after the restart`, attached(name), 30_000, from);
    assert.deepEqual(await addressesOf(r1pid, 'eth1'), ['10.247.3.1/24']);
    for (const c of more) assert.deepEqual(await addressesOf(c.pid, 'eth1'), [`10.247.3.${c.name.slice(-1)}/24`]);
    assert.ok(await pingFrom(r1pid, '10.247.3.2'), 'wa-r1 → wa-r2');
    assert.ok(await pingFrom(more[1]!.pid, '10.247.3.1'), 'wa-r3 → wa-r1');
    // Each container once after the restart: duplicates from the resumed stream and the list
    // are the same work (unchanged), never a second interface.
    const after = w.lines.slice(from).filter((l) => l.action === 'attach' && l.result === 'created');
    assert.deepEqual(after.map((l) => l.container).sort(), ['wa-r1', 'wa-r2', 'wa-r3'], w.dump());
    assert.ok(!w.has((l) => l.action === 'attach' && l.result === 'failed'), w.dump());

    const stop = await w.stop('SIGTERM');
    watcher = undefined;
    assert.equal(stop.code, 0, w.dump());
    const ping = await dockerApi('GET', '/_ping', { socketPath: daemon.socket });
    assert.equal(ping.status, 200);
  });
});
