// Docker and Podman lookups: a reference that cannot be a container name never reaches the
// API (or the podman program). The "API" here is an in-process HTTP server on a unix socket
// in a temporary directory; it counts the requests it gets.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lookupDocker, lookupPodman } from '../../src/guest/containers.js';
import { FakeRunner } from './fakes.js';

/** Names Docker and Podman could never have given a container (they would only reach the API as a path). */
const IMPOSSIBLE = ['a/b', '../containers/x', '/../x', 'x y', '', '/', '-x', '.x', '_x', 'web?all=1', 'a#b', 'a:b', 'é', 'web\n', '%2e%2e'];
/** Names and ids that may be a container: these are asked about. */
const POSSIBLE = ['web', '/web', 'my_app.v1-2', '4f0c3a2b1d9e', 'A'];

let dir: string;
let server: Server;
const paths: string[] = [];
const saved = { DOCKER_HOST: process.env['DOCKER_HOST'], CONTAINER_HOST: process.env['CONTAINER_HOST'] };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pw-unit-api-'));
  const socket = join(dir, 'api.sock');
  server = createServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ message: `No such container: ${req.url ?? ''}` }));
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  process.env['DOCKER_HOST'] = `unix://${socket}`;
  process.env['CONTAINER_HOST'] = `unix://${socket}`;
});

after(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

void describe('lookupDocker', () => {
  void test("a reference that cannot be a container name is 'absent', and the API is never asked", async () => {
    paths.length = 0;
    for (const ref of IMPOSSIBLE) {
      const result = await lookupDocker(ref);
      assert.equal(result.found, false, JSON.stringify(ref));
      assert.ok(!result.found && result.reason === 'absent', `${JSON.stringify(ref)}: ${JSON.stringify(result)}`);
    }
    assert.deepEqual(paths, []);
  });

  void test("lookupDocker('a/b') in particular", async () => {
    paths.length = 0;
    const result = await lookupDocker('a/b');
    assert.equal(result.found, false);
    assert.equal(!result.found && result.reason, 'absent');
    assert.ok(!result.found && result.detail.includes('a/b') && result.detail.includes('docker'), JSON.stringify(result));
    assert.deepEqual(paths, []);
  });

  void test('even with no socket at all it is absent (not unavailable): nothing is tried', async () => {
    const was = process.env['DOCKER_HOST'];
    process.env['DOCKER_HOST'] = `unix://${join(dir, 'no-such.sock')}`;
    try {
      const result = await lookupDocker('a/b');
      assert.equal(!result.found && result.reason, 'absent');
      // The control: a possible name does try the missing socket.
      const web = await lookupDocker('web');
      assert.equal(!web.found && web.reason, 'unavailable');
    } finally {
      process.env['DOCKER_HOST'] = was;
    }
  });

  void test('names and ids that may be a container are asked about (once each, URL-encoded)', async () => {
    paths.length = 0;
    for (const ref of POSSIBLE) {
      const result = await lookupDocker(ref);
      assert.equal(!result.found && result.reason, 'absent', ref);
    }
    assert.deepEqual(paths, POSSIBLE.map((ref) => `/containers/${encodeURIComponent(ref)}/json`));
  });
});

void describe('lookupPodman', () => {
  void test("a reference that cannot be a container name is 'absent': no API request, no podman run", async () => {
    paths.length = 0;
    const runner = new FakeRunner();
    for (const ref of IMPOSSIBLE) {
      const result = await lookupPodman(runner, ref);
      assert.ok(!result.found && result.reason === 'absent', `${JSON.stringify(ref)}: ${JSON.stringify(result)}`);
    }
    assert.deepEqual(paths, []);
    assert.deepEqual(runner.calls, []);
  });

  void test('without a Podman socket: still absent, and the podman program is not run', async () => {
    const was = process.env['CONTAINER_HOST'];
    process.env['CONTAINER_HOST'] = `unix://${join(dir, 'no-such.sock')}`;
    try {
      const runner = new FakeRunner();
      const result = await lookupPodman(runner, 'a/b');
      assert.equal(!result.found && result.reason, 'absent');
      assert.ok(!result.found && result.detail.includes('podman'), JSON.stringify(result));
      assert.deepEqual(runner.calls, []);
    } finally {
      process.env['CONTAINER_HOST'] = was;
    }
  });

  void test('a possible name is asked about on the socket', async () => {
    paths.length = 0;
    const result = await lookupPodman(new FakeRunner(), 'web');
    assert.equal(!result.found && result.reason, 'absent');
    assert.deepEqual(paths, ['/containers/web/json']);
  });
});
