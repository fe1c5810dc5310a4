/**
 * The agent the fuzz suite sends to: a real agent app (its routes, schemas, stores and token
 * check) on a scratch directory, with test/fixtures/fake-criu as its CRIU and no keeper that
 * could start a program (/bin/false): every route it lists, with its token and others, input
 * well-formed and not (its file helper is the real one).
 */
import fc from 'fast-check';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentConfig } from '@godwit/schemas';
import { type Agent, buildAgent } from '../../../agent/src/app.js';
import type { FuzzTarget } from './run-fuzz.js';
import { runsFor } from './settings.js';

const FAKE_CRIU = fileURLToPath(new URL('../../fixtures/fake-criu', import.meta.url));
/** the agent's real helper that looks at files as their owner (built by `npm run build`) */
const AS_OWNER = fileURLToPath(new URL('../../../agent/keeper/godwit-as-owner', import.meta.url));
const TOKEN = 'agent-fuzz-token-0123456789';
export const AGENT_TOKEN = `Bearer ${TOKEN}`;

export interface FuzzAgent {
  agent: Agent;
  close(): Promise<void>;
}

export async function startFuzzAgent(): Promise<FuzzAgent> {
  const dir = mkdtempSync(join(tmpdir(), 'godwit-fuzz-agent-'));
  const keyFile = join(dir, 'cluster.key');
  writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
  mkdirSync(join(dir, 'checkpoints'));
  // the helpers sit next to the keeper: a keeper that starts nothing, the real file helper
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync('/bin/false', join(bin, 'godwit-keeper'));
  symlinkSync(AS_OWNER, join(bin, 'godwit-as-owner'));
  const config: AgentConfig = {
    node: 'node0',
    listen: { host: '127.0.0.1', port: 0 },
    url: 'http://127.0.0.1:1',
    token: TOKEN,
    clusterKeyFile: keyFile,
    // nothing listens there: whatever the agent would tell an orchestrator fails at once
    orchestrator: { url: 'http://127.0.0.1:1' },
    dataDir: join(dir, 'data'),
    criuPath: FAKE_CRIU,
    keeperPath: join(bin, 'godwit-keeper'),
    tiniPath: '/bin/false',
    cgroups: [],
    checkpointDir: join(dir, 'checkpoints'),
    // the fuzzing goes through inject: no socket to protect
    tls: false,
  };
  const agent = await buildAgent(config, { logger: false });
  await agent.app.ready();
  return {
    agent,
    close: async () => {
      await agent.app.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function agentTarget(a: FuzzAgent): FuzzTarget {
  const ids = fc.constantFrom('1', '2', '0', '999999');
  return {
    name: 'agent',
    app: () => a.agent.app,
    runs: runsFor('agent'),
    space: {
      routes: a.agent.app.routeList,
      auth: fc.oneof(
        { arbitrary: fc.constant(AGENT_TOKEN), weight: 4 },
        { arbitrary: fc.constantFrom('Bearer node1-token-0123456789', `Bearer ${TOKEN}x`, 'Bearer', '', undefined), weight: 1 },
      ),
      hints: {
        id: ids,
        epoch: fc.constantFrom('0', '1'),
        migrationId: fc.oneof(ids, fc.constantFrom(1, 2)),
        processId: fc.constantFrom(1, 2),
        // no account that could run anything here: the fuzz must not start programs as anyone
        account: fc.constantFrom('nobody', 'godwit-fuzz-nobody'),
        name: fc.constantFrom('nobody', 'godwit-fuzz-nobody'),
        url: fc.constant('http://127.0.0.1:1'),
        host: fc.constant('127.0.0.1'),
        path: fc.constantFrom('ck.1', 'nobody/ck.1'),
      },
    },
  };
}

