import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { readClusterKey } from '../../../agent/src/cluster-key.js';

describe('cluster key', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'godwit-key-'));
    file = join(dir, 'cluster.key');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads 32 random bytes of mode 0600', () => {
    const key = randomBytes(32);
    writeFileSync(file, key, { mode: 0o600 });
    expect(readClusterKey(file).equals(key)).to.equal(true);
  });

  it('refuses a key that is missing, too short, readable by others or a symlink, naming the file and the fix', () => {
    expect(() => readClusterKey(file)).to.throw(`cannot read the cluster key ${file} (ENOENT): make one on one machine with \`head -c 32 /dev/urandom > ${file}; chmod 600 ${file}\``);
    writeFileSync(file, randomBytes(31), { mode: 0o600 });
    expect(() => readClusterKey(file)).to.throw(`the cluster key ${file} holds 31 bytes, fewer than 32`);
    writeFileSync(file, randomBytes(32));
    for (const mode of [0o640, 0o604, 0o620]) {
      chmodSync(file, mode);
      expect(() => readClusterKey(file)).to.throw(`the cluster key ${file} is readable or writable by others (mode 0${mode.toString(8)}): \`chmod 600 ${file}\``);
    }
    chmodSync(file, 0o600);
    const link = join(dir, 'link.key');
    symlinkSync(file, link);
    expect(() => readClusterKey(link)).to.throw(`cannot read the cluster key ${link} (ELOOP)`);
  });
});
