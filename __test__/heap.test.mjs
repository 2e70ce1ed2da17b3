// Heap snapshot analysis against Chrome DevTools' own worker, leak attribution on
// a fixture with three planted leaks, errors on corrupt input, and the CLI.
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execFileSync, spawnSync } from 'node:child_process'
import { root, shield } from './helpers.mjs'
import * as devtools from './devtools-heap.mjs'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shield-heap-'))
const beforeFile = path.join(dir, 'before.heapsnapshot')
const afterFile = path.join(dir, 'after.heapsnapshot')
const plainFile = path.join(dir, 'plain.heapsnapshot')

before(() => {
  execFileSync(process.execPath, [path.join(root, '__test__/fixtures/leaky-app.js'), dir, '1500', '4000'], { timeout: 60000 })
  // A second shape of heap: many plain objects with inferred interfaces, a WeakMap, classes.
  const script = `
    const v8 = require('node:v8')
    class Point { constructor(x, y) { this.x = x; this.y = y } }
    const keep = []
    const wm = new WeakMap()
    for (let i = 0; i < 3000; i++) {
      const k = { id: i, tag: 'k' + i }
      keep.push(k, new Point(i, -i), { a: i, b: [i], 'c,d': String(i) })
      wm.set(k, { payload: 'x'.repeat(i % 50) })
    }
    globalThis.keep = keep; globalThis.wm = wm
    v8.writeHeapSnapshot(${JSON.stringify(plainFile)})`
  execFileSync(process.execPath, ['-e', script], { timeout: 60000 })
})

function compareSummary(ours, ref) {
  const keys = new Set(Object.keys(ref.classes))
  assert.equal(ours.classes.length, keys.size, 'same number of constructors as DevTools')
  for (const c of ours.classes) {
    const r = ref.classes[c.key]
    assert.ok(r, `DevTools has no class ${c.key}`)
    assert.equal(c.count, r.count, `count of ${c.key}`)
    assert.equal(c.selfSize, r.self, `self size of ${c.key}`)
    const tol = Math.max(1, r.retained * 0.001)
    assert.ok(Math.abs(c.retainedSize - r.retained) <= tol, `retained size of ${c.key}: ${c.retainedSize} vs DevTools ${r.retained}`)
  }
  assert.equal(ours.snapshot.totalSize, ref.totalSize, 'total size')
}

test('summary equals DevTools: count and self size per constructor, retained within 0.1 %', async () => {
  for (const f of [beforeFile, afterFile, plainFile]) {
    const [ours, ref] = await Promise.all([shield.heapSummary(f), devtools.summary(f)])
    assert.ok(ours.classes.length > 50)
    compareSummary(ours, ref)
  }
})

test('diff equals DevTools Comparison view: new/deleted counts and sizes per constructor', async () => {
  const [ours, ref] = await Promise.all([shield.heapDiff(beforeFile, afterFile), devtools.diff(beforeFile, afterFile)])
  assert.equal(ours.classes.length, Object.keys(ref).length)
  for (const c of ours.classes) {
    const r = ref[c.key]
    assert.ok(r, `DevTools has no diff row ${c.key}`)
    assert.equal(c.addedCount, r.addedCount, `new ${c.key}`)
    assert.equal(c.removedCount, r.removedCount, `deleted ${c.key}`)
    assert.equal(c.addedSize, r.addedSize, `alloc size ${c.key}`)
    assert.equal(c.removedSize, r.removedSize, `freed size ${c.key}`)
    assert.equal(c.countDelta, c.addedCount - c.removedCount)
  }
  const strings = ours.classes.find((c) => c.key === ',(string)')
  assert.ok(strings.addedCount >= 4000, 'the session strings show up as new strings')
})

