import { InvalidArgumentError } from './errors.js';

/** Linux IFNAMSIZ is 16 including the terminating NUL. */
export const IFNAME_MAX = 15;

/** Why `name` is not a valid Linux interface name, or undefined when it is (mirrors dev_valid_name). */
export function ifNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (Buffer.byteLength(name) > IFNAME_MAX) return `is longer than ${IFNAME_MAX} characters`;
  if (name === '.' || name === '..') return 'is reserved';
  if (name.includes('/')) return "contains '/'";
  if (name.includes(':')) return "contains ':'";
  if (/[\s]/u.test(name) || /[^\x21-\x7e]/u.test(name)) return 'contains whitespace or non-printable characters';
  if (/["'\\#]/u.test(name)) return 'contains a quote, backslash or #, which pipework does not pass to ip';
  // The kernel reads "%d" as a template and picks a number itself: the name asked for would not be the one made.
  if (name.includes('%')) return "contains '%', which the kernel reads as a name template";
  return undefined;
}

export function checkIfName(name: string, role: string): string {
  const problem = ifNameProblem(name);
  if (problem !== undefined) {
    throw new InvalidArgumentError(`invalid ${role} '${name}': an interface name ${problem}`);
  }
  return name;
}
