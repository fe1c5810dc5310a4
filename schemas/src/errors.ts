/**
 * The one catalogue of godwit's errors. The code is API: clients match on it. The message is
 * for people and names what it is about (process, node, path) and what to do.
 */
export interface ErrorDef {
  readonly statusCode: number;
  readonly error: string;
}

export const ERRORS = {
  GODWIT_ERR_UNAUTHORIZED: { statusCode: 401, error: 'Unauthorized' },
  GODWIT_ERR_FORBIDDEN: { statusCode: 403, error: 'Forbidden' },
  GODWIT_ERR_BAD_REQUEST: { statusCode: 400, error: 'Bad Request' },
  GODWIT_ERR_NOT_FOUND: { statusCode: 404, error: 'Not Found' },
  GODWIT_ERR_PROCESS_NOT_FOUND: { statusCode: 404, error: 'Not Found' },
  GODWIT_ERR_NODE_NOT_FOUND: { statusCode: 404, error: 'Not Found' },
  GODWIT_ERR_NODE_OFFLINE: { statusCode: 409, error: 'Conflict' },
  GODWIT_ERR_PROCESS_NOT_RUNNING: { statusCode: 409, error: 'Conflict' },
  GODWIT_ERR_MIGRATION_IN_PROGRESS: { statusCode: 409, error: 'Conflict' },
  GODWIT_ERR_SAME_NODE: { statusCode: 409, error: 'Conflict' },
  GODWIT_ERR_NOT_FROZEN: { statusCode: 409, error: 'Conflict' },
  GODWIT_ERR_NO_NODE_FITS: { statusCode: 409, error: 'Conflict' },
  GODWIT_ERR_STRATEGY_UNAVAILABLE: { statusCode: 409, error: 'Conflict' },
  GODWIT_ERR_NODE_DRAINED: { statusCode: 409, error: 'Conflict' },
  /** the destination's CPU lacks instruction-set features the program's CPU has (CRIU's `cpuinfo check`): nothing stopped */
  GODWIT_ERR_CPU_INCOMPATIBLE: { statusCode: 409, error: 'Conflict' },
  GODWIT_ERR_LAUNCH_FAILED: { statusCode: 422, error: 'Unprocessable Entity' },
  /** the user has no Unix account on that node: programs run only as their owners */
  GODWIT_ERR_NO_ACCOUNT: { statusCode: 403, error: 'Forbidden' },
  /** CRIU could not dump the process: it keeps running where it was. */
  GODWIT_ERR_CANNOT_DUMP: { statusCode: 422, error: 'Unprocessable Entity' },
  /** the node-local files a move would carry pass the limit: refused before the program stopped */
  GODWIT_ERR_CARRY_LIMIT: { statusCode: 422, error: 'Unprocessable Entity' },
  /** another file is already where a carried file would go on the destination: refused, naming it */
  GODWIT_ERR_CARRY_CONFLICT: { statusCode: 409, error: 'Conflict' },
  GODWIT_ERR_CANNOT_RESTORE: { statusCode: 422, error: 'Unprocessable Entity' },
  /** the credentials in a dump's images are not its owner's: they are not restored */
  GODWIT_ERR_BAD_IMAGES: { statusCode: 422, error: 'Unprocessable Entity' },
  GODWIT_ERR_CANNOT_CHECKPOINT: { statusCode: 422, error: 'Unprocessable Entity' },
  GODWIT_ERR_BAD_CHECKPOINT: { statusCode: 422, error: 'Unprocessable Entity' },
  GODWIT_ERR_FILES_CHANGED: { statusCode: 409, error: 'Conflict' },
  /** the output a node keeps for a process is not where the caller's record of it says: nothing is changed */
  GODWIT_ERR_OUTPUT_MISMATCH: { statusCode: 409, error: 'Conflict' },
  GODWIT_ERR_TRANSFER_FAILED: { statusCode: 502, error: 'Bad Gateway' },
  GODWIT_ERR_AGENT_UNREACHABLE: { statusCode: 502, error: 'Bad Gateway' },
  /** an agent could not pass a local user's request on to the orchestrator */
  GODWIT_ERR_ORCHESTRATOR_UNREACHABLE: { statusCode: 502, error: 'Bad Gateway' },
  /** the checkpoint would take the user past their quota of checkpoint bytes: it is not kept, the program runs on */
  GODWIT_ERR_CHECKPOINT_QUOTA: { statusCode: 507, error: 'Insufficient Storage' },
  /** the user has as many live processes as they may: nothing was started */
  GODWIT_ERR_PROCESS_LIMIT: { statusCode: 429, error: 'Too Many Requests' },
  /** --ip asked for, and the cluster has no address pool or every address is held: nothing was started */
  GODWIT_ERR_NO_ADDRESS: { statusCode: 409, error: 'Conflict' },
  /** a program with its own address (--ip) cannot move, freeze or checkpoint yet: refused before anything stopped */
  GODWIT_ERR_ADDRESS_CANNOT_MOVE: { statusCode: 409, error: 'Conflict' },
  GODWIT_ERR_RATE_LIMITED: { statusCode: 429, error: 'Too Many Requests' },
  /** a request body or websocket message larger than the limit */
  GODWIT_ERR_TOO_LARGE: { statusCode: 413, error: 'Payload Too Large' },
  GODWIT_ERR_MIGRATION_FAILED: { statusCode: 500, error: 'Internal Server Error' },
  GODWIT_ERR_INTERNAL: { statusCode: 500, error: 'Internal Server Error' },
} as const satisfies Record<string, ErrorDef>;

