import test from 'node:test'
import assert from 'node:assert/strict'
import { Worker } from 'node:worker_threads'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { root } from './helpers.mjs'

const workerFile = join(root, '__test__', 'fixtures', 'worker-cycle.js')

function runWorker(stop) {
  return new Promise((resolve, reject) => {
    const w = new Worker(workerFile, { workerData: { root, stop } })
    let msg = null
    w.once('message', (m) => {
      msg = m
      // Half the workers are terminated while shield still runs in them.
      if (!stop) w.terminate()
    })
    w.once('error', reject)
    w.once('exit', () => (msg ? resolve(msg) : reject(new Error('worker exited without reporting'))))
  })
}

test('8 worker_threads start/stop 50 times: no crash, own thread ids, bounded RSS', async () => {
  const rounds = 50
  let rssAfterWarmup = 0
  let seen = 0
  for (let round = 0; round < rounds; round++) {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => runWorker(i % 2 === 0)))
    for (const r of results) {
      assert.equal(r.usageThread, r.threadId)
      assert.equal(r.pid, process.pid)
      assert.ok(r.lagCount > 0, 'the heartbeat ran in the worker')
    }
    seen += results.length
    if (round === 9) {
      globalThis.gc?.()
      rssAfterWarmup = process.memoryUsage.rss()
    }
  }
  assert.equal(seen, 400)
  const growth = process.memoryUsage.rss() - rssAfterWarmup
  assert.ok(growth < 40 * 1024 * 1024, `RSS grew ${(growth / 1048576).toFixed(1)} MB over 40 rounds`)
  // No heartbeat thread may outlive its worker.
  if (process.platform === 'linux') {
    const threads = (await import('node:fs')).readdirSync('/proc/self/task').length
    assert.ok(threads < 40, `${threads} OS threads left in the process`)
  }
})

test('a cluster of 2 processes: each reports its own pid', () => {
  const r = spawnSync(process.execPath, [join(root, '__test__', 'fixtures', 'cluster-app.js')], { encoding: 'utf8', timeout: 30000 })
  assert.equal(r.status, 0, r.stderr)
  const seen = JSON.parse(r.stdout.trim())
  assert.equal(seen.length, 2)
  for (const s of seen) {
    assert.equal(s.usagePid, s.workerPid)
    assert.ok(s.lagCount > 0)
  }
  assert.notEqual(seen[0].usagePid, seen[1].usagePid)
})
