'use strict'
// npm "install" hook. A published install finds its prebuilt binary in the
// platform package and does nothing. A checkout (or an unsupported platform
// with sources) builds the addon with cargo so `require('shield')` works
// right after `npm install`.
const { existsSync, copyFileSync, readdirSync } = require('node:fs')
const { join } = require('node:path')
const { spawnSync } = require('node:child_process')
const { platformTriple } = require('../lib/platform')

const root = join(__dirname, '..')
const triple = platformTriple()
const local = join(root, `shield.${triple}.node`)

function hasPrebuilt() {
  if (existsSync(local)) return true
  try {
    require.resolve(`shield-${triple}/package.json`, { paths: [root] })
    return true
  } catch {
    return false
  }
}

if (process.env.SHIELD_SKIP_BUILD === '1' || hasPrebuilt()) process.exit(0)

if (!existsSync(join(root, 'Cargo.toml'))) {
  console.warn(`shield: no prebuilt binary for ${triple} and no Rust sources to build from; ` +
    'require("shield") will explain how to get one.')
  process.exit(0)
}

console.log(`shield: no prebuilt binary for ${triple}; building from source with cargo (about a minute)`)
const cargo = spawnSync('cargo', ['build', '--release', '--locked'], { cwd: root, stdio: 'inherit' })
if (cargo.error || cargo.status !== 0) {
  console.error('shield: `cargo build --release` failed. Install Rust (https://rustup.rs) and run `npm install` again, ' +
    'or install a published shield package that carries a prebuilt binary for ' + triple + '.')
  process.exit(1)
}
const out = join(root, 'target', 'release')
const lib = readdirSync(out).find((f) => /^(lib)?shield\.(so|dylib|dll)$/.test(f))
if (!lib) {
  console.error(`shield: cargo finished but no library was found in ${out}`)
  process.exit(1)
}
copyFileSync(join(out, lib), local)
console.log(`shield: built ${local}`)
