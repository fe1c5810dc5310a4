/**
 * CRIU page servers receiving a migration's pages here, straight into the directory its images
 * will be received in (not a lazy move's: these pages go to disk), until the images are complete.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { PageServer } from '@godwit/schemas';
import type { Criu, RunningPageServer } from './criu.js';
import type { PortPicker } from './page-server-ports.js';

/** the directory a migration's images are received into while they come */
export const partialDir = (root: string, migrationId: number) => join(root, `${migrationId}.partial`);

export function createPageServers(criu: Criu, diskRoot: string, ports: PortPicker) {
  const running = new Map<number, RunningPageServer>();

  function stop(migrationId: number): void {
    running.get(migrationId)?.stop();
    running.delete(migrationId);
  }

  return {
    stop,

    /** the page server receiving the migration's pages, if one is */
    of: (migrationId: number): RunningPageServer | undefined => running.get(migrationId),

    /** Starts a page server that writes a migration's pages where its images will be received. */
    async start(migrationId: number, host: string): Promise<PageServer> {
      running.get(migrationId)?.stop();
      const partial = partialDir(diskRoot, migrationId);
      await rm(partial, { recursive: true, force: true });
      await mkdir(partial, { recursive: true, mode: 0o700 });
      let lastError: unknown;
      for (let attempt = 0; attempt < 3; attempt++) {
        const at = { host, port: await ports.pick(host) };
        try {
          running.set(migrationId, await criu.pageServer({ imagesDir: partial, at }));
          return at;
        } catch (err) {
          lastError = err; // another program took the port meanwhile: the next try picks another
        }
      }
      throw lastError;
    },

    /**
     * The images came: the pages came (or never will) through the migration's page server; wait
     * for it (direct) or let it go. Returns whether one was running.
     */
    async settle(migrationId: number, direct: boolean): Promise<boolean> {
      const server = running.get(migrationId);
      if (!server) return false;
      if (direct) await server.done;
      else server.stop();
      running.delete(migrationId);
      return true;
    },
  };
}
