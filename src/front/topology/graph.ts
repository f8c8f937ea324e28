/**
 * `pipework graph FILE`: the topology drawn — networks, guests, and a line per link with its
 * interface, addresses and VLAN — coloured by live state (inspect.ts). Mermaid (stdout, the
 * default), Graphviz dot, or one self-contained HTML page (an inline SVG, a table, no network
 * access, no external script or font). Pure: it draws what it is given.
 */
import { recordAddresses } from '../../model/record.js';
import type { InspectReport, LinkState, LinkStatus } from './inspect.js';
import { linkName, type Link, type Network, type Topology } from './model.js';

export type GraphFormat = 'mermaid' | 'dot' | 'html';

/** Live state by link index, networks and guests present (all unknown when drawn offline). */
export interface GraphState {
  links: Map<number, LinkStatus>;
  networks: Map<string, boolean>;
  guests: Map<string, boolean>;
}

export function graphState(report: InspectReport | undefined): GraphState {
  return {
    links: new Map(report?.links.map((l) => [l.link.index, l]) ?? []),
    networks: new Map(report?.networks.map((n) => [n.key, n.present]) ?? []),
    guests: new Map(report?.guests.map((g) => [g.key, g.present]) ?? []),
  };
}

const COLOURS: Record<LinkState, { stroke: string; fill: string }> = {
  ok: { stroke: '#2e7d32', fill: '#e3f4e4' },
  drift: { stroke: '#e65100', fill: '#fff0dc' },
  missing: { stroke: '#c62828', fill: '#fde4e4' },
  unknown: { stroke: '#757575', fill: '#f0f0f0' },
};

function presence(v: boolean | undefined): LinkState {
  return v === undefined ? 'unknown' : v ? 'ok' : 'missing';
}

function linkState(state: GraphState, link: Link): LinkState {
  return state.links.get(link.index)?.status ?? 'unknown';
}

function networkText(n: Network): string {
  return `${n.kind} ${n.device}${n.vlan !== undefined ? ` vlan ${n.vlan}` : ''}${n.external ? ' (external)' : ''}`;
}

function guestText(topology: Topology, key: string): string {
  const g = topology.guests.get(key)!;
  return g.kind === 'netns' ? `netns ${g.netns}` : g.kind === 'image' ? `${g.runtime} ${g.container} (${g.image})` : `container ${g.text}`;
}

/** What a link's line says: interface, addresses (live ones when known), VLAN. */
export function linkLabel(link: Link, status: LinkStatus | undefined): string[] {
  const a = link.addressing;
  const live = status?.addresses ?? (status?.record ? recordAddresses(status.record) : undefined);
  const addresses = a.kind === 'dhcp'
    ? [live !== undefined && live.length > 0 ? `${live.join(' ')} (${a.method})` : `dhcp ${a.method}`]
    : live !== undefined && live.length > 0 && status?.status === 'ok' ? live : [...a.addresses.map((x) => x.cidr), ...(a.auto ? ['auto'] : [])];
  return [link.ifname, ...addresses, ...(link.vlan !== undefined ? [`vlan ${link.vlan}`] : [])];
}

const id = (prefix: string, key: string) => `${prefix}_${key.replace(/[^A-Za-z0-9]/gu, '_')}`;

export function mermaid(topology: Topology, state: GraphState): string {
  const q = (s: string) => s.replaceAll('"', '#quot;');
  const lines = ['---', `title: topology ${topology.name}`, '---', 'graph LR'];
  for (const [k, c] of Object.entries(COLOURS)) lines.push(`  classDef ${k} fill:${c.fill},stroke:${c.stroke},stroke-width:2px`);
  for (const n of topology.networks.values()) {
    lines.push(`  ${id('n', n.key)}[("${q(n.key)}<br/>${q(networkText(n))}")]`, `  class ${id('n', n.key)} ${presence(state.networks.get(n.key))}`);
  }
  for (const key of topology.guests.keys()) {
    lines.push(`  ${id('g', key)}["${q(key)}<br/>${q(guestText(topology, key))}"]`, `  class ${id('g', key)} ${presence(state.guests.get(key))}`);
  }
  topology.links.forEach((l, i) => {
    lines.push(`  ${id('g', l.guest)} ---|"${q(linkLabel(l, state.links.get(l.index)).join(' '))}"| ${id('n', l.network)}`);
    lines.push(`  linkStyle ${i} stroke:${COLOURS[linkState(state, l)].stroke},stroke-width:2px`);
  });
  return `${lines.join('\n')}\n`;
}

