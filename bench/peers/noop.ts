/**
 * The HTTP ceiling of `npm run bench load`: Fastify answering `POST /v1/messages` with 202 and
 * doing nothing else (body parsed, not validated, not stored).
 */
import Fastify from 'fastify';
import { stopOn } from './common.ts';

const app = Fastify({ logger: false });
let next = 0;
app.post('/v1/messages', async (_request, reply) => {
  reply.code(202);
  return { id: String(++next), status: 'queued' };
});
const url = await app.listen({ host: '127.0.0.1', port: 0 });
stopOn(() => app.close());
console.log(`listening on ${url}`);
