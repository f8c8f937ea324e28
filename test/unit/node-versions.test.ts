// What differs between the Node versions pipework runs on (20, 22, 24), held the same on each:
// unix socket paths longer than sun_path (Node 20 and 22 cut them down without a word, Node ≥ 23
// fails with EINVAL), and the V8 code cache of bin/pipework (one per Node version). This file
// runs under every Node scripts/test.sh tests with.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SUN_PATH_BYTES, connectUnix, maxUnixPathBytes, showUnixPath, unixPathProblem } from '../../src/exec/unix-socket.js';
import { ApiUnavailableError, apiGet, apiRequest } from '../../src/guest/runtime-api.js';
import { socketPathProblem } from '../../src/front/cni/install.js';
import { parseWatchArgs, sourcesOf } from '../../src/front/watch/options.js';
import { InvalidArgumentError } from '../../src/model/errors.js';
import { supervisorNodeFlags, v8Major } from '../../src/dhcp/node-flags.js';

/** This file runs as build/test/unit/node-versions.test.js. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const base = process.env['PIPEWORK_TEST_TMP'] ?? tmpdir();
mkdirSync(base, { recursive: true });
const dir = mkdtempSync(join(base, 'tnv-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A path under `dir` exactly `bytes` long. */
function pathOf(bytes: number, tail = ''): string {
  const head = join(dir, 's');
  const fill = bytes - Buffer.byteLength(head) - Buffer.byteLength(tail);
  assert.ok(fill >= 0, `the scratch directory ${dir} is too deep for a ${bytes}-byte path`);
  return head + 'x'.repeat(fill) + tail;
}

describe('unix socket paths: what fits sun_path, checked before Node sees it', () => {
  test('a file path holds at most 107 bytes (and the NUL), an abstract name 108', () => {
    assert.equal(SUN_PATH_BYTES, 108);
    assert.equal(maxUnixPathBytes('/run/x.sock'), 107);
    assert.equal(maxUnixPathBytes('\0x'), 108);
    assert.equal(unixPathProblem(pathOf(107)), undefined);
    assert.match(unixPathProblem(pathOf(108))!, /108 bytes long .* at most 107 \(sun_path\)/u);
    assert.equal(unixPathProblem(`\0${'a'.repeat(107)}`), undefined);
    assert.match(unixPathProblem(`\0${'a'.repeat(108)}`)!, /109 bytes long .*abstract name holds at most 108/u);
  });

  test('bytes, not characters: UTF-8 names count each byte', () => {
    const p = pathOf(107 - 2 * 3) + 'ééé'; // 101 + 6 bytes
    assert.equal(Buffer.byteLength(p), 107);
    assert.equal(unixPathProblem(p), undefined);
    assert.match(unixPathProblem(`${p}é`)!, /109 bytes long/u);
  });

  test('hostile paths: empty, a NUL inside a file path', () => {
    assert.match(unixPathProblem('')!, /empty/u);
    assert.match(unixPathProblem('/run/a\0b.sock')!, /NUL/u);
    assert.equal(showUnixPath('\0pipework/x'), '@pipework/x');
    assert.equal(showUnixPath('/run/x.sock'), '/run/x.sock');
  });

  describe('a path too long never reaches the socket its first 108 bytes name', () => {
    // Node 20 and 22 cut a longer path to sun_path's 108 bytes and reach whatever listens there;
    // Node 24 fails with EINVAL. pipework says the path is too long, on every Node — from 108
    // bytes on: the CNI launcher (C) needs the terminating NUL, and so do most programs.
    let cut = '';
    let fits = '';
    let httpCut = '';
    const servers: (Server | HttpServer)[] = [];
    const listen = async (server: Server | HttpServer, path: string): Promise<void> => {
      servers.push(server);
      await new Promise<void>((r) => server.listen(path, r));
    };
    before(async () => {
      cut = pathOf(108);
      await listen(createServer((c) => c.end('wrong socket\n')), cut);
      fits = pathOf(107);
      await listen(createServer((c) => c.end('right socket\n')), fits);
      httpCut = pathOf(108, 'h');
      await listen(createHttpServer((_req, res) => res.end('{"message":"the wrong daemon"}')), httpCut);
    });
    after(async () => {
      for (const s of servers) await new Promise((r) => s.close(r));
    });

    const outcome = (s: Socket): Promise<string> => new Promise<string>((r) => {
      let text = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => { text += d; });
      s.once('end', () => r(text));
      s.once('error', (e: NodeJS.ErrnoException) => r(`${e.code ?? ''}: ${e.message}`));
    });

    test('connectUnix: an error with the reason, no connection', async () => {
      assert.match(await outcome(connectUnix(`${cut}y`)), /^EINVAL: unix socket .*y: it is 109 bytes long and a unix socket's path holds at most 107/u);
      assert.match(await outcome(connectUnix(cut)), /^EINVAL: unix socket .*: it is 108 bytes long/u);
    });

    test('connectUnix: a path that fits connects as before', async () => {
      assert.equal(await outcome(connectUnix(fits)), 'right socket\n');
    });

    test('the Docker/Podman API client (DOCKER_HOST=unix://<long path>): unavailable, and why', async () => {
      // Unavailable, with the reason: a lookup goes on to the next runtime and says why.
      const why = (e: unknown) => e instanceof ApiUnavailableError && /109 bytes long/u.test(e.message);
      await assert.rejects(apiGet(`${httpCut}h`, '/_ping', 5_000), why);
      await assert.rejects(apiRequest(`${httpCut}h`, 'GET', '/_ping', undefined, 5_000), why);
    });

    test("the DHCP helper container's API client", async () => {
      await assert.rejects(apiRequest(`${httpCut}h`, 'GET', '/_ping', undefined, 5_000), /109 bytes long/u);
    });
  });

  test('pipework cni install --socket: refused when too long (the launcher could never reach it)', () => {
    const long = `/run/pipework/${'c'.repeat(100)}.sock`;
    assert.match(socketPathProblem(long)!, /^refusing --socket .*: it is 119 bytes long/u);
  });

  test('pipework watch --docker / --podman / DOCKER_HOST: refused when too long', () => {
    const long = `/run/${'d'.repeat(110)}.sock`;
    for (const opt of ['--docker', '--podman']) {
      assert.throws(() => parseWatchArgs(['watch', opt, long]), (e: unknown) => e instanceof InvalidArgumentError && e.message.includes(`invalid ${opt}`) && /bytes long/u.test(e.message));
      assert.throws(() => parseWatchArgs(['watch', opt, `unix://${long}`]), InvalidArgumentError);
    }
    const request = parseWatchArgs(['watch', '--allow', 'br0']);
    assert.ok(request.kind !== 'help');
    assert.throws(() => sourcesOf(request, { DOCKER_HOST: `unix://${long}` }), (e: unknown) => e instanceof InvalidArgumentError && /invalid DOCKER_HOST/u.test(e.message));
    assert.throws(() => sourcesOf(request, { CONTAINER_HOST: `unix://${long}` }), (e: unknown) => e instanceof InvalidArgumentError && /invalid CONTAINER_HOST/u.test(e.message));
    assert.deepEqual(sourcesOf(request, { DOCKER_HOST: 'unix:///run/d.sock', CONTAINER_HOST: 'unix:///run/p.sock' }).map((s) => s.socket), ['/run/d.sock', '/run/p.sock']);
  });
});

