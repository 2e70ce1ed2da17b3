// Types of shield's public API (hand-written; the raw native surface is in binding.d.ts).

/** A duration: a string with a unit ('200ms', '1.5s', '2m', '1h') or a number of milliseconds. */
export type Duration = string | number
/** A size: a string with a unit ('512MB', '1.5GB'; 1024-based) or a number of bytes. */
export type Size = string | number

/** Distribution of heartbeat delays, milliseconds (count is a plain count). */
export interface LagStats {
  count: number
  min: number
  mean: number
  max: number
  stddev: number
  p50: number
  p90: number
  p99: number
}

export interface HeapSpace {
  /** V8 space name without `_space`: new, old, code, large_object, ... */
  name: string
  size: number
  used: number
  available: number
}

export interface GcKindStats {
  count: number
  /** Total pause, ms. */
  pauseMs: number
  /** Longest pause, ms. */
  pauseMaxMs: number
}

export interface GcSpan extends GcKindStats {
  /** Scavenges. */
  minor: GcKindStats
  /** Mark-sweep-compact. */
  major: GcKindStats
  /** Incremental marking steps. */
  incremental: GcKindStats
  /** Weak callback processing. */
  weakcb: GcKindStats
  /** Heap around collections (gc-stats' before/after/diff); with the gcHeapStats option, where v8.GCProfiler exists. */
  heap?: {
    collections: number
    /** used before − used after, summed, bytes. */
    reclaimedBytes: number
    lastBeforeBytes: number
    lastAfterBytes: number
  }
}

/** One flush's snapshot. */
export interface Usage {
  /** ms since the epoch. */
  timestamp: number
  pid: number
  /** worker_threads.threadId (0 on the main thread). */
  threadId: number
  /** Process uptime, s. */
  uptime: number
  /** Time since the previous flush, ms (0 on the first). */
  intervalMs: number
  /** CPU percent, user + system, over the interval (v8-perf-shield's `cpu`). Absent on the first flush. */
  cpu?: number
  cpuUser?: number
  cpuSystem?: number
  /** Resident set size, bytes (v8-perf-shield's `memory`). */
  memory: number
  rss: number
  heap: {
    used: number
    total: number
    /** heap_size_limit. */
    limit: number
    external: number
    arrayBuffers: number
    /** used / limit. */
    usedRatio: number
    spaces: HeapSpace[]
  }
  eventLoop: {
    /** Heartbeat delays over the fixed window (option `window`); absent when the window holds none. */
    lag?: LagStats
    lagSinceStart?: LagStats
    lastLagMs?: number
    /** Age of a heartbeat still waiting for the loop: a block in progress, ms. */
    pendingMs: number
    /** Longest delay since the previous flush (a block in progress included), ms. */
    intervalMaxMs: number
    /** Time spent in delays of 10 ms or more over the window (a block in progress included), ms. */
    blockedMs: number
    /** blockedMs / window length. */
    blockedRatio: number
    /** True while a stall (option `stall`) is in progress. */
    stalled: boolean
    /** Stalls since start, and the time spent in them (the one in progress included), ms. */
    stalls: number
    stallMs: number
    /** Event-loop utilization over the interval, 0..1. */
    utilization?: number
  }
  /** GC over the interval. */
  gc: GcSpan
  /** GC since start. */
  gcTotal: GcSpan
  /** Rates over the fixed window. */
  window: { ms: number; cpu?: number; utilization?: number }
  /** Active libuv handles and requests. */
  handles: number
  requests: number
}

export interface Thresholds {
  /** p99 heartbeat delay over the window (a block in progress counts). */
  eventLoopLagP99?: Duration
  /** Longest delay since the previous flush (a block in progress counts). */
  eventLoopLagMax?: Duration
  /** Share of the window spent blocked (0..1]. */
  eventLoopBlockedRatio?: number
  /** ELU over the interval (0..1]. */
  eventLoopUtilization?: number
  heapUsed?: Size
  /** heap used / heap limit (0..1]. */
  heapUsedRatio?: number
  rss?: Size
  /** CPU percent over the interval (can exceed 100 on several cores). */
  cpuPercent?: number
  /** Longest GC pause in the interval. */
  gcPauseMax?: Duration
  /** How long a threshold must hold before it fires (default 0: at once). */
  for?: Duration
}

