/**
 * BullMQ peer of `npm run bench load`, the worker: a BullMQ Worker with 64 jobs at once (as many
 * as Tegami's worker sends at once by default) that POSTs each job to SendGrid (the stand-in) and
 * keeps SendGrid's X-Message-Id, when it answers one, as the job's return value (in Redis, as
 * Tegami keeps it on the attempt).
 * BENCH_REDIS_PORT: Redis on 127.0.0.1; BENCH_SENDGRID_URL: the stand-in.
 */
import { Worker } from 'bullmq';
import { type Message, SEND_CONCURRENCY, sendGridClient, stopOn } from './common.ts';

const connection = { host: '127.0.0.1', port: Number(process.env.BENCH_REDIS_PORT) };
const sendGrid = sendGridClient(String(process.env.BENCH_SENDGRID_URL));
const worker = new Worker<Message>('mail', async (job) => sendGrid.send(job.data, String(job.id)), {
  connection,
  concurrency: SEND_CONCURRENCY,
});
await worker.waitUntilReady();
stopOn(async () => {
  await worker.close();
  await sendGrid.close();
});
console.log('worker running');