describe("bin/pipework's V8 code cache: one per Node version", () => {
  const DIST = join(ROOT, 'build', 'dist');
  const BUNDLE = join(DIST, 'pipework.cjs');
  const OWN = `pipework.cjs.${process.version}-${process.arch}.cache`;
  const bundled = existsSync(BUNDLE);
  const why = bundled ? undefined : 'no build/dist/pipework.cjs: npm run build makes it';
  // NODE_EXTRA_CA_CERTS costs every Node start ~40 ms, and pipework speaks no TLS.
  const ENV = { ...process.env, NODE_EXTRA_CA_CERTS: '', PIPEWORK_WRITE_CODE_CACHE: '' };
  /** Compiles the bundle as bin/pipework does with the cache named by argv[2]: does V8 take it? */
  const CHECK = `import { readFileSync } from 'node:fs';
import { Script } from 'node:vm';
const [bundle, cache] = process.argv.slice(1);
const s = new Script('(function (require, module, __pipework_url) {' + readFileSync(bundle, 'latin1') + '\\n})', { filename: bundle, cachedData: readFileSync(cache) });
process.stdout.write(s.cachedDataRejected ? 'rejected' : 'accepted');`;

  /** A copy of bin/pipework (with bin/package.json: it is CommonJS) and the bundle, with no cache. */
  function copy(): string {
    const root = mkdtempSync(join(dir, 'cache-'));
    mkdirSync(join(root, 'bin'));
    mkdirSync(join(root, 'build', 'dist'), { recursive: true });
    copyFileSync(join(ROOT, 'bin', 'pipework'), join(root, 'bin', 'pipework'));
    copyFileSync(join(ROOT, 'bin', 'package.json'), join(root, 'bin', 'package.json'));
    copyFileSync(BUNDLE, join(root, 'build', 'dist', 'pipework.cjs'));
    copyFileSync(join(ROOT, 'package.json'), join(root, 'package.json'));
    return root;
  }
  const run = (root: string, env: NodeJS.ProcessEnv, ...args: string[]) =>
    spawnSync(process.execPath, [join(root, 'bin', 'pipework'), ...args], { encoding: 'utf8', env, timeout: 60_000 });

  test('without a cache for this Node it runs, quietly; PIPEWORK_WRITE_CODE_CACHE=1 writes the one named for it', { skip: why }, () => {
    const root = copy();
    const plain = run(root, ENV, '--version');
    assert.equal(plain.status, 0, plain.stderr);
    assert.match(plain.stdout, /^pipework \d+\.\d+/u);
    assert.equal(plain.stderr, '');
    const write = run(root, { ...ENV, PIPEWORK_WRITE_CODE_CACHE: '1' }, '--help');
    assert.equal(write.status, 0, write.stderr);
    assert.equal(write.stderr, '');
    assert.deepEqual(readdirSync(join(root, 'build', 'dist')).sort(), [OWN, 'pipework.cjs'].sort(), 'the cache, named for this Node, and no temporary file');
    const cached = run(root, ENV, '--version');
    assert.equal(cached.stdout, plain.stdout);
    assert.equal(cached.stderr, '');
  });

  test('a damaged cache for this Node is ignored, quietly', { skip: why }, () => {
    const root = copy();
    writeFileSync(join(root, 'build', 'dist', OWN), Buffer.alloc(4096, 0xa5));
    const r = run(root, ENV, '--version');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^pipework \d+\.\d+/u);
    assert.equal(r.stderr, '');
  });

  test('a CNI request loads the plugin\'s own bundle when there is one, the CLI\'s otherwise; both bundles are ASCII (read as latin1)', { skip: why }, () => {
    for (const f of ['pipework.cjs', 'pipework-cni.cjs']) {
      const text = readFileSync(join(DIST, f));
      assert.equal(text.findIndex((b) => b > 0x7f), -1, `${f}: every byte ASCII`);
    }
    assert.ok(statSync(join(DIST, 'pipework-cni.cjs')).size < statSync(BUNDLE).size * 0.7, 'the plugin alone is well under the CLI');
    const root = copy();
    const version = (env: NodeJS.ProcessEnv) => spawnSync(process.execPath, [join(root, 'bin', 'pipework')], { encoding: 'utf8', env: { ...ENV, ...env }, input: '{}', timeout: 60_000 });
    // Without it: the CLI's bundle answers.
    const whole = version({ CNI_COMMAND: 'VERSION' });
    assert.equal(whole.status, 0, whole.stderr);
    assert.match(whole.stdout, /"supportedVersions"/u);
    // A stand-in for it says which was loaded; the CLI is not.
    writeFileSync(join(root, 'build', 'dist', 'pipework-cni.cjs'), "process.stdout.write('the plugin bundle');\n");
    assert.equal(version({ CNI_COMMAND: 'VERSION' }).stdout, 'the plugin bundle');
    const cli = run(root, ENV, '--version');
    assert.match(cli.stdout, /^pipework \d+\.\d+/u, 'no CNI_COMMAND: the CLI');
  });

  test("the build's caches: this Node's fits it, another major version's is rejected by it", { skip: why }, (t) => {
    const caches = readdirSync(DIST).filter((f) => /^pipework\.cjs\..+\.cache$/u.test(f));
    if (!caches.includes(OWN)) {
      t.skip(`no ${OWN} in build/dist: \`npm run build\` under this Node, or PIPEWORK_WRITE_CODE_CACHE=1 bin/pipework --help, writes it (scripts/test.sh does for each Node it tests with)`);
      return;
    }
    const major = (f: string): string | undefined => /^pipework\.cjs\.v(\d+)\./u.exec(f)?.[1];
    for (const f of caches) {
      if (f !== OWN && major(f) === major(OWN)) continue; // the same V8, perhaps: V8 decides
      // A process each: once a source is compiled, V8 takes it from the isolate's compilation
      // cache and says any cache given with it again was not rejected.
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHECK, BUNDLE, join(DIST, f)], { encoding: 'utf8', env: ENV, timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), f !== OWN ? 'rejected' : 'accepted', `${f} under Node ${process.version}`);
    }
  });
});

