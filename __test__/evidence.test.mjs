// Evidence: captures through node:inspector, the artifact writer's safety
// properties, flame graphs and the CLI, all against the real addon.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execFile } from 'node:child_process'
import { Worker } from 'node:worker_threads'
import { createRequire } from 'node:module'
const require = createRequire(import.meta.url)
const shield = require('..')

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'shield-evidence-'))
let n = 0
const freshDir = () => path.join(root, `logs-${++n}`)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const mode = (p) => fs.statSync(p).mode & 0o777
const artifactsIn = (dir) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => !f.startsWith('.') && !f.endsWith('.json')) : [])
const bin = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'bin', 'shield.js')

test.after(() => {
  shield.stop()
  shield.removeAllListeners()
  fs.rmSync(root, { recursive: true, force: true })
})

// A small XML well-formedness check (tags balance, attributes quoted, no stray '<' or '&').
function assertWellFormedXml(xml) {
  let i = 0
  const stack = []
  const text = (t) => assert.ok(!/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(t), `bad entity in ${t.slice(0, 80)}`)
  while (i < xml.length) {
    const lt = xml.indexOf('<', i)
    if (lt < 0) {
      text(xml.slice(i))
      break
    }
    text(xml.slice(i, lt))
    if (xml.startsWith('<?', lt)) i = xml.indexOf('?>', lt) + 2
    else if (xml.startsWith('<!--', lt)) i = xml.indexOf('-->', lt) + 3
    else if (xml.startsWith('<![CDATA[', lt)) i = xml.indexOf(']]>', lt) + 3
    else if (xml.startsWith('<!DOCTYPE', lt)) i = xml.indexOf('>', lt) + 1
    else {
      const gt = xml.indexOf('>', lt)
      assert.ok(gt > lt, 'unterminated tag')
      const tag = xml.slice(lt + 1, gt)
      if (tag.startsWith('/')) {
        assert.equal(tag.slice(1).trim(), stack.pop(), 'mismatched closing tag')
      } else {
        const m = /^([\w:.-]+)((?:\s+[\w:.-]+\s*=\s*("[^"<]*"|'[^'<]*'))*)\s*(\/?)$/.exec(tag)
        assert.ok(m, `malformed tag <${tag.slice(0, 80)}>`)
        if (!m[4]) stack.push(m[1])
      }
      i = gt + 1
    }
    assert.ok(i > 0, 'unterminated markup')
  }
  assert.deepEqual(stack, [], 'unclosed tags')
}

function selfTimeTop(profile, k) {
  const byId = new Map(profile.nodes.map((nd) => [nd.id, nd]))
  const self = new Map()
  for (const id of profile.samples) {
    const name = byId.get(id).callFrame.functionName || '(anonymous)'
    self.set(name, (self.get(name) || 0) + 1)
  }
  return [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name]) => name)
}

function hogTheLoop(ms) {
  // Big enough (> 460 bytes of bytecode) that TurboFan never inlines it into
  // its caller: V8's profiler credits an inlined function optimised before
  // the profile started to the caller.
  const end = Date.now() + ms
  let x = 0
  while (Date.now() < end) {
    for (let i = 0; i < 800; i++) x += Math.sqrt(i)
    for (let i = 0; i < 800; i++) x += Math.sin(i)
    for (let i = 0; i < 800; i++) x += Math.cos(i)
    for (let i = 0; i < 800; i++) x += Math.log(i + 1)
    for (let i = 0; i < 800; i++) x += Math.atan(i)
    for (let i = 0; i < 800; i++) x += Math.exp(-i)
    for (let i = 0; i < 800; i++) x += Math.tanh(i)
    for (let i = 0; i < 800; i++) x += Math.cbrt(i)
    for (let i = 0; i < 800; i++) x += Math.hypot(i, x)
    for (let i = 0; i < 800; i++) x += Math.log2(i + 2)
    for (let i = 0; i < 800; i++) x += Math.asinh(i)
    for (let i = 0; i < 800; i++) x += Math.expm1(-i)
  }
  return x
}

