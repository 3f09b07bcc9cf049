import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../src/errors.ts';
import { checkTokenShape, isLoopbackAddress } from '../src/inspector/accessRules.ts';

test('a bound address is loopback-only for 127.0.0.0/8, ::1 and 127.x mapped into IPv6, and for nothing else', () => {
  for (const address of ['127.0.0.1', '127.0.1.1', '127.255.255.254', '::1', '::ffff:127.0.0.1', '::FFFF:127.0.0.2']) assert.ok(isLoopbackAddress(address), address);
  for (const address of ['0.0.0.0', '::', '192.0.2.2', '10.0.0.1', '::ffff:192.0.2.2', 'fd00::2', 'fe80::1', '128.0.0.1', '1.127.0.0', 'localhost', '']) {
    assert.not.ok(isLoopbackAddress(address), address);
  }
});

test('a token must be 16 or more URL-safe characters, and the refusal names where it came from', () => {
  checkTokenShape('abcdefghijklmnop');
  checkTokenShape('A-Za.z0~9_A-Za.z0~9_');
  for (const weak of ['', 'abcdefghijklmno', 'abcdefghijklmnop q', 'abcdefghijklmnop+', 'abcdefghijklmnop#']) {
    assert.throws(() => checkTokenShape(weak, '--token'), (error: unknown) => error instanceof UserError && /^--token must be at least 16 characters/.test(error.message), JSON.stringify(weak));
  }
});

test.run();
