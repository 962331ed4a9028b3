import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Actor } from '../src/domain/operations/scope.ts';
import {
  createEndpointByHand,
  deleteEndpointByHand,
} from '../src/domain/webhook-endpoints-by-hand.ts';
import { SqlWebhookStore } from '../src/store/index.ts';
import { DESTINATION_NOT_ALLOWED } from '../src/tracking/guarded-post.ts';
import { isPrivateAddress } from '../src/tracking/status-webhooks/destination-guard.ts';
import {
  createUnitWithKey,
  message,
  queryDatabase,
  startTestService,
  TEST_ENGINE,
  type TestService,
  tempDatabase,
  waitFor,
} from './helpers.ts';
import { type ConsoleClient, signIn } from './support/console.ts';

/** a.b.c.d as a number, and back. */
const toInt = (ip: string) => ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
const toIp = (n: number) =>
  [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');

/** IANA's IPv4 special-purpose blocks (plus multicast and 240/4), as the issue lists them. */
const SPECIAL_IPV4: [string, number][] = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
];

/** First, middle and last address of each block, and the public neighbours just outside it. */
function ipv4Samples(): { inside: string[]; outside: string[] } {
  const inside: string[] = [];
  const outside: string[] = [];
  for (const [network, prefix] of SPECIAL_IPV4) {
    const first = toInt(network);
    const size = 2 ** (32 - prefix);
    inside.push(toIp(first), toIp(first + Math.floor(size / 2) + 1), toIp(first + size - 1));
    for (const neighbour of [first - 1, first + size]) {
      if (neighbour < 0 || neighbour >= 2 ** 32) continue;
      const ip = toIp(neighbour);
      if (!SPECIAL_IPV4.some(([n, p]) => inBlock(ip, n, p))) outside.push(ip);
    }
  }
  return { inside, outside };
}

function inBlock(ip: string, network: string, prefix: number): boolean {
  const size = 2 ** (32 - prefix);
  return Math.floor(toInt(ip) / size) === Math.floor(toInt(network) / size);
}

