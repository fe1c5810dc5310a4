/** The REST side of control.ts: the orchestrator's answers and state for a program's control directory. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { ControlUpdate, ErrorAnswers, IdParam } from '@godwit/schemas';
import type { Control } from './control.js';

export const controlRoutes: FastifyPluginAsyncTypebox<{ control: Control }> = async (app, { control }) => {
  app.put('/v1/procs/:id/control', { schema: { params: IdParam, body: ControlUpdate, response: { 204: Type.Null(), ...ErrorAnswers } } }, async (req, reply) => {
    await control.update(Number(req.params.id), req.body);
    return reply.status(204).send(null);
  });
};