test('a threshold on a CPU hog captures a cpuprofile and its flame graph, then runs emergencyAction with the paths', async () => {
  const dir = freshDir()
  const errors = []
  shield.on('error', (e) => errors.push(e))
  const seen = []
  const onArtifact = (a) => seen.push(a)
  let resolveAction
  const acted = new Promise((r) => (resolveAction = r))
  shield.start({
    logsPath: dir,
    flushTime: 0.2,
    samplingTime: 1.5,
    thresholds: { eventLoopLagMax: '40ms' },
    actions: ['cpuprofile', 'flamegraph'],
    emergencyAction: (history, event) => resolveAction({ history, event }),
  })
  // A first short profile: V8 then keeps the detail it needs to name frames in
  // code optimised later (without it, a hot function optimised before the first
  // profile can be credited to its caller on some V8 versions).
  await shield.cpuProfile({ duration: 20 })
  shield.on('artifact', onArtifact)
  const hog = setInterval(hogTheLoop, 10, 120)
  let timeout
  const { history, event } = await Promise.race([acted, new Promise((_, reject) => (timeout = setTimeout(() => reject(new Error('no emergency within 30 s')), 30000)))])
  clearTimeout(timeout)
  clearInterval(hog)
  shield.stop()
  shield.off('artifact', onArtifact)
  assert.ok(Array.isArray(history) && history.length > 0)
  assert.equal(event.type, 'threshold')
  assert.equal(event.breaches[0].metric, 'eventLoopLagMax')
  const kinds = event.artifacts.map((a) => a.kind).sort()
  assert.deepEqual(kinds, ['cpuprofile', 'flamegraph'])
  assert.deepEqual(seen.map((a) => a.kind).sort(), kinds, "one 'artifact' event per file")
  const cpu = event.artifacts.find((a) => a.kind === 'cpuprofile')
  const profile = JSON.parse(fs.readFileSync(cpu.path, 'utf8'))
  assert.ok(profile.nodes.length > 0 && profile.samples.length > 100, `${profile.samples.length} samples`)
  const top = selfTimeTop(profile, 3)
  // Node 24's V8 sometimes credits the hog's samples to its caller (the timer
  // loop) even with inlining off: a V8 profiler limitation, reported in the README.
  const credited = top.includes('hogTheLoop') || (Number(process.versions.node.split('.')[0]) >= 24 && top[0] === 'listOnTimeout')
  assert.ok(credited, `hogTheLoop among the top self-time frames: ${top}`)
  assert.match(path.basename(cpu.path), new RegExp(`^cpuprofile-${process.pid}-0-\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\d\\.\\d{3}Z\\.cpuprofile$`))
  const side = JSON.parse(fs.readFileSync(cpu.sidecar, 'utf8'))
  assert.equal(side.trigger.type, 'threshold')
  assert.equal(side.trigger.breaches[0].metric, 'eventLoopLagMax')
  assert.equal(side.pid, process.pid)
  assert.ok(side.usage && side.usage.heap.used > 0, 'sidecar records the usage')
  const fg = event.artifacts.find((a) => a.kind === 'flamegraph')
  assert.match(fg.path, /flamegraph-\d+-0-.*\.svg$/)
  const svg = fs.readFileSync(fg.path, 'utf8')
  assertWellFormedXml(svg)
  assert.ok(svg.includes(top.includes('hogTheLoop') ? 'hogTheLoop (' : 'listOnTimeout ('), 'the SVG names the hot frame with its file:line')
  for (const f of fs.readdirSync(dir)) assert.equal(mode(path.join(dir, f)), 0o600, `${f} is 0600`)
  assert.equal(mode(dir), 0o700)
  assert.equal(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')).length, 0, 'no temp files left')
  assert.deepEqual(errors, [])
  shield.removeAllListeners('error')
})

test('heapSnapshot streams a snapshot that JSON.parse reads with the documented node/edge fields', async () => {
  const dir = freshDir()
  shield.start({ logsPath: dir })
  const r = await shield.heapSnapshot()
  shield.stop()
  assert.equal(r.kind, 'heapsnapshot')
  assert.equal(r.via, 'stream', 'v8.getHeapSnapshot() where Node has it')
  assert.ok(r.chunks > 1, `streamed in ${r.chunks} chunks`)
  assert.equal(fs.statSync(r.path).size, r.bytes)
  assert.equal(mode(r.path), 0o600)
  assert.equal(mode(r.sidecar), 0o600)
  const snap = JSON.parse(fs.readFileSync(r.path, 'utf8'))
  const { node_fields: nf, edge_fields: ef } = snap.snapshot.meta
  for (const f of ['type', 'name', 'id', 'self_size', 'edge_count']) assert.ok(nf.includes(f), `node field ${f}`)
  for (const f of ['type', 'name_or_index', 'to_node']) assert.ok(ef.includes(f), `edge field ${f}`)
  assert.equal(snap.nodes.length % nf.length, 0)
  assert.equal(snap.edges.length % ef.length, 0)
  assert.equal(snap.nodes.length / nf.length, snap.snapshot.node_count)
  let edges = 0
  const ec = nf.indexOf('edge_count')
  for (let i = ec; i < snap.nodes.length; i += nf.length) edges += snap.nodes[i]
  assert.equal(edges, snap.edges.length / ef.length, 'edge counts add up')
  assert.ok(snap.strings.length > 100)
})

test('the inspector fallback streams a valid snapshot too (SHIELD_HEAP_SNAPSHOT_VIA=inspector)', async () => {
  const dir = freshDir()
  const code = `
    const shield = require(${JSON.stringify(path.resolve('.'))})
    shield.start({ logsPath: ${JSON.stringify(dir)} })
    shield.heapSnapshot().then((r) => { shield.stop(); console.log(JSON.stringify(r)) }, (e) => { console.error(e); process.exit(1) })
  `
  const r = await new Promise((resolve, reject) =>
    execFile(process.execPath, ['-e', code], { env: { ...process.env, SHIELD_HEAP_SNAPSHOT_VIA: 'inspector' } }, (err, stdout, stderr) =>
      err ? reject(new Error(stderr)) : resolve(JSON.parse(stdout)),
    ),
  )
  assert.equal(r.via, 'inspector')
  assert.ok(r.chunks > 1)
  assert.equal(mode(r.path), 0o600)
  const snap = JSON.parse(fs.readFileSync(r.path, 'utf8'))
  assert.equal(snap.nodes.length / snap.snapshot.meta.node_fields.length, snap.snapshot.node_count)
  assert.equal(snap.edges.length / snap.snapshot.meta.edge_fields.length, snap.snapshot.edge_count)
})

test('a leak shows its constructor in the heap profile and its allocation flame graph', async () => {
  const dir = freshDir()
  shield.start({ logsPath: dir, heapSamplingInterval: 4096 })
  class LeakyThing {
    constructor(i) {
      this.payload = new Array(256).fill(i)
      this.label = `leak-${i}-${'x'.repeat(64)}`
    }
  }
  const kept = []
  const p = shield.heapProfile({ duration: 800 })
  const t = setInterval(() => {
    for (let i = 0; i < 2000; i++) kept.push(new LeakyThing(i))
  }, 20)
  const r = await p
  clearInterval(t)
  shield.stop()
  assert.ok(kept.length > 0)
  const profile = JSON.parse(fs.readFileSync(r.path, 'utf8'))
  const totals = new Map()
  const walk = (node) => {
    const name = node.callFrame.functionName
    totals.set(name, (totals.get(name) || 0) + node.selfSize)
    node.children.forEach(walk)
  }
  walk(profile.head)
  const top = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k]) => k)
  assert.ok(top.includes('LeakyThing'), `LeakyThing among the top allocators: ${top}`)
  const svg = await shield.flamegraph(r)
  assertWellFormedXml(svg)
  assert.ok(svg.includes('LeakyThing ('))
  assert.ok(svg.includes('bytes'))
})

