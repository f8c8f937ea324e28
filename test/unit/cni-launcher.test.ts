// The C launcher, native/cni-launcher.c, as `pipework cni install` builds it: compiled by every C
// compiler on PATH with install's flags and warnings as errors (so a C mistake fails CI, where
// scripts/setup.sh installs build-essential); carrying the mark install and uninstall look for;
// answering VERSION itself; and on its cold path (no daemon) starting "Node" — a stand-in here —
// as its child on the paths it was compiled with, byte for byte however they are spelled, without
// NODE_EXTRA_CA_CERTS and NODE_OPTIONS, the request (stdin, environment) handed over fd 3. Without a C compiler
// these tests are reported as skipped, saying why. The wire protocol against a daemon is
// test/integration/cni-launcher.test.ts (it needs root). Files: tcl-* under PIPEWORK_TEST_TMP.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isOurs } from '../../src/front/cni/install.js';
import { SUPPORTED_VERSIONS } from '../../src/front/cni/protocol.js';
import { buildLauncher, compilers, NO_COMPILER, runLauncher, writeColdNode, type Built } from './cni-launcher-build.js';

const base = process.env['PIPEWORK_TEST_TMP'] ?? tmpdir();
mkdirSync(base, { recursive: true });
const dir = mkdtempSync(join(base, 'tcl-launcher-'));
/** Paths no string splicing would survive: quotes, a backslash, a trigraph, a newline, UTF-8. */
const nodeDir = join(dir, `tcl-node "q" \\b ??/ 'é'\nx`);
const NODE = join(nodeDir, 'node');
const SCRIPT = `/tcl/bin "q" \\ ??= é\n\tpipework`;
const SOCKET = join(dir, 'tcl-s"q\\ ??/.sock');
const COLD = join(dir, 'tcl-cold');
const paths = { node: NODE, script: SCRIPT, socket: SOCKET };
const ccs = compilers();
const builds: Built[] = [];
let launcher = '';

/** What Node would be: cni-launcher-build.ts writeColdNode. */
const FAKE_NODE_JS = join(dir, 'tcl-node.mjs');

