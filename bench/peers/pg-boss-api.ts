/**
 * pg-boss peer of `npm run bench load`, the API: Fastify validates the message and sends it to a
 * pg-boss queue on PostgreSQL, answering 202 with the job's id.
 * BENCH_POSTGRES_URL: the database; BENCH_PG_BOSS_SCHEMA: pg-boss's schema (fresh per run).
 */
import Fastify from 'fastify';
import PgBoss from 'pg-boss';
import { type Message, messageSchema, stopOn } from './common.ts';

const boss = new PgBoss({
  connectionString: String(process.env.BENCH_POSTGRES_URL),
  schema: String(process.env.BENCH_PG_BOSS_SCHEMA),
  // Only the API: maintenance and the scheduler run in the worker process.
  supervise: false,
  schedule: false,
});
boss.on('error', (error) => console.error(error));
await boss.start();
await boss.createQueue('mail');

const app = Fastify({ logger: false });
app.post<{ Body: Message }>(
  '/v1/messages',
  { schema: { body: messageSchema } },
  async (request, reply) => {
    const id = await boss.send('mail', request.body as object);
    reply.code(202);
    return { id, status: 'queued' };
  },
);
const url = await app.listen({ host: '127.0.0.1', port: 0 });
stopOn(async () => {
  await app.close();
  await boss.stop({ graceful: false, wait: true });
});
console.log(`listening on ${url}`);