export interface Breach {
  metric: keyof Omit<Thresholds, 'for'>
  value: number
  limit: number
  heldMs: number
}

export interface StackFrame {
  functionName: string
  /** Script URL (`file:///app/server.js`, `node:internal/...`); '' when unknown. */
  url: string
  /** 1-based. */
  lineNumber: number
  columnNumber: number
}

export interface StallEvent {
  /** How long the loop was stuck, ms. */
  duration: number
  thresholdMs: number
  /** Distinct sampled stacks (innermost frame first) with sample counts; empty without capture. */
  stacks: { frames: StackFrame[]; count: number }[]
  /** The exact stack at the first JavaScript statement the inspector could stop at. */
  pausedStack: StackFrame[] | null
  /** Folded stacks ("outer;inner count"), the input of flame graph tools. */
  folded: string[]
  /** The application frame that was running (from pausedStack, else the profile). */
  culprit: (StackFrame & { samples: number }) | null
  /** The inspector could not run during the stall: native code or a builtin blocked the loop. */
  outsideJs: boolean
  /** How long the loop had been stuck when the watchdog noticed, ms (capture only). */
  detectedAfterMs: number | null
  /** From detection to the profiler sampling the stuck loop, ms (null when it could not). */
  captureLatencyMs: number | null
  /** Stacks were captured (main thread with `stall.capture`, inspector not in use). */
  captured: boolean
  /** The .json artifact with this event, the stall's own .cpuprofile and its SVG flame graph. */
  path: string | null
  profilePath: string | null
  flamegraphPath: string | null
}

export interface EmergencyEvent {
  type: 'threshold' | 'condition' | 'stall'
  breaches: Breach[]
  usage: Usage
  history: Usage[]
  /**
   * Files the `actions` wrote for this emergency. Empty when the 'emergency'
   * event is emitted; complete when `emergencyAction` runs (it waits for the
   * captures, so it runs `samplingTime` later when a profile is captured).
   */
  artifacts: Artifact[]
  /** With type 'stall'. */
  stall?: StallEvent
}

/** Limits that make `/healthz` answer 503 (any thread, or the process for rss). */
export interface HealthLimits {
  /** A heartbeat unanswered this long means the loop is blocked (default '1s'). */
  blocked?: Duration
  eventLoopLagP99?: Duration
  eventLoopUtilization?: number
  heapUsedRatio?: number
  rss?: Size
}

export interface PushgatewayOptions {
  /** Base URL, http only, e.g. 'http://127.0.0.1:9091'. */
  url: string
  /** Default 'nodejs'. */
  job?: string
  /** Push period (default '15s'). */
  interval?: Duration
  /** Extra grouping labels; `instance` (host name) and `pid` are added unless given. Values with '/' or empty go as @base64. */
  groupingLabels?: Record<string, string | number>
}

export interface PrometheusOptions {
  /** Listener port (0: any free port; omit for no listener). */
  port?: number
  /** Default '127.0.0.1'. */
  host?: string
  /** Default '/metrics'. */
  path?: string
  /** Default '/healthz' (e.g. '/health/status'). */
  healthPath?: string
  /** Prepended to every metric name (prom-client's `prefix`). */
  prefix?: string
  /** Added to every series (prom-client's `labels`); pid, thread, kind, space, le, ... are reserved. */
  labels?: Record<string, string | number>
  health?: HealthLimits
  pushgateway?: PushgatewayOptions
}

export interface FalconOptions {
  /** Default 'http://127.0.0.1:1988/v1/push' (http only). */
  url?: string
  /** Push period, whole seconds (default 60). */
  step?: number | string
  /** Default: the host name. */
  endpoint?: string
  /** Added to every item's tags (pid, thread, type, space, gctype are set by shield). */
  tags?: Record<string, string | number>
}

