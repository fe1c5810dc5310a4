/**
 * The cluster key: random bytes that only the agents and the orchestrator hold. Every archive of
 * images godwit writes is sealed with a key derived from it (at-rest.ts), so an image file that a
 * user could write (a checkpoint on shared storage) cannot be made into one the agent restores as
 * root, and a checkpoint stolen off the disk cannot be read.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { CLUSTER_KEY_BYTES } from '@godwit/schemas';

const howToMake = (file: string) =>
  `make one on one machine with \`head -c ${CLUSTER_KEY_BYTES} /dev/urandom > ${file}; chmod 600 ${file}\` and copy it (mode 0600, owned by root) to every node`;

/** Reads the key, refusing one that others could read or write, or one too short to be a key. */
export function readClusterKey(file: string): Buffer {
  let fd: number;
  try {
    // O_NOFOLLOW: a link's target would be some other file's rights, not the key's
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    throw new Error(`cannot read the cluster key ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): ${howToMake(file)}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`the cluster key ${file} is not a regular file: ${howToMake(file)}`);
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) {
      throw new Error(`the cluster key ${file} belongs to uid ${st.uid}, not to the agent's uid ${uid}: \`chown ${uid} ${file}\` (its owner can read and change it)`);
    }
    if ((st.mode & 0o077) !== 0) {
      throw new Error(`the cluster key ${file} is readable or writable by others (mode 0${(st.mode & 0o777).toString(8)}): \`chmod 600 ${file}\`, and make a new key if anyone may have read it`);
    }
    const key = readFileSync(fd);
    if (key.length < CLUSTER_KEY_BYTES) {
      throw new Error(`the cluster key ${file} holds ${key.length} bytes, fewer than ${CLUSTER_KEY_BYTES}: ${howToMake(file)}`);
    }
    return key;
  } finally {
    closeSync(fd);
  }
}
