/**
 * `pipework graph --format html`: one self-contained page (no network access, no external script
 * or font). The drawing is an inline SVG laid out by graph-layout.ts — networks as lanes, guests
 * as cards grouped by the networks they link to, each link a line from its card to its lane —
 * with the live state on every element: a link's colour and words, a guest's card (as well as
 * its worst link), a network's header. Hovering shows everything about an element (addresses
 * live and in the file, MAC, gateway, MTU, VLAN, impairments, what differs); a click keeps it in
 * a side panel; a search box and a "problems only" switch dim the rest. A table lists the links.
 */
import { layout, type Layout, type TextBox } from './graph-layout.js';
import {
  COLOURS, guestState, guestText, impairWords, linkAddresses, linkFacts, linkLabel, linkState, linksOf, networkText, presence, type GraphState,
} from './graph-state.js';
import type { LinkState } from './inspect.js';
import { linkName, type Link, type Network, type Topology } from './model.js';

/** Lane colours, one per network (none of them a state's colour). */
const HUES = ['#1565c0', '#6a1b9a', '#00838f', '#ad1457', '#5d4037', '#283593', '#00695c', '#827717', '#4527a0', '#37474f'];

const esc = (s: string) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
const num = (n: number) => String(Math.round(n * 10) / 10);

function networkLines(n: Network, s: LinkState): string[] {
  const more = [networkText(n), ...(n.subnet ? [n.subnet.cidr] : []), ...(n.mtu !== undefined ? [`mtu ${n.mtu}`] : [])].join(' · ');
  return [n.key, s === 'missing' ? `${more} · not there` : more];
}

/**
 * A link's lines in its card: interface and network (in the link's state colour; the card's own
 * line says in words which links are not well), then addresses (live), DHCP, VLAN.
 */
function linkLines(link: Link, state: GraphState): string[] {
  const status = state.links.get(link.index);
  const { shown, dhcp, now } = linkAddresses(link, status);
  return [
    `${link.ifname} → ${link.network}`,
    ...shown.map((a) => `  ${a}`),
    ...(dhcp !== undefined ? [`  ${dhcp}`] : []),
    ...(now !== undefined ? [`  now: ${now.length > 0 ? now.join(' ') : 'no address'}`] : []),
    ...(link.vlan !== undefined ? [`  vlan ${link.vlan}`] : []),
  ];
}

/** What is wrong with a guest, in a few words (nothing when all is well or unknown). */
function guestTrouble(topology: Topology, state: GraphState, key: string): string | undefined {
  if (state.guests.get(key) === false) return 'not there';
  const bad = linksOf(topology, key).filter((l) => linkState(state, l) === 'missing' || linkState(state, l) === 'drift');
  return bad.length > 0 ? bad.map((l) => `${l.ifname} ${linkState(state, l)}`).join(', ') : undefined;
}

function text(t: TextBox, cls: string, fill?: string): string {
  return `<text x="${num(t.x)}" y="${num(t.y)}" class="${cls}"${fill !== undefined ? ` fill="${fill}"` : ''}>${esc(t.text)}</text>`;
}

const facts = (pairs: [string, string][]) => pairs.map(([k, v]) => `${k}: ${v}`).join('\n');

