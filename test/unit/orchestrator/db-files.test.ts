import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { openDb, toProcess } from '../../../orchestrator/src/db/index.js';
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

describe('upgrading a database from an earlier version', () => {
  const columns = (raw: Database.Database) =>
    Object.fromEntries(
      (raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'sqlite_sequence' ORDER BY name").all() as { name: string }[])
        .map(({ name }) => [name, (raw.prepare(`PRAGMA table_info(${name})`).all() as { name: string }[]).map((c) => c.name).sort()]),
    );

  it('gives it every column of the schema, keeping its rows, and the checkpoints their SHA-256 as MAC', () => {
    const dirs = [mkdtempSync(join(tmpdir(), 'godwit-db-old-')), mkdtempSync(join(tmpdir(), 'godwit-db-new-'))];
    const [oldDir, newDir] = dirs as [string, string];
    try {
      const old = new Database(join(oldDir, 'godwit.db'));
      old.exec(readFileSync(join(import.meta.dirname, '../../fixtures/orchestrator-db-before.sql'), 'utf8'));
      old.prepare(`INSERT INTO processes (owner, argv, cwd, home_node, node, state, created_at, out_node)
        VALUES ('alice', '["/bin/prog"]', '/tmp', 'node0', 'node0', 'running', 1, 'node0')`).run();
      old.prepare(`INSERT INTO checkpoints (process_id, number, path, bytes, sha256, taken_at, node, frozen_ms, files)
        VALUES (1, 1, '/ckpt/job.1', 10, 'abc', 2, 'node0', 3, '[]')`).run();
      old.close();

      const upgraded = openDb(oldDir);
      const fresh = openDb(newDir);
      try {
        expect(columns(upgraded.raw)).to.deep.equal(columns(fresh.raw));
        expect(toProcess(upgraded.q.processById.get(1)!)).to.include({ owner: 'alice', frz: '-', locked: false, attached: false, checkpoints: 0 });
        expect(upgraded.q.checkpointByPath.get('/ckpt/job.1')).to.include({ mac: 'abc', bytes: 10 });
      } finally {
        upgraded.close();
        fresh.close();
      }
    } finally {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  });
});
