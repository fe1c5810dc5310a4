/**
 * Mocha root hooks: the shared cluster goes away after the last test, even when tests failed;
 * then a run that does not end by itself says what holds it open, and ends failed.
 */
import { teardown } from './harness.js';

/** once the last hook has run, node should have nothing left to wait for well within this */
const DRAIN_MS = 30_000;

/** what a handle is, with what tells it apart: a socket's addresses, a child's command */
function describe(handle: object): string {
  const h = handle as Record<string, unknown>;
  const kind = handle.constructor.name;
  if (typeof h.spawnargs === 'object') return `${kind} ${(h.spawnargs as string[]).join(' ')}`;
  if ('remoteAddress' in h || 'localAddress' in h) return `${kind} ${String(h.localAddress)}:${String(h.localPort)} -> ${String(h.remoteAddress)}:${String(h.remotePort)}`;
  if (typeof h.address === 'function') return `${kind} at ${JSON.stringify((h.address as () => unknown).call(handle))}`;
  if (typeof h.fd === 'number') return `${kind} fd ${h.fd}`;
  return kind;
}

export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(120_000);
    await teardown();
    // unref'd: it fires only if something else keeps node running
    setTimeout(() => {
      const handles = (process as unknown as { _getActiveHandles(): object[] })._getActiveHandles();
      process.stderr.write(
        `the tests ended ${DRAIN_MS / 1000} s ago but node is still held open by: ${process.getActiveResourcesInfo().join(', ')}\n` +
          handles.map((h) => `  ${describe(h)}\n`).join(''),
      );
      // mocha sets the exit status to the count of failed tests as node exits: this comes after it
      process.on('exit', () => (process.exitCode = 1));
      process.exit(1);
    }, DRAIN_MS).unref();
  },
};
