/** Sends one generated request through Fastify's inject, with a deadline, and judges its answer. */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { ERRORS, ERROR_CODES, type ErrorCode } from '@godwit/schemas';
import type { FuzzRequest } from './requests.js';
import { REQUEST_DEADLINE_MS } from './settings.js';

/** what a failure message shows of a request: enough to send it again by hand */
export function showRequest(req: FuzzRequest): string {
  const body = req.payload === undefined ? '' : ` body ${JSON.stringify(Buffer.isBuffer(req.payload) ? req.payload.toString('hex') : req.payload).slice(0, 400)}`;
  return `${req.method} ${req.url.slice(0, 300)} (route ${req.route}, headers ${JSON.stringify(req.headers).slice(0, 200)})${body}`;
}

export async function send(app: FastifyInstance, req: FuzzRequest): Promise<LightMyRequestResponse> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${REQUEST_DEADLINE_MS} ms to ${showRequest(req)}`)), REQUEST_DEADLINE_MS);
  });
  try {
    return await Promise.race([
      app.inject({ method: req.method as 'GET', url: req.url, headers: req.headers, ...(req.payload !== undefined ? { payload: req.payload } : {}) }),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const ERROR_KEYS = new Set(['statusCode', 'code', 'error', 'message', 'details']);

/**
 * Why an answer is wrong, or undefined: a 5xx is, and so is an error not in the one shape
 * (statusCode, a code of the catalogue whose status it is, error, message, maybe details).
 * Returns the error code of an error answer through `code`.
 */
export function judge(req: FuzzRequest, res: LightMyRequestResponse): { wrong?: string; code?: ErrorCode } {
  const seen = `${res.statusCode} ${res.body.slice(0, 400)} to ${showRequest(req)}`;
  if (res.statusCode >= 500) return { wrong: `a server error: ${seen}` };
  if (res.statusCode < 400) return {};
  let body: unknown;
  try {
    body = JSON.parse(res.body);
  } catch {
    return { wrong: `an error whose body is not JSON: ${seen}` };
  }
  if (typeof body !== 'object' || body === null) return { wrong: `an error body that is no object: ${seen}` };
  const b = body as Record<string, unknown>;
  const extra = Object.keys(b).filter((k) => !ERROR_KEYS.has(k));
  if (extra.length) return { wrong: `an error body with ${extra.join(', ')} besides the one shape: ${seen}` };
  if (!ERROR_CODES.includes(b.code as ErrorCode)) return { wrong: `an error without a code of the catalogue: ${seen}` };
  const code = b.code as ErrorCode;
  if (b.statusCode !== res.statusCode || ERRORS[code].statusCode !== res.statusCode) return { wrong: `an error whose status is not its code's: ${seen}` };
  if (b.error !== ERRORS[code].error || typeof b.message !== 'string' || b.message === '') return { wrong: `an error without its error and message: ${seen}` };
  if (/\n\s+at /.test(b.message)) return { wrong: `an error that shows a stack: ${seen}` };
  return { code };
}
