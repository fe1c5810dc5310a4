/**
 * Images kept on a node's disk until they are restored or sent on (a freeze's, kept for days; a
 * full-copy move's, dumped to the source's disk): not CRIU's files, which the dump leaves in
 * clear, but one file, dataDir/images/MIGRATION.frozen, sealed as a checkpoint file is
 * (at-rest.ts, checkpoint-file.ts: encrypted unless the agent is told otherwise), for whose
 * program it is: the migration, the process, the epoch dumped and the owner. Another migration's
 * file put in its place (another user's, another process's) does not open there.
 *
 * Beside it, MIGRATION.frozen.json says in clear what it was sealed for, and the network lock
 * tables the dump left: what the agent needs before it opens the file (to send it, to drop it),
 * and nothing of the program's memory, command line or directory. A description changed on disk
 * only makes the file fail to open.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { GodwitError } from '@godwit/schemas';
import type { SealKey } from './at-rest.js';
import { readArchive, writeArchive } from './checkpoint-file.js';
import { passingOver } from './expected-errors.js';

/** whose program the images are, as they were sealed */
export interface FrozenOwner {
  processId: number;
  /** the epoch dumped (a restore starts the next one) */
  epoch: number;
  account: string;
}

export interface FrozenFor extends FrozenOwner {
  /** CRIU's network lock tables the dump left in this node's namespace */
  lockTables: string[];
}

export const frozenFile = (root: string, migrationId: number) => join(root, `${migrationId}.frozen`);
const describedIn = (file: string) => `${file}.json`;

/** what the file of a migration's images is sealed for: it opens for this migration and owner alone */
export const frozenSeal = (key: Buffer, migrationId: number, { processId, epoch, account }: FrozenOwner): SealKey => ({
  key,
  context: `frozen images of migration ${migrationId}: process ${processId}, epoch ${epoch}, of ${account}`,
});

/**
 * Packs the images in dir into file (as a checkpoint is written: fsynced and read back first),
 * described beside it, then removes dir: past this, nothing of them is on the disk in clear.
 */
export async function writeFrozen(dir: string, file: string, seal: SealKey, encrypt: boolean, what: FrozenFor): Promise<number> {
  writeFileSync(describedIn(file), JSON.stringify(what), { mode: 0o600 });
  const { bytes } = await writeArchive(dir, file, seal, { encrypt });
  await rm(dir, { recursive: true, force: true });
  return bytes;
}

/** what the file at `file` says it was sealed for; undefined when there is none */
export function readFrozenFor(file: string): FrozenFor | undefined {
  const text = passingOver(['ENOENT'], undefined, () => readFileSync(describedIn(file), 'utf8'));
  try {
    return text === undefined ? undefined : (JSON.parse(text) as FrozenFor);
  } catch {
    throw new GodwitError('GODWIT_ERR_BAD_IMAGES', `${describedIn(file)}, which says whose images ${file} holds, is not JSON: it was changed on disk`, { imagesDir: file });
  }
}

/** Hands the tar in the file to use, each segment verified first (readArchive); fail(why) when it does not open for seal. */
export function readFrozen<T>(file: string, seal: SealKey, use: (tar: Readable) => Promise<T>, fail: (why: string) => Error): Promise<T> {
  return readArchive(file, seal, undefined, use, fail);
}

export async function removeFrozen(file: string): Promise<void> {
  await rm(file, { force: true });
  await rm(`${file}.partial`, { force: true });
  await rm(describedIn(file), { force: true });
}
