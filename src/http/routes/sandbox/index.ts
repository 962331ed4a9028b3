import type { SandboxView } from '../../../domain/ports/sandbox-outbox.ts';
import type { TypedApp } from '../../typed-app.ts';
import { registerListSandboxMessages } from './list.ts';

/** `/v1/sandbox/messages`: the sandbox provider's outbox (not with providers that keep none). */
export function registerSandboxRoutes(app: TypedApp, sandbox: SandboxView): void {
  registerListSandboxMessages(app, sandbox);
}
