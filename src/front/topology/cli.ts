/** The `topology` front door (being built). */
import { UnsupportedError } from '../../model/errors.js';

export function run(_argv: readonly string[]): Promise<number> {
  return Promise.reject(new UnsupportedError('pipework topology is not built yet'));
}
