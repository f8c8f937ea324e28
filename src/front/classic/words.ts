/**
 * Split one line of a batch file into words, the way a shell would for the simple cases
 * people write: whitespace separates, '…' is literal, "…" allows \" and \\, a backslash
 * escapes the next character, and # starts a comment at the beginning of a word.
 * Nothing is expanded: no variables, globs or command substitution.
 */
import { UsageError } from '../../model/errors.js';

export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let i = 0;
  const push = () => {
    if (word !== undefined) words.push(word);
    word = undefined;
  };
  while (i < line.length) {
    const ch = line[i]!;
    if (/\s/u.test(ch)) {
      push();
      i++;
    } else if (ch === '#' && word === undefined) {
      break;
    } else if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end === -1) throw new UsageError('unterminated single quote');
      word = (word ?? '') + line.slice(i + 1, end);
      i = end + 1;
    } else if (ch === '"') {
      let j = i + 1;
      let text = '';
      while (j < line.length && line[j] !== '"') {
        if (line[j] === '\\' && (line[j + 1] === '"' || line[j + 1] === '\\')) j++;
        text += line[j];
        j++;
      }
      if (j >= line.length) throw new UsageError('unterminated double quote');
      word = (word ?? '') + text;
      i = j + 1;
    } else if (ch === '\\') {
      if (i + 1 >= line.length) throw new UsageError('a backslash ends the line');
      word = (word ?? '') + line[i + 1];
      i += 2;
    } else {
      word = (word ?? '') + ch;
      i++;
    }
  }
  push();
  return words;
}
