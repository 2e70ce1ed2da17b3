// Chrome DevTools' own heap snapshot worker, driven headlessly in Node as the
// reference for shield's numbers. The worker ships as TypeScript in the npm package
// `chrome-devtools-frontend`; esbuild bundles HeapSnapshotLoader + HeapSnapshot into
// one ES module (cached under node_modules/.cache), with DevTools' i18n module
// replaced by a stub (the worker only uses it for progress strings).
import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

const require = createRequire(import.meta.url)

// The DevTools sources use ES2023 array methods, which Node 18 lacks; the
// reference must run on every Node the suite runs on.
for (const [name, impl] of Object.entries({
  toSorted(cmp) {
    return [...this].sort(cmp)
  },
  toReversed() {
    return [...this].reverse()
  },
})) {
  if (!Array.prototype[name]) Object.defineProperty(Array.prototype, name, { value: impl, configurable: true, writable: true })
}

if (!Promise.withResolvers) {
  // Node < 22: DevTools' worker uses Promise.withResolvers.
  Promise.withResolvers = function () {
    let resolve, reject
    const promise = new Promise((a, b) => {
      resolve = a
      reject = b
    })
    return { promise, resolve, reject }
  }
}

let bundle = null

async function worker() {
  if (bundle) return bundle
  const pkg = path.dirname(require.resolve('chrome-devtools-frontend/package.json'))
  const version = require('chrome-devtools-frontend/package.json').version
  const root = path.join(pkg, 'front_end')
  const out = path.join(pkg, '..', '.cache', `shield-devtools-heap-${version}.mjs`)
  if (!fs.existsSync(out)) {
    const esbuild = require('esbuild')
    const dir = path.join(root, 'entrypoints', 'heap_snapshot_worker')
    await esbuild.build({
      stdin: {
        contents: `export * from ${JSON.stringify(path.join(dir, 'HeapSnapshotLoader.ts'))}; export * from ${JSON.stringify(path.join(dir, 'HeapSnapshot.ts'))};`,
        resolveDir: root,
        loader: 'ts',
      },
      bundle: true,
      format: 'esm',
      platform: 'node',
      outfile: out + '.tmp.mjs',
      logLevel: 'error',
      plugins: [
        {
          name: 'stub-i18n',
          setup(b) {
            b.onResolve({ filter: /i18n\/i18n\.js$/ }, () => ({ path: 'i18n', namespace: 'stub' }))
            b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
              loader: 'js',
              contents:
                'export const i18n = { serializeUIString: (s, v) => JSON.stringify({ s, v }), registerUIStrings: () => ({}),' +
                ' getLocalizedString: (_, s) => s, getLazilyComputedLocalizedString: (_, s) => () => s,' +
                ' lockedLazyString: (s) => () => s, lockedString: (s) => s }; export const DevToolsLocale = {}',
            }))
          },
        },
      ],
    })
    fs.renameSync(out + '.tmp.mjs', out)
  }
  bundle = await import(pathToFileURL(out).href)
  return bundle
}

/** Loads a snapshot the way DevTools does (chunked text into its loader, two-thread init on one thread). */
export async function load(file) {
  const { HeapSnapshotLoader, SecondaryInitManager } = await worker()
  const loader = new HeapSnapshotLoader(undefined)
  const fd = fs.openSync(file, 'r')
  const buf = Buffer.alloc(1 << 20)
  const dec = new TextDecoder()
  let n
  while ((n = fs.readSync(fd, buf)) > 0) loader.write(dec.decode(buf.subarray(0, n), { stream: true }))
  fs.closeSync(fd)
  loader.close()
  const ch = new MessageChannel()
  new SecondaryInitManager(ch.port2)
  // DevTools prints unreachable-node problem reports with console.warn; keep test output quiet.
  const warn = console.warn
  console.warn = () => {}
  try {
    return await loader.buildSnapshot(ch.port1)
  } finally {
    console.warn = warn
    ch.port1.close()
    ch.port2.close()
  }
}

/** DevTools' Summary view: class key → { name, count, self, retained }. */
export async function summary(file) {
  const snap = await load(file)
  const out = {}
  for (const [key, a] of Object.entries(snap.aggregatesWithFilter({}))) {
    out[key] = { name: a.name, count: a.count, self: a.self, retained: a.maxRet }
  }
  return { totalSize: snap.totalSize, classes: out }
}

/** DevTools' Comparison view: class key → { name, addedCount, removedCount, addedSize, removedSize }. */
export async function diff(beforeFile, afterFile) {
  const before = await load(beforeFile)
  const after = await load(afterFile)
  const base = before.aggregatesForDiff(after.interfaceDefinitions())
  const d = after.calculateSnapshotDiff(1, base)
  const out = {}
  for (const [key, c] of Object.entries(d)) {
    out[key] = { name: c.name, addedCount: c.addedCount, removedCount: c.removedCount, addedSize: c.addedSize, removedSize: c.removedSize }
  }
  return out
}

// CLI: node __test__/devtools-heap.mjs <snapshot> [<after>] prints the reference as JSON.
if (import.meta.url === pathToFileURL(process.argv[1] || '').href) {
  const [a, b] = process.argv.slice(2)
  const r = b ? await diff(a, b) : await summary(a)
  process.stdout.write(JSON.stringify(r) + '\n')
}
