// `pipework graph --format html` at 9, 60 and 200 guests (generated netns labs, not applied: as
// root the live state is read, and every guest and link is missing), rendered by headless
// Chromium: in the rendered DOM no two labels' boxes overlap, no line crosses a label, the page
// does not scroll sideways and the drawing uses its width (at 60 guests also in 800 and 1920 px
// windows); the search box and the side panel work; a screenshot of the whole page per size is
// kept (its path is printed; copied into $TOPOLOGY_GRAPH_SHOTS when that names a folder).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from './helpers/run.js';
import { cleanupAll, pwOk, scratch, write } from './topology-lib.js';
import { assertClean, measure, needChromium, screenshot } from './topology-graph-browser.js';
import { graphLab } from '../unit/topology-graph-lab.js';

const NETWORKS = 6;

void describe('topology: graph at scale, in Chromium', () => {
  let dir: string;
  before(async () => {
    needChromium();
    await cleanupAll();
    dir = scratch();
  });
  after(async () => {
    await cleanupAll();
  });

  for (const n of [9, 60, 200]) {
    void test(`${n} guests: no label overlaps another or is crossed by a line, the width fits and is used, search and panel work`, async () => {
      const name = `tgs${n}`;
      const file = write(dir, `${name}.yaml`, graphLab(n, name, name));
      const links = (graphLab(n, name, name).match(/^ {2}- /gmu) ?? []).length;
      const page = join(dir, `${name}.html`);
      const started = Date.now();
      await pwOk(['graph', file, '--format', 'html', '-o', page]);
      const took = Date.now() - started;
      const text = readFileSync(page, 'utf8');
      assert.doesNotMatch(text, /(src|href)\s*=\s*["']?(https?:)?\/\//u, 'the page loads nothing from anywhere');
      // Not applied: read live, every guest is missing, and so every card says so.
      assert.equal(text.match(/<g class="guest" [^>]*data-status="missing"/gu)?.length, n);
      const m = await measure(page, dir);
      assertClean(m, `${n} guests`);
      assert.equal(m.boxes, n + NETWORKS, 'a card per guest, a header per network');
      assert.ok(m.edges >= links + NETWORKS, `${m.edges} lines for ${links} links`);
      // The drawing fills the page's width (less its margins), at every size.
      assert.ok(m.svgWidth >= 0.9 * (m.clientWidth - 48), `the drawing is ${m.svgWidth} px wide in a ${m.clientWidth} px page`);
      assert.equal(m.search.shown, 1, `searching "${m.search.query}" leaves one guest: ${JSON.stringify(m.search)}`);
      assert.equal(m.search.matches, `1 of ${n} guests`);
      assert.ok(m.panel.shown && m.panel.text.includes('MTU') && m.panel.text.includes('MAC') && m.panel.text.includes('impairments'), `the panel: ${m.panel.text.slice(0, 200)}`);
      // A wider and a narrower window: still clean, no sideways scroll, the width still used.
      for (const width of n === 60 ? [800, 1920] : []) {
        const w = await measure(page, dir, width);
        assertClean(w, `${n} guests at ${width} px`);
        assert.ok(w.svgWidth >= 0.85 * (w.clientWidth - 48), `at ${width} px the drawing is ${w.svgWidth} px wide`);
      }
      const shot = await screenshot(page, join(dir, `${name}.png`), dir, 1200, m.scrollHeight);
      process.stdout.write(`# ${n} guests, ${links} links: graph ${took} ms; drawing ${Math.round(m.svgWidth)}×${Math.round(m.svgHeight)} px, page ${m.clientWidth}×${m.scrollHeight} px; `
        + `${m.boxes} boxes, ${m.texts} texts, ${m.edges} lines; screenshot ${shot}\n`);
      const keep = process.env['TOPOLOGY_GRAPH_SHOTS'];
      if (keep !== undefined && keep !== '') assert.equal((await sh(['cp', shot, join(keep, `${name}.png`)])).code, 0);
    });
  }
});