/** What an emergency (or the signal) captures. 'flamegraph' implies a CPU profile and also renders a heap profile when one is taken. */
export type Action = 'cpuprofile' | 'flamegraph' | 'heapsnapshot' | 'heapprofile'

/** Why an artifact was taken (also in its `.json` sidecar). */
export interface Trigger {
  type: 'api' | 'threshold' | 'condition' | 'signal'
  breaches?: Breach[]
  signal?: string
  /** ISO time of the usage snapshot that fired. */
  at?: string
}

/** A file shield wrote: `<kind>-<pid>-<thread>-<iso time>.<ext>`, mode 0600, in logsPath. */
export interface Artifact {
  kind: 'cpuprofile' | 'heapsnapshot' | 'heapprofile' | 'flamegraph'
  path: string
  /** Size of the file, bytes. */
  bytes: number
  /** The `.json` sidecar: kind, pid, threadId, createdAt, node, trigger, usage at the time. */
  sidecar: string | null
  /** Older artifacts removed to keep maxArtifacts/maxDiskBytes. */
  rotated: string[]
  trigger: Trigger
}

export interface ProfileArtifact extends Artifact {
  /** Samples in the profile. */
  samples: number
}

export interface SnapshotArtifact extends Artifact {
  /** Chunks streamed to the writer thread. */
  chunks: number
  /** How it was taken: v8.getHeapSnapshot() ('stream') or the inspector fallback. */
  via: 'stream' | 'inspector'
  /** Time the snapshot held this thread, ms. */
  pauseMs: number
}

export interface FlamegraphOptions {
  /** Write the SVG here (atomically) and resolve the path instead of the SVG text. */
  output?: string
  /** A second profile: draw a differential flame graph (red: grew since `before`, blue: shrank). */
  before?: ProfileInput
  title?: string
  subtitle?: string
  /** Leave out frames narrower than this many pixels (default 0.1). */
  minWidth?: number
  /** Merge stacks from the leaf: who calls the hot function. */
  reverse?: boolean
  /** inferno palette: 'hot' (CPU default), 'mem' (heap default), 'io', 'red', 'green', 'blue', 'aqua', 'yellow', 'purple', 'orange', 'js', 'java', 'perl', 'python', 'rust', 'wakeup'. */
  colors?: string
  /** Image width, px (default 1200). */
  width?: number
  /** Differential: scale `before` to the total of the input (default true). */
  normalize?: boolean
}

/** A `.cpuprofile`/`.heapprofile`: a file path, its bytes, the parsed object, or a capture result. */
export type ProfileInput = string | Uint8Array | object | { path: string }

