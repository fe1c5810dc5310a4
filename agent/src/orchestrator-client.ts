/** The agent's calls to the orchestrator's REST API (its reports go over the websocket instead). */
import { ACCOUNT_HEADER, type ControlRequest, GodwitError, type Process, parseApiError } from '@godwit/schemas';
import type { Fetch } from '@godwit/schemas/tls';

const CALL_TIMEOUT_MS = 10_000;

/** `fetch`: fetchOver the node's TLS (its certificate, the cluster's CA) */
export function createOrchestratorClient(orchestratorUrl: string, token: string, fetch: Fetch) {
  /** the answer's JSON body, or the API's error; `account`: on behalf of that local account, as the local socket calls */
  async function call(method: string, path: string, opts: { body?: unknown; account?: string } = {}): Promise<unknown> {
    const res = await fetch(new URL(path, orchestratorUrl), {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(opts.account !== undefined ? { [ACCOUNT_HEADER]: opts.account } : {}),
      },
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
    const text = await res.text();
    if (res.ok) return text ? (JSON.parse(text) as unknown) : undefined;
    const body = parseApiError(text);
    throw body ? GodwitError.fromBody(body) : new GodwitError('GODWIT_ERR_INTERNAL', `the orchestrator answered HTTP ${res.status} to ${method} ${path}`);
  }

  return {
    /** hands a program's control request over; the answer comes back as a ControlUpdate */
    async control(req: ControlRequest): Promise<void> {
      await call('POST', '/v1/agents/control', { body: req });
    },

    /** the process as its owner's local account sees it */
    async process(id: number, account: string): Promise<Process> {
      return (await call('GET', `/v1/processes/${id}`, { account })) as Process;
    },

    /** sends a signal (SIGTERM) to the program wherever it runs, as its owner's local account; the API refuses one it does not take */
    async signal(id: number, account: string, signal: string): Promise<void> {
      await call('POST', `/v1/processes/${id}/signal`, { account, body: { signal } });
    },
  };
}

export type OrchestratorClient = ReturnType<typeof createOrchestratorClient>;