test('flamegraph: output path, differential, options, and corrupt input errors with a byte offset', async () => {
  const dir = freshDir()
  fs.mkdirSync(dir)
  const prof = {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 3, 4] },
      { id: 2, callFrame: { functionName: 'work', url: 'file:///a.js', lineNumber: 1 } },
      { id: 3, callFrame: { functionName: 'work', url: 'file:///b.js', lineNumber: 5 } },
      { id: 4, callFrame: { functionName: '(garbage collector)', url: '', lineNumber: -1 } },
    ],
    startTime: 0,
    endTime: 1000,
    samples: [2, 2, 2, 3, 4],
  }
  const svg = await shield.flamegraph(prof, { title: 'My <title>', reverse: true, minWidth: 0, colors: 'js', width: 800 })
  assertWellFormedXml(svg)
  assert.ok(svg.includes('My &lt;title&gt;'))
  assert.ok(svg.includes('work (/a.js:2)') && svg.includes('work (/b.js:6)'), 'same-named functions stay apart')
  assert.ok(svg.includes('(garbage collector)'))
  const file = path.join(dir, 'p.cpuprofile')
  fs.writeFileSync(file, JSON.stringify(prof))
  const out = path.join(dir, 'out.svg')
  assert.equal(await shield.flamegraph(file, { output: out }), out)
  assertWellFormedXml(fs.readFileSync(out, 'utf8'))
  const after = { ...prof, samples: [3, 3, 3, 3, 2] }
  const diff = await shield.flamegraphDiff(prof, after)
  assertWellFormedXml(diff)
  assert.ok(diff.includes('Differential'))
  const text = JSON.stringify(prof)
  const cut = path.join(dir, 'cut.cpuprofile')
  fs.writeFileSync(cut, text.slice(0, 150))
  await assert.rejects(shield.flamegraph(cut), (e) => e.offset === 150 && e.message.includes(cut) && /truncated/.test(e.message))
  const bad = Buffer.from(text.replace('"samples":[2', '"samples":[2x'))
  await assert.rejects(shield.flamegraph(bad), (e) => Math.abs(e.offset - text.indexOf('"samples":[2') - 12) <= 1 && /invalid JSON/.test(e.message))
  await assert.rejects(shield.flamegraph(path.join(dir, 'missing.cpuprofile')), /cannot read/)
  await assert.rejects(shield.flamegraph(prof, { colors: 'plaid' }), /colors/)
  await assert.rejects(shield.flamegraph(prof, { size: 3 }), TypeError)
  await assert.rejects(shield.flamegraph(42), TypeError)
})

