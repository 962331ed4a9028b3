/** The control API under `/_simulator`: faults, outages, the API key, what was recorded, reset. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SimulatorContext } from '../context.ts';
import { validateFaults, validateOutage } from '../faults/settings.ts';
import { BodyTooLarge, readJson } from './reply.ts';

/** A control request the simulator refuses with a 400 and this message. */
export class ControlError extends Error {}

async function controlBody(request: FastifyRequest): Promise<unknown> {
  try {
    return await readJson(request);
  } catch (error) {
    if (error instanceof BodyTooLarge) throw new ControlError('the body is too large');
    throw new ControlError('the body must be JSON');
  }
}

export function controlError(reply: FastifyReply, status: number, message: string) {
  return reply.code(status).send({ error: message });
}

export function registerControl(app: FastifyInstance, ctx: SimulatorContext): void {
  const faults = ctx.faults.settings;

  app.get('/_simulator/faults', async () => {
    ctx.faults.sync(ctx.clock());
    return faults;
  });
  // PUT replaces every fault: what the body leaves out is cleared, a running outage included.
  app.put('/_simulator/faults', async (request) => {
    ctx.faults.replace(validateFaults(await controlBody(request)), ctx.clock());
    return faults;
  });
  // PATCH changes only the faults it names, so a drill can add one during an outage.
  app.patch('/_simulator/faults', async (request) => {
    ctx.faults.merge(await controlBody(request), ctx.clock());
    return faults;
  });
  app.post('/_simulator/outage', async (request) => {
    const outage = validateOutage(await controlBody(request));
    const now = ctx.clock();
    faults.outage = outage;
    ctx.faults.sync(now);
    return { outage, ends_at: ctx.faults.state.outageEndsAt };
  });
  app.delete('/_simulator/outage', async () => {
    const ended = faults.outage !== undefined;
    delete faults.outage;
    ctx.faults.sync(ctx.clock());
    return { ended };
  });
  app.put('/_simulator/api-key', async (request) => {
    const body = await controlBody(request);
    const key = (body as { apiKey?: unknown } | null)?.apiKey;
    if (
      typeof body !== 'object' ||
      body === null ||
      !(key === null || (typeof key === 'string' && key.trim() !== '' && !/\s/.test(key)))
    ) {
      throw new ControlError(
        'send {"apiKey": "<key>"} to accept only that key, or {"apiKey": null} to accept any',
      );
    }
    ctx.apiKey = key;
    return { api_key_required: ctx.apiKey !== null };
  });
  app.get('/_simulator/messages', async (request, reply) => {
    const query = request.query as Record<string, string | undefined>;
    const limit = query.limit === undefined ? 100 : Number(query.limit);
    const offset = query.offset === undefined ? 0 : Number(query.offset);
    if (!Number.isInteger(limit) || limit < 0 || !Number.isInteger(offset) || offset < 0) {
      return controlError(reply, 400, 'limit and offset must be whole numbers >= 0');
    }
    return ctx.log.page(limit, offset);
  });
  app.get('/_simulator/stats', async () => ctx.log.stats);
  app.get('/_simulator/events', async () => ctx.events.snapshot());
  app.get('/_simulator/public-key', async () => ({ public_key: ctx.events.publicKeyBase64 }));
  app.post('/_simulator/reset', async () => {
    ctx.log.reset();
    ctx.events.reset();
    ctx.faults.replace({}, ctx.clock());
    return { reset: true };
  });
}
