import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { openDb } from '../../../orchestrator/src/db/index.js';
import { type Cluster, startCluster } from './harness.js';

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

describe("the orchestrator's database files", function () {
  let c: Cluster;
  beforeEach(async () => {
    c = await startCluster({ nodes: 1 });
  });
  afterEach(async () => {
    await c.close();
  });

  it('keeps its database, and the files SQLite writes beside it, to its own account', async () => {
    const { dataDir } = c.config;
    const db = join(dataDir, 'godwit.db');
    const run = await c.req('alice', 'POST', '/v1/processes', { argv: ['/bin/prog'], cwd: '/tmp' });
    expect(run.status, run.body).to.equal(201);
    expect(mode(dataDir), dataDir).to.equal('700');
    for (const f of [db, `${db}-wal`, `${db}-shm`]) expect(mode(f), f).to.equal('600');
  });
});

describe('opening the database', () => {
  it('mends a data directory and database that an earlier version left readable to all', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'godwit-db-'));
    try {
      openDb(dataDir).close();
      chmodSync(dataDir, 0o755);
      chmodSync(join(dataDir, 'godwit.db'), 0o644);
      openDb(dataDir).close();
      expect(mode(dataDir)).to.equal('700');
      expect(mode(join(dataDir, 'godwit.db'))).to.equal('600');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