export function dot(topology: Topology, state: GraphState): string {
  const q = (s: string) => `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`;
  const lines = [`graph ${q(`topology ${topology.name}`)} {`, '  rankdir=LR;', '  node [fontname="sans-serif", style=filled];', '  edge [fontname="sans-serif", fontsize=10];'];
  for (const n of topology.networks.values()) {
    const c = COLOURS[presence(state.networks.get(n.key))];
    lines.push(`  ${q(`network:${n.key}`)} [shape=box, style="rounded,filled", label=${q(`${n.key}\n${networkText(n)}`)}, color=${q(c.stroke)}, fillcolor=${q(c.fill)}];`);
  }
  for (const key of topology.guests.keys()) {
    const c = COLOURS[presence(state.guests.get(key))];
    lines.push(`  ${q(`guest:${key}`)} [shape=ellipse, label=${q(`${key}\n${guestText(topology, key)}`)}, color=${q(c.stroke)}, fillcolor=${q(c.fill)}];`);
  }
  for (const l of topology.links) {
    const c = COLOURS[linkState(state, l)];
    lines.push(`  ${q(`guest:${l.guest}`)} -- ${q(`network:${l.network}`)} [label=${q(linkLabel(l, state.links.get(l.index)).join('\n'))}, color=${q(c.stroke)}, fontcolor=${q(c.stroke)}, penwidth=2];`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

const esc = (s: string) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

/** One page, no network access: the drawing is an inline SVG laid out here, the data a table. */
export function html(topology: Topology, state: GraphState, when: string): string {
  const nets = [...topology.networks.values()];
  // Guests ordered by the first network they link to: fewer crossing lines.
  const firstNet = (key: string) => {
    const l = topology.links.find((x) => x.guest === key);
    return l ? nets.findIndex((n) => n.key === l.network) : nets.length;
  };
  const guests = [...topology.guests.keys()].sort((a, b) => firstNet(a) - firstNet(b));
  const boxW = 230;
  const netX = 40;
  const guestX = 600;
  const top = 50;
  const gap = 18;
  const step = 18;
  // Each box is tall enough for one line end per link, 18 px apart: no two labels overlap.
  const linksOf = (pick: (l: Link) => string, key: string) => topology.links.filter((l) => pick(l) === key);
  const place = (keys: string[], pick: (l: Link) => string) => {
    const at = new Map<string, { y: number; h: number; ends: Map<number, number> }>();
    let y = top;
    for (const key of keys) {
      const mine = linksOf(pick, key);
      const h = Math.max(56, 22 + step * mine.length);
      const ends = new Map(mine.map((l, i) => [l.index, y + (mine.length === 1 ? 28 : 20 + step * i)]));
      at.set(key, { y, h, ends });
      y += h + gap;
    }
    return { at, bottom: y };
  };
  const netPlace = place(nets.map((n) => n.key), (l) => l.network);
  const guestPlace = place(guests, (l) => l.guest);
  const width = guestX + boxW + 40;
  const height = Math.max(netPlace.bottom, guestPlace.bottom) + 10;
  const svg: string[] = [];
  svg.push(`<svg xmlns="http://www.w3.org/2000/svg" id="graph" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="topology ${esc(topology.name)}">`);
  svg.push(`<text x="${netX}" y="28" class="head">networks</text><text x="${guestX}" y="28" class="head">guests</text>`);
  topology.links.forEach((l) => {
    const s = linkState(state, l);
    const y1 = netPlace.at.get(l.network)!.ends.get(l.index)!;
    const y2 = guestPlace.at.get(l.guest)!.ends.get(l.index)!;
    const x1 = netX + boxW;
    const x2 = guestX;
    const label = linkLabel(l, state.links.get(l.index));
    svg.push(`<g class="link" data-link="${esc(linkName(l))}" data-status="${s}"><title>${esc(`${linkName(l)} on ${l.network}: ${s}`)}</title>`
      + `<path d="M${x1},${y1} C${x1 + 150},${y1} ${x2 - 150},${y2} ${x2},${y2}" stroke="${COLOURS[s].stroke}" stroke-width="2.5" fill="none"/>`
      + `<circle cx="${x2}" cy="${y2}" r="3.5" fill="${COLOURS[s].stroke}"/><circle cx="${x1}" cy="${y1}" r="3.5" fill="${COLOURS[s].stroke}"/>`
      + `<text x="${x2 - 8}" y="${y2 - 5}" text-anchor="end" class="lbl" fill="${COLOURS[s].stroke}">${esc(label.join('  '))}</text></g>`);
  });
  const box = (x: number, y: number, h: number, key: string, sub: string, s: LinkState, cls: string, round: number) =>
    `<g class="${cls}" data-key="${esc(key)}" data-status="${s}"><rect x="${x}" y="${y}" width="${boxW}" height="${h}" rx="${round}" fill="${COLOURS[s].fill}" stroke="${COLOURS[s].stroke}" stroke-width="2"/>`
    + `<text x="${x + 12}" y="${y + 23}" class="key">${esc(key)}</text><text x="${x + 12}" y="${y + 43}" class="sub">${esc(sub)}</text></g>`;
  for (const n of nets) {
    const p = netPlace.at.get(n.key)!;
    svg.push(box(netX, p.y, p.h, n.key, networkText(n), presence(state.networks.get(n.key)), 'network', 14));
  }
  for (const g of guests) {
    const p = guestPlace.at.get(g)!;
    svg.push(box(guestX, p.y, p.h, g, guestText(topology, g), presence(state.guests.get(g)), 'guest', 4));
  }
  svg.push('</svg>');
  const rows = topology.links.map((l) => {
    const st = state.links.get(l.index);
    const s = linkState(state, l);
    return `<tr data-status="${s}"><td>links[${l.index}]</td><td>${esc(linkName(l))}</td><td>${esc(l.network)}</td><td>${esc(linkLabel(l, st).slice(1).join(', '))}</td>`
      + `<td><span class="pill" style="background:${COLOURS[s].fill};color:${COLOURS[s].stroke};border-color:${COLOURS[s].stroke}">${s}</span></td><td>${esc(st?.details.join('; ') ?? '')}</td></tr>`;
  });
  const legend = (Object.keys(COLOURS) as LinkState[]).map((s) => `<span class="pill" style="background:${COLOURS[s].fill};color:${COLOURS[s].stroke};border-color:${COLOURS[s].stroke}">${s}</span>`).join(' ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>topology ${esc(topology.name)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<style>
body{font-family:sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px} .when{color:#666;font-size:12px;margin-bottom:12px}
svg text{font-family:sans-serif} .lbl{paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round} .head{font-size:13px;fill:#666;text-transform:uppercase;letter-spacing:1px}
.key{font-size:15px;font-weight:bold;fill:#222} .sub{font-size:12px;fill:#444} .lbl{font-size:11px}
table{border-collapse:collapse;margin-top:16px;font-size:13px} td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}
.pill{border:1px solid;border-radius:9px;padding:0 7px;font-size:12px}
</style></head>
<body data-topology="${esc(topology.name)}">
<h1>topology ${esc(topology.name)}</h1>
<div class="when">${esc(when)} · <span id="summary"></span> · ${legend}</div>
${svg.join('\n')}
<table id="links"><thead><tr><th>link</th><th>interface</th><th>network</th><th>addresses, VLAN</th><th>state</th><th>detail</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table>
<script>
(function () {
  var counts = {};
  document.querySelectorAll('#links tbody tr').forEach(function (tr) { counts[tr.dataset.status] = (counts[tr.dataset.status] || 0) + 1; });
  document.getElementById('summary').textContent = Object.keys(counts).map(function (k) { return counts[k] + ' ' + k; }).join(', ') || 'no links';
  document.body.dataset.ready = 'yes';
})();
</script>
</body></html>
`;
}
