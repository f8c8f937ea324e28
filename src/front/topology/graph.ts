/**
 * `pipework graph FILE`: the topology drawn — networks, guests, and a line per link with its
 * interface, addresses and VLAN — coloured by live state (inspect.ts). Mermaid (stdout, the
 * default), Graphviz dot, or one self-contained HTML page (graph-html.ts: an inline SVG laid out
 * by graph-layout.ts, a table, no network access). Pure: it draws what it is given.
 */
import { COLOURS, guestState, guestText, linkLabel, linkState, networkText, presence, type GraphState } from './graph-state.js';
import type { Topology } from './model.js';

export { graphState, linkLabel, type GraphState } from './graph-state.js';
export { html } from './graph-html.js';

export type GraphFormat = 'mermaid' | 'dot' | 'html';

/**
 * A mermaid node id for a key: letters and digits as they are, every other character escaped
 * (`_` → `__`, `.` → `_d`, `-` → `_h`, anything else `_u<hex>_`), so two keys never share an id
 * (`x.y` → `g_x_dy`, `x_y` → `g_x__y`); the prefix keeps networks and guests apart and ids off
 * mermaid's keywords (`end`).
 */
export function mermaidId(prefix: 'n' | 'g', key: string): string {
  let out = `${prefix}_`;
  for (const ch of key) {
    if (/^[A-Za-z0-9]$/u.test(ch)) out += ch;
    else if (ch === '_') out += '__';
    else if (ch === '.') out += '_d';
    else if (ch === '-') out += '_h';
    else out += `_u${ch.codePointAt(0)!.toString(16)}_`;
  }
  return out;
}

export function mermaid(topology: Topology, state: GraphState): string {
  const q = (s: string) => s.replaceAll('"', '#quot;');
  const lines = ['---', `title: topology ${topology.name}`, '---', 'graph LR'];
  for (const [k, c] of Object.entries(COLOURS)) lines.push(`  classDef ${k} fill:${c.fill},stroke:${c.stroke},stroke-width:2px`);
  for (const n of topology.networks.values()) {
    const id = mermaidId('n', n.key);
    lines.push(`  ${id}[("${q(n.key)}<br/>${q(networkText(n))}")]`, `  class ${id} ${presence(state.networks.get(n.key))}`);
  }
  for (const key of topology.guests.keys()) {
    const id = mermaidId('g', key);
    lines.push(`  ${id}["${q(key)}<br/>${q(guestText(topology, key))}"]`, `  class ${id} ${guestState(topology, state, key)}`);
  }
  topology.links.forEach((l, i) => {
    lines.push(`  ${mermaidId('g', l.guest)} ---|"${q(linkLabel(l, state.links.get(l.index)).join(' '))}"| ${mermaidId('n', l.network)}`);
    lines.push(`  linkStyle ${i} stroke:${COLOURS[linkState(state, l)].stroke},stroke-width:2px`);
  });
  return `${lines.join('\n')}\n`;
}

export function dot(topology: Topology, state: GraphState): string {
  const q = (s: string) => `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`;
  const lines = [`graph ${q(`topology ${topology.name}`)} {`, '  rankdir=LR;', '  node [fontname="sans-serif", style=filled];', '  edge [fontname="sans-serif", fontsize=10];'];
  // Node ids are the whole key, quoted: `guest:x.y` and `guest:x_y` are two nodes.
  for (const n of topology.networks.values()) {
    const c = COLOURS[presence(state.networks.get(n.key))];
    lines.push(`  ${q(`network:${n.key}`)} [shape=box, style="rounded,filled", label=${q(`${n.key}\n${networkText(n)}`)}, color=${q(c.stroke)}, fillcolor=${q(c.fill)}];`);
  }
  for (const key of topology.guests.keys()) {
    const c = COLOURS[guestState(topology, state, key)];
    lines.push(`  ${q(`guest:${key}`)} [shape=ellipse, label=${q(`${key}\n${guestText(topology, key)}`)}, color=${q(c.stroke)}, fillcolor=${q(c.fill)}];`);
  }
  for (const l of topology.links) {
    const c = COLOURS[linkState(state, l)];
    lines.push(`  ${q(`guest:${l.guest}`)} -- ${q(`network:${l.network}`)} [label=${q(linkLabel(l, state.links.get(l.index)).join('\n'))}, color=${q(c.stroke)}, fontcolor=${q(c.stroke)}, penwidth=2];`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
