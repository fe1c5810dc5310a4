/** `godwit why` / `mosmigrate --dry-run` as printed, and the sizes `--carry-max` takes. */
import { expect } from 'chai';
import type { WhyResult } from '@godwit/schemas';
import { UsageError } from '../../../cli/src/errors.js';
import { sizeArg } from '../../../cli/src/size-arg.js';
import { renderWhy } from '../../../cli/src/views/why.js';

const MiB = 1 << 20;

describe('the pre-flight as the CLI prints it', () => {
  it('lists what a move would carry, then what stays, each with its size and why', () => {
    const w: WhyResult = {
      processId: 7,
      movable: false,
      reasons: ['it would carry 50.0 MiB of node-local files, more than the limit of 10.0 MiB: /tmp/a (50.0 MiB); raise it'],
      notAutomatically: [],
      ruledOut: [],
      to: 'node1',
      carry: {
        files: [
          { path: '/tmp/a', kind: 'file', apparentBytes: 64 * MiB, allocatedBytes: 50 * MiB, fate: 'carried', why: 'node-local: the destination does not have it' },
          { path: '/home/u', kind: 'directory', apparentBytes: 0, allocatedBytes: 0, fate: 'stays', why: 'on the shared path /home: every node sees the same file' },
        ],
        carriedBytes: 50 * MiB,
        limitBytes: 10 * MiB,
        ghostLimitBytes: MiB,
        refusal: 'it would carry 50.0 MiB',
      },
    };
    expect(renderWhy(w)).to.equal([
      'process 7 cannot move to node1 now:',
      '  - it would carry 50.0 MiB of node-local files, more than the limit of 10.0 MiB: /tmp/a (50.0 MiB); raise it',
      'a move would carry 50 MiB of files (limit 10 MiB):',
      '  /tmp/a [file] 50 MiB (sparse: 64 MiB long): node-local: the destination does not have it',
      'files that stay:',
      '  /home/u [directory]: on the shared path /home: every node sees the same file',
      '',
    ].join('\n'));
  });

  it('takes sizes in bytes or with K, M, G, T, and refuses anything else in words', () => {
    expect([sizeArg('1048576', 's'), sizeArg('64M', 's'), sizeArg('1.5G', 's'), sizeArg('2GiB', 's'), sizeArg('512k', 's')]).to.deep.equal([MiB, 64 * MiB, 1536 * MiB, 2048 * MiB, 512 * 1024]);
    for (const bad of ['', '-1M', 'ten', '5X', '1e9']) expect(() => sizeArg(bad, '--carry-max'), bad).to.throw(UsageError, /--carry-max must be a size such as 64M/);
  });
});
