import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Redactor } from '../src/credentials/Redactor.ts';

const TOKEN = 'ghp_16C7e42F292c6912E7710c838347Ae178B4a';
const TRICKY = 'p@ss "word" \\ with/slash+plus & more';
const CANARY = 'sk-canary-XYZ0123456789abcdefCANARY';

function redactor(): Redactor {
  const r = new Redactor();
  r.register(TOKEN, 'github_token');
  r.register(TRICKY, 'db_password');
  return r;
}

test('replaces a raw value with its named label, every occurrence', () => {
  const out = redactor().redactString(`a ${TOKEN} b ${TOKEN}`);
  assert.is(out, 'a [redacted:github_token] b [redacted:github_token]');
});

test('ignores values shorter than 4 characters without throwing', () => {
  const r = new Redactor();
  assert.is(r.register('abc', 'short'), false);
  assert.is(r.register('', 'empty'), false);
  assert.is(r.redactString('abc abc'), 'abc abc');
  assert.is(r.register('abcd', 'four'), true);
  assert.is(r.redactString('xabcdx'), 'x[redacted:four]x');
});

test('catches the JSON-escaped form of a value with quotes and backslashes', () => {
  const r = redactor();
  const text = JSON.stringify({ password: TRICKY });
  assert.ok(!text.includes(TRICKY), 'fixture: the raw value is not in the JSON text');
  const out = r.redactString(text);
  assert.is(out, '{"password":"[redacted:db_password]"}');
  const twice = JSON.stringify({ args: text });
  assert.is(r.redactString(twice), '{"args":"{\\"password\\":\\"[redacted:db_password]\\"}"}');
});

test('catches base64 and base64url forms, including inside Basic auth', () => {
  const r = redactor();
  for (const encoded of [
    Buffer.from(TOKEN).toString('base64'),
    Buffer.from(TRICKY).toString('base64url'),
    Buffer.from(TRICKY).toString('base64'),
  ]) {
    assert.ok(r.redactString(`x ${encoded} y`).includes('[redacted:'), encoded);
  }
  for (const user of ['u', 'us', 'use', 'user1']) {
    const header = `Basic ${Buffer.from(`${user}:${TOKEN}`).toString('base64')}`;
    const out = r.redactString(header);
    assert.ok(out.includes('[redacted:github_token]'), header);
    assert.not.ok(Buffer.from(out.slice(6), 'base64').toString('latin1').includes(TOKEN.slice(4, 30)));
  }
});

test('catches URL-encoded and hex forms', () => {
  const r = redactor();
  assert.is(r.redactString(`?p=${encodeURIComponent(TRICKY)}&q=1`), '?p=[redacted:db_password]&q=1');
  assert.is(r.redactString(`p=${encodeURIComponent(TRICKY).replace(/%20/g, '+')}`), 'p=[redacted:db_password]');
  const hex = Buffer.from(TOKEN).toString('hex');
  assert.is(r.redactString(`0x${hex}`), '0x[redacted:github_token]');
  assert.is(r.redactString(hex.toUpperCase()), '[redacted:github_token]');
});

test('redactJson redacts nested keys and values and leaves the input untouched', () => {
  const r = redactor();
  const clean = { untouched: [1, 2, { deep: 'x' }] };
  const input = {
    messages: [{ role: 'tool', content: `token ${TOKEN}` }, { role: 'user', content: 'hi' }],
    headers: { [TOKEN]: true, auth: `Basic ${Buffer.from(`me:${TOKEN}`).toString('base64')}` },
    clean,
    n: 3,
    nil: null,
  };
  const snapshot = JSON.stringify(input);
  const out = r.redactJson(input);
  assert.is.not(out, input);
  assert.is(JSON.stringify(input), snapshot);
  assert.not.ok(JSON.stringify(out).includes(TOKEN));
  assert.equal(out.messages[0], { role: 'tool', content: 'token [redacted:github_token]' });
  assert.is(out.messages[1], input.messages[1]);
  assert.equal(Object.keys(out.headers), ['[redacted:github_token]', 'auth']);
  assert.is(out.clean, clean);
  assert.is(out.n, 3);
  assert.is(out.nil, null);
});