export interface Options {
  /** Where artifacts are written (default: `<cwd>/shield-logs`, created 0700). */
  logsPath?: string
  /** CPU profile length, s (v8-perf-shield; default 60). */
  samplingTime?: number | string
  /** Usage snapshot period, s (default 3). */
  flushTime?: number | string
  /** History ring size (default 100). */
  cacheMaxLimit?: number
  /** Accepted for v8-perf-shield compatibility; unused. */
  usageOptions?: object
  /** Called each flush from the second on; return true for an emergency. */
  emergencyCondition?: (lastUsage: Usage, currentUsage: Usage, usageHistory: Usage[]) => boolean | undefined
  /** Called at most once per cooldown when an emergency fires. */
  emergencyAction?: (usageHistory: Usage[], event: EmergencyEvent) => unknown
  /** Minimum time between two emergencies (default '60s'). */
  cooldown?: Duration
  /** Length of the fixed lag window (default '60s', 1 s slots). */
  window?: Duration
  /** Heartbeat period (default '10ms'). */
  heartbeatInterval?: Duration
  thresholds?: Thresholds
  /** GC pause histogram buckets, seconds (prom-client's default [0.001, 0.01, 0.1, 1, 2, 5]). */
  gcDurationBuckets?: number[]
  /** Heap used before/after every GC from v8.GCProfiler (gc-stats' data). Adds ~45 µs to each GC pause; default false. */
  gcHeapStats?: boolean
  /** What an emergency captures (default: nothing). The CPU and heap profiles last samplingTime. */
  actions?: Action[]
  /** Most artifacts kept in logsPath; the oldest are removed first (default 20). */
  maxArtifacts?: number
  /** Most bytes kept in logsPath, sidecars included (default '1GB'); a stream that grows past it is abandoned. */
  maxDiskBytes?: Size
  /** CPU profiler sampling interval: microseconds, or '1ms' / '500us' (default 1000 µs). */
  samplingInterval?: number | string
  /** Heap sampling profiler: average bytes between samples (default 32768). */
  heapSamplingInterval?: Size
  /**
   * A heap snapshot is refused (an 'error') when heap limit − heap used is below this:
   * a ratio of the heap limit (default 0.25) or a size ('256MB').
   */
  heapSnapshotMargin?: number | Size
  /** v8.setHeapSnapshotNearHeapLimit(n): Node writes up to n snapshots near an OOM, to its diagnostic dir (default 0: off). */
  heapSnapshotNearHeapLimit?: number
  /** A signal that captures (main thread only): 'SIGUSR2' takes a heap snapshot; or { name, actions }. SIGUSR1 is Node's. */
  signal?: string | false | { name: string; actions?: Action[] }
  /** Stuck-loop detection: `true` for the defaults, or details. */
  stall?:
    | boolean
    | {
        /** A heartbeat unanswered this long is a stall (default '500ms'). */
        threshold?: Duration
        /** Capture the blocking stacks with a sentinel worker (default true; main thread only). */
        capture?: boolean
        /** At most this many distinct stacks in the event (default 50). */
        samples?: number
        /** Profiler sampling interval during a stall (default '1ms'). */
        interval?: Duration
      }
  /** Prometheus listener (/metrics, /healthz) and Pushgateway push, all on Rust threads. */
  prometheus?: PrometheusOptions
  /** Open-Falcon agent push from a Rust thread. */
  falcon?: FalconOptions
}

export interface ShieldStats {
  errors: number
  suppressedEmergencies: number
  heartbeatFailures: number
  droppedLagSamples: number
}

export interface Shield {
  /** v8-perf-shield call form: same as start(options). */
  (options?: Options): Shield
  /** Starts watching this thread; a second call replaces the first. Throws TypeError/RangeError on bad options. */
  start(options?: Options): Shield
  /** Stops watching; usage() and history() keep what was collected. */
  stop(): Shield
  /** Latest snapshot, or null before the first flush. */
  usage(): Usage | null
  /** The ring, oldest first. */
  history(): Usage[]
  /** Takes a snapshot now. */
  flush(): Usage | null
  /** Counters about shield itself. */
  stats(): ShieldStats | null
  /** DevTools' Summary of a `.heapsnapshot` file, computed off the JS thread. Rejects naming the byte offset of corrupt input. */
  heapSummary(path: string, options?: { top?: number }): Promise<HeapSummary>
  /** DevTools' Comparison of two snapshots (by object id) and the owners holding the growth. */
  heapDiff(before: string, after: string, options?: { top?: number }): Promise<HeapDiff>
  /** Prometheus exposition of every thread in this process: text 0.0.4, or OpenMetrics 1.0 with { openMetrics: true }. */
  metrics(options?: { openMetrics?: boolean }): string
  /** Where the Prometheus listener is bound, or null. */
  metricsAddress(): { host: string; port: number } | null
  readonly running: boolean
  /** Captures a CPU profile for `duration` (default samplingTime) with `interval` µs sampling. */
  cpuProfile(options?: { duration?: Duration; interval?: number }): Promise<ProfileArtifact>
  /** Streams a heap snapshot to logsPath (refused near the heap limit, see heapSnapshotMargin). */
  heapSnapshot(): Promise<SnapshotArtifact>
  /** Captures a sampling heap profile (who allocates what is still live) for `duration`; `interval` bytes. */
  heapProfile(options?: { duration?: Duration; interval?: number }): Promise<ProfileArtifact>
  /** Renders a profile as an SVG flame graph off the JS thread: the SVG text, or the path with `output`. Errors carry `offset` for bad input. */
  flamegraph(input: ProfileInput, options?: FlamegraphOptions): Promise<string>
  /** Differential flame graph of two profiles. */
  flamegraphDiff(before: ProfileInput, after: ProfileInput, options?: Omit<FlamegraphOptions, 'before'>): Promise<string>
  /** Folded stacks ('a;b;c weight' lines) of a profile, for other flame graph tools. */
  foldStacks(input: ProfileInput): Promise<string>
  on(event: 'usage', listener: (usage: Usage) => void): Shield
  on(event: 'artifact', listener: (artifact: Artifact) => void): Shield
  on(event: 'emergency', listener: (event: EmergencyEvent) => void): Shield
  on(event: 'error', listener: (error: Error) => void): Shield
  on(event: 'stall', listener: (event: StallEvent) => void): Shield
  on(event: string, listener: (...args: any[]) => void): Shield
  once(event: string, listener: (...args: any[]) => void): Shield
  off(event: string, listener: (...args: any[]) => void): Shield
  addListener(event: string, listener: (...args: any[]) => void): Shield
  removeListener(event: string, listener: (...args: any[]) => void): Shield
  removeAllListeners(event?: string): Shield
  prependListener(event: string, listener: (...args: any[]) => void): Shield
  listenerCount(event: string): number
  default: Shield
}

