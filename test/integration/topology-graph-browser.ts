// The graph page in headless Chromium, for the graph tests: a copy of the page with a measuring
// script added (test-only; the page itself is not changed) is loaded offline and its rendered DOM
// dumped: every label's box (network headers, guest cards, each text) and every line as the
// browser laid them out, the pairs of labels that overlap, the lines that cross a label, the
// page's widths; then the search box and the side panel are tried. A screenshot of the whole
// page is kept.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from './helpers/run.js';

export function chromium(): string | undefined {
  return ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
}

/** Never skipped silently: a test that cannot run fails and says why. */
export function needChromium(): void {
  assert.ok(chromium() !== undefined, 'chromium is not installed at /usr/bin/chromium (apt-get install chromium; scripts/setup.sh does): the graph page cannot be checked');
}

/** Headless Chromium with nothing of its own reaching out (no updates, sync, first-run pages). */
export function chromiumArgv(dir: string, width: number, height: number, ...more: string[]): string[] {
  return [chromium()!, '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync', '--hide-scrollbars', `--user-data-dir=${join(dir, 'chromium')}`, `--window-size=${width},${height}`, ...more];
}

export interface Measured {
  boxes: number;
  texts: number;
  edges: number;
  boxOverlaps: string[];
  textOverlaps: string[];
  crossings: string[];
  scrollWidth: number;
  clientWidth: number;
  scrollHeight: number;
  svgWidth: number;
  svgHeight: number;
  /** The right edge of the furthest element of the page (the fixed side panel aside). */
  contentRight: number;
  search: { query: string; shown: number; guests: number; matches: string };
  panel: { shown: boolean; text: string };
}

// Runs in the page (ES5, no modules): measures, then tries the search box and the panel.
const MEASURE = `
(function () {
  var sx = window.scrollX, sy = window.scrollY;
  function box(e) { var b = e.getBoundingClientRect(); return { x: b.left + sx, y: b.top + sy, w: b.width, h: b.height }; }
  function label(e) { return (e.tagName + ' "' + (e.textContent || '') + '"').slice(0, 80); }
  function over(a, b, eps) { return a.x + eps < b.x + b.w && b.x + eps < a.x + a.w && a.y + eps < b.y + b.h && b.y + eps < a.y + a.h; }
  var boxes = Array.prototype.map.call(document.querySelectorAll('#graph [data-box]'), function (e) {
    return { what: e.getAttribute('data-box') + ' ' + e.parentNode.getAttribute('data-key'), r: box(e) };
  });
  var texts = Array.prototype.map.call(document.querySelectorAll('#graph text'), function (e) { return { what: label(e), r: box(e) }; });
  var edges = Array.prototype.map.call(document.querySelectorAll('#graph [data-edge]'), function (e) {
    var b = box(e), v = b.h >= b.w;
    return v ? { x1: b.x + b.w / 2, x2: b.x + b.w / 2, y1: b.y, y2: b.y + b.h } : { x1: b.x, x2: b.x + b.w, y1: b.y + b.h / 2, y2: b.y + b.h / 2 };
  });
  function pairs(list, eps) {
    var out = [], s = list.slice().sort(function (a, b) { return a.r.x - b.r.x; });
    for (var i = 0; i < s.length; i++) {
      for (var j = i + 1; j < s.length && s[j].r.x < s[i].r.x + s[i].r.w; j++) if (over(s[i].r, s[j].r, eps)) out.push(s[i].what + ' | ' + s[j].what);
    }
    return out;
  }
  var crossings = [], labels = boxes.concat(texts);
  edges.forEach(function (s) {
    labels.forEach(function (t) {
      var r = t.r, e = 1;
      if (s.x1 < r.x + r.w - e && s.x2 > r.x + e && s.y1 < r.y + r.h - e && s.y2 > r.y + e) {
        crossings.push(Math.round(s.x1) + ',' + Math.round(s.y1) + '-' + Math.round(s.x2) + ',' + Math.round(s.y2) + ' crosses ' + t.what);
      }
    });
  });
  var de = document.documentElement, right = 0;
  document.querySelectorAll('body *').forEach(function (e) {
    if (e.closest('aside') || e.closest('pre#measured')) return;
    var b = box(e);
    if (b.w > 0 && b.x + b.w > right) right = b.x + b.w;
  });
  var svg = box(document.getElementById('graph'));
  var out = { boxes: boxes.length, texts: texts.length, edges: edges.length, boxOverlaps: pairs(boxes, 1), textOverlaps: pairs(texts, 0.5), crossings: crossings,
    scrollWidth: de.scrollWidth, clientWidth: de.clientWidth, scrollHeight: de.scrollHeight, svgWidth: svg.w, svgHeight: svg.h, contentRight: right };
  // The search box: one guest's key.
  var first = document.querySelector('#graph .guest');
  var find = document.getElementById('find');
  var query = first ? first.getAttribute('data-key') : '';
  find.value = query;
  find.dispatchEvent(new Event('input'));
  var guests = document.querySelectorAll('#graph .guest');
  out.search = { query: query, guests: guests.length, shown: Array.prototype.filter.call(guests, function (g) { return !g.classList.contains('dim'); }).length,
    matches: document.getElementById('matches').textContent };
  find.value = '';
  find.dispatchEvent(new Event('input'));
  // The side panel: a click on the first guest's card.
  if (first) first.querySelector('rect').dispatchEvent(new MouseEvent('click', { bubbles: true }));
  var panel = document.getElementById('panel');
  out.panel = { shown: !panel.hidden, text: document.getElementById('facts').textContent };
  panel.hidden = true;
  var pre = document.createElement('pre');
  pre.id = 'measured';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
`;

