/**
 * Impairments inside the guest on one interface: delay, jitter and loss with netem, rate with
 * tbf (under netem when both are asked). `tc qdisc replace` makes them, or changes them live.
 */
import type { Impairment } from '../model/attach-spec.js';
import type { Step } from '../model/plan.js';

const NETEM = 'the netem queueing discipline (kernel module sch_netem)';
const TBF = 'the tbf queueing discipline (kernel module sch_tbf)';

/** The impairment as recorded (model/record.ts `impair`): `d20,j5,l1.5,r10000000`. */
export function impairText(i: Impairment | undefined): string | undefined {
  if (i === undefined) return undefined;
  const parts = [
    ...(i.delayMs !== undefined ? [`d${i.delayMs}`] : []),
    ...(i.jitterMs !== undefined ? [`j${i.jitterMs}`] : []),
    ...(i.lossPercent !== undefined ? [`l${i.lossPercent}`] : []),
    ...(i.rateBps !== undefined ? [`r${i.rateBps}`] : []),
  ];
  return parts.length > 0 ? parts.join(',') : undefined;
}

export function parseImpairText(text: string | undefined): Impairment | undefined {
  if (text === undefined || text === '') return undefined;
  const out: Impairment = {};
  for (const part of text.split(',')) {
    const value = Number(part.slice(1));
    if (!Number.isFinite(value)) return undefined;
    if (part[0] === 'd') out.delayMs = value;
    else if (part[0] === 'j') out.jitterMs = value;
    else if (part[0] === 'l') out.lossPercent = value;
    else if (part[0] === 'r') out.rateBps = value;
  }
  return out;
}

/** A rate in bit/s in tc's units, as a file writes it: `20mbit`, `512kbit`, `1.5gbit`, `300bit`. */
export function rateText(bps: number): string {
  for (const [unit, size] of [['tbit', 1e12], ['gbit', 1e9], ['mbit', 1e6], ['kbit', 1e3]] as const) {
    // The largest unit that writes it exactly in at most three decimals.
    const v = bps / size;
    if (v >= 1 && Math.abs(Math.round(v * 1000) - v * 1000) < 1e-6) return `${Number(v.toFixed(3))}${unit}`;
  }
  return `${bps}bit`;
}

/** Each impairment's value in words, by name: `delay` → `10ms`. */
function impairValues(i: Impairment | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (i?.delayMs !== undefined) out.set('delay', `${i.delayMs}ms`);
  if (i?.jitterMs !== undefined) out.set('jitter', `${i.jitterMs}ms`);
  if (i?.lossPercent !== undefined) out.set('loss', `${i.lossPercent}%`);
  if (i?.rateBps !== undefined) out.set('rate', rateText(i.rateBps));
  return out;
}

/** An impairment in words: `delay 10ms, rate 20mbit`; `none`. */
export function impairWords(i: Impairment | undefined): string {
  const values = impairValues(i);
  return values.size > 0 ? [...values].map(([k, v]) => `${k} ${v}`).join(', ') : 'none';
}

/** What changes from one impairment to another, in words: `rate 50mbit → 20mbit`, `delay 20ms added`, `loss 1% removed`. */
export function impairChange(from: Impairment | undefined, to: Impairment | undefined): string[] {
  const a = impairValues(from);
  const b = impairValues(to);
  const out: string[] = [];
  for (const k of ['delay', 'jitter', 'loss', 'rate']) {
    const x = a.get(k);
    const y = b.get(k);
    if (x === y) continue;
    out.push(x === undefined ? `${k} ${y!} added` : y === undefined ? `${k} ${x} removed` : `${k} ${x} → ${y}`);
  }
  return out;
}

function tc(dev: string, args: string[]): string[] {
  return ['tc', 'qdisc', ...args.slice(0, 1), 'dev', dev, ...args.slice(1)];
}

/** The root qdisc kind this impairment makes: netem (with tbf under it for a rate), tbf alone, none. */
export function impairQdisc(i: Impairment | undefined): 'netem' | 'tbf' | undefined {
  if (i === undefined) return undefined;
  if (i.delayMs !== undefined || i.jitterMs !== undefined || i.lossPercent !== undefined) return 'netem';
  return i.rateBps !== undefined ? 'tbf' : undefined;
}

function tbfArgs(rateBps: number): string[] {
  // A burst of at least one MTU-sized packet per tick, and a queue of at most 50 ms.
  const burst = Math.max(Math.ceil(rateBps / 8 / 250), 3200);
  return ['tbf', 'rate', `${rateBps}bit`, 'burst', String(burst), 'latency', '50ms'];
}

/**
 * Steps that make `dev`'s impairments `wanted`, given the root qdisc kind there now (`current`,
 * from `ip link`; undefined when the interface is new). Nothing when they already match.
 */
export function planImpair(dev: string, wanted: Impairment | undefined, current: { qdisc?: string; recorded?: Impairment } | undefined): Step[] {
  const kind = impairQdisc(wanted);
  const now = current?.qdisc === 'netem' || current?.qdisc === 'tbf' ? current.qdisc : undefined;
  if (kind === undefined) {
    if (now === undefined) return [];
    return [{ title: `remove the impairments of ${dev}`, action: { kind: 'exec', place: 'guest', argv: tc(dev, ['del', 'root']) }, undo: [] }];
  }
  if (current !== undefined && now === kind && impairText(current.recorded) === impairText(wanted)) return [];
  const w = wanted!;
  const steps: Step[] = [];
  if (kind === 'netem') {
    const netem = [
      'netem',
      ...(w.delayMs !== undefined || w.jitterMs !== undefined ? ['delay', `${w.delayMs ?? 0}ms`, ...(w.jitterMs !== undefined ? [`${w.jitterMs}ms`] : [])] : []),
      ...(w.lossPercent !== undefined ? ['loss', `${w.lossPercent}%`] : []),
    ];
    steps.push({
      title: `impair ${dev}: ${netem.slice(1).join(' ')}`,
      action: { kind: 'exec', place: 'guest', argv: tc(dev, ['replace', 'root', 'handle', '1:', ...netem]) },
      undo: [],
      needs: NETEM,
    });
    if (w.rateBps !== undefined) {
      steps.push({
        title: `limit ${dev} to ${w.rateBps} bit/s`,
        action: { kind: 'exec', place: 'guest', argv: tc(dev, ['replace', 'parent', '1:', 'handle', '2:', ...tbfArgs(w.rateBps)]) },
        undo: [],
        needs: TBF,
      });
    }
  } else {
    steps.push({
      title: `limit ${dev} to ${w.rateBps!} bit/s`,
      action: { kind: 'exec', place: 'guest', argv: tc(dev, ['replace', 'root', 'handle', '1:', ...tbfArgs(w.rateBps!)]) },
      undo: [],
      needs: TBF,
    });
  }
  return steps;
}
