/**
 * The status files the keeper and the stand-in append an event a line to, read while they write:
 * a file not there yet holds no events, and its last line may be half written.
 */
import { readFileSync } from 'node:fs';
import { passingOver } from './expected-errors.js';

export function readJsonLines<T>(path: string): T[] {
  const text = passingOver(['ENOENT'], '', () => readFileSync(path, 'utf8'));
  return text.split('\n').flatMap((l) => {
    if (!l.trim()) return [];
    try {
      return [JSON.parse(l) as T];
    } catch (err) {
      if (err instanceof SyntaxError) return []; // a line being written right now
      throw err;
    }
  });
}
