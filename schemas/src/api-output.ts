/** A process's output in the public API: the NDJSON stream a follower reads, and what it reports back. */
import Type, { type Static } from 'typebox';
import { Died } from './died.js';
import { Closed } from './closed.js';

/**
 * What `attached` means, in a request and on a process: when the last follower that attached
 * (GET .../output?follow=true&attach=true, as mosrun does) is gone and none comes back within a
 * few seconds, the program gets SIGHUP, as a local job does when its terminal hangs up. A program
 * started without it is detached: it runs on, its output kept on its home node.
 */
export const ATTACHED_DESCRIPTION = 'SIGHUP when its last attached follower is gone for a few seconds (mosrun sends true; mosrun --detach and schedulers leave it out)';

/**
 * One line of GET /v1/processes/{id}/output (NDJSON). `offset` counts bytes of the process's
 * whole output so far, so a follower that lost its connection resumes with ?offset=.
 */
export const OutputLine = Type.Union([
  Closed({
    offset: Type.Integer(),
    stream: Type.Union([Type.Literal('stdout'), Type.Literal('stderr')]),
    data: Type.String({ description: 'base64' }),
  }),
  Closed({
    exit: Closed({
      code: Type.Union([Type.Integer(), Type.Null()]),
      signal: Type.Union([Type.String(), Type.Null()]),
      died: Type.Optional(Died),
      checkpoint: Type.Optional(Type.String({ description: 'it was ended after this checkpoint (`mosmigrate ID exit`): `mosrun -R` it to bring it back' })),
    }),
  }),
]);
export type OutputLine = Static<typeof OutputLine>;

export const OutputStream = Type.Union([Type.Literal('stdout'), Type.Literal('stderr')]);
export type OutputStream = Static<typeof OutputStream>;

/**
 * POST /v1/processes/{id}/output/close: whoever read this stream of the program's is gone
 * (mosrun's stdout closed, EPIPE): the program's next write to it gets SIGPIPE, wherever it runs
 * and after any move, as in a local pipeline.
 */
export const CloseOutputRequest = Closed({ stream: OutputStream });
export type CloseOutputRequest = Static<typeof CloseOutputRequest>;

/**
 * POST /v1/processes/{id}/output/written: an attached follower has written the output up to
 * `offset` (to mosrun's stdout and stderr). The kept output runs only a short lead ahead of it:
 * what the network holds on the way is not written yet.
 */
export const OutputWrittenRequest = Closed({ offset: Type.Integer({ minimum: 0 }) });
export type OutputWrittenRequest = Static<typeof OutputWrittenRequest>;
