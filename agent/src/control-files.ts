/**
 * Reading and writing one file of a program's control directory. The agent runs as root and the
 * directory is the program's to play with (through its view), so nothing in it is trusted: a symlink is never
 * followed, only regular files are read, and at most a few hundred bytes of them.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTROL_VALUE_MAX } from '@godwit/schemas';
import { passOver, passingOver } from './expected-errors.js';

export type ReadResult = { ok: true; text: string } | { ok: false; why: 'missing' | 'not-a-file' | 'too-long' };

/** The file's text, if it is a regular file (not a symlink, FIFO or directory) of at most CONTROL_VALUE_MAX bytes. */
export function readControlFile(path: string): ReadResult {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO put there must not hang the agent; fstat then tells it is not a file
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    return { ok: false, why: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'not-a-file' };
  }
  try {
    if (!fstatSync(fd).isFile()) return { ok: false, why: 'not-a-file' };
    const buf = Buffer.alloc(CONTROL_VALUE_MAX + 1);
    let got = 0;
    for (let n = 1; n > 0 && got < buf.length; got += n) n = readSync(fd, buf, got, buf.length - got, null);
    if (got > CONTROL_VALUE_MAX) return { ok: false, why: 'too-long' };
    return { ok: true, text: buf.subarray(0, got).toString('utf8') };
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces the file with `text` in one step (a new file renamed over it), so the program never
 * reads half of it, and whatever was there (a symlink included) is replaced, never written through.
 */
export function writeControlFile(dir: string, name: string, text: string): void {
  const target = join(dir, name);
  const temp = join(dir, `.${name}.${randomBytes(6).toString('hex')}`);
  // 'wx' is O_CREAT|O_EXCL: it never opens something that is already there
  writeFileSync(temp, text, { flag: 'wx', mode: 0o600 });
  try {
    if (!isPlainFileOrMissing(target)) rmSync(target, { recursive: true, force: true });
    renameSync(temp, target);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}

function isPlainFileOrMissing(path: string): boolean {
  try {
    return lstatSync(path).isFile();
  } catch (err) {
    passOver(err, ['ENOENT']);
    return true;
  }
}

/** whether `dir` is a directory itself (not a symlink to one) */
export function isRealDir(dir: string): boolean {
  return passingOver(['ENOENT', 'ENOTDIR'], false, () => lstatSync(dir).isDirectory());
}
