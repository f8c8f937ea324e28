import { digest } from './hash.js';
import { InvalidArgumentError } from './errors.js';

/**
 * A unicast MAC address in canonical lower-case colon form.
 * Accepts `aa:bb:cc:dd:ee:ff` (also `-` separators) or `U:<text>`.
 */
export function parseMac(text: string): string {
  if (text.startsWith('U:')) return macFromText(text.slice(2));
  const parts = text.split(/[:-]/u);
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{1,2}$/u.test(p))) {
    throw new InvalidArgumentError(
      `invalid MAC address '${text}': expected six hex bytes like 02:42:ac:11:00:02, or U:<text>`,
    );
  }
  const bytes = parts.map((p) => parseInt(p, 16));
  if ((bytes[0]! & 1) === 1) {
    throw new InvalidArgumentError(`invalid MAC address '${text}': it is a multicast address (lowest bit of the first byte is set)`);
  }
  if (bytes.every((b) => b === 0)) {
    throw new InvalidArgumentError(`invalid MAC address '${text}': the all-zero address cannot be assigned`);
  }
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * The classic `U:<text>` MAC: 02 followed by the first five bytes of md5(text + "\n")
 * (the shell tool hashed the output of `echo`, which appends the newline).
 */
export function macFromText(text: string): string {
  if (text.length === 0) throw new InvalidArgumentError("invalid MAC 'U:': the text after U: is empty");
  const md5 = digest('md5', `${text}\n`);
  return ['02', ...[...md5.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}
