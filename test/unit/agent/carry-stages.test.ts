/**
 * A destination's stages of files sent ahead outlive its agent's restart (the move may still
 * restore from them); the orchestrator's word as the agent comes online removes those of moves
 * that ended meanwhile, and leaves those still in flight and any later one's.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pruneStages, stageOf } from '../../../agent/src/carry-ahead.js';

describe("a destination's stages of files sent ahead", () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'godwit-stages-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('removes the stages of moves that are no longer in flight, keeping those in flight and later ones', () => {
    for (const mid of [3, 5, 9]) {
      mkdirSync(stageOf(dataDir, mid), { recursive: true });
      writeFileSync(join(stageOf(dataDir, mid), 'carried-0'), 'staged bytes');
    }
    const root = join(dataDir, 'carry-staging');
    expect(pruneStages(dataDir, { keep: [5], upTo: 8 })).to.deep.equal([3]);
    expect(readdirSync(root).sort()).to.deep.equal(['5', '9']);
    expect(readdirSync(stageOf(dataDir, 5))).to.deep.equal(['carried-0']);
    expect(pruneStages(dataDir, { keep: [], upTo: 9 }).sort()).to.deep.equal([5, 9]);
    expect(readdirSync(root)).to.deep.equal([]);
  });
});
