/**
 * Where a request's time goes (PIPEWORK_CNI_TRACE=1 logs it on stderr; the bench reads it for
 * ADD's breakdown): named phases, each the time since the one before.
 */
import { nowMs } from '../../model/clock.js';

export class Trace {
  private readonly phases: [string, number][] = [];
  private last: number;

  constructor(readonly enabled: boolean, start = nowMs()) {
    this.last = start;
  }

  mark(phase: string): void {
    if (!this.enabled) return;
    const now = nowMs();
    this.phases.push([phase, now - this.last]);
    this.last = now;
  }

  /** `pipework: trace: start 31.2 ms, parse 0.4 ms, ...` */
  line(): string {
    return `pipework: trace: ${this.phases.map(([p, ms]) => `${p} ${ms.toFixed(1)} ms`).join(', ')}`;
  }
}