describe("the DHCP supervisor's V8 flags follow V8", () => {
  test('--no-expose-wasm before V8 13 (Node 20, 22: it keeps --lite-mode quiet), never from 13 on (Node 24 refuses it)', () => {
    assert.equal(v8Major('11.3.244.8-node.38'), 11);
    assert.equal(v8Major('garbage'), undefined);
    assert.ok(supervisorNodeFlags('11.3.244.8-node.38').includes('--no-expose-wasm'));
    assert.ok(supervisorNodeFlags('12.4.254.21-node.57').includes('--no-expose-wasm'));
    assert.ok(!supervisorNodeFlags('13.6.233.17-node.63').includes('--no-expose-wasm'));
    assert.ok(!supervisorNodeFlags('14.2.1.0-node.1').includes('--no-expose-wasm'));
    assert.ok(!supervisorNodeFlags('').includes('--no-expose-wasm'), 'an unknown V8: no flag it may not know');
    for (const v of ['11.3.244.8-node.38', '13.6.233.17-node.63']) {
      assert.deepEqual(supervisorNodeFlags(v).filter((f) => f !== '--no-expose-wasm'), ['--lite-mode', '--max-semi-space-size=1', '--max-old-space-size=16']);
    }
  });

  test(`this Node (${process.version}, V8 ${process.versions.v8}) starts with them, and says nothing`, () => {
    const r = spawnSync(process.execPath, [...supervisorNodeFlags(), '-e', 'process.stdout.write(typeof WebAssembly)'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NODE_EXTRA_CA_CERTS: '' } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'undefined', 'no WebAssembly in the supervisor');
  });
});
