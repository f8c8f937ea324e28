/**
 * Where everything of the HTML graph goes, as plain numbers (no DOM, no randomness: the same
 * input gives the same drawing). The drawing reads like a network diagram:
 *
 *   - each network is a lane, a vertical line down the left; the networks' headers are a
 *     staircase at the top, each lane leaving its header's bottom-left corner;
 *   - guests are cards in a grid to the right, grouped by the networks they link to (a caption
 *     names each group), one line of text per link inside the card;
 *   - each link drops from its card's bottom edge into the channel under that row of cards; there
 *     a track per network (named at the left margin) runs left to that network's lane.
 *
 * Lines run only where no text is: lanes left of the cards and right of the track names, tracks
 * and drops in the channels between rows. So no edge crosses a label and no two labels overlap
 * by construction, and `layoutProblems` checks it (the unit tests run it; the browser test
 * measures the rendered page the same way). Text widths are estimated for a monospace font
 * (the page asks for one), with room to spare; longer text is cut with `…` (the page shows it
 * whole on hover and in its side panel).
 */

export interface Rect { x: number; y: number; w: number; h: number }
/** A horizontal or vertical line. */
export interface Seg { x1: number; y1: number; x2: number; y2: number }

export interface TextBox {
  /** Start of the baseline. */
  x: number;
  y: number;
  size: number;
  bold: boolean;
  /** As drawn (maybe cut with `…`). */
  text: string;
  /** As given. */
  full: string;
  /** Where its glyphs may be (estimated generously). */
  rect: Rect;
}

export interface LayoutInput {
  /** Header lines of each network: its key (drawn bold), then what it is. */
  networks: { key: string; lines: string[] }[];
  /** Header lines of each guest's card: its key (bold), then what it is. */
  guests: { key: string; lines: string[] }[];
  /** Each link's lines in its guest's card (the first names it). */
  links: { id: number; guest: string; network: string; lines: string[] }[];
  /** The width to fill (the page's), in px. */
  width?: number;
}

export interface LaidNetwork { key: string; index: number; rect: Rect; texts: TextBox[]; lane: Seg }
export interface LaidGuest { key: string; rect: Rect; texts: TextBox[]; group: number }
export interface LaidLink { id: number; guest: string; network: string; texts: TextBox[]; drop: Seg; port: { x: number; y: number } }
export interface LaidTrack { network: string; row: number; seg: Seg; label: TextBox }

export interface Layout {
  width: number;
  height: number;
  columns: number;
  networks: LaidNetwork[];
  guests: LaidGuest[];
  links: LaidLink[];
  tracks: LaidTrack[];
  /** One per group of guests, above its first card. */
  captions: TextBox[];
}

/** The page's width at a 1200 px window, less its margins. */
export const DEFAULT_WIDTH = 1150;
/** Monospace advance (DejaVu Sans Mono and Liberation Mono: 0.60 em), with room to spare. */
export const CHAR_EM = 0.62;
/** A line's glyph box: from 0.95 em above the baseline, 1.2 em tall (DejaVu: 0.93 + 0.24). */
const ASCENT_EM = 0.95;
const HEIGHT_EM = 1.2;

const MARGIN = 8;
const TOP = 8;
const PAD = 8;
const LINE_GAP = 3;
const LANE_GAP = 18;
const HEADER_INSET = 10;
const HEADER_GAP = 6;
const MIN_CARD = 170;
const MAX_CARD = 330;
const MAX_STRETCH = 380;
const COL_GAP = 24;
const CAPTION_H = 18;
const TRACK_GAP = 13;
const CHANNEL_PAD = 10;
const ROW_GAP = 6;
const PORT_INSET = 12;
const PORT_STEP = 16;
const INLINE_GAP = 8;
const HEADER_PAD = 6;

const KEY_SIZE = 13;
const TEXT_SIZE = 11;
const TRACK_SIZE = 10;

export function textWidth(text: string, size: number): number {
  return [...text].length * CHAR_EM * size;
}

/** `text` cut to at most `chars` characters, the last one `…` when cut. */
export function fit(text: string, chars: number): string {
  const c = [...text];
  if (c.length <= chars) return text;
  return chars <= 0 ? '' : `${c.slice(0, Math.max(0, chars - 1)).join('')}…`;
}