/** One snapshot file as analysed. Sizes in bytes. */
export interface HeapSnapshotInfo {
  path: string
  fileBytes: number
  nodeCount: number
  edgeCount: number
  /** DevTools' total: the root's retained size plus `extra_native_bytes`. */
  totalSize: number
  /** Nodes not reachable from the root (DevTools reports these as a problem). */
  unreachable: number
}

/** One row of DevTools' Summary view. Sizes in bytes. */
export interface HeapClass {
  /** Constructor / class name as DevTools shows it (`Map`, `(string)`, `{a, b}`, …). */
  name: string
  /** DevTools' class key: `",Name"`, or `"script,line,column,Name"` for located constructors. */
  key: string
  count: number
  selfSize: number
  retainedSize: number
  /** Shortest distance from a user root. */
  distance: number
}

export interface HeapSummary {
  snapshot: HeapSnapshotInfo
  /** Largest retained size first. */
  classes: HeapClass[]
}

/** One row of DevTools' Comparison view, plus retained sizes. Sizes in bytes. */
export interface HeapClassDiff {
  name: string
  key: string
  addedCount: number
  removedCount: number
  countDelta: number
  addedSize: number
  removedSize: number
  sizeDelta: number
  countBefore: number
  countAfter: number
  retainedBefore: number
  retainedAfter: number
  retainedDelta: number
}

export interface HeapNodeRef {
  id: number
  name: string
  className: string
  type: string
  selfSize: number
  retainedSize: number
}

/** A surviving object that holds new objects, ranked by the bytes it holds. */
export interface HeapSuspect {
  /** e.g. "+2.9 MB in 42 k new objects (mostly (string): …), held by `sessions` (Object) of `MemoryStore` ← `store` in closure `session` (app.js)" */
  text: string
  addedSize: number
  addedCount: number
  owner: HeapNodeRef
  /** How the owner is reached, nearest link first. */
  heldBy: string
  topClasses: { name: string; count: number; size: number }[]
  /** The largest new object of the group… */
  sample: HeapNodeRef
  /** …and its shortest retainer path to a root, nearest holder first. */
  retainerPath: { edge: string; edgeType: string; holder: HeapNodeRef }[]
}

export interface HeapDiff {
  before: HeapSnapshotInfo
  after: HeapSnapshotInfo
  totalSizeDelta: number
  /** Constructors with new or deleted objects, largest size delta first. */
  classes: HeapClassDiff[]
  suspects: HeapSuspect[]
}

declare const shield: Shield
export = shield
