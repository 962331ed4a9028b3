import { parentPort, workerData } from 'node:worker_threads';
import type {
  CallError,
  FromProviderThread,
  ProviderThreadSpec,
  ToProviderThread,
} from './provider-thread.ts';
import { SendGridProvider } from './sendgrid/sendgrid-provider.ts';

/** The provider thread (provider-thread.ts): runs the calls it is handed, answers in groups. */

const port = parentPort;
if (!port) throw new Error('provider-thread-main.ts runs on a worker thread');
const spec = (workerData as { spec: ProviderThreadSpec }).spec;
const provider = new SendGridProvider(spec.options);

/** Calls that may still be abandoned, by id. */
const abandonable = new Map<number, AbortController>();
let answers: Extract<FromProviderThread, { kind: 'sent' }>['results'] = [];
let answerScheduled = false;

const asCallError = (error: unknown): CallError => ({
  name: error instanceof Error ? error.name : 'Error',
  message: error instanceof Error ? error.message : String(error),
});
const post = (message: FromProviderThread) => port.postMessage(message);
/** Results that come in during one turn of the event loop go back in one message. */
const answer = (result: (typeof answers)[number]) => {
  abandonable.delete(result.id);
  answers.push(result);
  if (answerScheduled) return;
  answerScheduled = true;
  setImmediate(() => {
    answerScheduled = false;
    const results = answers;
    answers = [];
    post({ kind: 'sent', results });
  });
};
const signalFor = (id: number, wanted: boolean) => {
  if (!wanted) return undefined;
  const controller = new AbortController();
  abandonable.set(id, controller);
  return controller.signal;
};

port.on('message', (message: ToProviderThread) => {
  switch (message.kind) {
    case 'send':
      for (const { id, message: mail, abandonable: wanted, abandoned } of message.calls) {
        const signal = signalFor(id, wanted);
        if (abandoned) abandonable.get(id)?.abort();
        provider.send(mail, signal).then(
          (result) => answer({ id, result }),
          (error: unknown) => answer({ id, error: asCallError(error) }),
        );
      }
      break;
    case 'verify': {
      const { id } = message;
      provider.verify(signalFor(id, message.abandonable)).then(
        (check) => {
          abandonable.delete(id);
          post({ kind: 'verified', id, check });
        },
        (error: unknown) => {
          abandonable.delete(id);
          post({ kind: 'verified', id, error: asCallError(error) });
        },
      );
      break;
    }
    case 'abandon':
      abandonable.get(message.id)?.abort();
      break;
    case 'close':
      void provider.close().finally(() => {
        post({ kind: 'closed' });
        port.close();
      });
      break;
  }
});
