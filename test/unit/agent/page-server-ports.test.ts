import { createServer, type Server } from 'node:net';
import { expect } from 'chai';
import type { GodwitError } from '@godwit/schemas';
import { createPortPicker } from '../../../agent/src/page-server-ports.js';

const HOST = '127.0.0.1';

/** a server listening on port, or undefined where another program has it already */
function listenOn(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, HOST, () => resolve(srv));
  });
}

/** a run of `n` ports on HOST that are all free now, starting at or after `from` */
async function freeRun(n: number, from = 47_000): Promise<number> {
  for (let first = from; first < 60_000; first += n) {
    const held = await Promise.all(Array.from({ length: n }, (_, i) => listenOn(first + i)));
    await Promise.all(held.map((s) => s && new Promise((r) => s.close(r))));
    if (held.every(Boolean)) return first;
  }
  throw new Error(`no ${n} free ports in a row on ${HOST}`);
}

describe('agent: page-server ports', () => {
  const held: Server[] = [];
  afterEach(async () => {
    await Promise.all(held.splice(0).map((s) => new Promise((r) => s.close(r))));
  });

  it('takes ports within the configured range, each in turn, passing over one in use', async () => {
    const first = await freeRun(3);
    const picker = createPortPicker({ first, last: first + 2 });
    held.push((await listenOn(first + 1))!);
    const picked = [await picker.pick(HOST), await picker.pick(HOST), await picker.pick(HOST)];
    expect(picked, 'the range with its middle port in use').to.deep.equal([first, first + 2, first]);
  });

  it('says which range is used up when every port of it is', async () => {
    const first = await freeRun(2);
    for (const port of [first, first + 1]) held.push((await listenOn(port))!);
    const picker = createPortPicker({ first, last: first + 1 });
    const err = await picker.pick(HOST).then(() => undefined, (e: GodwitError) => e);
    expect(err, 'a port was picked').to.not.equal(undefined);
    expect(err!.code, err!.message).to.equal('GODWIT_ERR_CANNOT_DUMP');
    expect(err!.message).to.contain(`${first}-${first + 1}`).and.to.contain('pageServerPorts');
  });

  it('defaults to 7710-7799 and refuses a range that ends before it begins', () => {
    expect(createPortPicker().range).to.deep.equal({ first: 7710, last: 7799 });
    expect(() => createPortPicker({ first: 7799, last: 7710 })).to.throw(/first \(7799\) is above last \(7710\)/);
  });
});