/** The SVG of a layout, with the state and details of each element. */
function svg(topology: Topology, state: GraphState, l: Layout): string {
  const out: string[] = [];
  const hue = new Map(l.networks.map((n) => [n.key, HUES[n.index % HUES.length]!]));
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" id="graph" width="${l.width}" height="${l.height}" viewBox="0 0 ${l.width} ${l.height}" role="img" aria-label="topology ${esc(topology.name)}">`);
  // Lines first, so that boxes and dots sit on them.
  for (const n of l.networks) {
    out.push(`<line data-edge="lane" data-network="${esc(n.key)}" x1="${num(n.lane.x1)}" y1="${num(n.lane.y1)}" x2="${num(n.lane.x2)}" y2="${num(n.lane.y2)}" stroke="${hue.get(n.key)!}" stroke-width="3"/>`);
  }
  for (const t of l.tracks) {
    out.push(`<line data-edge="track" data-network="${esc(t.network)}" x1="${num(t.seg.x1)}" y1="${num(t.seg.y1)}" x2="${num(t.seg.x2)}" y2="${num(t.seg.y2)}" stroke="${hue.get(t.network)!}" stroke-width="2"/>`
      + `<circle cx="${num(t.seg.x1)}" cy="${num(t.seg.y1)}" r="3" fill="${hue.get(t.network)!}"/>`
      + text(t.label, 'trk', hue.get(t.network)));
  }
  for (const c of l.captions) out.push(text(c, 'cap'));
  const perNetwork = new Map<string, number>();
  for (const k of topology.links) perNetwork.set(k.network, (perNetwork.get(k.network) ?? 0) + 1);
  for (const n of l.networks) {
    const net = topology.networks.get(n.key)!;
    const s = presence(state.networks.get(n.key));
    const tip = facts([['network', n.key], ['kind', networkText(net)], ['state', s], ['subnet', net.subnet?.cidr ?? 'none'], ['MTU', net.mtu !== undefined ? String(net.mtu) : 'the kernel\'s'],
      ['links', String(perNetwork.get(n.key) ?? 0)]]);
    out.push(`<g class="network" data-key="${esc(n.key)}" data-status="${s}" data-search="${esc(`${n.key} ${networkText(net)} ${net.subnet?.cidr ?? ''}`.toLowerCase())}" tabindex="0"><title>${esc(tip)}</title>`
      + `<rect data-box="network" x="${num(n.rect.x)}" y="${num(n.rect.y)}" width="${num(n.rect.w)}" height="${num(n.rect.h)}" rx="6" fill="${COLOURS[s].fill}" stroke="${COLOURS[s].stroke}" stroke-width="2"/>`
      + `<rect x="${num(n.rect.x + 2)}" y="${num(n.rect.y + n.rect.h - 5)}" width="${num(n.rect.w - 4)}" height="3" fill="${hue.get(n.key)!}"/>`
      + n.texts.map((t, i) => text(t, i === 0 ? 'key' : 'sub')).join('') + '</g>');
  }
  const byId = new Map(topology.links.map((k) => [k.index, k]));
  for (const g of l.guests) {
    const s = guestState(topology, state, g.key);
    const mine = linksOf(topology, g.key);
    const detail = state.guestDetails?.get(g.key);
    const tip = [facts([['guest', g.key], ['kind', guestText(topology, g.key)], ['state', s], ...(detail !== undefined ? [['detail', detail] as [string, string]] : [])]),
      ...mine.map((k) => facts(linkFacts(k, topology.networks.get(k.network), state.links.get(k.index), linkState(state, k))))].join('\n\n');
    const search = [g.key, guestText(topology, g.key), ...mine.flatMap((k) => [...linkLabel(k, state.links.get(k.index)), k.network, k.mac ?? ''])].join(' ').toLowerCase();
    out.push(`<g class="guest" data-key="${esc(g.key)}" data-status="${s}" data-search="${esc(search)}" tabindex="0"><title>${esc(tip)}</title>`
      + `<rect data-box="guest" x="${num(g.rect.x)}" y="${num(g.rect.y)}" width="${num(g.rect.w)}" height="${num(g.rect.h)}" rx="4" fill="${COLOURS[s].fill}" stroke="${COLOURS[s].stroke}" stroke-width="2"/>`
      + g.texts.map((t, i) => text(t, i === 0 ? 'key' : i === 1 ? 'sub' : 'bad', i === 2 ? COLOURS[s].stroke : undefined)).join('') + '</g>');
  }
  for (const k of l.links) {
    const link = byId.get(k.id)!;
    const s = linkState(state, link);
    const c = COLOURS[s].stroke;
    const tip = facts(linkFacts(link, topology.networks.get(link.network), state.links.get(link.index), s));
    const search = [link.guest, link.network, ...linkLabel(link, state.links.get(link.index)), link.mac ?? ''].join(' ').toLowerCase();
    out.push(`<g class="link" data-link="${esc(linkName(link))}" data-status="${s}" data-search="${esc(search)}" tabindex="0"><title>${esc(tip)}</title>`
      + `<line x1="${num(k.drop.x1)}" y1="${num(k.drop.y1)}" x2="${num(k.drop.x2)}" y2="${num(k.drop.y2)}" stroke="transparent" stroke-width="9"/>`
      + `<line data-edge="link" x1="${num(k.drop.x1)}" y1="${num(k.drop.y1)}" x2="${num(k.drop.x2)}" y2="${num(k.drop.y2)}" stroke="${c}" stroke-width="2"${s === 'missing' ? ' stroke-dasharray="4 3"' : ''}/>`
      + `<circle cx="${num(k.port.x)}" cy="${num(k.port.y)}" r="3.5" fill="${c}"/><circle cx="${num(k.drop.x2)}" cy="${num(k.drop.y2)}" r="2.5" fill="${hue.get(link.network)!}"/>`
      + k.texts.map((t, i) => text(t, i === 0 ? 'lnk' : 'adr', i === 0 ? c : undefined)).join('') + '</g>');
  }
  out.push('</svg>');
  return out.join('\n');
}

