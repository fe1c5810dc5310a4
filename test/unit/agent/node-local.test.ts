/** A node's own paths: what the keeper is told, which of a program's mounts are the node's, where each is kept. */
import { expect } from 'chai';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keeperEnv, localMountsOf, localRestoreDirs, makeLocalDirs } from '../../../agent/src/node-local.js';

describe("a node's own paths", () => {
  const local = { dir: '/n/node1/local', paths: ['/tmp', '/run'] };

  it('tells the keeper the paths, and binds back only the shared paths that lie under one of them', () => {
    expect(keeperEnv(local, ['/home', '/run/godwit-control', '/runaway', '/tmp'])).to.deep.equal({
      GODWIT_KEEPER_LOCAL_DIR: '/n/node1/local',
      GODWIT_KEEPER_LOCAL_PATHS: '/tmp:/run',
      GODWIT_KEEPER_SHARED_PATHS: '/run/godwit-control',
    });
    expect(keeperEnv(undefined, ['/home']), 'a node without its own paths: nothing').to.deep.equal({});
  });

  it("maps each path to the node's directory for a restore", () => {
    expect(localRestoreDirs(local)).to.deep.equal([{ point: '/tmp', dir: '/n/node1/local/tmp' }, { point: '/run', dir: '/n/node1/local/run' }]);
    expect(localRestoreDirs(undefined)).to.deep.equal([]);
  });

  it("finds none in a process that has no such mount (this one's /tmp is the machine's)", () => {
    expect(localMountsOf({ dir: '/n', paths: ['/nowhere-mounted'] }, process.pid)).to.deep.equal([]);
    expect(localMountsOf(undefined, process.pid)).to.deep.equal([]);
  });

  it("makes the node's directories as /tmp is, sticky and world-writable, with the shared paths' mountpoints in them", () => {
    const dir = mkdtempSync(join(tmpdir(), 'godwit-node-local-'));
    try {
      makeLocalDirs({ dir, paths: ['/tmp', '/var/tmp'] }, ['/tmp/home', '/home']);
      expect(statSync(join(dir, 'var/tmp')).mode & 0o7777).to.equal(0o1777);
      expect(statSync(join(dir, 'tmp/home')).isDirectory()).to.equal(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
