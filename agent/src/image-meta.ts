/**
 * What an images directory holds beside CRIU's images: godwit.json (what the destination needs to
 * restore) and the program's unread input; and the order they travel in, godwit.json first.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PageServer, StreamInodes } from '@godwit/schemas';
import type { InheritedFile } from './criu.js';
import type { CriuProcess } from './criu-process.js';

export const META_FILE = 'godwit.json';
/** input the program had not read when it was dumped, handed to it first after the restore */
export const UNREAD_FILE = 'godwit-stdin';
/** the names an images directory may hold: no path, nothing hidden */
export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface ImageMeta {
  version: 1;
  processId: number;
  epoch: number;
  rootPid: number;
  inodes: StreamInodes;
  /** CRIU's network lock tables this dump left in the source node's namespace */
  lockTables: string[];
  /** the user had closed the program's stdin: close it again after the restore */
  stdinClosed: boolean;
  /** the memory pages went to the destination's page server, not into these images */
  direct: boolean;
  argv: string[];
  cwd: string;
  /**
   * a lazy dump: CRIU (dumpPid, started at dumpStart: criu-process.ts) serves the pages from the
   * stopped tree at `at`; images described before start times were kept have no dumpStart
   */
  lazy?: { at: PageServer; dumpPid: number; dumpStart?: number };
  /** a recovery: files handed to the restored tree already open, in place of changed ones */
  inherit?: InheritedFile[];
  /** where the program saw its control directory: CRIU mounts the keeper's view there again */
  controlMounts?: string[];
}

/** whether godwit.json's text describes a lazy move's images */
export function isLazyMeta(text: Buffer): boolean {
  try {
    return (JSON.parse(text.toString('utf8')) as Partial<ImageMeta>).lazy !== undefined;
  } catch (err) {
    // readMetaIn says what is wrong with it once all is in
    if (err instanceof SyntaxError) return false;
    throw err;
  }
}

/** the description of the images in dir; throws when it cannot be read */
export function readMetaIn(dir: string): ImageMeta {
  return JSON.parse(readFileSync(join(dir, META_FILE), 'utf8')) as ImageMeta;
}

/**
 * The images sent first: godwit.json (what the receiver needs before the rest), then what
 * `criu lazy-pages` reads as it starts (found by starting it with each left out): the inventory,
 * the process tree and each process's ids.
 */
export function isLeadImage(name: string): boolean {
  return name === META_FILE || name === 'inventory.img' || name === 'pstree.img' || /^ids-\d+\.img$/.test(name);
}
const packOrder = (name: string) => (name === META_FILE ? 0 : isLeadImage(name) ? 1 : 2);
export const inPackOrder = (names: string[]) => names.sort((a, b) => packOrder(a) - packOrder(b) || a.localeCompare(b));

/** the CRIU serving a lazy dump's pages, as its images describe it */
export function lazyDumpCriu(lazy: NonNullable<ImageMeta['lazy']>): CriuProcess {
  return lazy.dumpStart === undefined ? { pid: lazy.dumpPid } : { pid: lazy.dumpPid, start: lazy.dumpStart };
}
