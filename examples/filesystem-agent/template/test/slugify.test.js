import assert from 'node:assert/strict';
import test from 'node:test';
import { slugify } from '../src/slugify.js';

test('joins words with dashes', () => assert.equal(slugify('Hello World'), 'hello-world'));
test('collapses runs of spaces and punctuation', () => assert.equal(slugify('  Hello,   big  World! '), 'hello-big-world'));
