/**
 * Ports for CRIU's page servers (a full copy's destination, a lazy move's source), taken from
 * the configured range (AgentConfig.pageServerPorts) so that firewalls between nodes need open
 * only that range. CRIU 4.2 cannot pick a port itself: one free now is found by binding it.
 */
import { createServer } from 'node:net';
import { DEFAULT_PAGE_SERVER_PORTS, GodwitError, type PortRange } from '@godwit/schemas';
import { hasCode } from './expected-errors.js';

/** whether `port` on `host` could be bound now */
function bindable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err) => (hasCode(err, ['EADDRINUSE', 'EACCES']) ? resolve(false) : reject(err)));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

export function createPortPicker(range: PortRange = DEFAULT_PAGE_SERVER_PORTS) {
  const { first, last } = range;
  if (first > last) throw new Error(`pageServerPorts: first (${first}) is above last (${last})`);
  const size = last - first + 1;
  // each search starts after the port last handed out: two moves starting at once, before
  // either CRIU has bound its port, are not both given the same one
  let next = 0;
  return {
    range,
    /** a port of the range free on `host` now; GODWIT_ERR_CANNOT_DUMP naming the range when none is */
    async pick(host: string): Promise<number> {
      for (let i = 0; i < size; i++) {
        const port = first + ((next + i) % size);
        if (await bindable(host, port)) {
          next = (port - first + 1) % size;
          return port;
        }
      }
      throw new GodwitError(
        'GODWIT_ERR_CANNOT_DUMP',
        `every page-server port of ${host} (${first}-${last}, pageServerPorts in the agent's configuration) is in use: wait for moves to end, or widen the range`,
        { pageServerPorts: range },
      );
    },
  };
}

export type PortPicker = ReturnType<typeof createPortPicker>;