function textBox(x: number, y: number, size: number, bold: boolean, full: string, maxWidth: number): TextBox {
  const text = fit(full, Math.floor(maxWidth / (CHAR_EM * size)));
  return { x, y, size, bold, text, full, rect: { x, y: y - ASCENT_EM * size, w: textWidth(text, size), h: HEIGHT_EM * size } };
}

const lineH = (size: number) => HEIGHT_EM * size + LINE_GAP;

/** Lines stacked from `top`, all `TEXT_SIZE`. */
function stack(x: number, top: number, lines: string[], maxWidth: number): { texts: TextBox[]; bottom: number } {
  const texts: TextBox[] = [];
  let y = top;
  for (const line of lines) {
    texts.push(textBox(x, y + ASCENT_EM * TEXT_SIZE, TEXT_SIZE, false, line, maxWidth));
    y += lineH(TEXT_SIZE);
  }
  return { texts, bottom: y - (lines.length > 0 ? LINE_GAP : 0) };
}

/**
 * A header: its key in bold, then the other lines; the first of them beside the key when both
 * fit on one line (a card or a network header one line shorter).
 */
function heading(x: number, top: number, lines: string[], maxWidth: number): { texts: TextBox[]; bottom: number } {
  if (lines.length === 0) return { texts: [], bottom: top };
  const [key, sub, ...rest] = lines as [string, ...string[]];
  const base = top + ASCENT_EM * KEY_SIZE;
  const keyBox = textBox(x, base, KEY_SIZE, true, key, maxWidth);
  const beside = x + keyBox.rect.w + INLINE_GAP;
  if (sub !== undefined && keyBox.text === key && keyBox.rect.w + INLINE_GAP + textWidth(sub, TEXT_SIZE) <= maxWidth) {
    const after = stack(x, top + lineH(KEY_SIZE), rest, maxWidth);
    return { texts: [keyBox, textBox(beside, base, TEXT_SIZE, false, sub, maxWidth - keyBox.rect.w - INLINE_GAP), ...after.texts], bottom: rest.length > 0 ? after.bottom : top + HEIGHT_EM * KEY_SIZE };
  }
  const after = stack(x, top + lineH(KEY_SIZE), sub !== undefined ? [sub, ...rest] : [], maxWidth);
  return { texts: [keyBox, ...after.texts], bottom: sub !== undefined ? after.bottom : top + HEIGHT_EM * KEY_SIZE };
}

/** A header's height (as `heading` lays it out at that width). */
function headingHeight(lines: string[], maxWidth: number): number {
  return heading(0, 0, lines, maxWidth).bottom;
}

/** A link's lines: its second one (the first address) joined to the first when both fit. */
function joined(lines: string[], maxWidth: number): string[] {
  if (lines.length < 2) return lines;
  const one = `${lines[0]!} ${lines[1]!.trimStart()}`;
  return textWidth(one, TEXT_SIZE) <= maxWidth ? [one, ...lines.slice(2)] : lines;
}

