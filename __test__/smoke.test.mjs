import test from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
const require = createRequire(import.meta.url)
const shield = require('..')

test('start, flush, stop', () => {
  shield.start({ flushTime: 1 })
  const u = shield.flush()
  assert.equal(u.pid, process.pid)
  shield.stop()
})
