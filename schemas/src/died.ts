/** Why a program died, as the API, mosps and mosrun say it (the orchestrator's death.ts decides it). */
import Type, { type Static } from 'typebox';

export const Died = Type.Object(
  {
    signal: Type.Optional(Type.String({ description: 'the signal that ended it, by name (SIGKILL), never as 128+N' })),
    oomKilled: Type.Boolean({ description: "its node's memory limit killed it: the kernel counted an OOM kill in the control group of its run" }),
    reason: Type.String({ description: "one line for a person: killed by node1's memory limit (OOM), killed by SIGTERM" }),
  },
  { additionalProperties: false },
);
export type Died = Static<typeof Died>;
