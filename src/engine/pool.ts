/**
 * Run `fn` over `items` with at most `limit` at a time; results in the items' order. After a
 * failure no new item is started, and the failure is thrown only once every item already
 * started has ended: a caller that undoes work (the executor) never races work still running.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed: { err: unknown } | undefined;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && failed === undefined) {
      const k = next++;
      try {
        results[k] = await fn(items[k]!);
      } catch (err) {
        failed ??= { err };
      }
    }
  }));
  if (failed !== undefined) throw failed.err;
  return results;
}
