import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

export const require = createRequire(import.meta.url)
export const root = join(dirname(fileURLToPath(import.meta.url)), '..')
export const shield = require(root)

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Blocks the event loop for `ms` milliseconds. */
export function busyWait(ms) {
  const end = performance.now() + ms
  while (performance.now() < end);
}

/** Resolves with the first `event` the shield emits, or rejects after `ms`. */
export function nextEvent(name, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      shield.off(name, on)
      reject(new Error(`no '${name}' event within ${ms} ms`))
    }, ms)
    const on = (v) => {
      clearTimeout(t)
      shield.off(name, on)
      resolve(v)
    }
    shield.on(name, on)
  })
}