function coldSaw(): { argv: string[]; env: Record<string, string>; stdin: string; request: { env: Record<string, string>; stdin: string; delegates: boolean } } {
  const env: Record<string, string> = {};
  for (const e of readFileSync(join(COLD, 'env'), 'utf8').split('\0')) {
    const eq = e.indexOf('=');
    if (eq > 0) env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  const request = JSON.parse(readFileSync(join(COLD, 'request'), 'utf8')) as { env: Record<string, string>; stdin: string; delegates: boolean };
  return { argv: readFileSync(join(COLD, 'argv'), 'utf8').split('\0').slice(0, -1), env, stdin: readFileSync(join(COLD, 'stdin'), 'utf8'), request };
}

before(() => {
  mkdirSync(nodeDir, { recursive: true });
  mkdirSync(COLD);
  writeColdNode(NODE, FAKE_NODE_JS);
  for (const cc of ccs) builds.push(buildLauncher(cc, join(dir, `tcl-launcher-${cc}`), paths));
  // The compiler install uses.
  launcher = builds[0]?.code === 0 ? builds[0].output : '';
});
after(() => rmSync(dir, { recursive: true, force: true }));

void describe('the C launcher compiles', () => {
  if (ccs.length === 0) void test('with warnings as errors', { skip: NO_COMPILER }, () => undefined);
  for (const [i, cc] of ccs.entries()) {
    void test(`with ${cc}, as pipework cni install compiles it, warnings as errors${i === 0 ? ' (the compiler install uses)' : ''}`, () => {
      const b = builds[i]!;
      assert.equal(b.code, 0, `${b.argv.join(' ')}\n${b.stderr}`);
      assert.equal(b.stderr, '', 'not a word from the compiler');
      assert.ok(isOurs(b.output), 'the binary carries the launcher mark');
    });
  }
  void test('and not without the definitions install passes', { skip: NO_COMPILER }, () => {
    const b = buildLauncher(ccs[0]!, join(dir, 'tcl-undefined'), paths, ['-UPW_SOCKET']);
    assert.notEqual(b.code, 0);
    assert.match(b.stderr, /compile with the definitions pipework cni install passes/u);
  });
});

void describe('the compiled launcher without a daemon', { skip: NO_COMPILER }, () => {
  void test('VERSION: every version answered as asked, without Node, in an empty environment', async () => {
    for (const v of [...SUPPORTED_VERSIONS, '0.2.0']) {
      const r = await runLauncher(launcher, { CNI_COMMAND: 'VERSION' }, { input: JSON.stringify({ cniVersion: v, name: 'tclnet' }) });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout.toString()), { cniVersion: v, supportedVersions: SUPPORTED_VERSIONS });
    }
    for (const input of ['', '{"cniVersion":"1.0.0\\"x"}', '{"cniVersion":1}', '{"cniVersion":"', 'not json']) {
      const r = await runLauncher(launcher, { CNI_COMMAND: 'VERSION' }, { input });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout.toString()), { cniVersion: '1.1.0', supportedVersions: SUPPORTED_VERSIONS }, input);
    }
    assert.equal(existsSync(join(COLD, 'argv')), false, 'Node did not start');
  });

  void test('the cold path: Node and bin/pipework as compiled in, byte for byte, as the launcher\'s child; the request over fd 3; the variables Node must not see kept from it', async () => {
    const stdin = JSON.stringify({ cniVersion: '1.0.0', name: 'tclnet', note: 'é "q" \\' });
    const env = { CNI_COMMAND: 'ADD', CNI_ARGS: 'A=b;C=d', PATH: '/usr/bin:/bin', TCL_COLD: COLD, NODE_OPTIONS: '--tcl-opt', NODE_EXTRA_CA_CERTS: '/tcl/ca.pem' };
    // No socket at the compiled-in path; the daemon turned off; a path too long for a unix socket.
    for (const socket of [undefined, 'none', '', `/${'x'.repeat(120)}`]) {
      for (const f of ['argv', 'request']) rmSync(join(COLD, f), { force: true });
      const r = await runLauncher(launcher, socket === undefined ? env : { ...env, PIPEWORK_CNI_SOCKET: socket }, { input: stdin });
      assert.equal(r.code, 7, `socket ${socket}: ${r.stderr}`);
      assert.equal(r.stdout.toString(), '{"tcl":"cold"}\n');
      const saw = coldSaw();
      assert.deepEqual(saw.argv, [NODE, SCRIPT]);
      // Node's own stdin is empty: the runtime's comes in the request, with its environment as given.
      assert.equal(saw.stdin, '');
      assert.equal(saw.request.stdin, stdin);
      assert.equal(saw.request.delegates, true, 'the launcher runs the delegates');
      assert.equal(saw.request.env['NODE_OPTIONS'], '--tcl-opt');
      assert.equal(saw.request.env['NODE_EXTRA_CA_CERTS'], '/tcl/ca.pem');
      assert.equal(saw.request.env['CNI_ARGS'], 'A=b;C=d');
      assert.equal(saw.env['NODE_OPTIONS'], undefined);
      assert.equal(saw.env['NODE_EXTRA_CA_CERTS'], undefined);
      assert.equal(saw.env['PIPEWORK_CNI_FD'], '3');
      assert.equal(saw.env['CNI_ARGS'], 'A=b;C=d');
      assert.deepEqual(Object.keys(saw.env).filter((k) => k.startsWith('PIPEWORK_CNI_SAVED_')), []);
    }
  });

  void test('Node ends without answering: the CNI error object, one line', async () => {
    const r = await runLauncher(launcher, { CNI_COMMAND: 'ADD', PIPEWORK_CNI_SOCKET: 'none', TCL_COLD: COLD, TCL_FAIL: '1' }, { input: '{"cniVersion":"1.0.0"}' });
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stdout.toString().split('\n');
    assert.deepEqual(lines.slice(1), ['']);
    const e = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(e['cniVersion'], '1.0.0');
    assert.equal(e['code'], 999);
    assert.match(String(e['msg']), /ended before answering/u);
  });

  void test('no Node where it was compiled to be: the CNI error object, one line, and a way out', async () => {
    renameSync(NODE, `${NODE}.away`);
    try {
      const r = await runLauncher(launcher, { CNI_COMMAND: 'ADD', PIPEWORK_CNI_SOCKET: 'none' }, { input: '{"cniVersion":"0.4.0"}' });
      assert.equal(r.code, 1);
      const lines = r.stdout.toString().split('\n');
      assert.deepEqual(lines.slice(1), ['']);
      const e = JSON.parse(lines[0]!) as Record<string, unknown>;
      assert.equal(e['code'], 999);
      assert.match(String(e['msg']), /cannot start Node/u);
      assert.match(String(e['details']), /pipework cni install/u);
    } finally {
      renameSync(`${NODE}.away`, NODE);
    }
  });
});

void describe('PIPEWORK_CNI_FD as a runtime may set it', () => {
  // Only the launcher's own child serves a request over fd 3, and only when fd 3 is a socket: the
  // variable from a runtime (or a stray fd 3 that is a file) is ignored, and the file not touched.
  void test('fd 3 a file of the scratch directory: ignored, the plugin answers on stdout, the file unchanged', async () => {
    const file = join(dir, 'tcl-fd3-payload');
    writeFileSync(file, 'untouched');
    const fd = openSync(file, 'r+');
    try {
      const bin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'pipework');
      const r = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [bin], {
          env: { ...process.env, CNI_COMMAND: 'VERSION', PIPEWORK_CNI_FD: '3', NODE_EXTRA_CA_CERTS: '' }, stdio: ['pipe', 'pipe', 'ignore', fd],
        });
        let stdout = '';
        child.stdout?.on('data', (b: Buffer) => { stdout += b.toString(); });
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout }));
        child.stdin?.end('{"cniVersion":"1.0.0"}');
      });
      assert.equal(r.code, 0);
      assert.equal((JSON.parse(r.stdout) as { cniVersion: string }).cniVersion, '1.0.0');
      assert.equal(readFileSync(file, 'utf8'), 'untouched');
    } finally {
      closeSync(fd);
    }
  });
});
