// What a container's label, or an image's, could make root do through the topology door (issue
// 18, item 6): a container named like a topology's guest and labelled pipework-topology=NAME (by
// whoever started it, or by its image) is neither adopted by apply nor removed by destroy; what
// apply started is recorded by id, adopted by a re-apply and removed by destroy. Against the
// machine's dockerd. Root.
// Names: containers tsw… (tswtopo-…, tswimg-…, tswown-…), bridges br-tsw…, addresses
// 10.162.0.0/16 inside what the test made.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupPrefix } from './helpers/guard.js';
import * as docker from './helpers/docker.js';
import { runPipework, sh } from './helpers/run.js';
import { linksOf } from './watch-lib.js';

const TOPO_BR = 'br-tsw3';
const IMAGE = docker.DOCKER_TEST_IMAGE;
/** An image that carries a topology's label, as any image may. */
const TOPO_LABEL_IMAGE = 'tsw-topolabel:latest';
const STATE_DIR = '/run/pipework/topology';
const OWNED_DIR = '/var/lib/pipework/topology';
const TOPOLOGIES = ['tswtopo', 'tswimg', 'tswown'];

let scratch = '';

async function cleanup(): Promise<void> {
  for (const t of TOPOLOGIES) await runPipework(['destroy', '--name', t], { timeoutMs: 120_000 });
  await docker.removeContainersByPrefix('tsw');
  await cleanupPrefix('br-tsw');
  for (const t of TOPOLOGIES) {
    rmSync(`${STATE_DIR}/${t}.json`, { force: true });
    rmSync(`${OWNED_DIR}/${t}.containers.json`, { force: true });
  }
}

describe('trust: what a label or an image may make the watcher and the topology door do', { timeout: 600_000 }, () => {
  before(async () => {
    assert.ok(await docker.dockerAvailable(), 'these tests need the machine dockerd on /var/run/docker.sock');
    await docker.ensureImage(IMAGE);
    await cleanup();
    scratch = mkdtempSync(join(process.env['PIPEWORK_TEST_TMP'] ?? tmpdir(), 'tsw-'));
  });

  after(async () => {
    try {
      await cleanup();
      await sh(['docker', 'rmi', '-f', TOPO_LABEL_IMAGE], { timeoutMs: 30_000 });
    } finally {
      if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
    }
  });

  describe('a topology adopts and removes only the containers it started', () => {
    const file = (name: string, subnet: number): string => {
      const path = join(scratch, `${name}.yaml`);
      writeFileSync(path, `name: ${name}\nnetworks:\n  lan: {bridge: ${TOPO_BR}}\nguests:\n  web: {image: ${IMAGE}, command: [sleep, "3600"]}\nlinks:\n  - web lan 10.162.${subnet}.1/24\n`);
      return path;
    };

    async function refusedAndKept(topology: string, container: docker.DockerContainer, why: RegExp): Promise<void> {
      const f = file(topology, 20);
      const r = await runPipework(['apply', f], { timeoutMs: 120_000 });
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, why);
      assert.deepEqual(linksOf(container.pid).sort(), ['lo'], 'not plumbed');
      const d = await runPipework(['destroy', f], { timeoutMs: 120_000 });
      assert.equal(d.code, 0, d.stderr);
      const d2 = await runPipework(['destroy', '--name', topology], { timeoutMs: 120_000 });
      assert.equal(d2.code, 0, d2.stderr);
      const still = await docker.inspectContainer(container.name);
      assert.equal(still?.Id, container.id, `destroy removed ${container.name}`);
      assert.equal(still.State.Running, true);
    }

    test('a container started by someone else, named like a guest and labelled pipework-topology=NAME, is neither adopted nor removed', async () => {
      const c = await docker.runContainer('tswtopo-web', IMAGE, ['sleep', '3600'], { labels: { 'pipework-topology': 'tswtopo', 'pipework-topology-guest': 'web' } });
      await refusedAndKept('tswtopo', c, /guests\.web\.image: a docker container named tswtopo-web exists and was not made by topology tswtopo: it carries the label pipework-topology=tswtopo, but its id is not one apply recorded/u);
    });

    test('the same with the label from the container\'s image', async () => {
      const build = await sh(['docker', 'build', '-q', '-t', TOPO_LABEL_IMAGE, '-'], {
        input: `FROM ${IMAGE}\nLABEL pipework-topology=tswimg pipework-topology-guest=web\n`, timeoutMs: 120_000, env: { DOCKER_BUILDKIT: '0' },
      });
      assert.equal(build.code, 0, build.stderr);
      const c = await docker.runContainer('tswimg-web', TOPO_LABEL_IMAGE);
      await refusedAndKept('tswimg', c, /a docker container named tswimg-web exists and was not made by topology tswimg: it carries the label pipework-topology=tswimg/u);
    });

    test('what apply started is recorded by id: a re-apply adopts it, destroy removes it', async () => {
      const f = file('tswown', 21);
      const r = await runPipework(['apply', f], { timeoutMs: 120_000 });
      assert.equal(r.code, 0, r.stderr);
      const c = await docker.inspectContainer('tswown-web');
      assert.ok(c !== undefined);
      const record = JSON.parse(readFileSync(`${OWNED_DIR}/tswown.containers.json`, 'utf8')) as { containers: { id: string }[] };
      assert.deepEqual(record.containers.map((x) => x.id), [c.Id]);
      const again = await runPipework(['apply', f], { timeoutMs: 120_000 });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /up to date/u);
      const d = await runPipework(['destroy', f], { timeoutMs: 120_000 });
      assert.equal(d.code, 0, d.stderr);
      assert.equal(await docker.inspectContainer('tswown-web'), undefined);
      assert.equal(existsSync(`${OWNED_DIR}/tswown.containers.json`), false);
    });
  });
});
