/**
 * The output kept for each process on its home node (the MOSIX deputy's side of its I/O). The
 * orchestrator records how far the kept output is valid; the home node's agent holds the bytes,
 * in segments named by the payload offset they start at, and reconciles them with that record on
 * every append, so that a crash of either side at any moment loses nothing recorded.
 */
import Type, { type Static } from 'typebox';
import { Closed } from './closed.js';

/** Where the kept output stands, as the orchestrator records it. */
/** where the newest segment starts, and how much of it is valid: every kept-output call names them */
const NewestSegment = {
  logBase: Type.Integer({ minimum: 0, description: 'payload offset the newest segment starts at' }),
  logSize: Type.Integer({ minimum: 0, description: 'valid bytes (frames) of the newest segment' }),
};

export const KeptLayout = Closed({
  ...NewestSegment,
  log1Base: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'payload offset of the older segment, if one is kept' }),
});
export type KeptLayout = Static<typeof KeptLayout>;

/** POST /v1/kept/:id, body: encoded frames to append after `logSize` bytes of segment `logBase`. */
export const KeptAppendQuery = Closed({
  ...NewestSegment,
  /** payload offset after the recorded output: where a new segment starts when rotating */
  outOffset: Type.Integer({ minimum: 0 }),
  /** a segment may grow to this many bytes before a new one starts */
  limit: Type.Integer({ minimum: 1 }),
});
export type KeptAppendQuery = Static<typeof KeptAppendQuery>;

/** GET /v1/kept/:id: output from payload offset `from` up to `end`, within the recorded layout. */
export const KeptReadQuery = Closed({
  from: Type.Integer({ minimum: 0 }),
  end: Type.Integer({ minimum: 0 }),
  ...NewestSegment,
  log1Base: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type KeptReadQuery = Static<typeof KeptReadQuery>;

export const KeptLine = Closed({
  offset: Type.Integer(),
  stream: Type.Union([Type.Literal('stdout'), Type.Literal('stderr')]),
  data: Type.String({ description: 'base64' }),
});
export type KeptLine = Static<typeof KeptLine>;

export const KeptReadResult = Closed({
  lines: Type.Array(KeptLine),
  /** the offset to read from next */
  next: Type.Integer(),
});
export type KeptReadResult = Static<typeof KeptReadResult>;
