/**
 * The credentials in a dump's images, checked against the owner before CRIU (as root) restores
 * them: defence in depth behind the archives' MAC, so that images that say "root" or "with
 * capabilities" never become a program of a user who had neither. The layout is CRIU's
 * (images/pstree.proto, core.proto, creds.proto; criu/include/magic.h): every task of
 * pstree.img, and every thread of it, has a core-TID.img whose thread_core carries its creds.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GodwitError } from '@godwit/schemas';
import type { Account } from './accounts.js';
import { imageEntries, readMessage, repeatedU32, single, WIRE_BYTES, WIRE_VARINT, WireFormatError, type WireField } from './protobuf-wire.js';

const PSTREE_MAGIC = 0x50273030;
const CORE_MAGIC = 0x55053847;
/** task_core_entry.task_state of a zombie: CRIU restores it only to exit, it runs no code */
const TASK_DEAD = 2;

const ID_FIELDS = { uid: 1, gid: 2, euid: 3, egid: 4, suid: 5, sgid: 6, fsuid: 7, fsgid: 8 } as const;
const CAP_FIELDS = { cap_inh: 9, cap_prm: 10, cap_eff: 11, cap_bnd: 12, cap_amb: 19 } as const;
const GROUPS_FIELD = 14;
const NO_NEW_PRIVS_FIELD = 18;

export type IdName = keyof typeof ID_FIELDS;
export type CapSet = keyof typeof CAP_FIELDS;

export interface ImageCreds {
  ids: Record<IdName, number>;
  /** each set as CRIU keeps it, 32-bit words */
  caps: Record<CapSet, number[]>;
  groups: number[];
  noNewPrivs: boolean;
}

export interface ImageThread {
  task: number;
  thread: number;
  /** undefined for a zombie, which carries none */
  creds: ImageCreds | undefined;
}

function refused(imagesDir: string, why: string, details: Record<string, unknown> = {}): GodwitError {
  return new GodwitError('GODWIT_ERR_BAD_IMAGES', `the images in ${imagesDir} are not restored: ${why}`, { imagesDir, ...details });
}


function required(fields: WireField[], field: number, name: string): number {
  const f = single(fields, field, WIRE_VARINT);
  if (!f) throw new WireFormatError(`it has no ${name}`);
  return f.u32;
}

function decodeCreds(creds: WireField[]): ImageCreds {
  const ids = {} as Record<IdName, number>;
  for (const [name, field] of Object.entries(ID_FIELDS)) ids[name as IdName] = required(creds, field, name);
  const caps = {} as Record<CapSet, number[]>;
  for (const [name, field] of Object.entries(CAP_FIELDS)) caps[name as CapSet] = repeatedU32(creds, field);
  return { ids, caps, groups: repeatedU32(creds, GROUPS_FIELD), noNewPrivs: (single(creds, NO_NEW_PRIVS_FIELD, WIRE_VARINT)?.u32 ?? 0) !== 0 };
}

/** core_entry.tc (3) .task_state (1); core_entry.thread_core (5) .creds (10); undefined for a zombie */
function decodeCore(core: Buffer): ImageCreds | undefined {
  const fields = readMessage(core);
  const tc = single(fields, 3, WIRE_BYTES);
  if (tc && single(readMessage(tc.bytes), 1, WIRE_VARINT)?.u32 === TASK_DEAD) return undefined;
  const threadCore = single(fields, 5, WIRE_BYTES);
  const creds = threadCore ? single(readMessage(threadCore.bytes), 10, WIRE_BYTES) : undefined;
  // without them CRIU would take a creds-PID.img, or leave the task root
  if (!creds) throw new WireFormatError('it carries no credentials');
  return decodeCreds(readMessage(creds.bytes));
}

/** every task of pstree.img (pstree_entry.pid 1) with the threads it lists (.threads 5) */
function tasksOf(imagesDir: string): { task: number; threads: number[] }[] {
  return imageEntries(readFileSync(join(imagesDir, 'pstree.img')), PSTREE_MAGIC).map((entry) => {
    const fields = readMessage(entry);
    const task = required(fields, 1, 'pid');
    return { task, threads: [...new Set([task, ...repeatedU32(fields, 5)])] };
  });
}

export function readImageCreds(imagesDir: string): ImageThread[] {
  let image = 'pstree.img';
  const coreOf = (thread: number): ImageCreds | undefined => {
    image = `core-${thread}.img`;
    const [core] = imageEntries(readFileSync(join(imagesDir, image)), CORE_MAGIC);
    if (!core) throw new WireFormatError('it holds no entry');
    return decodeCore(core);
  };
  try {
    return tasksOf(imagesDir).flatMap(({ task, threads }) => {
      const creds = coreOf(task);
      // A zombie's thread list is CRIU's uninitialised memory (criu dump fills a task's thread
      // ids from its parasite, which a zombie never gets): its own core is all a restore reads.
      if (creds === undefined) return [{ task, thread: task, creds }];
      return [{ task, thread: task, creds }, ...threads.filter((t) => t !== task).map((thread) => ({ task, thread, creds: coreOf(thread) }))];
    });
  } catch (err) {
    const why = err instanceof WireFormatError ? err.message : (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it is missing' : (err as Error).message;
    throw refused(imagesDir, `${image} cannot be read as CRIU's: ${why}`, { image });
  }
}

function nonEmpty(words: number[]): boolean {
  return words.some((w) => w !== 0);
}

/**
 * Throws GODWIT_ERR_BAD_IMAGES, naming the task and the field, unless every thread of every task
 * in the images is the account's: its uids the account's uid, its gids its gid, and, for an
 * account other than root, its groups among the account's, no capability in any set and no new
 * privileges, as the keeper left the program when it started it. Root's programs are root's
 * with their capabilities: for root only the ids are checked.
 */
export function checkImageCreds(imagesDir: string, account: Account): void {
  for (const { task, thread, creds } of readImageCreds(imagesDir)) {
    if (!creds) continue;
    const whose = `task ${task}${thread !== task ? ` (thread ${thread})` : ''} in core-${thread}.img`;
    const bad = (field: string, found: unknown, why: string) =>
      refused(imagesDir, `${whose} has ${field} ${JSON.stringify(found)}, ${why}`, { task, thread, field, found, account: account.name });
    for (const [name, value] of Object.entries(creds.ids)) {
      const own = name.endsWith('uid') ? account.uid : account.gid;
      if (value !== own) throw bad(name, value, `where the owner, ${account.name}, has ${own}`);
    }
    if (account.uid === 0) continue;
    const stranger = creds.groups.find((g) => !account.groups.includes(g));
    if (stranger !== undefined) throw bad('group', stranger, `which ${account.name} is not in`);
    for (const [name, words] of Object.entries(creds.caps)) {
      if (nonEmpty(words)) throw bad(name, words, `but ${account.name}'s programs have no capabilities`);
    }
    if (!creds.noNewPrivs) throw bad('no_new_privs', 0, `but ${account.name}'s programs run with no new privileges`);
  }
}