/** The drawing's input: what each header, card and link says. */
export function graphLayout(topology: Topology, state: GraphState, width?: number): Layout {
  return layout({
    networks: [...topology.networks.values()].map((n) => ({ key: n.key, lines: networkLines(n, presence(state.networks.get(n.key))) })),
    guests: [...topology.guests.keys()].map((key) => {
      const trouble = guestTrouble(topology, state, key);
      return { key, lines: [key, guestText(topology, key), ...(trouble !== undefined ? [trouble] : [])] };
    }),
    links: topology.links.map((k) => ({ id: k.index, guest: k.guest, network: k.network, lines: linkLines(k, state) })),
    ...(width !== undefined && { width }),
  });
}

const pill = (s: LinkState) => `<span class="pill" style="background:${COLOURS[s].fill};color:${COLOURS[s].stroke};border-color:${COLOURS[s].stroke}">${s}</span>`;

/** One page, no network access: the drawing is an inline SVG laid out here, the data a table. */
export function html(topology: Topology, state: GraphState, when: string): string {
  const drawing = graphLayout(topology, state);
  const rows = topology.links.map((l) => {
    const st = state.links.get(l.index);
    const s = linkState(state, l);
    const f = new Map(linkFacts(l, topology.networks.get(l.network), st, s));
    return `<tr data-status="${s}" data-search="${esc([linkName(l), l.network, ...linkLabel(l, st), l.mac ?? ''].join(' ').toLowerCase())}"><td>links[${l.index}]</td><td>${esc(linkName(l))}</td><td>${esc(l.network)}</td>`
      + `<td>${esc(linkLabel(l, st).slice(1).join(', '))}</td><td>${esc(l.mac ?? st?.record?.mac ?? '')}</td><td>${esc(f.get('gateway') === 'none' ? '' : f.get('gateway')!)}</td><td>${esc(String(l.mtu ?? st?.record?.mtu ?? ''))}</td>`
      + `<td>${esc(impairWords(l.impair) ?? '')}</td><td>${pill(s)}</td><td>${esc(st?.details.join('; ') ?? '')}</td></tr>`;
  });
  const legend = (Object.keys(COLOURS) as LinkState[]).map(pill).join(' ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>topology ${esc(topology.name)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<style>
body{font-family:sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px} .when{color:#666;font-size:12px;margin-bottom:8px}
.bar{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center;margin-bottom:10px;font-size:13px}
.bar input[type=search]{font-size:13px;padding:3px 6px;width:18em;max-width:100%}
#graph{display:block;width:100%;max-width:${Math.round(drawing.width * 1.5)}px;height:auto}
#graph text{font-family:"DejaVu Sans Mono","Liberation Mono",monospace;white-space:pre}
.key{font-size:13px;font-weight:bold;fill:#222} .sub,.adr,.lnk,.bad,.cap{font-size:11px} .sub,.adr{fill:#444} .cap{fill:#666;font-style:italic} .trk{font-size:10px}
.dim{opacity:.15} [tabindex]{cursor:pointer;outline:none} [tabindex]:focus>rect[data-box]{stroke-width:4}
details{margin-top:16px;font-size:13px} table{border-collapse:collapse;margin-top:8px;font-size:13px;width:100%;table-layout:fixed} td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;overflow-wrap:anywhere}
tr.dim{display:none}
.pill{border:1px solid;border-radius:9px;padding:0 7px;font-size:12px}
#panel{position:fixed;top:0;right:0;bottom:0;width:min(380px,90vw);overflow:auto;background:#fff;border-left:1px solid #bbb;box-shadow:-4px 0 12px rgba(0,0,0,.12);padding:12px 16px;box-sizing:border-box;font-size:13px}
#panel[hidden]{display:none} #panel dl{margin:0 0 12px;display:grid;grid-template-columns:max-content 1fr;gap:2px 10px} #panel dt{color:#666} #panel dd{margin:0;overflow-wrap:anywhere}
#panel button{float:right}
</style></head>
<body data-topology="${esc(topology.name)}">
<h1>topology ${esc(topology.name)}</h1>
<div class="when">${esc(when)} · <span id="summary"></span> · ${legend}</div>
<div class="bar"><label>find <input id="find" type="search" placeholder="guest, network, address, MAC…"></label>
<label><input id="problems" type="checkbox"> problems only</label><span id="matches"></span>
<span>${topology.guests.size} guests · ${topology.networks.size} networks · ${topology.links.length} links · hover or click for details</span></div>
${svg(topology, state, drawing)}
<details id="table"${topology.links.length <= 40 ? ' open' : ''}><summary>the ${topology.links.length} links as a table</summary>
<table id="links"><thead><tr><th style="width:6em">link</th><th>interface</th><th>network</th><th style="width:22%">addresses, VLAN</th><th>MAC</th><th>gateway</th><th style="width:4.5em">MTU</th><th>impairments</th><th style="width:5.5em">state</th><th>detail</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table></details>
<aside id="panel" hidden><button id="close" type="button">close</button><div id="facts"></div></aside>
<script>
(function () {
  var counts = {};
  document.querySelectorAll('#links tbody tr').forEach(function (tr) { counts[tr.dataset.status] = (counts[tr.dataset.status] || 0) + 1; });
  document.getElementById('summary').textContent = Object.keys(counts).map(function (k) { return counts[k] + ' ' + k; }).join(', ') || 'no links';
  var find = document.getElementById('find'), problems = document.getElementById('problems'), matches = document.getElementById('matches');
  function filter() {
    var q = find.value.trim().toLowerCase(), only = problems.checked, shown = 0, all = 0;
    document.querySelectorAll('[data-search]').forEach(function (e) {
      var hit = (q === '' || e.dataset.search.indexOf(q) >= 0) && (!only || e.dataset.status !== 'ok');
      e.classList.toggle('dim', !hit);
      if (e.classList.contains('guest')) { all++; if (hit) shown++; }
    });
    matches.textContent = q === '' && !only ? '' : shown + ' of ' + all + ' guests';
  }
  find.addEventListener('input', filter);
  problems.addEventListener('change', filter);
  var panel = document.getElementById('panel'), box = document.getElementById('facts');
  function show(el) {
    var t = el.querySelector('title');
    if (!t) return;
    box.textContent = '';
    t.textContent.split('\\n\\n').forEach(function (part) {
      var dl = document.createElement('dl');
      part.split('\\n').forEach(function (line) {
        var i = line.indexOf(': ');
        var dt = document.createElement('dt'), dd = document.createElement('dd');
        dt.textContent = i < 0 ? line : line.slice(0, i);
        dd.textContent = i < 0 ? '' : line.slice(i + 2);
        dl.appendChild(dt); dl.appendChild(dd);
      });
      box.appendChild(dl);
    });
    panel.hidden = false;
  }
  document.getElementById('graph').addEventListener('click', function (ev) {
    var el = ev.target.closest('[tabindex]');
    if (el) show(el);
  });
  document.getElementById('graph').addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter' && ev.target.closest) { var el = ev.target.closest('[tabindex]'); if (el) show(el); }
  });
  document.getElementById('close').addEventListener('click', function () { panel.hidden = true; });
  document.body.dataset.ready = 'yes';
})();
</script>
</body></html>
`;
}