test('CLI: shield flamegraph writes an SVG, --diff works, corrupt input exits 1 naming the offset', async () => {
  const dir = freshDir()
  fs.mkdirSync(dir)
  const prof = { nodes: [{ id: 1, callFrame: { functionName: '(root)' }, children: [2] }, { id: 2, callFrame: { functionName: 'cliFn', url: '/x.js', lineNumber: 0 } }], samples: [2, 2] }
  const file = path.join(dir, 'app.cpuprofile')
  fs.writeFileSync(file, JSON.stringify(prof))
  const run = (...args) => new Promise((resolve) => execFile(process.execPath, [bin, ...args], (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr })))
  let r = await run('flamegraph', file)
  assert.equal(r.code, 0, r.stderr)
  assert.ok(fs.readFileSync(path.join(dir, 'app.svg'), 'utf8').includes('cliFn (/x.js:1)'))
  r = await run('flamegraph', file, '-o', path.join(dir, 'o.svg'), '--title', 'T')
  assert.equal(r.code, 0, r.stderr)
  r = await run('flamegraph', '--diff', file, file, '-o', '-')
  assert.equal(r.code, 0, r.stderr)
  assert.ok(r.stdout.startsWith('<?xml') && r.stdout.includes('Differential'))
  r = await run('flamegraph', '--folded', file)
  assert.equal(r.stdout.trim(), 'cliFn (/x.js:1) 2')
  fs.writeFileSync(path.join(dir, 'bad.cpuprofile'), '{"nodes":[{"id":1,"callFrame":{}}, !]}')
  r = await run('flamegraph', path.join(dir, 'bad.cpuprofile'))
  assert.equal(r.code, 1)
  assert.match(r.stderr, /bad\.cpuprofile: invalid JSON.* at byte 35/)
  r = await run('flamegraph')
  assert.equal(r.code, 2)
  r = await run('nope')
  assert.equal(r.code, 2)
  assert.match(r.stderr, /unknown command 'nope'[\s\S]*flamegraph/)
})

