'use strict'
// The napi-rs platform name of this process (`linux-x64-gnu`, `darwin-arm64`, ...),
// the same names the generated binding loader and npm/<platform> packages use.
const { readFileSync } = require('node:fs')

function isMusl() {
  if (process.platform !== 'linux') return false
  try {
    return readFileSync('/usr/bin/ldd', 'utf8').includes('musl')
  } catch {}
  const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null
  return !!report && !report.header?.glibcVersionRuntime
}

function platformTriple() {
  const { platform, arch } = process
  if (platform === 'linux') return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

module.exports = { platformTriple, isMusl }
