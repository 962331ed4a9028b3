import type { SendGridEventRelayOptions } from '../../deps.ts';
import type { TypedApp } from '../../typed-app.ts';
import { registerDeleteEventRelay } from './delete.ts';
import { registerGetEventRelay } from './get.ts';
import { registerPutEventRelay } from './put.ts';

/** `/v1/sendgrid/event-relay`: a unit's old SendGrid Event Webhook URL, kept working. */
export function registerEventRelayRoutes(app: TypedApp, options: SendGridEventRelayOptions) {
  registerPutEventRelay(app, options);
  registerGetEventRelay(app, options);
  registerDeleteEventRelay(app, options);
}