/** Each IPv6 block: addresses inside (first, last and one between), and public ones outside. */
const SPECIAL_IPV6: { block: string; inside: string[]; outside: string[] }[] = [
  { block: '::/128', inside: ['::', '0:0:0:0:0:0:0:0'], outside: [] },
  { block: '::1/128', inside: ['::1', '0:0:0:0:0:0:0:1'], outside: [] },
  {
    block: '::ffff:0:0/96 (IPv4-mapped, by the IPv4 inside)',
    inside: ['::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.1.2.3', '::ffff:192.0.0.170'],
    outside: ['::ffff:8.8.8.8', '::ffff:808:808', '::ffff:93.184.216.34'],
  },
  {
    block: '::a.b.c.d (deprecated IPv4-compatible)',
    inside: ['::127.0.0.1', '::7f00:1', '::8.8.8.8', '::ffff', '::1:0'],
    outside: [],
  },
  {
    block: '64:ff9b::/96 (NAT64, by the IPv4 inside)',
    inside: ['64:ff9b::127.0.0.1', '64:ff9b::a00:1', '64:ff9b::169.254.169.254'],
    outside: ['64:ff9b::8.8.8.8', '64:ff9b::5db8:d822'],
  },
  {
    block: '64:ff9b:1::/48 (local-use NAT64)',
    inside: ['64:ff9b:1::', '64:ff9b:1::808:808', '64:ff9b:1:ffff:ffff:ffff:ffff:ffff'],
    outside: ['64:ff9b:2::808:808'],
  },
  {
    block: '100::/64 (discard-only)',
    inside: ['100::', '100::1', '100::ffff:ffff:ffff:ffff'],
    outside: ['100:0:0:2::1', '101::1'],
  },
  {
    block: '2001::/23 (IETF assignments, Teredo)',
    inside: ['2001::', '2001:0:4136:e378::1', '2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff'],
    outside: ['2001:200::1', '2001:4860:4860::8888'],
  },
  {
    block: '2001:db8::/32 (documentation)',
    inside: ['2001:db8::', '2001:db8:1234::1', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'],
    outside: ['2001:db9::1', '2001:da8::1'],
  },
  {
    block: '2002::/16 (6to4, by the IPv4 inside)',
    inside: ['2002:7f00:1::1', '2002:a00:1::', '2002:c0a8:101::1', '2002:a9fe:a9fe::'],
    outside: ['2002:808:808::1', '2002:5db8:d822::1'],
  },
  {
    block: 'fc00::/7 (unique-local)',
    inside: ['fc00::', 'fd12:3456::1', 'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    outside: ['fbff:ffff::1', 'fe00::1'],
  },
  {
    block: 'fe80::/10 (link-local)',
    inside: ['fe80::', 'fe80::1', 'fe80::1%eth0', 'febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    outside: [],
  },
  {
    block: 'ff00::/8 (multicast)',
    inside: ['ff00::', 'ff02::1', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    outside: ['2606:2800:220:1::1', '2a00:1450:4001:80b::200e'],
  },
];

describe('the address rule', () => {
  test('every IPv4 special-purpose block is refused, edge to edge; its neighbours are not', () => {
    const { inside, outside } = ipv4Samples();
    for (const ip of inside) assert.equal(isPrivateAddress(ip), true, ip);
    assert.ok(outside.length >= 10, 'some neighbours to check');
    for (const ip of outside) assert.equal(isPrivateAddress(ip), false, ip);
    assert.equal(isPrivateAddress('255.255.255.255'), true);
    for (const ip of ['8.8.8.8', '93.184.216.34', '1.1.1.1', '223.255.255.255'])
      assert.equal(isPrivateAddress(ip), false, ip);
  });

  test('every IPv4 block is refused inside IPv4-mapped, NAT64 and 6to4 IPv6 forms', () => {
    for (const [network, prefix] of SPECIAL_IPV4) {
      const first = toInt(network);
      const last = first + 2 ** (32 - prefix) - 1;
      for (const n of [first, last]) {
        const ip = toIp(n);
        const hex = (x: number) => (Math.floor(x) % 65536).toString(16);
        const high = hex(n / 65536);
        const low = hex(n);
        for (const form of [
          `::ffff:${ip}`,
          `::ffff:${high}:${low}`,
          `0:0:0:0:0:ffff:${ip}`,
          `64:ff9b::${ip}`,
          `64:ff9b::${high}:${low}`,
          `2002:${high}:${low}::1`,
          `::${ip}`,
        ])
          assert.equal(isPrivateAddress(form), true, `${form} (${network}/${prefix})`);
      }
    }
  });

  test('every IPv6 special-purpose block is refused; public neighbours are not', () => {
    for (const { block, inside, outside } of SPECIAL_IPV6) {
      for (const ip of inside) assert.equal(isPrivateAddress(ip), true, `${ip} in ${block}`);
      for (const ip of outside) assert.equal(isPrivateAddress(ip), false, `${ip} near ${block}`);
    }
  });

  test('bracketed addresses are read; anything that is not an address is refused', () => {
    assert.equal(isPrivateAddress('[::1]'), true);
    assert.equal(isPrivateAddress('[::ffff:127.0.0.1]'), true);
    assert.equal(isPrivateAddress('[2606:4700::1111]'), false);
    for (const junk of ['', 'localhost', '127.1', '0x7f.0.0.1', '2130706433', '[]', '1.2.3.4.5'])
      assert.equal(isPrivateAddress(junk), true, JSON.stringify(junk));
  });
});

/**
 * URLs that lead to this machine or a private network, in the spellings a URL allows; the
 * `{port}` is filled in with a live receiver's port where a test needs one.
 */
const LOOPBACK_SPELLINGS = [
  'http://127.0.0.1:{port}/h',
  'http://127.1:{port}/h',
  'http://127.0.1:{port}/h',
  'http://2130706433:{port}/h',
  'http://0x7f000001:{port}/h',
  'http://0x7f.0x0.0x0.0x1:{port}/h',
  'http://0177.0.0.1:{port}/h',
  'http://0177.1:{port}/h',
  'http://017700000001:{port}/h',
  'http://127.0.0.1.:{port}/h',
  'http://0:{port}/h',
  'http://0.0.0.0:{port}/h',
  'http://[::1]:{port}/h',
  'http://[0:0:0:0:0:0:0:1]:{port}/h',
  'http://[::ffff:127.0.0.1]:{port}/h',
  'http://[::ffff:7f00:1]:{port}/h',
  'http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/h',
  'http://[::127.0.0.1]:{port}/h',
  'http://[64:ff9b::127.0.0.1]:{port}/h',
  'http://[2002:7f00:1::1]:{port}/h',
  'http://localhost:{port}/h',
  'http://LOCALHOST.:{port}/h',
];

const OTHER_REFUSED = [
  'http://10.0.0.1/h',
  'http://012.0.0.1/h',
  'http://167772161/h',
  'http://169.254.169.254/latest/meta-data',
  'http://0xa9fea9fe/latest/meta-data',
  'http://[::ffff:a9fe:a9fe]/latest/meta-data',
  'http://192.0.0.170/h',
  'http://192.0.0.8/h',
  'http://192.0.2.1/h',
  'http://192.88.99.1/h',
  'http://198.18.0.1/h',
  'http://198.19.255.255/h',
  'http://198.51.100.7/h',
  'http://203.0.113.9/h',
  'http://100.64.0.1/h',
  'http://172.31.255.255/h',
  'http://192.168.1.1/h',
  'http://224.0.0.1/h',
  'http://239.255.255.250/h',
  'http://240.0.0.1/h',
  'http://255.255.255.255/h',
  'http://[fd00::1]/h',
  'http://[fe80::1]/h',
  'http://[ff02::1]/h',
  'http://[100::1]/h',
  'http://[2001::1]/h',
  'http://[2001:db8::1]/h',
  'http://[64:ff9b:1::a00:1]/h',
  // Names that do not resolve get the same answer, so answers do not reveal which names exist.
  'http://no-such-host.invalid/h',
];

/** Words that would reveal what a host resolved to. */
function assertRevealsNoAddress(text: string, where: string) {
  assert.doesNotMatch(text, /\d+\.\d+\.\d+\.\d+/, `${where} names an IPv4 address: ${text}`);
  assert.doesNotMatch(text, /[0-9a-f]*::?[0-9a-f]/i, `${where} names an IPv6 address: ${text}`);
  assert.doesNotMatch(
    text,
    /resolves to|loopback|private address|link-local/i,
    `${where} says where it leads`,
  );
}

/** A receiver on 127.0.0.1 that counts requests. */
async function countingReceiver() {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? '');
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe(`status webhook destinations (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  const db = tempDatabase();
  before(async () => {
    tegami = await startTestService({
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_WEBHOOKS_POLL_INTERVAL_MS: '20',
      TEGAMI_WEBHOOKS_RETRY_BASE_MS: '3600000',
    });
  });
  after(async () => {
    await tegami.stop();
    await db.cleanup();
  });

  test('registration refuses every spelling of a private destination, and says only that', async () => {
    const urls = [...LOOPBACK_SPELLINGS.map((u) => u.replace('{port}', '8080')), ...OTHER_REFUSED];
    const answers = new Set<string>();
    for (const url of urls) {
      const r = await tegami.request('POST', '/v1/webhook-endpoints', {
        url,
        events: ['message.sent'],
      });
      assert.equal(r.status, 400, `${url}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'invalid_request');
      assert.equal(r.body.error.details[0].field, 'url');
      const text = JSON.stringify(r.body);
      assertRevealsNoAddress(text.replaceAll(url, ''), url);
      answers.add(text);
    }
    assert.equal(answers.size, 1, 'one and the same answer for every refused destination');
    assert.equal((await tegami.request('GET', '/v1/webhook-endpoints')).body.data.length, 0);
  });

  test('public addresses, in any spelling, are accepted', async () => {
    for (const url of [
      'http://93.184.216.34/h',
      'http://1572395042/h',
      'http://[2606:2800:220:1::1]/h',
      'http://[::ffff:5db8:d822]/h',
      'http://[64:ff9b::5db8:d822]/h',
      'http://[2002:5db8:d822::1]/h',
    ]) {
      const r = await tegami.request('POST', '/v1/webhook-endpoints', {
        url,
        events: ['message.sent'],
      });
      assert.equal(r.status, 201, `${url}: ${JSON.stringify(r.body)}`);
      assert.equal(
        (await tegami.request('DELETE', `/v1/webhook-endpoints/${r.body.id}`)).status,
        204,
      );
    }
  });

  test('at send time, a stored destination that leads here is refused without connecting', async () => {
    // Endpoints stored as if they had passed registration and then been re-pointed (DNS
    // rebinding) or written before the rule was complete.
    const hook = await countingReceiver();
    const store = new SqlWebhookStore(tegami.service.database);
    const operator: Actor = { type: 'key', id: 'key_test', name: 'on-call' };
    const endpoints: { id: string; url: string }[] = [];
    try {
      for (const spelling of LOOPBACK_SPELLINGS) {
        const url = spelling.replace('{port}', String(hook.port));
        const created = await createEndpointByHand(store, operator, {
          url,
          events: ['message.sent'],
          secret: 'a-secret-of-sixteen-or-more',
          now: Date.now(),
          unitId: 'unit_test',
          allUnits: true,
        });
        endpoints.push({ id: created.id, url });
      }
      const sent = await tegami.request('POST', '/v1/messages', message());
      assert.equal(sent.status, 202);
      for (const endpoint of endpoints) {
        const log = await waitFor(async () => {
          const r = await tegami.request('GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries`);
          return r.body.data[0]?.attempts >= 1 ? r.body.data[0] : null;
        }, `an attempt to ${endpoint.url}`);
        assert.equal(log.last_error, DESTINATION_NOT_ALLOWED, endpoint.url);
        assert.equal(log.last_status, null);
        assertRevealsNoAddress(log.last_error, endpoint.url);
      }
      const stored = await queryDatabase<{ last_error: string | null }>(
        db.url,
        'select last_error from webhook_deliveries',
      );
      assert.equal(stored.length, endpoints.length);
      for (const row of stored) assert.equal(row.last_error, DESTINATION_NOT_ALLOWED);
      assert.deepEqual(hook.requests, [], 'no request reached the receiver');
    } finally {
      for (const e of endpoints) {
        await deleteEndpointByHand(store, operator, { id: e.id, unitId: undefined }, Date.now());
      }
      await hook.close();
    }
  });
});

