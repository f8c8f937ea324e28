// The Docker index of `pipework batch`: one list call, then names, ids and id prefixes are
// settled locally; whatever it cannot settle is left to the API (undefined).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dockerCgroupCandidates, dockerIndex } from '../../src/guest/docker-index.js';
import { ConflictError } from '../../src/model/errors.js';

const LIST = [
  { Id: 'aa11' + '0'.repeat(60), Names: ['/web'], State: 'running' },
  { Id: 'aa22' + '0'.repeat(60), Names: ['/db'], State: 'exited' },
  { Id: 'bb33' + '0'.repeat(60), Names: ['/cache'], State: 'running' },
];

let dir: string;
let server: Server;
let requests: string[] = [];
const saved = process.env['DOCKER_HOST'];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pw-unit-index-'));
  const socket = join(dir, 'api.sock');
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(LIST));
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  process.env['DOCKER_HOST'] = `unix://${socket}`;
});

after(async () => {
  if (saved === undefined) delete process.env['DOCKER_HOST'];
  else process.env['DOCKER_HOST'] = saved;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

void describe('dockerIndex', () => {
  void test('one list call; then no request per guest', async () => {
    requests = [];
    const index = await dockerIndex();
    assert.ok(index);
    assert.deepEqual(requests, ['/containers/json?all=1']);
    // These containers have no cgroup on the machine running the unit tests: left to the API.
    for (const ref of ['web', '/web', LIST[0]!.Id, 'bb3', 'nosuch', 'db']) assert.equal(index.locate(ref), undefined, ref);
    assert.deepEqual(requests, ['/containers/json?all=1']);
  });

  void test("knows: a name, id or id prefix of any container (running or not); a PID guest's number is not Docker's", async () => {
    const index = await dockerIndex();
    for (const ref of ['web', '/web', 'db', LIST[0]!.Id, 'bb3']) assert.equal(index!.knows(ref), true, ref);
    for (const ref of ['nosuch', '4242', 'cc']) assert.equal(index!.knows(ref), false, ref);
  });

  void test('an id prefix that matches two containers is refused, as the API would', async () => {
    const index = await dockerIndex();
    assert.throws(() => index!.locate('aa'), ConflictError);
  });

  void test('no socket: no index (the API path decides, and says Docker could not be asked)', async () => {
    const was = process.env['DOCKER_HOST'];
    process.env['DOCKER_HOST'] = `unix://${join(dir, 'missing.sock')}`;
    try {
      assert.equal(await dockerIndex(), undefined);
    } finally {
      process.env['DOCKER_HOST'] = was;
    }
  });

  void test('cgroup layouts of the cgroupfs and systemd drivers', () => {
    assert.deepEqual(dockerCgroupCandidates('/sys/fs/cgroup', 'abc'), ['/sys/fs/cgroup/docker/abc', '/sys/fs/cgroup/system.slice/docker-abc.scope']);
  });
});