test('redactJson returns the same reference when nothing matches', () => {
  for (const r of [redactor(), new Redactor(), new Redactor({ cacheCleanObjects: true })]) {
    const value = { a: [{ b: 'long text '.repeat(20) }, 'x'], c: { d: 1 } };
    assert.is(r.redactJson(value), value);
    assert.is(r.redactJson(value), value);
  }
});

test('redactJson keeps a "__proto__" key as data, not as a prototype', () => {
  const r = redactor();
  const input = JSON.parse(`{"__proto__": {"polluted": "${TOKEN}"}}`) as Record<string, unknown>;
  const out = r.redactJson(input) as Record<string, { polluted: string }>;
  assert.is(Object.getPrototypeOf(out), Object.prototype);
  assert.is(Object.getOwnPropertyDescriptor(out, '__proto__')?.value.polluted, '[redacted:github_token]');
});

test('a newly registered secret is found in objects and strings already seen clean', () => {
  const r = new Redactor({ cacheCleanObjects: true });
  r.register('unrelated-secret-value', 'other');
  const long = `prefix ${'z'.repeat(100)} LATE-SECRET-0001`;
  const value = { text: long };
  assert.is(r.redactJson(value), value);
  assert.is(r.redactString(long), long);
  r.register('LATE-SECRET-0001', 'late');
  assert.is(r.redactJson(value).text, `prefix ${'z'.repeat(100)} [redacted:late]`);
  assert.is(r.redactString(long), `prefix ${'z'.repeat(100)} [redacted:late]`);
});

