'use strict'
// Cost per GC of each way to watch GC, on forced scavenges (deterministic work):
//   node --expose-gc benches/gc-cost.js <none|obs|gcp|shield|shield-heap>
// 'in the GC' is time inside the pause; 'deferred' is observer work after it.
const mode = process.argv[2]
if (mode === 'gcp') { const v8 = require('v8'); global.p = new v8.GCProfiler(); global.p.start() }
if (mode === 'obs') new (require('perf_hooks').PerformanceObserver)((l) => { l.getEntries() }).observe({ entryTypes: ['gc'] })
if (mode === 'shield') require('..').start({ flushTime: 60, heartbeatInterval: 1000 })
if (mode === 'shield-heap') require('..').start({ flushTime: 60, heartbeatInterval: 1000, gcHeapStats: true })
for (let i = 0; i < 200; i++) gc({ type: 'minor' })
const N = 3000
const t = process.hrtime.bigint()
for (let i = 0; i < N; i++) { const a = [1, 2, 3]; gc({ type: 'minor' }) }
const us = Number(process.hrtime.bigint() - t) / N / 1000
// the observer callbacks run after this synchronous loop; count them in too
const t2 = process.hrtime.bigint()
setImmediate(() => { const us2 = Number(process.hrtime.bigint() - t2) / N / 1000; console.log(mode.padEnd(14), us.toFixed(1), 'µs/GC in the GC +', us2.toFixed(2), 'µs/GC deferred') })
