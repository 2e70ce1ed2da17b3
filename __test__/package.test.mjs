import test from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, cpSync, copyFileSync, statSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { root } from './helpers.mjs'

const binary = join(root, 'shield.linux-x64-gnu.node')
// The packaging checks are about the linux-x64-gnu artifact CI builds; the
// release workflow runs the other tests on the other platforms.
const linuxOnly = { skip: process.platform !== 'linux' || process.arch !== 'x64' ? 'linux-x64 packaging check' : false }

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120000, ...opts })
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

test('the binary is stripped, small, and links only the C runtime', linuxOnly, () => {
  const size = statSync(binary).size
  assert.ok(size < 4 * 1024 * 1024, `${(size / 1048576).toFixed(2)} MB`)
  assert.doesNotMatch(sh('file', [binary]), /not stripped/)
  const libs = sh('ldd', [binary])
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter(Boolean)
  const allowed = /^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|libgcc_s\.so\.1|librt\.so\.1|\/lib64\/ld-linux-x86-64\.so\.2)$/
  for (const l of libs) assert.match(l, allowed, `unexpected dependency ${l}`)
  console.log(`# shield.linux-x64-gnu.node: ${(size / 1024).toFixed(0)} KiB; links ${libs.join(', ')}`)
})

test('packed platform + main packages install into a fresh app with no Rust on PATH', linuxOnly, () => {
  const work = mkdtempSync(join(tmpdir(), 'shield-pack-'))
  // The platform package, as the release workflow assembles it.
  const plat = join(work, 'linux-x64-gnu')
  cpSync(join(root, 'npm', 'linux-x64-gnu'), plat, { recursive: true })
  copyFileSync(binary, join(plat, 'shield.linux-x64-gnu.node'))
  for (const f of ['LICENSE', 'THIRD-PARTY-NOTICES.md']) copyFileSync(join(root, f), join(plat, f))
  sh('npm', ['pack', '--silent', '--pack-destination', work], { cwd: plat })
  sh('npm', ['pack', '--silent', '--pack-destination', work], { cwd: root })
  const tgz = readdirSync(work).filter((f) => f.endsWith('.tgz'))
  const platTgz = tgz.find((f) => f.startsWith('shield-linux-x64-gnu-'))
  const mainTgz = tgz.find((f) => /^shield-\d/.test(f))
  assert.ok(platTgz && mainTgz, tgz.join())

  const app = join(work, 'app')
  sh('mkdir', [app])
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }))
  // No cargo, no rustc: only node's and the system's directories.
  const PATH = [dirname(process.execPath), '/usr/bin', '/bin'].join(':')
  assert.notEqual(spawnSync('cargo', ['--version'], { env: { PATH } }).status, 0, 'cargo must not be reachable')
  sh('npm', ['install', '--offline', '--no-audit', '--no-fund', join(work, platTgz), join(work, mainTgz)], { cwd: app, env: { ...process.env, PATH } })
  const out = sh(process.execPath, ['-e', "const s = require('shield'); s.start({ flushTime: 60 }); const u = s.flush(); console.log(u.pid === process.pid, typeof u.heap.used)"], { cwd: app, env: { PATH } })
  assert.equal(out.trim(), 'true number')
  const files = sh('npm', ['ls', '--parseable', '--all'], { cwd: app })
  assert.match(files, /node_modules\/shield-linux-x64-gnu/)
  // The packed main package carries no binary and no Rust sources.
  const listing = sh('tar', ['tzf', join(work, mainTgz)])
  assert.doesNotMatch(listing, /\.node$|src\/|Cargo/m)
  // Every package ships the licence and the third-party notice.
  for (const t of [mainTgz, platTgz]) assert.match(sh('tar', ['tzf', join(work, t)]), /package\/LICENSE\n[^]*package\/THIRD-PARTY-NOTICES\.md|package\/THIRD-PARTY-NOTICES\.md\n[^]*package\/LICENSE/)
  // The demo runs from the packed install.
  const demo = sh(process.execPath, [join(app, 'node_modules', 'shield', 'examples', 'demo.js')], { cwd: app, env: { PATH } })
  assert.match(demo, /!! stall: the loop was stuck \d+ ms in renderReport/)
  assert.match(demo, /!! emergency \((stall|threshold)\).*captured for it: cpuprofile .*flamegraph/)
  assert.match(demo, /^  shield_stalls_total\{pid="\d+"\} [1-9]/m)
})
