// The suite runs under several Nodes (scripts/test.sh: the system's 20, then 24, and 22 for the
// unit tests). These checks make sure a run under one Node exercises pipework on that Node —
// started by its own `#!/usr/bin/env node` line, or by the CNI plugin `cni install` writes — and
// that what differs between Nodes comes out the same: no warning on stderr (a CNI plugin's
// stdout is JSON and tests compare stderr), and a unix socket path longer than sun_path refused
// with its reason (Node 20 and 22 would cut it down and bind another path, Node 24 says EINVAL).
//
// Names: files under the scratch directory and /run/pipework/tnv-*; no netns, link or container.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeworkBin, repoRoot, sh, sleep } from './helpers/run.js';

const base = process.env['PIPEWORK_TEST_TMP'] ?? tmpdir();
mkdirSync(base, { recursive: true });
const SCRATCH = mkdtempSync(join(base, 'tnv-'));
after(() => rmSync(SCRATCH, { recursive: true, force: true }));

const NODE = realpathSync(process.execPath);
const ccThere = ['cc', 'gcc', 'clang'].some((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0);

void describe(`pipework runs on the Node the suite runs on (${process.version})`, () => {
  test('started by its #! line (PATH), bin/pipework is this Node', async () => {
    // `--wait` for an interface that never comes: a pipework that stays long enough to look at.
    const child = spawn(pipeworkBin, ['--wait', '-i', 'tnvnone0', '--timeout', '20'], { stdio: 'ignore', detached: true });
    const pid = child.pid!;
    try {
      let exe = '';
      for (let i = 0; i < 100; i++) {
        try {
          exe = readlinkSync(`/proc/${pid}/exe`);
        } catch {
          exe = '';
        }
        if (exe !== '' && !exe.endsWith('/env')) break; // /usr/bin/env execs node in place
        await sleep(50);
      }
      assert.equal(exe, NODE, `bin/pipework ran on ${exe}, the tests on ${NODE}: put the Node under test first on PATH (scripts/test.sh does)`);
    } finally {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });

  test('the CNI plugin `cni install` writes starts this Node (shell form)', async () => {
    const dir = join(SCRATCH, 'cni-sh');
    mkdirSync(dir);
    const r = await sh([pipeworkBin, 'cni', 'install', '--no-compile', '--dir', dir, '--socket', '/run/pipework/tnv-cni.sock'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const script = readFileSync(join(dir, 'pipework'), 'utf8');
    assert.ok(script.includes(`exec '${NODE}' `) || script.includes(`exec '${process.execPath}' `), script);
  });

  test('the CNI plugin `cni install` writes starts this Node (compiled launcher)', { skip: ccThere ? undefined : 'no C compiler here: `cni install` writes the shell form' }, async () => {
    const dir = join(SCRATCH, 'cni-c');
    mkdirSync(dir);
    const r = await sh([pipeworkBin, 'cni', 'install', '--dir', dir, '--socket', '/run/pipework/tnv-cni.sock'], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const binary = readFileSync(join(dir, 'pipework'));
    assert.ok(binary.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])), 'an ELF binary');
    assert.ok(binary.includes(Buffer.from(`${NODE}\0`)) || binary.includes(Buffer.from(`${process.execPath}\0`)), `the launcher names ${process.execPath}`);
  });
});

void describe(`nothing on stderr under ${process.version}, pending deprecations included`, () => {
  // --pending-deprecation: what a later Node will warn about shows up here first.
  const env = { NODE_OPTIONS: '--pending-deprecation', NODE_EXTRA_CA_CERTS: '' };
  const topology = join(SCRATCH, 'three-tier.yaml');
  // A text no earlier run has parsed (the validated model is cached by text): the parser runs.
  writeFileSync(topology, `# tnv ${process.pid} ${Date.now()}\n${readFileSync(join(repoRoot, 'examples', 'topology', 'three-tier.yaml'), 'utf8')}`);
  const commands: string[][] = [
    ['--version'], ['--help'], ['help', 'watch'], ['ls'], ['ls', '--json'],
    ['inspect', topology], ['graph', topology, '--format', 'dot'], ['apply', topology, '--dry-run'],
  ];
  for (const args of commands) {
    test(`pipework ${args.join(' ').replace(SCRATCH, '…')}`, async () => {
      const r = await sh([process.execPath, pipeworkBin, ...args], { env, timeoutMs: 60_000 });
      // (inspect of a file never applied: the host differs from it, exit 2.)
      assert.equal(r.code, args[0] === 'inspect' ? 2 : 0, r.stderr);
      assert.equal(r.stderr, '');
    });
  }

  test('the CNI plugin: VERSION prints one JSON line, nothing else', async () => {
    const r = await sh([process.execPath, pipeworkBin], { env: { ...env, CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"1.0.0"}' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^\{.*\}\n$/u);
    assert.equal((JSON.parse(r.stdout) as { cniVersion: string }).cniVersion, '1.0.0');
  });

  test('the CNI plugin: a refused request prints its JSON error on stdout only', async () => {
    const r = await sh([process.execPath, pipeworkBin], {
      env: { ...env, CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'tnv1', CNI_NETNS: '/run/netns/tnv-none', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
      input: '{"cniVersion": "1.0.0", "name"',
    });
    assert.notEqual(r.code, 0);
    const parsed = JSON.parse(r.stdout) as { code: number; msg: string };
    assert.equal(typeof parsed.code, 'number');
    assert.doesNotMatch(r.stderr, /Warning/u);
  });
});

void describe('a unix socket path longer than sun_path: refused the same on every Node', () => {
  const long = `/run/pipework/tnv-${'s'.repeat(100)}.sock`; // 123 bytes
  // Where Node 20 and 22 would bind or reach it: sun_path's 108 bytes, with no NUL.
  const cut = Buffer.from(long).subarray(0, 108).toString();
  after(() => rmSync(cut, { force: true }));

  test('pipework cni daemon --socket: refused, nothing bound at the cut-down path', async () => {
    const r = await sh([process.execPath, pipeworkBin, 'cni', 'daemon', '--socket', long], { timeoutMs: 20_000 });
    assert.notEqual(r.code, 0, 'the daemon must not start');
    assert.match(r.stderr, /invalid --socket .*: it is 123 bytes long and a unix socket's path holds at most 107/u);
    assert.doesNotMatch(r.stderr, /EINVAL/u);
    assert.equal(existsSync(cut), false, `a socket at ${cut}`);
    assert.equal(existsSync(long), false);
  });

  test('pipework cni install --socket: refused, nothing installed', async () => {
    const dir = join(SCRATCH, 'cni-long');
    mkdirSync(dir);
    const r = await sh([process.execPath, pipeworkBin, 'cni', 'install', '--no-compile', '--dir', dir, '--socket', long], { timeoutMs: 60_000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /refusing --socket .*: it is 123 bytes long/u);
    assert.equal(existsSync(join(dir, 'pipework')), false);
  });

  test('pipework watch --docker: refused before it starts', async () => {
    const r = await sh([process.execPath, pipeworkBin, 'watch', '--allow', 'tnvbr0', '--docker', long], { timeoutMs: 20_000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /invalid --docker .*: it is 123 bytes long/u);
  });

  test('DOCKER_HOST naming a long path: a lookup says why, and never reaches the cut-down path', async () => {
    // Someone else's API at the path the first 108 bytes name: Node 20 and 22 would ask it.
    const fake = `require('node:http').createServer((q, s) => { console.log('asked ' + q.url); s.end('{}'); }).listen(process.argv[1], () => console.log('ready'))`;
    rmSync(cut, { force: true }); // what an older pipework may have bound there
    const server = spawn(process.execPath, ['-e', fake, cut], { stdio: ['ignore', 'pipe', 'inherit'] });
    let heard = '';
    server.stdout.setEncoding('utf8');
    server.stdout.on('data', (d: string) => { heard += d; });
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setInterval(() => { if (heard.includes('ready')) { clearInterval(t); resolve(); } }, 20);
        server.once('exit', () => { clearInterval(t); reject(new Error('the fake API did not start')); });
      });
      const r = await sh([process.execPath, pipeworkBin, 'br-tnv0', 'tnvc1', '10.177.0.2/24', '--dry-run'], { env: { DOCKER_HOST: `unix://${long}` }, timeoutMs: 30_000 });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /container tnvc1 not found.*Docker could not be asked: .*: it is 123 bytes long/u);
      assert.doesNotMatch(heard, /asked/u, 'the API at the cut-down path was asked');
    } finally {
      server.kill('SIGKILL');
    }
  });
});
