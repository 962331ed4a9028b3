// Runs a TypeScript module on a worker thread (`workerData.module`, a file URL), loaded through
// tsx like bin/tegami.js loads the CLI: a new thread has none of its parent's loaders.
import { workerData } from 'node:worker_threads';
import { tsImport } from 'tsx/esm/api';

await tsImport(workerData.module, import.meta.url);
