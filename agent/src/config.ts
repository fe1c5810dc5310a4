import { readFileSync } from 'node:fs';
import { AgentConfig, ORCHESTRATOR_CN } from '@godwit/schemas';
import Value from 'typebox/value';
import { missingTlsMessage } from '@godwit/schemas/tls';

export function loadConfig(path: string): Readonly<AgentConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read agent configuration ${path}: ${(err as Error).message}`);
  }
  if (raw !== null && typeof raw === 'object' && !('tls' in raw)) throw new Error(missingTlsMessage(`agent configuration ${path}`));
  if (!Value.Check(AgentConfig, raw)) {
    const first = [...Value.Errors(AgentConfig, raw)][0];
    throw new Error(`invalid agent configuration ${path}: ${first ? `${first.instancePath || '/'} ${first.message}` : 'does not match the schema'}`);
  }
  if (raw.node === ORCHESTRATOR_CN) throw new Error(`invalid agent configuration ${path}: /node may not be ${ORCHESTRATOR_CN}, the name in the orchestrator's certificate: give the node another`);
  return Object.freeze(raw);
}
