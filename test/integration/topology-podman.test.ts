// Image guests under Podman, as root: its Docker-compatible API (a `podman system service` this
// test starts, and stops by PID) creates and starts the container with no network, labelled;
// apply plumbs it; destroy removes it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureImage, inspectContainer, podman, podmanAvailable, podmanConf } from './helpers/podman.js';
import { sleep } from './helpers/run.js';
import { cleanupAll, ping, pw, pwOk, scratch, write } from './topology-lib.js';

const IMAGE = 'localhost/tg-busybox:latest';

void describe('topology: image guests under Podman', async () => {
  const available = await podmanAvailable();
  let dir: string;
  let service: ChildProcess | undefined;
  let socket: string;

  before(async () => {
    assert.ok(available, 'podman does not run here (scripts/setup.sh installs it)');
    await cleanupAll();
    dir = scratch();
    socket = join(dir, 'podman.sock');
    await ensureImage(IMAGE);
    service = spawn('podman', ['system', 'service', '--time=0', `unix://${socket}`], { stdio: 'ignore', env: { ...process.env, CONTAINERS_CONF: podmanConf() } });
    for (let i = 0; i < 100 && !existsSync(socket); i++) await sleep(100);
    assert.ok(existsSync(socket), 'podman system service did not open its socket in 10 s');
  });
  after(async () => {
    await pw(['destroy', '--name', 'tgpod'], { CONTAINER_HOST: `unix://${socket}` });
    await podman(['rm', '-f', '-t', '0', 'tgpod-p1']);
    if (service?.pid !== undefined) {
      service.kill('SIGTERM');
      await Promise.race([new Promise((r) => service!.once('exit', r)), sleep(10_000)]);
    }
    await podman(['rmi', '-f', IMAGE]);
    rmSync(socket, { force: true });
    await cleanupAll();
  });

  void test('apply starts it through the API (network none, labelled), plumbs it; destroy removes it', async () => {
    const env = { CONTAINER_HOST: `unix://${socket}` };
    const file = write(dir, 'pod.yaml', `name: tgpod
networks:
  lan: {bridge: br-tgpod}
guests:
  p1: {image: ${IMAGE}, command: [sleep, "3600"], runtime: podman}
  n:  {netns: tgpod-n}
links:
  - p1 lan 10.54.0.1/24
  - n lan 10.54.0.2/24
`);
    const r = await pwOk(['apply', file], env);
    assert.match(r.stdout, /made tgpod-n, br-tgpod, tgpod-p1$/mu);
    const c = await inspectContainer('tgpod-p1');
    assert.equal(c?.State.Running, true);
    assert.equal(c?.Config.Labels?.['pipework-topology'], 'tgpod');
    assert.ok(await ping('tgpod-n', '10.54.0.1'));
    assert.match((await pwOk(['apply', file], env)).stdout, /up to date \(2 unchanged\)/u);
    await pwOk(['destroy', file], env);
    assert.equal(await inspectContainer('tgpod-p1'), undefined);
  });
});