test('an emergency storm stays within cooldown, maxArtifacts and maxDiskBytes', async () => {
  // Cooldown: at most one emergency per second.
  let fired = 0
  shield.start({ logsPath: freshDir(), flushTime: 0.05, cooldown: '1s', thresholds: { heapUsed: 1 }, emergencyAction: () => fired++ })
  await sleep(2600)
  shield.stop()
  assert.ok(fired >= 2 && fired <= 3, `${fired} emergencies in 2.6 s with a 1 s cooldown`)

  // No cooldown: quotas hold.
  const dir = freshDir()
  const errors = []
  const onError = (e) => errors.push(e)
  shield.on('error', onError)
  let written = 0
  let rotated = 0
  const onArtifact = (a) => {
    written++
    rotated += a.rotated.length
  }
  shield.on('artifact', onArtifact)
  let maxSeen = 0
  let emergencies = 0
  shield.start({
    logsPath: dir,
    flushTime: 0.05,
    cooldown: 0,
    samplingTime: 0.1,
    thresholds: { heapUsed: 1 },
    actions: ['cpuprofile'],
    maxArtifacts: 3,
    maxDiskBytes: '200KB',
    emergencyAction: () => {
      emergencies++
      maxSeen = Math.max(maxSeen, artifactsIn(dir).length)
    },
  })
  await sleep(3000)
  shield.stop()
  await sleep(300)
  shield.off('artifact', onArtifact)
  shield.off('error', onError)
  assert.ok(emergencies >= 10, `${emergencies} emergencies`)
  assert.ok(written >= 5, `${written} artifacts written`)
  assert.ok(rotated >= 2, `${rotated} rotated out`)
  assert.ok(maxSeen <= 3, `at most 3 artifacts at a time (saw ${maxSeen})`)
  const left = artifactsIn(dir)
  assert.ok(left.length <= 3 && left.length >= 1, `${left}`)
  const bytes = fs.readdirSync(dir).reduce((s, f) => s + fs.statSync(path.join(dir, f)).size, 0)
  assert.ok(bytes <= 200 * 1024, `${bytes} bytes on disk`)
  // Emergencies that came while a profile was running were refused, never run twice at once.
  assert.ok(errors.every((e) => /already running/.test(e.message)), errors.map((e) => e.message).join('; '))

  // A tiny disk quota: a snapshot bigger than maxDiskBytes is abandoned, not left on disk.
  const small = freshDir()
  shield.start({ logsPath: small, maxDiskBytes: '64KB' })
  await assert.rejects(shield.heapSnapshot(), /maxDiskBytes/)
  shield.stop()
  assert.deepEqual(fs.readdirSync(small), [], 'nothing left behind')
})

