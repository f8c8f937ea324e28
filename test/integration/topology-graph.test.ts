// `pipework graph`, as root, on a live topology with one link broken by hand and the address of
// an `auto` link removed by hand: mermaid and dot on stdout, and the HTML page loaded by headless
// Chromium (offline: no network access): the rendered DOM carries each link's and each guest's
// live state (a drifted auto link its address, not "auto"), no label is crossed or overlapped
// (boxes measured in the browser), and a screenshot is produced.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ip } from './helpers/netns.js';
import { sh } from './helpers/run.js';
import { cleanupAll, example, pw, pwOk, scratch } from './topology-lib.js';
import { assertClean, chromiumArgv, measure, needChromium, screenshot } from './topology-graph-browser.js';

const REWRITE: [string, string][] = [['tier-', 'tggr-'], ['name: three-tier', 'name: tggr']];

void describe('topology: graph', () => {
  let dir: string;
  let file: string;
  before(async () => {
    // Never skipped silently: scripts/setup.sh installs chromium.
    needChromium();
    await cleanupAll();
    dir = scratch();
    file = example('three-tier.yaml', dir, REWRITE);
    await pwOk(['apply', file]);
    // One link broken by hand: it must show as missing.
    await ip(['link', 'del', 'eth2'], 'tggr-web');
    // The address an `auto` link got, removed by hand: drift, and still its address (not "auto").
    await ip(['addr', 'flush', 'dev', 'eth1'], 'tggr-app');
  });
  after(async () => {
    await pw(['destroy', '--name', 'tggr']);
    await cleanupAll();
  });

  void test('mermaid (the default, stdout) and dot draw every network, guest and link, coloured by live state', async () => {
    const m = (await pwOk(['graph', file])).stdout;
    assert.match(m, /^---\ntitle: topology tggr\n---\ngraph LR$/mu);
    assert.equal(m.match(/ ---\|/gu)?.length, 6);
    assert.match(m, /g_app ---\|"eth1 10\.41\.2\.1\/24 \(now none\)"\| n_mid/u, 'the auto address it got, and that the interface has none now');
    assert.match(m, /linkStyle 3 stroke:#e65100/u, 'app:eth1 (address removed by hand) drifted: orange');
    assert.match(m, /class g_web missing/u, 'a guest with a link missing is not green');
    assert.match(m, /class g_client ok/u);
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
    const dom = await sh(chromiumArgv(dir, 1200, 900, '--dump-dom', `file://${page}`), { timeoutMs: 60_000 });
    assert.equal(dom.code, 0, dom.stderr);
    const html = dom.stdout;
    // The page's script ran (it counts the states).
    assert.match(html, /<body data-topology="tggr" data-ready="yes">/u);
    assert.match(html, /<span id="summary">4 ok, 1 missing, 1 drift<\/span>/u);
    assert.match(html, /<g class="link" data-link="web:eth2" data-status="missing"/u);
    assert.match(html, /<g class="link" data-link="app:eth1" data-status="drift"/u);
    assert.equal(html.match(/<g class="link" [^>]*data-status="ok"/gu)?.length, 4);
    assert.equal(html.match(/<g class="network" /gu)?.length, 3);
    assert.equal(html.match(/<g class="guest" /gu)?.length, 4);
    // Every element carries its live state: a guest is as well as its worst link.
    assert.match(html, /<g class="guest" data-key="web" data-status="missing"/u);
    assert.match(html, /<g class="guest" data-key="app" data-status="drift"/u);
    assert.match(html, /<g class="guest" data-key="client" data-status="ok"/u);
    assert.match(html, /<g class="network" data-key="mid" data-status="ok"/u);
    // Interface names and addresses are drawn; the auto link's is the one it got, not "auto".
    assert.match(html, />eth2 → data 10\.41\.3\.2\/24<\/text><text [^>]*> {2}fd00:41:3::2\/64</u);
    assert.match(html, />eth1 → mid 10\.41\.2\.1\/24<\/text><text [^>]*> {2}now: no address</u);
    assert.doesNotMatch(html, /<text[^>]*>[^<]*\bauto\b/u);
    // The details: MAC and impairments of db:eth1 (hover and panel), the MTU of the data network.
    assert.match(html, /MAC: [0-9a-f:]{17}/u);
    assert.match(html, /impairments: rate 100mbit/u);
    const m = await measure(page, dir);
    assertClean(m, 'three-tier, live');
    assert.equal(m.boxes, 3 + 4);
    const shot = await screenshot(page, join(dir, 'graph.png'), dir, 1200, Math.max(900, m.scrollHeight));
    process.stdout.write(`# screenshot (three-tier, live): ${shot}\n`);
    if (process.env['TOPOLOGY_GRAPH_SHOT'] !== undefined) await sh(['cp', shot, process.env['TOPOLOGY_GRAPH_SHOT']]);
  });

  void test('--offline draws the file alone (every state unknown), and needs no root', async () => {
    const m = (await pwOk(['graph', file, '--offline'])).stdout;
    assert.equal(m.match(/stroke:#757575/gu)?.length, 6 + 1);
  });
});
