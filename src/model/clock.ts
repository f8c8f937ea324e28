/**
 * Milliseconds since the process started, monotonic (as performance.now()): without the
 * `performance` global, whose first use loads perf_hooks (~2 ms of a cold start).
 */
export function nowMs(): number {
  return process.uptime() * 1000;
}
