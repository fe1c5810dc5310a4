/**
 * What a cluster keeps outside its home (the programs' control directories, the agents' local
 * sockets) is named after its ID alone: a run killed before its `down`, its home since removed,
 * leaves them for the next cluster of that ID to find.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { CliError } from '../errors.js';
import { detachLeftMounts, mountsUnder } from './mounts.js';

/** Whether something listens at a Unix socket: an agent still up. */
function answers(socket: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.createConnection(socket);
    const done = (live: boolean) => {
      c.destroy();
      resolve(live);
    };
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
    c.setTimeout(timeoutMs, () => done(false));
  });
}

/**
 * Removes dirs when no agent answers on a socket in socketDir; refuses, naming the socket, when
 * one does: another cluster of this ID is up, from another home.
 */
export async function reclaimLeftDirs(id: number, dirs: string[], socketDir: string, log: (line: string) => void): Promise<void> {
  const sockets = fs.existsSync(socketDir) ? fs.readdirSync(socketDir).filter((f) => f.endsWith('.sock')) : [];
  for (const s of sockets) {
    const at = path.join(socketDir, s);
    if (await answers(at)) {
      throw new CliError(`cluster ${id} is already up from another home (an agent answers at ${at}): bring it down there, or choose another ID (GODWIT_CLUSTER_ID)`);
    }
  }
  for (const dir of dirs.filter((d) => fs.existsSync(d))) {
    const problems = await detachLeftMounts(dir);
    const mounted = mountsUnder(dir);
    if (mounted.length) throw new CliError(`${dir}, left by an earlier cluster ${id}, is still mounted on (${[...problems, ...mounted].join('; ')}): detach it first`);
    log(`removing ${dir}, left by an earlier cluster ${id}`);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
