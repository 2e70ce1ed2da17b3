'use strict'
// Heap snapshot analysis: the work (reading, dominators, diff, attribution) runs in
// Rust on the libuv pool; this module validates arguments, parses the JSON report
// and formats it for people.
const native = require('../binding.js')

function checkPath(name, p) {
  if (typeof p !== 'string' || p.length === 0) {
    throw new TypeError(`shield: ${name} must be a path to a .heapsnapshot file (got ${p === '' ? 'an empty string' : typeof p})`)
  }
}

function topOf(opts) {
  if (opts === undefined || opts === null) return Infinity
  if (typeof opts !== 'object') throw new TypeError('shield: options must be an object like { top: 20 }')
  if (opts.top === undefined) return Infinity
  if (!Number.isInteger(opts.top) || opts.top < 1) throw new RangeError('shield: options.top must be a positive integer')
  return opts.top
}

/**
 * DevTools' Summary view of one snapshot: count, self size and retained size per
 * constructor. Resolves with plain JSON; rejects with an error naming the byte offset
 * for a corrupt or truncated file.
 */
async function heapSummary(path, opts) {
  checkPath('path', path)
  const top = topOf(opts)
  const r = JSON.parse(await native.heapSummary(path))
  if (top !== Infinity) r.classes = r.classes.slice(0, top)
  return r
}

/**
 * DevTools' Comparison view of `after` against `before` (objects matched by id) and
 * the owners holding the growth (`suspects`).
 */
async function heapDiff(before, after, opts) {
  checkPath('before', before)
  checkPath('after', after)
  const top = topOf(opts)
  const r = JSON.parse(await native.heapDiff(before, after))
  if (top !== Infinity) {
    r.classes = r.classes.slice(0, top)
    r.suspects = r.suspects.slice(0, top)
  }
  return r
}

function bytes(b, signed) {
  const a = Math.abs(b)
  const sign = b < 0 ? '-' : signed && b > 0 ? '+' : ''
  if (a < 1000) return `${sign}${a} B`
  if (a < 1e6) return `${sign}${(a / 1e3).toFixed(1)} kB`
  if (a < 1e9) return `${sign}${(a / 1e6).toFixed(1)} MB`
  return `${sign}${(a / 1e9).toFixed(2)} GB`
}

function count(c, signed) {
  const sign = signed && c > 0 ? '+' : ''
  return sign + c.toLocaleString('en-US')
}

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)))
  const line = (r) => r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')
  return [line(header), ...rows.map(line)].join('\n')
}

function clip(s, n) {
  return s.length > n ? s.slice(0, n - 1) + '…' : s
}

function snapshotLine(s) {
  return `${s.path} (${bytes(s.fileBytes)} file, ${count(s.nodeCount)} objects, total ${bytes(s.totalSize)})`
}

/** Human-readable report of heapSummary() output. */
function formatSummary(r, top = 20) {
  const rows = r.classes.slice(0, top).map((c) => [clip(c.name, 60), count(c.count), bytes(c.selfSize), bytes(c.retainedSize)])
  return `Heap snapshot ${snapshotLine(r.snapshot)}\n\n` + table(['Constructor', 'Count', 'Self size', 'Retained size'], rows) + '\n'
}

/** Human-readable report of heapDiff() output. */
function formatDiff(r, top = 10) {
  const out = []
  out.push(`Before: ${snapshotLine(r.before)}`)
  out.push(`After:  ${snapshotLine(r.after)}`)
  out.push(`Growth: ${bytes(r.totalSizeDelta, true)}`)
  out.push('')
  out.push('Top suspects (new objects grouped by the surviving object that holds them):')
  r.suspects.slice(0, top).forEach((s, i) => {
    out.push(`${String(i + 1).padStart(2)}. ${s.text}`)
    const path = s.retainerPath.slice(0, 6).map((p) => `${p.edge} in ${clip(p.holder.className, 40)}`)
    out.push(`    sample: ${clip(s.sample.className, 40)} @${s.sample.id} ← ${path.join(' ← ')}${s.retainerPath.length > 6 ? ' ← …' : ''}`)
  })
  out.push('')
  const rows = r.classes
    .slice(0, top)
    .map((c) => [clip(c.name, 50), count(c.addedCount), count(c.removedCount), count(c.countDelta, true), bytes(c.addedSize), bytes(c.removedSize), bytes(c.sizeDelta, true), bytes(c.retainedDelta, true)])
  out.push(table(['Constructor', '# New', '# Deleted', '# Delta', 'Alloc. size', 'Freed size', 'Size delta', 'Retained delta'], rows))
  return out.join('\n') + '\n'
}

module.exports = { heapSummary, heapDiff, formatSummary, formatDiff }
