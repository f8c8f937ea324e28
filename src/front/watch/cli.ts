/** The `watch` front door (being built). */
import { UnsupportedError } from '../../model/errors.js';

export function run(_argv: readonly string[]): Promise<number> {
  return Promise.reject(new UnsupportedError('pipework watch is not built yet'));
}
