import test from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync, readFileSync, cpSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { root, require } from './helpers.mjs'

const triple = require(join(root, 'lib', 'platform.js')).platformTriple()
const copyFile = (from, to) => writeFileSync(to, readFileSync(from))

// An app directory that depends on shield the way users install it.
function makeApp() {
  const dir = mkdtempSync(join(tmpdir(), 'shield-app-'))
  mkdirSync(join(dir, 'node_modules'))
  symlinkSync(root, join(dir, 'node_modules', 'shield'), 'dir')
  writeFileSync(
    join(dir, 'app.js'),
    `const shield = require('shield')
     setTimeout(() => {
       const u = shield.flush()
       console.log(JSON.stringify({ running: shield.running, pid: u && u.pid, hist: shield.history().length }))
     }, 150)`,
  )
  return dir
}

function run(dir, args, env = {}) {
  return spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', timeout: 20000, env: { ...process.env, ...env } })
}

test('node -r shield/register starts shield from SHIELD_* variables', () => {
  const dir = makeApp()
  const r = run(dir, ['-r', 'shield/register', 'app.js'], { SHIELD_FLUSH_TIME: '0.05', SHIELD_THRESHOLDS: 'rss=10GB,for=1s' })
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.equal(out.running, true)
  assert.equal(out.pid, r.pid)
  assert.ok(out.hist >= 2, `the 50 ms flush ran: ${out.hist} snapshots`)
})

test('SHIELD_ACTIONS and SHIELD_STALL_THRESHOLD reach the options', () => {
  const dir = makeApp()
  writeFileSync(join(dir, 'check.js'), `const s = require('shield'); console.log(JSON.stringify({ running: s.running }))`)
  let r = run(dir, ['-r', 'shield/register', 'check.js'], { SHIELD_ACTIONS: 'cpuprofile,flamegraph', SHIELD_STALL_THRESHOLD: '300ms', SHIELD_LOGS_PATH: join(dir, 'logs') })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(JSON.parse(r.stdout).running, true, r.stderr)
  r = run(dir, ['-r', 'shield/register', 'check.js'], { SHIELD_ACTIONS: 'coredump' })
  assert.equal(JSON.parse(r.stdout).running, false)
  assert.match(r.stderr, /shield: not started \(.*actions/)
})

test('NODE_OPTIONS="-r shield/register" and a .shieldrc.json', () => {
  const dir = makeApp()
  writeFileSync(join(dir, '.shieldrc.json'), JSON.stringify({ flushTime: 0.05, cacheMaxLimit: 2 }))
  const r = run(dir, ['app.js'], { NODE_OPTIONS: '-r shield/register' })
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.equal(out.running, true)
  assert.equal(out.hist, 2, 'cacheMaxLimit from the file')
})

test('shield.config.js found from a subdirectory, env on top', () => {
  const dir = makeApp()
  writeFileSync(join(dir, 'shield.config.js'), 'module.exports = { flushTime: 60, cacheMaxLimit: 1 }')
  mkdirSync(join(dir, 'sub'))
  writeFileSync(join(dir, 'sub', 'app.js'), "require('../app.js')")
  const r = run(join(dir, 'sub'), ['-r', 'shield/register', 'app.js'], { SHIELD_CACHE_MAX_LIMIT: '3', SHIELD_FLUSH_TIME: '0.05' })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(JSON.parse(r.stdout).hist, 3)
})

test('invalid configuration prints one line and the app still starts', () => {
  const dir = makeApp()
  for (const env of [{ SHIELD_FLUSH_TIME: 'soon' }, { SHIELD_THRESHOLDS: 'rss=lots' }, { SHIELD_THRESHOLDS: 'nonsense' }]) {
    const r = run(dir, ['-r', 'shield/register', 'app.js'], env)
    assert.equal(r.status, 0, r.stderr)
    assert.equal(JSON.parse(r.stdout).running, false)
    const lines = r.stderr.trim().split('\n')
    assert.equal(lines.length, 1, r.stderr)
    assert.match(lines[0], /^shield: not started \(/)
  }
  writeFileSync(join(dir, '.shieldrc.json'), '{ not json')
  const r = run(dir, ['-r', 'shield/register', 'app.js'])
  assert.equal(r.status, 0)
  assert.match(r.stderr, /shield: not started \(cannot read .*\.shieldrc\.json/)
})

test('loaded twice (require plus -r, or two copies): one instance, a warning, no double timers', () => {
  const dir = makeApp()
  // A second physical copy of the package, as a nested node_modules would have.
  const copy = join(dir, 'copy')
  mkdirSync(copy)
  for (const f of ['index.js', 'binding.js', 'package.json']) copyFile(join(root, f), join(copy, f))
  cpSync(join(root, 'lib'), join(copy, 'lib'), { recursive: true })
  copyFile(join(root, `shield.${triple}.node`), join(copy, `shield.${triple}.node`))
  const code = `
    const a = require('shield')
    const b = require(${JSON.stringify(copy)})
    console.log(JSON.stringify({ same: a === b, running: a.running }))`
  const r = run(dir, ['-r', 'shield/register', '-e', code], { SHIELD_FLUSH_TIME: '1' })
  assert.equal(r.status, 0, r.stderr)
  assert.deepEqual(JSON.parse(r.stdout), { same: true, running: true })
  assert.match(r.stderr, /loaded twice/)
})

test('SHIELD_OPTIONAL=1 without a binary: a warning and a no-op shield', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shield-nobin-'))
  for (const f of ['index.js', 'binding.js', 'package.json']) copyFile(join(root, f), join(dir, f))
  cpSync(join(root, 'lib'), join(dir, 'lib'), { recursive: true })
  const code = `const s = require(${JSON.stringify(dir)}); s.start({ flushTime: 1 }); console.log(JSON.stringify({ running: s.running, usage: s.usage() }))`
  let r = run(dir, ['-e', code], { SHIELD_OPTIONAL: '1' })
  assert.equal(r.status, 0, r.stderr)
  assert.deepEqual(JSON.parse(r.stdout), { running: false, usage: null })
  assert.match(r.stderr, new RegExp(`no native binary for ${process.platform}/${process.arch}.*shield\\.${triple}\\.node.*SHIELD_OPTIONAL=1`, 's'))
  r = run(dir, ['-e', code])
  assert.notEqual(r.status, 0)
  assert.match(r.stderr, /shield: no native binary for .*rustup/s)
})

test('cluster of 2 under -r shield/register: each worker watched with its own pid', () => {
  const dir = makeApp()
  const r = run(dir, ['-r', 'shield/register', join(root, '__test__', 'fixtures', 'cluster-app.js')], {
    SHIELD_VIA_REGISTER: '1',
    SHIELD_FLUSH_TIME: '0.1',
  })
  assert.equal(r.status, 0, r.stderr)
  const seen = JSON.parse(r.stdout.trim())
  assert.equal(seen.length, 2)
  for (const s of seen) assert.equal(s.usagePid, s.workerPid)
  assert.notEqual(seen[0].usagePid, seen[1].usagePid)
})
