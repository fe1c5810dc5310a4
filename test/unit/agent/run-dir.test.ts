import { expect } from 'chai';
import { execa } from 'execa';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RUN_MOUNT_SOURCE } from '@godwit/schemas';
import { mountsOf } from '../../../agent/src/mountinfo.js';
import { mountRunDir } from '../../../agent/src/run-dir.js';

describe("the agent's runDir", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'godwit-rundir-'))));
  afterEach(async () => {
    // every mount the test made, however many
    for (const m of mountsOf('self').filter((x) => x.point.startsWith(dir)).reverse()) await execa('umount', ['--lazy', m.point]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('is a tmpfs of its own name, mounted once: a restarted agent finds what the last one left there', async () => {
    const run = join(dir, 'run');
    await mountRunDir(run);
    writeFileSync(join(run, 'left'), 'by the last run');
    await mountRunDir(run);
    const here = mountsOf('self').filter((m) => m.point === run);
    expect(here.map((m) => `${m.type} ${m.source}`), 'the mounts at runDir').to.deep.equal([`tmpfs ${RUN_MOUNT_SOURCE}`]);
    expect(readdirSync(run), 'what the last run left is still there').to.deep.equal(['left']);
  });
});
