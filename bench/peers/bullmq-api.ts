/**
 * BullMQ peer of `npm run bench load`, the API: Fastify validates the message and adds it to a
 * BullMQ queue on Redis (default job options), answering 202 with the job's id.
 * BENCH_REDIS_PORT: Redis on 127.0.0.1.
 */
import { Queue } from 'bullmq';
import Fastify from 'fastify';
import { type Message, messageSchema, stopOn } from './common.ts';

const connection = { host: '127.0.0.1', port: Number(process.env.BENCH_REDIS_PORT) };
const queue = new Queue('mail', { connection });
await queue.waitUntilReady();

const app = Fastify({ logger: false });
app.post<{ Body: Message }>(
  '/v1/messages',
  { schema: { body: messageSchema } },
  async (request, reply) => {
    const job = await queue.add('send', request.body);
    reply.code(202);
    return { id: job.id, status: 'queued' };
  },
);
const url = await app.listen({ host: '127.0.0.1', port: 0 });
stopOn(async () => {
  await app.close();
  await queue.close();
});
console.log(`listening on ${url}`);
