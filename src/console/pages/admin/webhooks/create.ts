import type { FastifyInstance } from 'fastify';
import { generateWebhookSecret, WEBHOOK_EVENT_TYPES } from '../../../../domain/status-webhooks.ts';
import { createEndpointByHand } from '../../../../domain/webhook-endpoints-by-hand.ts';
import type { ConsoleDeps } from '../../../deps.ts';
import { html } from '../../../html.ts';
import { page } from '../../../layout.ts';
import { refusal } from '../../../refusal.ts';
import { stateOf } from '../../../session.ts';
import { type NamedUnit, noUnitNamed, unitOfField } from '../../../unit-field.ts';
import { eitherOf } from '../../words.ts';
import { endpointsCursor } from './common.ts';
import { ENDPOINT_LABELS, type EndpointForm, webhooksPage } from './list.ts';

/**
 * `POST /console/webhooks`: the new endpoint's form, checked as the API checks it; its secret is
 * shown once. Refused, the endpoints' page again with the form as typed.
 */
export function registerCreate(app: FastifyInstance, deps: ConsoleDeps): void {
  const clock = deps.clock ?? Date.now;
  app.post(
    '/console/webhooks',
    { config: { permission: 'administer', lists: ['events'] } },
    async (request, reply) => {
      const state = stateOf(request);
      const raw = request.body as Record<string, string | string[] | undefined>;
      const older = endpointsCursor(typeof raw.older === 'string' ? raw.older : undefined);
      const typedUrl = String(raw.url ?? '').trim();
      const form: EndpointForm = {
        url: typedUrl.slice(0, 4096),
        events: ([] as string[]).concat(raw.events ?? []),
        unit: String(raw.unit ?? '')
          .trim()
          .slice(0, 1000),
      };
      // Refused: the page again, with the form as typed and what is wrong above it.
      const refuse = async (field: keyof EndpointForm, problem: string) => {
        const why = refusal('endpoint-error', problem, [field], 'No endpoint was added.');
        const shown = await webhooksPage(deps, state, older, null, { form, why });
        return reply.code(400).type('text/html').send(shown.text);
      };
      const url = `“${ENDPOINT_LABELS.url}”`;
      // As POST /v1/webhook-endpoints.
      if (typedUrl.length > 2048) {
        return refuse('url', `${url} must be at most 2,048 characters.`);
      }
      let parsed: URL;
      try {
        parsed = new URL(typedUrl);
      } catch {
        return refuse(
          'url',
          `${url} must be a whole URL, like https://app.example.jp/tegami-hooks.`,
        );
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
        return refuse('url', `${url} must start with https:// (or http://).`);
      }
      if (parsed.username || parsed.password) {
        // The user name and password are a credential: not shown back, taken out of the URL.
        parsed.username = '';
        parsed.password = '';
        form.url = parsed.toString().slice(0, 4096);
        return refuse(
          'url',
          `${url} must hold no user name or password (they were taken out of it): the receiver knows a status webhook by its signature.`,
        );
      }
      if (
        form.events.length === 0 ||
        form.events.some((e) => !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(e))
      ) {
        return refuse(
          'events',
          `Pick one event or more for “${ENDPOINT_LABELS.events}”: ${eitherOf(WEBHOOK_EVENT_TYPES)}.`,
        );
      }
      const notYours =
        'That unit does not exist, or is not yours to manage: choose one from the list.';
      let unit: NamedUnit | undefined;
      if (form.unit !== '' && state.scope.kind === 'all') {
        // By id (the list's) or by name (typed, when there are too many units to list).
        const named = await unitOfField(deps, form.unit);
        if (named.kind === 'no_such_name') return refuse('unit', noUnitNamed(form.unit));
        if (named.kind === 'no_such_id') return refuse('unit', notYours);
        unit = named.unit;
      } else if (form.unit !== '') {
        unit = state.units.find((u) => u.id === state.unitId && u.id === form.unit);
        if (!unit) return refuse('unit', notYours);
      }
      if (!unit && state.scope.kind !== 'all') {
        return refuse(
          'unit',
          'Choose a unit: only an admin of every unit adds an endpoint for every unit.',
        );
      }
      const refused = await deps.checkDestination(parsed.toString());
      if (refused) return refuse('url', `${url} ${refused}.`);
      // An endpoint of every unit still names one (as an admin key's does: its own, `default`).
      const home = unit ?? (await deps.operations.findUnit('default'));
      const endpoint = await createEndpointByHand(deps.webhooks, state.actor, {
        url: parsed.toString(),
        events: [...new Set(form.events)],
        secret: generateWebhookSecret(),
        now: clock(),
        unitId: home?.id ?? '',
        allUnits: !unit,
      });
      const body = html`<div class="card notice" role="status"><p>Status webhooks to <strong>${endpoint.url}</strong> are signed with this secret, shown only this once; keep it now:</p><pre data-new-secret>${endpoint.secret}</pre></div>
<p><a href="/console/webhooks">Back to the endpoints</a></p>`;
      return reply
        .type('text/html')
        .send(page('Endpoint added', state, body, '/console/webhooks').text);
    },
  );
}
