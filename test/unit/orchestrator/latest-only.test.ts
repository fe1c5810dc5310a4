import { expect } from 'chai';
import { latestOnly } from '../../../orchestrator/src/latest-only.js';

describe('latest-only notices', () => {
  it('sends one at a time per key, and of the values given meanwhile only the latest', async () => {
    const sent: string[] = [];
    let release: () => void = () => {};
    const l = latestOnly<string, number>({
      deliver: async (k, v) => {
        sent.push(`${k}=${v}`);
        if (v === 1) await new Promise<void>((r) => (release = r));
      },
      giveUp: () => true,
      retryMs: 1,
    });
    l.send('a', 1);
    l.send('a', 2);
    l.send('a', 3);
    l.send('b', 7);
    await new Promise((r) => setTimeout(r, 5));
    expect(sent).to.deep.equal(['a=1', 'b=7']);
    release();
    await l.idle();
    expect(sent).to.deep.equal(['a=1', 'b=7', 'a=3']);
  });

  it('tries a failed value again until it goes through, unless told to give up', async () => {
    let failures = 2;
    const sent: number[] = [];
    const l = latestOnly<number, number>({
      deliver: async (_k, v) => {
        if (failures-- > 0) throw new Error('unreachable');
        sent.push(v);
      },
      giveUp: () => false,
      retryMs: 1,
    });
    l.send(1, 42);
    await l.idle();
    expect(sent).to.deep.equal([42]);

    const dropped = latestOnly<number, number>({
      deliver: async () => {
        throw new Error('gone');
      },
      giveUp: () => true,
      retryMs: 1,
    });
    dropped.send(1, 1);
    await dropped.idle();
  });
});
