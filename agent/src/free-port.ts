import { createServer } from 'node:net';

/** A port free on `host` now, for a CRIU server (CRIU 4.2 cannot pick one itself). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