test('leak attribution names each planted leak owner among the top suspects', async () => {
  const d = await shield.heapDiff(beforeFile, afterFile)
  const top = d.suspects.slice(0, 5)
  const find = (re) => top.find((s) => re.test(s.heldBy))
  const sessions = find(/^`sessions` \(Object\) of `MemoryStore` ← `store` in closure `sessionMiddleware` \(leaky-app\.js\)/)
  assert.ok(sessions, 'session store: ' + top.map((s) => s.text).join('\n'))
  assert.ok(sessions.addedCount >= 4000 && sessions.addedSize > 100000)
  assert.equal(sessions.owner.className, 'Object')
  assert.ok(sessions.topClasses.some((c) => c.name === '(string)'))
  assert.match(sessions.text, /^\+\d[\d.]* [kM]?B in .* held by `sessions`/)
  const templates = find(/^`templateCache` \(Map\) of `TemplateEngine`/)
  assert.ok(templates, 'template cache: ' + top.map((s) => s.text).join('\n'))
  const listeners = find(/^`shutdown` \(Array\) of `Object` ← `_events` of `Bus`/)
  assert.ok(listeners, 'listeners: ' + top.map((s) => s.text).join('\n'))
  assert.ok(listeners.topClasses.some((c) => c.name === 'Function' && c.count >= 4000))
  // A sample retainer path runs from the sample object up to a root.
  for (const s of [sessions, templates, listeners]) {
    assert.ok(s.retainerPath.length >= 3)
    assert.equal(s.retainerPath.at(-1).holder.type, 'synthetic')
  }
  assert.ok(sessions.retainerPath.some((p) => p.edge === 'sessions' && p.holder.className === 'MemoryStore'))
})

test('corrupt, truncated and non-snapshot input is an error naming the byte offset', async () => {
  const data = fs.readFileSync(beforeFile)
  const cases = {
    'truncated.heapsnapshot': data.subarray(0, Math.floor(data.length / 2)),
    'garbage.heapsnapshot': Buffer.concat([data.subarray(0, 5000), Buffer.from('}}}'), data.subarray(5003)]),
    'notjson.heapsnapshot': Buffer.from('hello world'),
    'empty.heapsnapshot': Buffer.alloc(0),
    'array.heapsnapshot': Buffer.from('[1,2,3]'),
  }
  for (const [name, buf] of Object.entries(cases)) {
    const f = path.join(dir, name)
    fs.writeFileSync(f, buf)
    await assert.rejects(shield.heapSummary(f), (e) => /at byte \d+/.test(e.message) || (name === 'empty.heapsnapshot' && /snapshot/.test(e.message)), name)
  }
  await assert.rejects(shield.heapSummary(path.join(dir, 'missing.heapsnapshot')), /cannot open/)
  await assert.rejects(shield.heapDiff(beforeFile, path.join(dir, 'truncated.heapsnapshot')), /truncated.*at byte \d+|at byte \d+/)
  await assert.rejects(shield.heapSummary(42), TypeError)
  await assert.rejects(shield.heapSummary(''), TypeError)
})

test('CLI: readable summary, diff with suspects, --json, --top, usage errors', () => {
  const cli = path.join(root, 'bin/shield.js')
  const run = (...args) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60000 })
  const s = run('heap', beforeFile, '--top', '5')
  assert.equal(s.status, 0, s.stderr)
  assert.match(s.stdout, /Constructor\s+Count\s+Self size\s+Retained size/)
  assert.equal(s.stdout.trim().split('\n').length, 2 + 1 + 5)
  const d = run('heap', beforeFile, afterFile)
  assert.equal(d.status, 0, d.stderr)
  assert.match(d.stdout, /Top suspects/)
  assert.match(d.stdout, /held by `sessions` \(Object\) of `MemoryStore`/)
  assert.match(d.stdout, /# New\s+# Deleted\s+# Delta/)
  const j = run('heap', beforeFile, afterFile, '--json', '--top', '3')
  assert.equal(j.status, 0, j.stderr)
  const parsed = JSON.parse(j.stdout)
  assert.equal(parsed.classes.length, 3)
  assert.equal(parsed.suspects.length, 3)
  assert.equal(run('heap').status, 2)
  assert.equal(run('heap', beforeFile, '--top', 'x').status, 2)
  assert.equal(run('nope').status, 2)
  const bad = run('heap', path.join(dir, 'truncated.heapsnapshot'))
  assert.equal(bad.status, 1)
  assert.match(bad.stderr, /at byte \d+/)
})
