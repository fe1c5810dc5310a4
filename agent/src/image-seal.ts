/**
 * The seal of an images directory at rest (a frozen program's images, kept for days; those a
 * move left on a node): HMAC-SHA256, with the cluster key, of each sealed file's name, size and
 * content, in the order the caller gives (the order they are sent in), kept in SEAL_FILE beside
 * them. A file changed, added or taken away since changes the tag. Only what a restore reads is
 * sealed: CRIU's logs and pid files, written by every restore, are not.
 */
import { createHmac, timingSafeEqual, type Hmac } from 'node:crypto';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const SEAL_FILE = 'godwit.mac';
const TAG_HEX = /^[0-9a-f]{64}$/;

export const UNSEALED = `it carries no seal (${SEAL_FILE}): godwit did not write these images, or someone took the seal away`;
export const BROKEN_SEAL = 'not written by this cluster, or changed since: their seal does not verify';

/** the seal's tag taken file by file: file(), then each of its bytes, then the next file */
export interface SealHasher {
  file(name: string, size: number): void;
  update(chunk: Buffer): void;
  hex(): string;
}

export function sealHasher(key: Buffer): SealHasher {
  const hmac: Hmac = createHmac('sha256', key);
  return {
    // NUL ends the name (no file name holds one), and the size where the content ends
    file: (name, size) => hmac.update(`${name}\0${size}\0`),
    update: (chunk) => hmac.update(chunk),
    hex: () => hmac.digest('hex'),
  };
}

/** the tag of the named files in dir, read in this order */
async function tagOf(dir: string, names: readonly string[], key: Buffer): Promise<string> {
  const hasher = sealHasher(key);
  const buffer = Buffer.allocUnsafe(1 << 20);
  for (const name of names) {
    const fh = await open(join(dir, name), 'r');
    try {
      const { size } = await fh.stat();
      hasher.file(name, size);
      for (let position = 0; position < size; ) {
        const { bytesRead } = await fh.read(buffer, 0, buffer.length, position);
        if (!bytesRead) throw new Error(`${join(dir, name)} got shorter while it was read`);
        hasher.update(buffer.subarray(0, bytesRead));
        position += bytesRead;
      }
    } finally {
      await fh.close();
    }
  }
  return hasher.hex();
}

/** Seals the named files of dir (root's, mode 0600 like them). */
export async function writeSeal(dir: string, names: readonly string[], key: Buffer): Promise<void> {
  await writeFile(join(dir, SEAL_FILE), await tagOf(dir, names, key), { mode: 0o600 });
}

/** the tag the seal of dir holds; undefined when it has none */
export async function readSeal(dir: string): Promise<string | undefined> {
  const text = await readFile(join(dir, SEAL_FILE), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  return text === undefined ? undefined : text.trim();
}

/** whether hex is the tag recorded (constant time: the tag is a secret's image) */
export function sameSeal(hex: string, recorded: string): boolean {
  if (!TAG_HEX.test(hex) || !TAG_HEX.test(recorded)) return false;
  return timingSafeEqual(Buffer.from(hex, 'hex'), Buffer.from(recorded, 'hex'));
}

/** what is wrong with the seal of the named files of dir; undefined when it verifies */
export async function sealProblem(dir: string, names: readonly string[], key: Buffer): Promise<string | undefined> {
  const recorded = await readSeal(dir);
  if (recorded === undefined) return UNSEALED;
  return sameSeal(await tagOf(dir, names, key), recorded) ? undefined : BROKEN_SEAL;
}