/** The page as Chromium renders it at `width` px: what `MEASURE` found. */
export async function measure(page: string, dir: string, width = 1200): Promise<Measured> {
  const copy = `${page}.measure.html`;
  writeFileSync(copy, readFileSync(page, 'utf8').replace('</body>', `<script>${MEASURE}</script></body>`));
  const dom = await sh(chromiumArgv(dir, width, 900, '--dump-dom', `file://${copy}`), { timeoutMs: 120_000 });
  assert.equal(dom.code, 0, `chromium --dump-dom failed: ${dom.stderr}`);
  const m = /<pre id="measured">(.*?)<\/pre>/su.exec(dom.stdout);
  assert.ok(m, `the measuring script did not run (no <pre id="measured"> in the dumped DOM): ${dom.stderr.slice(-2000)}`);
  const text = m[1]!.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&quot;', '"').replaceAll('&amp;', '&');
  return JSON.parse(text) as Measured;
}

/** A screenshot of the whole page (`height` px tall, at most 16,000) at `width`; its path. */
export async function screenshot(page: string, shot: string, dir: string, width: number, height: number): Promise<string> {
  const r = await sh(chromiumArgv(dir, width, Math.min(16_000, Math.ceil(height)), `--screenshot=${shot}`, `file://${page}`), { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `chromium --screenshot failed: ${r.stderr}`);
  assert.ok(statSync(shot).size > 10_000, 'the screenshot has something in it');
  assert.deepEqual([...readFileSync(shot).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return shot;
}

/** What the tests assert of every rendered page. */
export function assertClean(m: Measured, what: string): void {
  assert.deepEqual(m.boxOverlaps.slice(0, 10), [], `${what}: network headers or guest cards overlap`);
  assert.deepEqual(m.textOverlaps.slice(0, 10), [], `${what}: labels overlap`);
  assert.deepEqual(m.crossings.slice(0, 10), [], `${what}: a line crosses a label`);
  assert.ok(m.scrollWidth <= m.clientWidth, `${what}: the page scrolls sideways (${m.scrollWidth} > ${m.clientWidth} px)`);
  assert.ok(m.contentRight <= m.clientWidth + 0.5, `${what}: content reaches ${m.contentRight} px in a ${m.clientWidth} px page`);
  assert.ok(m.texts > 0 && m.edges > 0);
}
