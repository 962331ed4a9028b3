import type { ApiDeps } from '../../deps.ts';
import type { TypedApp } from '../../typed-app.ts';
import { registerCancelMessage } from './cancel.ts';
import { registerMessageEvents } from './events.ts';
import { registerGetMessage } from './get.ts';
import { registerListMessages } from './list.ts';
import { registerRetryMessage } from './retry.ts';
import { registerSubmitMessage } from './submit.ts';
import { registerSubmitMessageBatch } from './submit-batch.ts';

/** `/v1/messages`: submit (one or a batch), read (with its delivery events), list, cancel and retry. */
export function registerMessageRoutes(app: TypedApp, deps: ApiDeps): void {
  registerSubmitMessage(app, deps);
  registerSubmitMessageBatch(app, deps);
  registerGetMessage(app, deps);
  registerMessageEvents(app, deps);
  registerListMessages(app, deps);
  registerCancelMessage(app, deps.operations);
  registerRetryMessage(app, deps.operations);
}