/** The groups' order: by their first network, then fewer networks first; no links last. */
function compareLanes(a: number[], b: number[]): number {
  if (a.length === 0 || b.length === 0) return (a.length === 0 ? 1 : 0) - (b.length === 0 ? 1 : 0);
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

export function layout(input: LayoutInput): Layout {
  const target = Math.max(480, Math.round(input.width ?? DEFAULT_WIDTH));
  const netIndex = new Map(input.networks.map((n, i) => [n.key, i]));
  const guestKeys = new Set(input.guests.map((g) => g.key));
  const links = input.links.filter((l) => netIndex.has(l.network) && guestKeys.has(l.guest));
  const linksOf = new Map<string, typeof links>();
  for (const l of links) (linksOf.get(l.guest) ?? linksOf.set(l.guest, []).get(l.guest)!).push(l);

  // Track names at the left margin, then the lanes, then the cards.
  const N = input.networks.length;
  const labelW = N === 0 ? 0 : Math.min(110, Math.max(36, Math.max(...input.networks.map((n) => textWidth(n.key, TRACK_SIZE))) + 4));
  const laneX = (i: number) => MARGIN + labelW + 10 + i * LANE_GAP;
  const gridLeft = N === 0 ? MARGIN : laneX(N - 1) + 22;

  // Cards: wide enough for their longest line (within bounds), as many columns as fit.
  const cardLines = (key: string, head: string[]) => [...head, ...(linksOf.get(key) ?? []).flatMap((l) => l.lines)];
  const longest = Math.max(0, ...input.guests.map((g) => Math.max(0, ...cardLines(g.key, g.lines).map((t, i) => textWidth(t, i === 0 ? KEY_SIZE : TEXT_SIZE)))));
  const need = Math.min(MAX_CARD, Math.max(MIN_CARD, Math.ceil(longest + 2 * PAD)));
  const avail = target - MARGIN - gridLeft;
  let columns = Math.max(1, Math.floor((avail + COL_GAP) / (need + COL_GAP)));
  columns = Math.min(columns, Math.max(1, input.guests.length));
  const cardW = Math.max(MIN_CARD, Math.min(MAX_STRETCH, Math.floor((avail + COL_GAP) / columns) - COL_GAP));
  const textMax = cardW - 2 * PAD;

  // Network headers: a staircase, each as wide as its text (up to the right edge).
  const room = (i: number) => Math.max(120, target - MARGIN - (laneX(i) - HEADER_INSET));
  const headerH = Math.ceil(Math.max(0, ...input.networks.map((n, i) => headingHeight(n.lines, room(i) - 2 * HEADER_PAD))) + 2 * HEADER_PAD);
  const networks: LaidNetwork[] = input.networks.map((n, i) => {
    const x = laneX(i) - HEADER_INSET;
    const y = TOP + i * (headerH + HEADER_GAP);
    const [key = '', ...rest] = n.lines;
    const inline = textWidth(key, KEY_SIZE) + (rest.length > 0 ? INLINE_GAP + textWidth(rest[0]!, TEXT_SIZE) : 0);
    const wanted = Math.max(inline, ...rest.slice(1).map((t) => textWidth(t, TEXT_SIZE))) + 2 * HEADER_PAD + 2;
    const w = Math.ceil(Math.min(room(i), Math.max(80, wanted)));
    const { texts } = heading(x + HEADER_PAD, y + HEADER_PAD, n.lines, w - 2 * HEADER_PAD);
    return { key: n.key, index: i, rect: { x, y, w, h: headerH }, texts, lane: { x1: laneX(i), y1: y + headerH, x2: laneX(i), y2: y + headerH } };
  });
  const gridTop = N === 0 ? TOP : TOP + N * (headerH + HEADER_GAP) + 10;

  // Groups of guests by the networks they link to.
  const lanesOf = (key: string) => [...new Set((linksOf.get(key) ?? []).map((l) => netIndex.get(l.network)!))].sort((a, b) => a - b);
  const bySig = new Map<string, { lanes: number[]; guests: string[] }>();
  for (const g of input.guests) {
    const lanes = lanesOf(g.key);
    const sig = lanes.join(',');
    (bySig.get(sig) ?? bySig.set(sig, { lanes, guests: [] }).get(sig)!).guests.push(g.key);
  }
  const groups = [...bySig.values()].sort((a, b) => compareLanes(a.lanes, b.lanes));

  // Rows: a group starts a new row unless it fits whole in what is left of the current one.
  interface Row { cards: { key: string; group: number }[]; starts: { group: number; col: number }[] }
  const rows: Row[] = [];
  let row: Row = { cards: [], starts: [] };
  groups.forEach((group, gi) => {
    if (row.cards.length > 0 && group.guests.length > columns - row.cards.length) {
      rows.push(row);
      row = { cards: [], starts: [] };
    }
    group.guests.forEach((key, i) => {
      if (row.cards.length === columns) {
        rows.push(row);
        row = { cards: [], starts: [] };
      }
      if (i === 0) row.starts.push({ group: gi, col: row.cards.length });
      row.cards.push({ key, group: gi });
    });
  });
  if (row.cards.length > 0) rows.push(row);

  const head = new Map(input.guests.map((g) => [g.key, g.lines]));
  const guests: LaidGuest[] = [];
  const laid: LaidLink[] = [];
  const tracks: LaidTrack[] = [];
  const captions: TextBox[] = [];
  let y = gridTop;
  rows.forEach((r, ri) => {
    const colX = (c: number) => gridLeft + c * (cardW + COL_GAP);
    r.starts.forEach((s, si) => {
      const end = si + 1 < r.starts.length ? r.starts[si + 1]!.col : r.cards.length;
      const g = groups[s.group]!;
      const names = g.lanes.map((l) => input.networks[l]!.key);
      const text = `${names.length > 0 ? names.join(' + ') : 'no links'} · ${g.guests.length} guest${g.guests.length === 1 ? '' : 's'}`;
      captions.push(textBox(colX(s.col), y + 12, TEXT_SIZE, false, text, (end - s.col) * (cardW + COL_GAP) - COL_GAP));
    });
    const cardsTop = y + (r.starts.length > 0 ? CAPTION_H : 0);
    let bottom = cardsTop;
    const drops: { link: LaidLink; lane: number }[] = [];
    r.cards.forEach((card, c) => {
      const x = colX(c);
      const top = heading(x + PAD, cardsTop + PAD, head.get(card.key) ?? [], textMax);
      const mine = linksOf.get(card.key) ?? [];
      let ty = top.bottom + (mine.length > 0 ? LINE_GAP + 2 : 0);
      const ports = mine.length > 1 ? Math.min(PORT_STEP, (cardW - 2 * PORT_INSET) / (mine.length - 1)) : 0;
      const linkTexts = mine.map((l) => {
        const s = stack(x + PAD, ty, joined(l.lines, textMax), textMax);
        ty = s.bottom + LINE_GAP;
        return s.texts;
      });
      const h = Math.ceil(Math.max(ty - LINE_GAP, top.bottom) + PAD - cardsTop);
      guests.push({ key: card.key, rect: { x, y: cardsTop, w: cardW, h }, texts: top.texts, group: card.group });
      bottom = Math.max(bottom, cardsTop + h);
      mine.forEach((l, j) => {
        const px = Math.round((x + PORT_INSET + j * ports) * 10) / 10;
        const link: LaidLink = { id: l.id, guest: l.guest, network: l.network, texts: linkTexts[j]!, port: { x: px, y: cardsTop + h }, drop: { x1: px, y1: cardsTop + h, x2: px, y2: 0 } };
        laid.push(link);
        drops.push({ link, lane: netIndex.get(l.network)! });
      });
    });
    // The channel: a track per network this row links to, in lane order.
    const lanes = [...new Set(drops.map((d) => d.lane))].sort((a, b) => a - b);
    const trackY = new Map(lanes.map((lane, t) => [lane, bottom + CHANNEL_PAD + t * TRACK_GAP]));
    for (const d of drops) d.link.drop.y2 = trackY.get(d.lane)!;
    for (const lane of lanes) {
      const ty = trackY.get(lane)!;
      const right = Math.max(...drops.filter((d) => d.lane === lane).map((d) => d.link.port.x));
      const key = input.networks[lane]!.key;
      tracks.push({ network: key, row: ri, seg: { x1: laneX(lane), y1: ty, x2: right, y2: ty }, label: textBox(MARGIN, ty + 3.5, TRACK_SIZE, false, key, labelW) });
      networks[lane]!.lane.y2 = Math.max(networks[lane]!.lane.y2, ty);
    }
    y = (lanes.length > 0 ? bottom + 2 * CHANNEL_PAD + (lanes.length - 1) * TRACK_GAP : bottom + CHANNEL_PAD) + ROW_GAP;
  });
  for (const n of networks) n.lane.y2 = Math.max(n.lane.y2, n.lane.y1 + 8);

  const right = Math.max(
    gridLeft + Math.max(1, Math.max(0, ...rows.map((r) => r.cards.length))) * (cardW + COL_GAP) - COL_GAP,
    ...networks.map((n) => n.rect.x + n.rect.w),
  );
  const height = Math.ceil(Math.max(y, ...networks.map((n) => n.lane.y2 + 4)) + MARGIN);
  return { width: Math.ceil(right + MARGIN), height, columns, networks, guests, links: laid, tracks, captions };
}

/** Every text of a layout (headers, cards, links, track names, captions). */
export function layoutTexts(l: Layout): TextBox[] {
  return [...l.networks.flatMap((n) => n.texts), ...l.guests.flatMap((g) => g.texts), ...l.links.flatMap((k) => k.texts), ...l.tracks.map((t) => t.label), ...l.captions];
}

/** Every line of a layout: lanes, tracks, drops. */
export function layoutSegs(l: Layout): Seg[] {
  return [...l.networks.map((n) => n.lane), ...l.tracks.map((t) => t.seg), ...l.links.map((k) => k.drop)];
}

/** Do two rectangles share more than a border (by more than `eps`)? */
export function overlap(a: Rect, b: Rect, eps = 0.5): boolean {
  return a.x + eps < b.x + b.w && b.x + eps < a.x + a.w && a.y + eps < b.y + b.h && b.y + eps < a.y + a.h;
}

/** Does a horizontal or vertical line pass through a rectangle's inside (more than `eps` in)? */
export function crosses(s: Seg, r: Rect, eps = 0.5): boolean {
  const [x1, x2] = [Math.min(s.x1, s.x2), Math.max(s.x1, s.x2)];
  const [y1, y2] = [Math.min(s.y1, s.y2), Math.max(s.y1, s.y2)];
  return x1 < r.x + r.w - eps && x2 > r.x + eps && y1 < r.y + r.h - eps && y2 > r.y + eps;
}

/** Pairs of rectangles that overlap (sweep along x: fast enough for thousands). */
export function overlappingPairs(rects: Rect[], eps = 0.5): [number, number][] {
  const order = rects.map((_, i) => i).sort((a, b) => rects[a]!.x - rects[b]!.x);
  const out: [number, number][] = [];
  for (let i = 0; i < order.length; i++) {
    const a = rects[order[i]!]!;
    for (let j = i + 1; j < order.length && rects[order[j]!]!.x < a.x + a.w; j++) {
      if (overlap(a, rects[order[j]!]!, eps)) out.push([order[i]!, order[j]!]);
    }
  }
  return out;
}

/**
 * What is wrong with a drawing, in words (empty: nothing): two boxes (network headers, guest
 * cards) or two texts that overlap, a line through a box or a text, a text that leaves its box,
 * anything outside the page.
 */
export function layoutProblems(l: Layout): string[] {
  const out: string[] = [];
  const boxes = [...l.networks.map((n) => ({ what: `network ${n.key}`, rect: n.rect })), ...l.guests.map((g) => ({ what: `guest ${g.key}`, rect: g.rect }))];
  const texts = layoutTexts(l).map((t) => ({ what: `text "${t.text}"`, rect: t.rect }));
  for (const [a, b] of overlappingPairs(boxes.map((b) => b.rect))) out.push(`${boxes[a]!.what} overlaps ${boxes[b]!.what}`);
  for (const [a, b] of overlappingPairs(texts.map((t) => t.rect))) out.push(`${texts[a]!.what} overlaps ${texts[b]!.what}`);
  const segs = layoutSegs(l);
  for (const s of segs) {
    for (const b of [...boxes, ...texts]) if (crosses(s, b.rect)) out.push(`the line ${s.x1},${s.y1} → ${s.x2},${s.y2} crosses ${b.what}`);
  }
  const inside = (r: Rect, o: Rect) => r.x >= o.x - 0.5 && r.y >= o.y - 0.5 && r.x + r.w <= o.x + o.w + 0.5 && r.y + r.h <= o.y + o.h + 0.5;
  for (const g of l.guests) {
    const mine = [...g.texts, ...l.links.filter((k) => k.guest === g.key).flatMap((k) => k.texts)];
    for (const t of mine) if (!inside(t.rect, g.rect)) out.push(`text "${t.text}" leaves the card of ${g.key}`);
  }
  for (const n of l.networks) for (const t of n.texts) if (!inside(t.rect, n.rect)) out.push(`text "${t.text}" leaves the header of ${n.key}`);
  const page = { x: 0, y: 0, w: l.width, h: l.height };
  for (const b of [...boxes, ...texts]) if (!inside(b.rect, page)) out.push(`${b.what} is outside the page (${l.width}×${l.height})`);
  return out;
}
