import { expect } from 'chai';
import { parseMountinfo } from '@godwit/schemas';
import { mountsOf } from '../../../agent/src/mountinfo.js';

describe('mount tables (/proc/PID/mountinfo)', () => {
  it('reads where each mount is, its root, its type with a FUSE subtype, its source, and its options, unescaping paths', () => {
    const text = [
      '254 27 0:64 / /tmp/a\\040b/procs/3/control.0 rw,nosuid,nodev,relatime - fuse.godwit-control godwit-control rw,user_id=0,group_id=0,allow_other',
      '35 25 0:30 /godwit-42 /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct',
      '',
    ].join('\n');
    expect(parseMountinfo(text)).to.deep.equal([
      { point: '/tmp/a b/procs/3/control.0', root: '/', type: 'fuse.godwit-control', source: 'godwit-control', options: ['rw', 'user_id=0', 'group_id=0', 'allow_other'] },
      { point: '/sys/fs/cgroup/cpu,cpuacct', root: '/godwit-42', type: 'cgroup', source: 'cgroup', options: ['rw', 'cpu', 'cpuacct'] },
    ]);
  });

  it("reads this process's own table, and none for a process that is gone", () => {
    const mine = mountsOf('self');
    expect(mine.some((m) => m.point === '/proc' && m.type === 'proc'), JSON.stringify(mine.slice(0, 5))).to.equal(true);
    expect(mountsOf(2 ** 22 + 1)).to.deep.equal([]);
  });
});
