/** The agent's calls to the orchestrator's REST API (its reports go over the websocket instead). */
import { type ControlRequest, GodwitError, parseApiError } from '@godwit/schemas';

const CALL_TIMEOUT_MS = 10_000;

export function createOrchestratorClient(orchestratorUrl: string, token: string) {
  const url = new URL('/v1/agents/control', orchestratorUrl);
  return {
    /** hands a program's control request over; the answer comes back as a ControlUpdate */
    async control(req: ControlRequest): Promise<void> {
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(req),
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
      const text = await res.text();
      if (res.ok) return;
      const body = parseApiError(text);
      throw body ? GodwitError.fromBody(body) : new GodwitError('GODWIT_ERR_INTERNAL', `the orchestrator answered HTTP ${res.status}`);
    },
  };
}
