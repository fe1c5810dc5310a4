/** The REST side of control.ts: the orchestrator's answers and state for a program's control directory. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { ControlUpdate } from '@godwit/schemas';
import type { Control } from './control.js';

const Id = Type.Object({ id: Type.String({ pattern: '^[0-9]+$' }) });

export const controlRoutes: FastifyPluginAsyncTypebox<{ control: Control }> = async (app, { control }) => {
  app.put('/v1/procs/:id/control', { schema: { params: Id, body: ControlUpdate } }, async (req, reply) => {
    await control.update(Number(req.params.id), req.body);
    return reply.status(204).send();
  });
};
