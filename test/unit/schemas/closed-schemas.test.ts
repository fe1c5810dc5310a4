import { expect } from 'chai';
import * as schemas from '@godwit/schemas';

/** configuration files: read by their components, not sent by the API */
const CONFIGURATION = new Set(['PortRange', 'TlsFiles', 'TlsSetting', 'AgentConfig', 'OrchestratorConfig', 'ClientConfig']);

/** the paths (in JSON pointer form) of every object in `schema` that does not say additionalProperties: false */
function openObjects(schema: unknown, at: string, found: string[]): string[] {
  if (Array.isArray(schema)) schema.forEach((s, i) => openObjects(s, `${at}/${i}`, found));
  else if (schema !== null && typeof schema === 'object') {
    const s = schema as Record<string, unknown>;
    if (s.type === 'object' && s.properties !== undefined && s.additionalProperties !== false) found.push(at || '/');
    for (const [k, v] of Object.entries(s)) openObjects(v, `${at}/${k}`, found);
  }
  return found;
}

describe('the API schemas', () => {
  it('are closed, requests and answers alike: an answer never carries a field its schema does not declare', () => {
    const open: string[] = [];
    let looked = 0;
    for (const [name, value] of Object.entries(schemas)) {
      if (CONFIGURATION.has(name) || value === null || typeof value !== 'object' || !('type' in value || 'anyOf' in value)) continue;
      looked++;
      for (const at of openObjects(value, '', [])) open.push(`${name}${at === '/' ? '' : at}`);
    }
    expect(looked, 'schemas looked at').to.be.above(50);
    expect(open, `schemas with an object open to undeclared properties: ${open.join(', ')}`).to.deep.equal([]);
  });
});
