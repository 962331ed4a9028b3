/**
 * pg-boss peer of `npm run bench load`, the worker: one fetch loop taking up to 50 jobs at a time
 * and sending them to SendGrid (the stand-in) all at once. A full batch wakes the loop again at
 * once (notifyWorker); otherwise it polls every 0.5 s, pg-boss's shortest interval. SendGrid's
 * X-Message-Ids are not kept: pg-boss keeps a batch handler's result only for a batch of one.
 * BENCH_POSTGRES_URL, BENCH_PG_BOSS_SCHEMA as for the API; BENCH_SENDGRID_URL: the stand-in.
 */
import PgBoss from 'pg-boss';
import { type Message, sendGridClient, stopOn } from './common.ts';

const BATCH_SIZE = 50;
const boss = new PgBoss({
  connectionString: String(process.env.BENCH_POSTGRES_URL),
  schema: String(process.env.BENCH_PG_BOSS_SCHEMA),
});
boss.on('error', (error) => console.error(error));
await boss.start();
await boss.createQueue('mail');
const sendGrid = sendGridClient(String(process.env.BENCH_SENDGRID_URL));
const workerId: string = await boss.work<Message>(
  'mail',
  { batchSize: BATCH_SIZE, pollingIntervalSeconds: 0.5 },
  async (jobs) => {
    await Promise.all(jobs.map((job) => sendGrid.send(job.data, job.id)));
    if (jobs.length === BATCH_SIZE) boss.notifyWorker(workerId);
  },
);
stopOn(async () => {
  await boss.stop({ graceful: false, wait: true });
  await sendGrid.close();
});
console.log('worker running');
