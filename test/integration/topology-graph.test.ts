// `pipework graph`, as root, on a live topology with one link broken by hand: mermaid and dot on
// stdout, and the HTML page loaded by headless Chromium (offline: no network access): the
// rendered DOM carries each link's live state, and a screenshot is produced.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ip } from './helpers/netns.js';
import { sh } from './helpers/run.js';
import { cleanupAll, example, pw, pwOk, scratch } from './topology-lib.js';

const REWRITE: [string, string][] = [['tier-', 'tggr-'], ['name: three-tier', 'name: tggr']];

function chromium(): string | undefined {
  return ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
}

/** Headless Chromium with nothing of its own reaching out (no updates, sync, first-run pages). */
function chromiumArgv(dir: string, ...more: string[]): string[] {
  return [chromium()!, '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync', `--user-data-dir=${join(dir, 'chromium')}`, '--window-size=1200,900', ...more];
}

void describe('topology: graph', () => {
  let dir: string;
  let file: string;
  before(async () => {
    // Never skipped silently: scripts/setup.sh installs chromium.
    assert.ok(chromium() !== undefined, 'chromium is not installed (apt-get install chromium; scripts/setup.sh does)');
    await cleanupAll();
    dir = scratch();
    file = example('three-tier.yaml', dir, REWRITE);
    await pwOk(['apply', file]);
    // One link broken by hand: it must show as missing.
    await ip(['link', 'del', 'eth2'], 'tggr-web');
  });
  after(async () => {
    await pw(['destroy', '--name', 'tggr']);
    await cleanupAll();
  });

  void test('mermaid (the default, stdout) and dot draw every network, guest and link, coloured by live state', async () => {
    const m = (await pwOk(['graph', file])).stdout;
    assert.match(m, /^---\ntitle: topology tggr\n---\ngraph LR$/mu);
    assert.equal(m.match(/ ---\|/gu)?.length, 6);
    assert.match(m, /g_app ---\|"eth1 10\.41\.2\.1\/24"\| n_mid/u, 'the auto address, as it is live');
    assert.match(m, /linkStyle 2 stroke:#c62828/u, 'web:eth2 (deleted by hand) is missing: red');
    assert.match(m, /linkStyle 0 stroke:#2e7d32/u);
    const d = (await pwOk(['graph', file, '--format', 'dot'])).stdout;
    assert.match(d, /"guest:db" -- "network:data" \[label="eth1\\n10\.41\.3\.3\/24\\nfd00:41:3::3\/64"/u);
    if (existsSync('/usr/bin/dot')) assert.equal((await sh(['dot', '-Tsvg'], { input: d })).code, 0);
  });

  void test('html: one self-contained page; Chromium renders it offline with the live state, and a screenshot', async () => {
    const page = join(dir, 'graph.html');
    await pwOk(['graph', file, '--format', 'html', '-o', page]);
    const text = readFileSync(page, 'utf8');
    assert.doesNotMatch(text, /(src|href)\s*=\s*["']?(https?:)?\/\//u, 'the page loads nothing from anywhere');
    const dom = await sh(chromiumArgv(dir, '--dump-dom', `file://${page}`), { timeoutMs: 60_000 });
    assert.equal(dom.code, 0, dom.stderr);
    const html = dom.stdout;
    // The page's script ran (it counts the states).
    assert.match(html, /<body data-topology="tggr" data-ready="yes">/u);
    assert.match(html, /<span id="summary">5 ok, 1 missing<\/span>/u);
    assert.match(html, /<g class="link" data-link="web:eth2" data-status="missing">/u);
    assert.equal(html.match(/<g class="link" [^>]*data-status="ok"/gu)?.length, 5);
    assert.equal(html.match(/<g class="network" /gu)?.length, 3);
    assert.equal(html.match(/<g class="guest" /gu)?.length, 4);
    assert.match(html, /eth2 {2}10\.41\.3\.2\/24 {2}fd00:41:3::2\/64/u, 'interface names and addresses are drawn');
    const shot = join(dir, 'graph.png');
    const r = await sh(chromiumArgv(dir, `--screenshot=${shot}`, `file://${page}`), { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(statSync(shot).size > 10_000, 'the screenshot has something in it');
    assert.deepEqual([...readFileSync(shot).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    if (process.env['TOPOLOGY_GRAPH_SHOT'] !== undefined) await sh(['cp', shot, process.env['TOPOLOGY_GRAPH_SHOT']]);
  });

  void test('--offline draws the file alone (every state unknown), and needs no root', async () => {
    const m = (await pwOk(['graph', file, '--offline'])).stdout;
    assert.equal(m.match(/stroke:#757575/gu)?.length, 6 + 1);
  });
});
