import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GONE, passingOver, signalIfAlive } from '../../../agent/src/expected-errors.js';
import { readJsonLines } from '../../../agent/src/json-lines.js';

describe('the failures the agent passes over', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'godwit-expected-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('passes over only the named codes: a missing file gives the fallback, a directory read as a file fails', () => {
    expect(passingOver(GONE, 'none', () => readFileSync(join(dir, 'absent'), 'utf8'))).to.equal('none');
    expect(() => passingOver(GONE, 'none', () => readFileSync(dir, 'utf8'))).to.throw(/EISDIR/);
  });

  it('signals a process that ended already without failing', () => {
    // PIDs are below the kernel's pid_max (at most 2^22): this one belongs to no process
    expect(() => signalIfAlive(2 ** 22 + 1, 'SIGCONT')).to.not.throw();
  });

  it('reads the events of a status file being written: none before it exists, a half-written last line left out', () => {
    const status = join(dir, 'status');
    expect(readJsonLines(status)).to.deep.equal([]);
    writeFileSync(status, '{"ev":"started"}\n\n{"ev":"exi');
    expect(readJsonLines(status)).to.deep.equal([{ ev: 'started' }]);
  });
});
