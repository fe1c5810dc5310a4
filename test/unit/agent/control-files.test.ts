import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { CONTROL_VALUE_MAX } from '@godwit/schemas';
import { isRealDir, readControlFile, writeControlFile } from '../../../agent/src/control-files.js';

describe('control directory files (the agent trusts nothing in them)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'godwit-control-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a small regular file, and says when there is none', () => {
    writeFileSync(join(dir, 'migrate'), 'node1\n');
    expect(readControlFile(join(dir, 'migrate'))).to.deep.equal({ ok: true, text: 'node1\n' });
    expect(readControlFile(join(dir, 'lock'))).to.deep.equal({ ok: false, why: 'missing' });
  });

  it(`reads at most ${CONTROL_VALUE_MAX} bytes`, () => {
    writeFileSync(join(dir, 'needmem'), 'x'.repeat(CONTROL_VALUE_MAX));
    expect(readControlFile(join(dir, 'needmem')).ok).to.equal(true);
    writeFileSync(join(dir, 'needmem'), 'x'.repeat(10 * CONTROL_VALUE_MAX));
    expect(readControlFile(join(dir, 'needmem'))).to.deep.equal({ ok: false, why: 'too-long' });
  });

  it('never follows a symlink, nor reads a FIFO or a directory', () => {
    writeFileSync(join(dir, 'secret'), 'root only\n');
    symlinkSync(join(dir, 'secret'), join(dir, 'migrate'));
    expect(readControlFile(join(dir, 'migrate'))).to.deep.equal({ ok: false, why: 'not-a-file' });
    execFileSync('mkfifo', [join(dir, 'lock')]);
    expect(readControlFile(join(dir, 'lock')), 'a FIFO with no writer must not hang').to.deep.equal({ ok: false, why: 'not-a-file' });
    mkdirSync(join(dir, 'needmem'));
    expect(readControlFile(join(dir, 'needmem'))).to.deep.equal({ ok: false, why: 'not-a-file' });
  });

  it('replaces what is there (a symlink, a directory) instead of writing through it, and leaves no temporary file', () => {
    writeFileSync(join(dir, 'secret'), 'root only\n');
    symlinkSync(join(dir, 'secret'), join(dir, 'migrate'));
    writeControlFile(dir, 'migrate', 'ok node0\n');
    expect(readFileSync(join(dir, 'secret'), 'utf8'), 'the symlink target is untouched').to.equal('root only\n');
    expect(lstatSync(join(dir, 'migrate')).isFile()).to.equal(true);
    mkdirSync(join(dir, 'lock'));
    writeControlFile(dir, 'lock', 'ok 0\n');
    expect(readFileSync(join(dir, 'lock'), 'utf8')).to.equal('ok 0\n');
    expect(readdirSync(dir).sort()).to.deep.equal(['lock', 'migrate', 'secret']);
  });

  it('tells a real directory from a symlink to one', () => {
    mkdirSync(join(dir, 'real'));
    symlinkSync(join(dir, 'real'), join(dir, 'link'));
    expect([isRealDir(join(dir, 'real')), isRealDir(join(dir, 'link')), isRealDir(join(dir, 'none'))]).to.deep.equal([true, false, false]);
  });
});