export type ErrorCode = keyof typeof ERRORS;
export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

/** The shape of every error the orchestrator and the agents return. */
export interface ApiErrorBody {
  statusCode: number;
  code: ErrorCode;
  error: string;
  message: string;
  /** extra machine-readable facts: the known nodes, the failed migration's id, CRIU's log lines */
  details?: Record<string, unknown>;
}

export class GodwitError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GodwitError';
    this.code = code;
    this.statusCode = ERRORS[code].statusCode;
    this.details = details;
  }

  toBody(): ApiErrorBody {
    const body: ApiErrorBody = {
      statusCode: this.statusCode,
      code: this.code,
      error: ERRORS[this.code].error,
      message: this.message,
    };
    if (this.details) body.details = this.details;
    return body;
  }

  static fromBody(body: ApiErrorBody): GodwitError {
    const code = body.code in ERRORS ? body.code : 'GODWIT_ERR_INTERNAL';
    return new GodwitError(code, body.message, body.details);
  }
}

/** the code of a 4xx the HTTP framework (or a plugin of it) answered by itself */
const HTTP_CODES: Partial<Record<number, ErrorCode>> = {
  401: 'GODWIT_ERR_UNAUTHORIZED',
  404: 'GODWIT_ERR_NOT_FOUND',
  413: 'GODWIT_ERR_TOO_LARGE',
  429: 'GODWIT_ERR_RATE_LIMITED',
};

/** Ajv's message for a property a closed schema does not know leaves out its name: `: 'page' is not one` */
function unknownProperty(validation: unknown): string {
  const first = Array.isArray(validation) ? (validation[0] as { keyword?: unknown; params?: { additionalProperty?: unknown } } | undefined) : undefined;
  const name = first?.keyword === 'additionalProperties' ? first.params?.additionalProperty : undefined;
  return typeof name === 'string' ? ` ('${name}' is not one)` : '';
}

/**
 * Any error as a GodwitError, the one conversion every part makes: a GodwitError stays itself; a
 * request the HTTP framework refused (its validation failed, or it answered 4xx) says so; anything
 * else becomes `fallback`, what was being attempted, keeping its message and its cause.
 */
export function toGodwitError(err: unknown, fallback: ErrorCode = 'GODWIT_ERR_INTERNAL'): GodwitError {
  if (err instanceof GodwitError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as { validation?: unknown; statusCode?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  const options = { cause: err };
  // Fastify's message names the part and the field: "body/argv must NOT have fewer than 1 items"
  if (e.validation) return new GodwitError('GODWIT_ERR_BAD_REQUEST', `invalid request: ${message}${unknownProperty(e.validation)}`, undefined, options);
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const code = HTTP_CODES[e.statusCode] ?? 'GODWIT_ERR_BAD_REQUEST';
    return new GodwitError(code, message, undefined, options);
  }
  return new GodwitError(fallback, message, undefined, options);
}

export function isApiErrorBody(x: unknown): x is ApiErrorBody {
  return typeof x === 'object' && x !== null && typeof (x as ApiErrorBody).code === 'string' &&
    typeof (x as ApiErrorBody).message === 'string';
}

/** The API error in a response body's text, if it is one (else undefined: a proxy's page, say). */
export function parseApiError(text: string): ApiErrorBody | undefined {
  try {
    const body: unknown = JSON.parse(text);
    return isApiErrorBody(body) ? body : undefined;
  } catch (err) {
    // not JSON at all
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}
