import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import pino from 'pino';
import type { Alert } from '../src/domain/alerts/lifecycle.ts';
import { newAuditEvent } from '../src/domain/operations/audit-event.ts';
import type { Actor } from '../src/domain/operations/scope.ts';
import type { QueuedNotification } from '../src/domain/ports/alert-store.ts';
import { AlertNotifier } from '../src/ops/alerts/notifier.ts';
import { createAlertStore } from '../src/store/alerts/index.ts';
import { migrateToLatest, openDatabase } from '../src/store/index.ts';
import { queryDatabase, tempDatabase } from './helpers.ts';

/** Who sets a unit's Slack channel here, as an admin would through PUT /v1/units/{id}. */
const OPERATOR: Actor = { type: 'key', id: 'key_test', name: 'on-call' };

/**
 * An operator drill with a Slack that answered after 12 s (past the 10 s timeout, so every post
 * counted as failed although Slack showed it): the FIRING was retried on its own schedule and
 * its last copy arrived 5 s after the RESOLVED, so the channel's last word on an alert that was
 * over said FIRING. A notification with a newer one of the same alert and channel is now dropped
 * instead of sent.
 */
describe('alert notifications superseded by a newer one', () => {
  const temp = tempDatabase();
  const handle = openDatabase(temp.url);
  after(async () => {
    await handle.close();
    await temp.cleanup();
  });

  test('a FIRING still being retried is not sent once its RESOLVED is queued', async () => {
    await migrateToLatest(handle.db);
    const store = createAlertStore(handle);
    const t0 = Date.now() - 60_000;
    const alert: Alert = {
      id: 'alt_superseded',
      key: 'provider_failing:sendgrid',
      rule: 'provider_failing',
      severity: 'critical',
      state: 'firing',
      unitId: null,
      provider: 'sendgrid',
      fault: 'provider',
      summary: 'provider sendgrid is unavailable',
      hint: 'wait',
      evidence: { count: 1, threshold: 0, since: t0, topErrors: [], provider: null, details: {} },
      startedAt: t0,
      endedAt: null,
      lastNotifiedAt: t0,
      updatedAt: t0,
    } as Alert;
    const notification = (id: string, kind: 'firing' | 'resolved', at: number) =>
      ({
        id,
        alertId: alert.id,
        kind,
        channel: 'slack',
        unitId: null,
        payload: JSON.stringify({ text: kind }),
        attempts: 0,
        createdAt: at,
      }) as QueuedNotification;
    assert.equal(await store.open(alert, [notification('ntf_firing', 'firing', t0)]), true);

    const posted: string[] = [];
    let slackWorks = false;
    const post = async (url: string, _headers: Record<string, string>, payload: string) => {
      if (!slackWorks) return { status: null, error: 'timed out after 10 s' };
      const text: string = JSON.parse(payload).text;
      // Each channel gets only its own: the hotel's copy in the hotel's channel.
      assert.equal(url.endsWith('/hotel'), text.endsWith('unit_hotel'), `${text} posted to ${url}`);
      posted.push(text);
      return { status: 200, error: null };
    };
    let now = t0;
    const notifier = new AlertNotifier({
      store,
      post: post as never,
      postTrusted: post as never,
      targets: {
        slackWebhookUrl: 'https://hooks.slack.example/x',
        webhookUrl: null,
        webhookSecret: null,
      },
      logger: pino({ level: 'silent' }),
      outage: { failed() {}, succeeded() {} },
      clock: () => now,
    });
    await notifier.wake();
    assert.deepEqual(posted, [], 'the FIRING failed and waits for its retry');

    // The alert ends; Slack works again; the FIRING's retry and the RESOLVED are both due.
    now = t0 + 30_000;
    await store.save({ ...alert, state: 'resolved', endedAt: now, updatedAt: now }, [
      notification('ntf_resolved', 'resolved', now),
    ]);
    slackWorks = true;
    await notifier.wake();
    assert.deepEqual(posted, ['resolved'], 'only the RESOLVED reaches the channel');
    const states = await queryDatabase<{ id: string; state: string }>(
      temp.url,
      'SELECT id, state FROM alert_notifications ORDER BY id',
    );
    assert.deepEqual(
      states.map((r) => [r.id, r.state]),
      [
        ['ntf_firing', 'superseded'],
        ['ntf_resolved', 'sent'],
      ],
    );

    // A provider's alert also goes to the own channel of a unit whose mail waits: the global
    // channel's newer word does not stand in for the unit's channel.
    await store.changeUnitSettings(
      'unit_hotel',
      (s) => ({ ...s, slackWebhookUrl: 'https://hooks.slack.example/hotel' }),
      now,
      (s) => newAuditEvent(OPERATOR, 'unit.update', { unitId: s.unitId, target: s.unitId }, now),
    );
    const second = { ...alert, id: 'alt_two_channels', key: 'provider_failing:other' };
    const at = (id: string, kind: 'firing' | 'resolved', when: number, unitId: string | null) => ({
      ...notification(id, kind, when),
      alertId: second.id,
      unitId,
      payload: JSON.stringify({ text: `${kind} ${unitId ?? 'global'}` }),
    });
    slackWorks = false;
    assert.equal(
      await store.open(second, [
        at('ntf_b_global_firing', 'firing', now, null),
        at('ntf_b_unit_firing', 'firing', now, 'unit_hotel'),
      ]),
      true,
    );
    await notifier.wake();
    now += 30_000;
    await store.save(second, [at('ntf_b_global_resolved', 'resolved', now, null)]);
    slackWorks = true;
    posted.length = 0;
    await notifier.wake();
    assert.deepEqual(posted.sort(), ['firing unit_hotel', 'resolved global']);
  });
});