test("an unwritable logsPath gives 'error' events, not a crash; the app and the emergency hook go on", async () => {
  const file = path.join(root, 'not-a-dir')
  fs.writeFileSync(file, 'x')
  const errors = []
  const onError = (e) => errors.push(e)
  shield.on('error', onError)
  let acted = null
  shield.start({
    logsPath: path.join(file, 'logs'),
    flushTime: 0.1,
    samplingTime: 0.2,
    thresholds: { heapUsed: 1 },
    actions: ['heapsnapshot', 'cpuprofile', 'flamegraph'],
    emergencyAction: (h, e) => (acted = e),
  })
  const before = shield.stats().errors
  await assert.rejects(shield.cpuProfile({ duration: 10 }), /not-a-dir/)
  for (let i = 0; i < 50 && !acted; i++) await sleep(100)
  const usageBefore = shield.usage().timestamp
  await sleep(300)
  assert.ok(shield.usage().timestamp > usageBefore, 'still flushing')
  assert.ok(shield.stats().errors > before, 'errors are counted')
  shield.stop()
  shield.off('error', onError)
  assert.ok(acted, 'emergencyAction ran')
  assert.deepEqual(acted.artifacts, [])
  assert.ok(errors.length >= 2, `${errors.length} errors`)
  assert.ok(errors.some((e) => e.message.includes('not-a-dir')), errors.map((e) => e.message).join('; '))
})

test('safety: one capture per kind at a time, heap margin refusal, bad options', async () => {
  const dir = freshDir()
  shield.start({ logsPath: dir })
  const a = shield.heapProfile({ duration: 300 })
  await assert.rejects(shield.heapProfile({ duration: 10 }), /already running/)
  const c = await shield.cpuProfile({ duration: 100, interval: 500 })
  assert.equal(c.kind, 'cpuprofile')
  await a
  shield.stop()
  shield.start({ logsPath: dir, heapSnapshotMargin: 0.999 })
  await assert.rejects(shield.heapSnapshot(), /refused.*heapSnapshotMargin/)
  shield.stop()
  assert.throws(() => shield.start({ actions: ['coredump'] }), (e) => e instanceof TypeError && e.message.includes("'actions'"))
  assert.throws(() => shield.start({ maxDiskBytes: 'lots' }), /'maxDiskBytes'/)
  assert.throws(() => shield.start({ signal: 'SIGUSR1' }), RangeError)
  await assert.rejects(shield.cpuProfile({ duraton: 5 }), /unknown cpuProfile option 'duraton'/)
})

test('the signal trigger captures a heap snapshot (kill -USR2)', async () => {
  const dir = freshDir()
  const listenersBefore = process.listenerCount('SIGUSR2')
  shield.start({ logsPath: dir, signal: 'SIGUSR2' })
  const got = new Promise((resolve) => shield.once('artifact', resolve))
  process.kill(process.pid, 'SIGUSR2')
  let timeout
  const a = await Promise.race([got, new Promise((resolve) => (timeout = setTimeout(resolve, 20000, null)))])
  clearTimeout(timeout)
  shield.stop()
  assert.ok(a, 'an artifact after SIGUSR2')
  assert.equal(a.kind, 'heapsnapshot')
  assert.deepEqual(a.trigger, { type: 'signal', signal: 'SIGUSR2' })
  assert.equal(process.listenerCount('SIGUSR2'), listenersBefore, 'stop() removes the handler')
})

test('captures work in a worker thread and carry its threadId in the name', async () => {
  const dir = freshDir()
  const code = `
    const { parentPort } = require('node:worker_threads')
    const shield = require(${JSON.stringify(path.resolve('.'))})
    shield.start({ logsPath: ${JSON.stringify(dir)} })
    shield.cpuProfile({ duration: 200 }).then((r) => { shield.stop(); parentPort.postMessage(r.path) }, (e) => parentPort.postMessage('error: ' + e.message))
  `
  const w = new Worker(code, { eval: true })
  const tid = w.threadId
  const p = await new Promise((resolve, reject) => {
    w.once('message', resolve)
    w.once('error', reject)
  })
  await w.terminate()
  assert.match(path.basename(p), new RegExp(`^cpuprofile-${process.pid}-${tid}-`))
  assert.ok(JSON.parse(fs.readFileSync(p, 'utf8')).nodes.length > 0)
})