test('redactError redacts message, stack, cause and extra properties', () => {
  const r = redactor();
  const cause = new Error(`inner ${TOKEN}`);
  const error = Object.assign(new Error(`request failed with Authorization: Bearer ${TOKEN}`, { cause }), {
    status: 401,
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.ok(error.stack?.includes(TOKEN), 'fixture: the stack holds the secret');
  const out = r.redactError(error);
  assert.instance(out, Error);
  assert.is(out.message, 'request failed with Authorization: Bearer [redacted:github_token]');
  assert.ok(out.stack?.includes('[redacted:github_token]'));
  assert.not.ok(out.stack?.includes(TOKEN));
  assert.is((out.cause as Error).message, 'inner [redacted:github_token]');
  const extra = out as unknown as { status: number; headers: { authorization: string } };
  assert.is(extra.status, 401);
  assert.is(extra.headers.authorization, 'Bearer [redacted:github_token]');
  assert.is(r.redactError(`thrown string ${TOKEN}`).message, 'thrown string [redacted:github_token]');
});

test('a stream redacts a secret split across writes and releases held text at its end', () => {
  const r = redactor();
  const stream = r.stream();
  const written: string[] = [];
  written.push(stream.write('hello '));
  written.push(stream.write(`token=${TOKEN.slice(0, 10)}`));
  written.push(stream.write(`${TOKEN.slice(10)} done\n`));
  written.push(stream.write('tail ghp_'));
  written.push(stream.end());
  const all = written.join('');
  assert.is(all, 'hello token=[redacted:github_token] done\ntail ghp_');
  assert.ok(written.every((chunk) => !chunk.includes(TOKEN.slice(0, 10))));
  // The space is held back: it could begin a piece of the db_password (" with/sl...").
  assert.is(written[0], 'hello');
});

const LIVE = 'sk-live-1234567890';

/** Every way a tool might hand a piece of text on: as is, and in each encoding the redactor knows. */
const encodings: Record<string, (text: string) => string> = {
  raw: (text) => text,
  json: (text) => JSON.stringify(text).slice(1, -1),
  url: encodeURIComponent,
  hex: (text) => Buffer.from(text).toString('hex'),
  HEX: (text) => Buffer.from(text).toString('hex').toUpperCase(),
  base64: (text) => Buffer.from(text).toString('base64'),
  base64url: (text) => Buffer.from(text).toString('base64url'),
};

test('a secret cut in two is redacted piece by piece: two fields, two array items, two results', () => {
  const r = new Redactor();
  r.register(LIVE, 'stripe_key');
  const fields = r.redactString(JSON.stringify({ a: 'sk-live-12', b: '34567890' }));
  assert.is(fields, '{"a":"[redacted:stripe_key]","b":"[redacted:stripe_key]"}');
  const items = r.redactJson({ items: [LIVE.slice(0, 9), LIVE.slice(9)] });
  assert.equal(items, { items: ['[redacted:stripe_key]', '[redacted:stripe_key]'] });
  assert.is(r.redactString(`first result ends ${LIVE.slice(0, 8)}`), 'first result ends [redacted:stripe_key]');
  assert.is(r.redactString(`${LIVE.slice(8)} starts the second`), '[redacted:stripe_key] starts the second');
});

test('every piece of 8 or more characters is redacted, raw and in every encoding, at any offset', () => {
  const r = new Redactor();
  r.register(CANARY, 'x');
  for (const [name, encode] of Object.entries(encodings)) {
    for (let start = 0; start + 8 <= CANARY.length; start++) {
      const piece = CANARY.slice(start, start + 8);
      // Base64 of 8 bytes starting anywhere in a longer value: "u:" + piece puts it at every byte offset.
      for (const lead of name.startsWith('base64') ? ['', 'u', 'u:'] : ['']) {
        const encoded = encode(lead + piece);
        const out = r.redactString(`<${encoded}>`);
        assert.ok(out.includes('[redacted:x]'), `${name} of "${lead}${piece}" was not redacted: ${out}`);
        if (lead === '') assert.not.ok(out.includes(encoded.slice(0, 6)), `${name}: part of the piece is left: ${out}`);
      }
    }
  }
});

test('pieces shorter than 8 characters pass: the limit of the rule', () => {
  const r = new Redactor();
  r.register(LIVE, 'stripe_key');
  const sevens = JSON.stringify({ a: 'sk-live', b: '-123456', c: '7890' });
  assert.is(r.redactString(sevens), sevens);
  assert.is(r.redactString('plain prose, sk-live keys, 1234567 and 890'), 'plain prose, sk-live keys, 1234567 and 890');
});

test('a secret shorter than 8 characters is redacted whole only', () => {
  const r = new Redactor();
  r.register('hunter2', 'password');
  assert.is(r.redactString('pw=hunter2;'), 'pw=[redacted:password];');
  assert.is(r.redactString('hunter is not hunter2x'), 'hunter is not [redacted:password]x');
  assert.is(r.redactString(Buffer.from('hunter2').toString('hex')), '[redacted:password]');
  assert.is(r.redactString('hunte'), 'hunte');
});

test('canary: no helper output contains a registered canary', () => {
  const r = new Redactor();
  r.register(CANARY, 'canary');
  const forms = [
    CANARY,
    JSON.stringify(CANARY),
    Buffer.from(CANARY).toString('base64'),
    Buffer.from(`x:${CANARY}`).toString('base64url'),
    encodeURIComponent(CANARY),
    Buffer.from(CANARY).toString('hex'),
  ];
  const outputs: string[] = [];
  for (const form of forms) {
    outputs.push(r.redactString(`<${form}>`));
    outputs.push(JSON.stringify(r.redactJson({ [form]: [form, { nested: form }] })));
    const error = r.redactError(new Error(form, { cause: new Error(form) }));
    outputs.push(error.message, error.stack ?? '', (error.cause as Error).message);
    const stream = r.stream();
    for (const char of form) outputs.push(stream.write(char));
    outputs.push(stream.end());
  }
  const decoded = outputs.flatMap((o) => [o, Buffer.from(o, 'base64').toString('latin1'), Buffer.from(o, 'hex').toString('latin1')]);
  for (const text of decoded) {
    assert.not.ok(text.includes(CANARY), `canary leaked in ${JSON.stringify(text).slice(0, 80)}`);
    assert.not.ok(text.includes('sk-canary-XYZ0123'), 'a canary prefix leaked');
  }
});

test.run();
