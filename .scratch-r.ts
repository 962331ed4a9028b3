import { newId } from './src/domain/ids.ts';
import { openDatabase } from './src/store/database.ts';
import { SqlRecoveryStore } from './src/store/sql-recovery-store.ts';

const h = openDatabase('sqlite:/tmp/gscratch/ops.db');
const store = new SqlRecoveryStore(h);
const id = newId('rec');
const now = Date.now();
let t = performance.now();
const rec = await store.start(
  {
    id,
    unitId: null,
    action: 'retry',
    filter: {},
    ratePerS: null,
    actor: { type: 'cli', id: 'x', name: null },
    createdAt: now,
  },
  { status: 'failed', limit: 0 },
  {
    id: newId('aud'),
    at: now,
    actor: { type: 'cli', id: 'x', name: null },
    unitId: null,
    action: 'recovery.start',
    target: id,
    filter: null,
    counts: null,
  },
);
console.log('start', rec.matched, (performance.now() - t).toFixed(0));
await store.acquire(id, 'me', Date.now(), 15000, null);
t = performance.now();
let chunks = 0;
for (;;) {
  const c = performance.now();
  const r = await store.runChunk(id, 'me', Date.now(), Number(process.env.CHUNK ?? 1000), 15000);
  chunks++;
  if (chunks <= 3) console.log('chunk', (performance.now() - c).toFixed(1));
  if (r.kind !== 'progress') break;
}
console.log('total', (performance.now() - t).toFixed(0), 'chunks', chunks);
await h.close();