describe(`status webhook destinations when private ones are allowed (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  before(async () => {
    tegami = await startTestService({
      TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
      TEGAMI_WEBHOOKS_POLL_INTERVAL_MS: '20',
      TEGAMI_WEBHOOKS_RETRY_BASE_MS: '3600000',
    });
  });
  after(async () => {
    await tegami.stop();
  });

  test('the same spellings do reach this machine (so refusing them above matters)', async () => {
    const hook = await countingReceiver();
    const ids: string[] = [];
    try {
      const reach = [
        'http://127.1:{port}/a',
        'http://2130706433:{port}/b',
        'http://0x7f.0x0.0x0.0x1:{port}/c',
        'http://0177.1:{port}/d',
        'http://localhost:{port}/e',
      ];
      for (const spelling of reach) {
        const r = await tegami.request('POST', '/v1/webhook-endpoints', {
          url: spelling.replace('{port}', String(hook.port)),
          events: ['message.sent'],
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        ids.push(r.body.id);
      }
      await tegami.request('POST', '/v1/messages', message());
      await waitFor(async () => hook.requests.length >= reach.length, 'every spelling reached');
      assert.deepEqual([...hook.requests].sort(), ['/a', '/b', '/c', '/d', '/e']);
    } finally {
      for (const id of ids) await tegami.request('DELETE', `/v1/webhook-endpoints/${id}`);
      await hook.close();
    }
  });
});

/**
 * Port 0 is no port anything listens on: a status webhook endpoint, an event relay or a Slack
 * channel there could never be posted to. Every place that takes such a URL refuses it, with or
 * without private destinations allowed (the address rule does not decide it).
 */
for (const allowPrivate of [false, true]) {
  describe(`a URL of port 0 (${TEST_ENGINE}, private destinations ${allowPrivate ? 'allowed' : 'refused'})`, () => {
    const ADMIN = { email: 'ops@example.jp', password: 'a long enough password 1' };
    let tegami: TestService;
    let admin: ConsoleClient;
    let unitId = '';
    const urls = [
      'http://1.1.1.1:0/x',
      'https://hooks.example.com:00/x',
      ...(allowPrivate ? ['http://127.0.0.1:0/x', 'http://[::1]:0/x'] : []),
    ];
    before(async () => {
      tegami = await startTestService({
        TEGAMI_ADMIN_EMAIL: ADMIN.email,
        TEGAMI_ADMIN_PASSWORD: ADMIN.password,
        TEGAMI_WEBHOOKS_ALLOW_PRIVATE: String(allowPrivate),
      });
      unitId = (await createUnitWithKey(tegami, 'hotel')).id;
      admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    });
    after(async () => {
      await tegami?.stop();
    });

    const assertRefusedUrl = (
      r: Awaited<ReturnType<TestService['request']>>,
      field: string,
      url: string,
    ) => {
      assert.equal(r.status, 400, `${url}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'invalid_request');
      assert.deepEqual(r.body.error.details, [
        { field, message: 'must not name port 0: nothing can listen on it' },
      ]);
    };

    test('POST /v1/webhook-endpoints answers 400 and adds nothing', async () => {
      for (const url of urls) {
        const r = await tegami.request('POST', '/v1/webhook-endpoints', {
          url,
          events: ['message.sent'],
        });
        assertRefusedUrl(r, 'url', url);
      }
      assert.equal((await tegami.request('GET', '/v1/webhook-endpoints')).body.data.length, 0);
    });

    test('PUT /v1/sendgrid/event-relay answers 400 and makes no relay', async () => {
      for (const url of urls) {
        const r = await tegami.request('PUT', '/v1/sendgrid/event-relay', { url, unit: 'hotel' });
        assertRefusedUrl(r, 'url', url);
      }
      assert.equal(
        (await tegami.request('GET', '/v1/sendgrid/event-relay?unit=hotel')).status,
        404,
      );
    });

    test('PUT /v1/units/{id} answers 400 for a Slack URL and saves nothing', async () => {
      for (const url of urls) {
        const r = await tegami.request('PUT', `/v1/units/${unitId}`, { slack_webhook_url: url });
        assertRefusedUrl(r, 'slack_webhook_url', url);
      }
      const unit = await tegami.request('GET', `/v1/units/${unitId}`);
      assert.equal(unit.body.alerts.slack_webhook_url, null);
    });

    test('the console’s new endpoint form is refused, saying why', async () => {
      for (const url of urls) {
        const r = await admin.post('/console/webhooks', { url, events: 'message.sent' });
        assert.equal(r.status, 400, `${url}: ${r.text.slice(0, 300)}`);
        assert.match(r.text, /“URL” must not name port 0: nothing can listen on it\./);
      }
      assert.equal((await tegami.request('GET', '/v1/webhook-endpoints')).body.data.length, 0);
    });
  });
}
