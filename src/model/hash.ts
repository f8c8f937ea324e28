/**
 * Hex digests, loading node:crypto only when a name or MAC actually needs hashing: most runs
 * never do, and loading it costs a few milliseconds of every start-up.
 */
import { createRequire } from 'node:module';

type Crypto = typeof import('node:crypto');
let crypto: Crypto | undefined;

export function digest(algorithm: 'md5' | 'sha256', text: string): Buffer {
  crypto ??= createRequire(import.meta.url)('node:crypto') as Crypto;
  return crypto.createHash(algorithm).update(text).digest();
}
