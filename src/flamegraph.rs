//! Chrome DevTools profiles (`.cpuprofile`, `.heapprofile`) to folded stacks,
//! and folded stacks to an SVG flame graph with `inferno`.
//!
//! - Frames are `name (file:line)` so two functions with the same name stay
//!   apart; `(anonymous)` for unnamed functions; V8's `(program)`, `(idle)`
//!   and `(garbage collector)` are kept, drawn in grey.
//! - A CPU profile weighs each stack by its samples; a heap sampling profile
//!   by the bytes its sampled allocations still hold (an allocation flame graph).
//! - Bad input is an error carrying the byte offset where parsing stopped,
//!   never a panic; a heap profile nested deeper than [`MAX_DEPTH`] is refused
//!   before parsing, so recursion cannot overflow the stack.
//!
//! No napi types here.

use std::borrow::Cow;
use std::collections::HashMap;

use ahash::AHashMap;
use std::str::FromStr;

use inferno::flamegraph::color::{BackgroundColor, Color, PaletteMap};
use inferno::flamegraph::{self as fg, Palette};
use serde::Deserialize;

/// Deepest JSON nesting accepted in a heap profile (each stack frame is two levels).
pub const MAX_DEPTH: usize = 40_000;
/// Stack for the thread that parses and renders (recursion in the heap profile
/// parser and in dropping its tree); virtual memory, touched only as deep as used.
pub const PARSE_STACK_BYTES: usize = 512 << 20;

#[derive(Debug, Clone, PartialEq)]
pub struct ProfileError {
    /// Byte offset into the input where the problem was found, when there is one.
    pub offset: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.offset {
            Some(o) => write!(f, "{} at byte {o}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ProfileError {}

fn plain(message: impl Into<String>) -> ProfileError {
    ProfileError { offset: None, message: message.into() }
}

/// Turns serde_json's line/column (1-based, column in bytes) into a byte offset.
fn offset_of(input: &[u8], line: usize, column: usize) -> usize {
    if line == 0 {
        return 0;
    }
    let mut start = 0;
    let mut seen = 1;
    if line > 1 {
        for (i, b) in input.iter().enumerate() {
            if *b == b'\n' {
                seen += 1;
                if seen == line {
                    start = i + 1;
                    break;
                }
            }
        }
    }
    (start + column.saturating_sub(1)).min(input.len())
}

fn json_error(input: &[u8], e: serde_json::Error) -> ProfileError {
    let what = match e.classify() {
        serde_json::error::Category::Eof => "truncated JSON",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "unexpected profile structure",
        serde_json::error::Category::Io => "read error",
    };
    let msg = e.to_string();
    // serde_json appends " at line L column C"; the offset replaces it.
    let msg = msg.rsplit_once(" at line ").map_or(msg.as_str(), |(m, _)| m).to_string();
    // At end of input serde_json points at the last byte read; the input ended after it.
    let offset = if e.classify() == serde_json::error::Category::Eof { input.len() } else { offset_of(input, e.line(), e.column()) };
    ProfileError { offset: Some(offset), message: format!("{what}: {msg}") }
}

/// Deepest `{`/`[` nesting outside strings; `Err(offset)` past `max`.
fn check_depth(input: &[u8], max: usize) -> Result<(), usize> {
    let mut depth = 0usize;
    let mut in_str = false;
    let mut esc = false;
    for (i, &b) in input.iter().enumerate() {
        if in_str {
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return Err(i);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallFrame<'a> {
    #[serde(borrow, default)]
    function_name: Cow<'a, str>,
    #[serde(borrow, default)]
    url: Cow<'a, str>,
    #[serde(default = "minus_one")]
    line_number: i64,
}

fn minus_one() -> i64 {
    -1
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CpuNode<'a> {
    id: u64,
    #[serde(borrow)]
    call_frame: CallFrame<'a>,
    #[serde(default)]
    hit_count: u64,
    #[serde(default)]
    children: Vec<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CpuProfile<'a> {
    #[serde(borrow)]
    nodes: Vec<CpuNode<'a>>,
    #[serde(default)]
    start_time: f64,
    #[serde(default)]
    end_time: f64,
    #[serde(default)]
    samples: Option<Vec<u64>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeapNode<'a> {
    #[serde(borrow)]
    call_frame: CallFrame<'a>,
    #[serde(default)]
    self_size: u64,
    #[serde(default, borrow)]
    children: Vec<HeapNode<'a>>,
}

#[derive(Deserialize)]
struct HeapProfile<'a> {
    #[serde(borrow)]
    head: HeapNode<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Cpu,
    Heap,
}

/// A profile as a trie of stacks: each node is (parent, frame), merged so
/// that one path appears once, with the weight of the samples (or bytes) that
/// ended exactly there. Folded lines are made from it only when needed, and
/// only for the stacks that can show.
#[derive(Debug, Clone)]
pub struct Folded {
    pub kind: Kind,
    /// Frame names, interned.
    frames: Vec<String>,
    /// Trie nodes: (parent index or NONE, frame index, self weight). Parents come first.
    nodes: Vec<(u32, u32, u64)>,
    pub total: u64,
    /// Profile length for a CPU profile, µs.
    pub duration_us: f64,
}

const NONE: u32 = u32::MAX;

/// Node id → position: a plain table when ids are dense (V8 numbers them 1..n).
enum IdIndex {
    Dense(Vec<u32>),
    Sparse(AHashMap<u64, u32>),
}

impl IdIndex {
    fn new(ids: impl Iterator<Item = u64> + Clone, n: usize) -> Result<Self, ProfileError> {
        let dup = |id: u64| plain(format!("CPU profile: node id {id} appears twice"));
        let max = ids.clone().max().unwrap_or(0);
        if max <= (4 * n as u64 + 16) {
            let mut t = vec![u32::MAX; max as usize + 1];
            for (i, id) in ids.enumerate() {
                if t[id as usize] != u32::MAX {
                    return Err(dup(id));
                }
                t[id as usize] = i as u32;
            }
            Ok(IdIndex::Dense(t))
        } else {
            let mut m = AHashMap::with_capacity(n);
            for (i, id) in ids.enumerate() {
                if m.insert(id, i as u32).is_some() {
                    return Err(dup(id));
                }
            }
            Ok(IdIndex::Sparse(m))
        }
    }

    fn get(&self, id: u64) -> Option<usize> {
        match self {
            IdIndex::Dense(t) => t.get(usize::try_from(id).ok()?).copied().filter(|&i| i != u32::MAX).map(|i| i as usize),
            IdIndex::Sparse(m) => m.get(&id).map(|&i| i as usize),
        }
    }
}

#[derive(Default)]
struct TrieBuilder {
    frame_ids: AHashMap<String, u32>,
    frames: Vec<String>,
    children: AHashMap<(u32, u32), u32>,
    nodes: Vec<(u32, u32, u64)>,
}

impl TrieBuilder {
    fn frame(&mut self, name: String) -> u32 {
        if let Some(&id) = self.frame_ids.get(&name) {
            return id;
        }
        let id = self.frames.len() as u32;
        self.frames.push(name.clone());
        self.frame_ids.insert(name, id);
        id
    }

    fn child(&mut self, parent: u32, frame: u32) -> u32 {
        let next = self.nodes.len() as u32;
        let id = *self.children.entry((parent, frame)).or_insert(next);
        if id == next {
            self.nodes.push((parent, frame, 0));
        }
        id
    }

    fn finish(self, kind: Kind, duration_us: f64) -> Folded {
        let total = self.nodes.iter().map(|n| n.2).sum();
        Folded { kind, frames: self.frames, nodes: self.nodes, total, duration_us }
    }
}

impl Folded {
    /// True when nothing was sampled.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Weight of each node's whole subtree.
    fn totals(&self) -> Vec<u64> {
        let mut t: Vec<u64> = self.nodes.iter().map(|n| n.2).collect();
        for i in (0..self.nodes.len()).rev() {
            let p = self.nodes[i].0;
            if p != NONE {
                t[p as usize] += t[i];
            }
        }
        t
    }

    /// `(stack, weight)` pairs. A subtree lighter than `min_total` becomes one
    /// line for its top frame carrying the subtree's weight: inferno would not
    /// draw its frames anyway (narrower than min_width), and the top frame
    /// keeps its place among its siblings, so every visible frame stays put.
    pub fn stacks_pruned(&self, min_total: u64) -> Vec<(String, u64)> {
        self.pruned(min_total).into_iter().map(|(s, w, _)| (s, w)).collect()
    }

    /// Like [`Folded::stacks_pruned`]; the third field is, for the top of a
    /// hidden subtree, the length of its parent's path (for merging siblings).
    fn pruned(&self, min_total: u64) -> Vec<(String, u64, Option<usize>)> {
        let n = self.nodes.len();
        let totals = self.totals();
        // Roots always stay.
        let visible = |i: usize| totals[i] >= min_total || self.nodes[i].0 == NONE;
        // Children lists (CSR), then one depth-first walk with a shared path buffer.
        let mut start = vec![0u32; n + 1];
        for &(p, _, _) in &self.nodes {
            if p != NONE {
                start[p as usize + 1] += 1;
            }
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut kids = vec![0u32; start[n] as usize];
        let mut roots = Vec::new();
        for (i, &(p, _, _)) in self.nodes.iter().enumerate() {
            if p == NONE {
                roots.push(i as u32);
            } else {
                kids[fill[p as usize] as usize] = i as u32;
                fill[p as usize] += 1;
            }
        }
        let mut out = Vec::new();
        let mut path = String::new();
        let mut todo: Vec<(u32, usize)> = roots.iter().rev().map(|&r| (r, 0)).collect();
        while let Some((i, len)) = todo.pop() {
            let i = i as usize;
            path.truncate(len);
            if len > 0 {
                path.push(';');
            }
            path.push_str(&self.frames[self.nodes[i].1 as usize]);
            if visible(i) {
                if self.nodes[i].2 > 0 {
                    out.push((path.clone(), self.nodes[i].2, None));
                }
                let here = path.len();
                for &c in kids[start[i] as usize..start[i + 1] as usize].iter().rev() {
                    todo.push((c, here));
                }
            } else if totals[i] > 0 {
                // The top of a hidden subtree: one line with its whole weight; nothing below.
                out.push((path.clone(), totals[i], Some(len)));
            }
        }
        out
    }

    /// Sorted folded lines for inferno, with runs of adjacent hidden sibling
    /// subtrees merged while their sum stays under `min_total`: still too
    /// narrow to draw, same total width, so every drawn frame keeps its place.
    fn render_lines(&self, min_total: u64) -> Vec<String> {
        let mut items: Vec<(String, u64, Option<usize>)> =
            self.pruned(min_total).into_iter().map(|(s, w, top)| (format!("{s} {w}"), w, top)).collect();
        items.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, u64, Option<usize>)> = Vec::with_capacity(items.len());
        for (line, w, top) in items {
            if let (Some(plen), Some((prev, pw, Some(prev_plen)))) = (top, out.last_mut()) {
                if *prev_plen == plen && prev.as_bytes()[..plen] == line.as_bytes()[..plen] && *pw + w < min_total {
                    *pw += w;
                    continue;
                }
            }
            out.push((line, w, top));
        }
        out.into_iter()
            .map(|(line, w, _)| {
                // Re-write the count of merged lines.
                let cut = line.rfind(' ').unwrap_or(line.len());
                if line[cut + 1..] == w.to_string() {
                    line
                } else {
                    format!("{} {w}", &line[..cut])
                }
            })
            .collect()
    }

    /// Every stack with its weight.
    pub fn stacks(&self) -> HashMap<String, u64> {
        self.stacks_pruned(0).into_iter().collect()
    }

    /// Folded text (`stack weight` lines, sorted), as `inferno-flamegraph` and other tools read.
    pub fn to_text(&self) -> String {
        let mut lines: Vec<_> = self.stacks_pruned(0).into_iter().map(|(s, n)| format!("{s} {n}")).collect();
        lines.sort_unstable();
        let mut out = lines.join("\n");
        out.push('\n');
        out
    }
}

/// Frames V8 adds that are not JS functions.
pub fn is_vm_frame(name: &str) -> bool {
    matches!(name, "(program)" | "(idle)" | "(garbage collector)" | "(root)")
}

fn frame_name(cf: &CallFrame<'_>, out: &mut String) {
    let name = if cf.function_name.is_empty() { "(anonymous)" } else { &cf.function_name };
    push_clean(out, name);
    if !cf.url.is_empty() {
        out.push_str(" (");
        let url = cf.url.strip_prefix("file://").unwrap_or(&cf.url);
        push_clean(out, url);
        if cf.line_number >= 0 {
            out.push(':');
            out.push_str(&(cf.line_number + 1).to_string());
        }
        out.push(')');
    }
}

/// `;` separates frames and a newline ends a stack: neither may appear in a name.
fn push_clean(out: &mut String, s: &str) {
    for c in s.chars() {
        out.push(match c {
            ';' => ':',
            '\n' | '\r' | '\t' => ' ',
            c => c,
        });
    }
}

/// Which profile a document is, by its top-level keys.
fn detect(input: &[u8]) -> Result<Kind, ProfileError> {
    // Cheap: look at the first keys without parsing everything.
    let head = &input[..input.len().min(4096)];
    let s = String::from_utf8_lossy(head);
    let first = s.find(|c: char| !c.is_whitespace());
    match first {
        None => return Err(ProfileError { offset: Some(input.len()), message: "empty input: not a profile".into() }),
        Some(i) if !s[i..].starts_with('{') => {
            return Err(ProfileError { offset: Some(i), message: "not a profile: expected a JSON object".into() })
        }
        _ => {}
    }
    let nodes = s.find("\"nodes\"");
    let head_key = s.find("\"head\"");
    match (nodes, head_key) {
        (Some(_), None) => Ok(Kind::Cpu),
        (None, Some(_)) => Ok(Kind::Heap),
        (Some(a), Some(b)) => Ok(if a < b { Kind::Cpu } else { Kind::Heap }),
        // Keys may come late (an object with a large first field): ask serde.
        (None, None) => {
            #[derive(Deserialize)]
            struct Probe {
                head: Option<serde::de::IgnoredAny>,
            }
            let mut de = serde_json::Deserializer::from_slice(input);
            de.disable_recursion_limit();
            check_depth(input, MAX_DEPTH).map_err(|o| ProfileError { offset: Some(o), message: "JSON nested too deeply".into() })?;
            let p = Probe::deserialize(&mut de).map_err(|e| json_error(input, e))?;
            Ok(if p.head.is_some() { Kind::Heap } else { Kind::Cpu })
        }
    }
}

/// Parses a `.cpuprofile` or `.heapprofile` into folded stacks.
pub fn fold(input: &[u8]) -> Result<Folded, ProfileError> {
    match detect(input)? {
        Kind::Cpu => fold_cpu(input),
        Kind::Heap => fold_heap(input),
    }
}

pub fn fold_cpu(input: &[u8]) -> Result<Folded, ProfileError> {
    let mut de = serde_json::Deserializer::from_slice(input);
    let p = CpuProfile::deserialize(&mut de).map_err(|e| json_error(input, e))?;
    de.end().map_err(|e| json_error(input, e))?;
    if p.nodes.is_empty() {
        return Err(plain("CPU profile has no nodes"));
    }
    let n = p.nodes.len();
    let index = IdIndex::new(p.nodes.iter().map(|nd| nd.id), n)?;
    let mut weight = vec![0u64; n];
    match &p.samples {
        Some(samples) if !samples.is_empty() => {
            for id in samples {
                let i = index.get(*id).ok_or_else(|| plain(format!("CPU profile: sample refers to unknown node {id}")))?;
                weight[i] += 1;
            }
        }
        _ => {
            for (i, node) in p.nodes.iter().enumerate() {
                weight[i] = node.hit_count;
            }
        }
    }
    let mut parent = vec![usize::MAX; n];
    for (i, node) in p.nodes.iter().enumerate() {
        for c in &node.children {
            let ci = index.get(*c).ok_or_else(|| plain(format!("CPU profile: node {} has unknown child {c}", node.id)))?;
            if parent[ci] != usize::MAX || ci == i {
                return Err(plain(format!("CPU profile: node {c} has more than one parent")));
            }
            parent[ci] = i;
        }
    }
    let mut trie = TrieBuilder::default();
    let mut frame_of: AHashMap<(&str, &str, i64), u32> = AHashMap::new();
    // Iterative DFS from each root; `visited` guards against cycles.
    let mut visited = vec![false; n];
    let mut name = String::new();
    let mut todo: Vec<(usize, u32, bool)> = Vec::new(); // (node, trie parent, is it a root)
    for root in (0..n).filter(|&i| parent[i] == usize::MAX) {
        todo.push((root, NONE, true));
        while let Some((i, tparent, is_root)) = todo.pop() {
            if visited[i] {
                continue;
            }
            visited[i] = true;
            let node = &p.nodes[i];
            // The synthetic "(root)" frame adds nothing to a flame graph.
            let here = if is_root && node.call_frame.function_name == "(root)" {
                NONE
            } else {
                let cf = &node.call_frame;
                let key = (&*cf.function_name, &*cf.url, cf.line_number);
                let f = match frame_of.get(&key) {
                    Some(&f) => f,
                    None => {
                        name.clear();
                        frame_name(cf, &mut name);
                        let f = trie.frame(name.clone());
                        frame_of.insert(key, f);
                        f
                    }
                };
                trie.child(tparent, f)
            };
            if weight[i] > 0 && here != NONE {
                trie.nodes[here as usize].2 += weight[i];
            }
            for c in node.children.iter().rev() {
                if let Some(ci) = index.get(*c) {
                    todo.push((ci, here, false));
                }
            }
        }
    }
    if visited.iter().any(|v| !v) {
        return Err(plain("CPU profile: the node tree has a cycle"));
    }
    Ok(trie.finish(Kind::Cpu, (p.end_time - p.start_time).max(0.0)))
}

pub fn fold_heap(input: &[u8]) -> Result<Folded, ProfileError> {
    check_depth(input, MAX_DEPTH).map_err(|o| ProfileError { offset: Some(o), message: format!("heap profile nested deeper than {MAX_DEPTH} levels") })?;
    let mut de = serde_json::Deserializer::from_slice(input);
    de.disable_recursion_limit();
    let p = HeapProfile::deserialize(&mut de).map_err(|e| json_error(input, e))?;
    de.end().map_err(|e| json_error(input, e))?;
    let mut trie = TrieBuilder::default();
    let mut name = String::new();
    let mut todo: Vec<(&HeapNode<'_>, u32, bool)> = vec![(&p.head, NONE, true)];
    while let Some((node, tparent, is_root)) = todo.pop() {
        let here = if is_root && node.call_frame.function_name == "(root)" {
            NONE
        } else {
            name.clear();
            frame_name(&node.call_frame, &mut name);
            let f = trie.frame(name.clone());
            trie.child(tparent, f)
        };
        if node.self_size > 0 && here != NONE {
            trie.nodes[here as usize].2 += node.self_size;
        }
        for c in node.children.iter().rev() {
            todo.push((c, here, false));
        }
    }
    // The tree is dropped here, recursively: the caller runs this on a thread
    // with PARSE_STACK_BYTES of stack (see `on_big_stack`).
    drop(p);
    Ok(trie.finish(Kind::Heap, 0.0))
}

/// Runs `f` on a thread with a stack large enough for [`MAX_DEPTH`] nesting.
pub fn on_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ProfileError> {
    std::thread::Builder::new()
        .name("shield-render".into())
        .stack_size(PARSE_STACK_BYTES)
        .spawn(f)
        .map_err(|e| plain(format!("cannot start a render thread: {e}")))?
        .join()
        .map_err(|_| plain("the flame graph renderer failed (internal error)"))
}

/// How to draw.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub title: Option<String>,
    pub subtitle: Option<String>,
    /// Frames narrower than this many pixels are left out (inferno's `--minwidth`).
    pub min_width: f64,
    /// Merge stacks from the leaf (who calls the hot function).
    pub reverse: bool,
    /// An inferno palette name (`hot`, `mem`, `io`, `js`, …); default `hot` for CPU, `mem` for heap.
    pub colors: Option<String>,
    pub width: Option<usize>,
    /// Differential: scale the "before" profile to the "after" total.
    pub normalize: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self { title: None, subtitle: None, min_width: 0.1, reverse: false, colors: None, width: None, normalize: true }
    }
}

/// Checks a palette name; the error lists the valid ones.
pub fn parse_palette(name: &str) -> Result<Palette, String> {
    Palette::from_str(name).map_err(|_| format!("unknown colors '{name}'; one of {}", Palette::VARIANTS.join(", ")))
}

fn options<'a>(kind: Kind, o: &RenderOptions, palette_map: &'a mut PaletteMap) -> Result<fg::Options<'a>, ProfileError> {
    let mut opt = fg::Options::default();
    let default_palette = if kind == Kind::Heap { "mem" } else { "hot" };
    opt.colors = parse_palette(o.colors.as_deref().unwrap_or(default_palette)).map_err(plain)?;
    opt.hash = true;
    opt.deterministic = true;
    // Cut long names at the end: the function name comes first and must stay readable.
    opt.text_truncate_direction = fg::TextTruncateDirection::Right;
    opt.min_width = o.min_width;
    opt.reverse_stack_order = o.reverse;
    opt.image_width = o.width;
    opt.subtitle = o.subtitle.clone();
    match kind {
        Kind::Cpu => {
            opt.title = o.title.clone().unwrap_or_else(|| "CPU flame graph".into());
            opt.count_name = "samples".into();
        }
        Kind::Heap => {
            opt.title = o.title.clone().unwrap_or_else(|| "Allocation flame graph (sampled bytes still live)".into());
            opt.count_name = "bytes".into();
            opt.bgcolors = Some(BackgroundColor::Green);
        }
    }
    // V8's own frames in grey: kept, but not mistaken for JS.
    let grey = Color { r: 176, g: 176, b: 176 };
    for name in ["(program)", "(idle)", "(garbage collector)", "(root)"] {
        palette_map.insert(name, grey);
    }
    opt.palette_map = Some(palette_map);
    Ok(opt)
}


fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{b} bytes") } else { format!("{v:.1} {}", UNITS[u]) }
}

/// Renders an SVG flame graph.
pub fn render(f: &Folded, o: &RenderOptions) -> Result<Vec<u8>, ProfileError> {
    render_with(f, o, true)
}

fn render_with(f: &Folded, o: &RenderOptions, prune: bool) -> Result<Vec<u8>, ProfileError> {
    if f.is_empty() {
        return Err(plain(match f.kind {
            Kind::Cpu => "CPU profile has no samples: nothing to draw",
            Kind::Heap => "heap profile has no sampled allocations: nothing to draw",
        }));
    }
    let mut o = o.clone();
    if o.subtitle.is_none() {
        o.subtitle = Some(match f.kind {
            Kind::Cpu => format!("{} samples over {:.2} s", f.total, f.duration_us / 1e6),
            Kind::Heap => format!("{} sampled, still live when the profile stopped", human_bytes(f.total)),
        });
    }
    let mut pm = PaletteMap::default();
    let mut opt = options(f.kind, &o, &mut pm)?;
    // inferno leaves out frames narrower than min_width pixels; subtrees that
    // light become one line before the lines are even made (half the
    // threshold, so nothing inferno would draw is lost). Not in reverse mode:
    // there stacks are regrouped from the leaf, and hidden leaves count.
    let width = o.width.unwrap_or(1200).saturating_sub(20).max(1) as f64;
    let min_total = if prune && !o.reverse { (f.total as f64 * o.min_width / width / 2.0).floor() as u64 } else { 0 };
    let lines = f.render_lines(min_total);
    // Already sorted (inferno sorts again itself in reverse mode).
    opt.no_sort = !o.reverse;
    let mut out = Vec::with_capacity(1 << 20);
    fg::from_lines(&mut opt, lines.iter().map(|s| s.as_str()), &mut out).map_err(|e| plain(format!("cannot render: {e}")))?;
    Ok(out)
}

/// Renders a differential flame graph: shape from `after`, red where a stack
/// grew since `before`, blue where it shrank.
pub fn render_diff(before: &Folded, after: &Folded, o: &RenderOptions) -> Result<Vec<u8>, ProfileError> {
    if before.kind != after.kind {
        return Err(plain("a differential flame graph needs two profiles of the same kind"));
    }
    if after.is_empty() && before.is_empty() {
        return Err(plain("both profiles are empty: nothing to draw"));
    }
    let scale = if o.normalize && before.total > 0 { after.total as f64 / before.total as f64 } else { 1.0 };
    let (bs, as_) = (before.stacks(), after.stacks());
    let mut all: Vec<&String> = bs.keys().chain(as_.keys()).collect();
    all.sort_unstable();
    all.dedup();
    let lines: Vec<String> = all
        .into_iter()
        .map(|s| {
            let b = (*bs.get(s).unwrap_or(&0) as f64 * scale).round() as u64;
            let a = *as_.get(s).unwrap_or(&0);
            format!("{s} {b} {a}")
        })
        .collect();
    let mut o = o.clone();
    if o.title.is_none() {
        o.title = Some(match after.kind {
            Kind::Cpu => "Differential CPU flame graph (red: more samples after, blue: fewer)".into(),
            Kind::Heap => "Differential allocation flame graph (red: more bytes after, blue: fewer)".into(),
        });
    }
    if o.subtitle.is_none() {
        o.subtitle = Some(format!("before: {} → after: {}{}", before.total, after.total, if scale != 1.0 { " (before normalised)" } else { "" }));
    }
    let mut pm = PaletteMap::default();
    let mut opt = options(after.kind, &o, &mut pm)?;
    opt.palette_map = None;
    let mut out = Vec::with_capacity(1 << 20);
    fg::from_lines(&mut opt, lines.iter().map(|s| s.as_str()), &mut out).map_err(|e| plain(format!("cannot render: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPU: &str = r#"{"nodes":[
      {"id":1,"callFrame":{"functionName":"(root)","scriptId":"0","url":"","lineNumber":-1,"columnNumber":-1},"hitCount":0,"children":[2,3,5]},
      {"id":2,"callFrame":{"functionName":"(program)","scriptId":"0","url":"","lineNumber":-1,"columnNumber":-1},"hitCount":1},
      {"id":3,"callFrame":{"functionName":"main","scriptId":"1","url":"file:///app/a.js","lineNumber":0,"columnNumber":0},"hitCount":0,"children":[4]},
      {"id":4,"callFrame":{"functionName":"work","scriptId":"1","url":"file:///app/a.js","lineNumber":9,"columnNumber":2},"hitCount":3},
      {"id":5,"callFrame":{"functionName":"work","scriptId":"2","url":"file:///app/b.js","lineNumber":4,"columnNumber":2},"hitCount":1}
    ],"startTime":0,"endTime":5000000,"samples":[4,4,2,4,5],"timeDeltas":[1,1,1,1,1]}"#;

    #[test]
    fn folds_cpu_profiles_by_name_and_place() {
        let f = fold(CPU.as_bytes()).unwrap();
        assert_eq!(f.kind, Kind::Cpu);
        assert_eq!(f.total, 5);
        assert_eq!(f.stacks()["main (/app/a.js:1);work (/app/a.js:10)"], 3);
        assert_eq!(f.stacks()["work (/app/b.js:5)"], 1, "same name, other file: another frame");
        assert_eq!(f.stacks()["(program)"], 1);
        assert_eq!(f.duration_us, 5e6);
    }

    #[test]
    fn hit_counts_when_there_are_no_samples() {
        let no_samples = CPU.replace(r#""samples":[4,4,2,4,5],"#, "");
        let f = fold(no_samples.as_bytes()).unwrap();
        assert_eq!(f.stacks()["main (/app/a.js:1);work (/app/a.js:10)"], 3);
        assert_eq!(f.total, 5);
    }

    #[test]
    fn renders_svg_with_marked_vm_frames() {
        let f = fold(CPU.as_bytes()).unwrap();
        let svg = String::from_utf8(render(&f, &RenderOptions::default()).unwrap()).unwrap();
        assert!(svg.starts_with("<?xml"));
        assert!(svg.contains("work (/app/a.js:10)"));
        assert!(svg.contains("CPU flame graph"));
        assert!(svg.contains("rgb(176,176,176)"), "V8 frames are grey");
        let rev = String::from_utf8(render(&f, &RenderOptions { reverse: true, ..Default::default() }).unwrap()).unwrap();
        assert!(rev.contains("work (/app/a.js:10)"));
        let e = render(&f, &RenderOptions { colors: Some("plaid".into()), ..Default::default() }).unwrap_err();
        assert!(e.message.contains("hot"), "{e}");
    }

    #[test]
    fn heap_profiles_weigh_bytes() {
        let h = r#"{"head":{"callFrame":{"functionName":"(root)","url":"","lineNumber":-1},"selfSize":0,"id":1,"children":[
            {"callFrame":{"functionName":"leak","url":"file:///app/l.js","lineNumber":2},"selfSize":100,"id":2,"children":[
              {"callFrame":{"functionName":"Big","url":"file:///app/l.js","lineNumber":7},"selfSize":4000,"id":3,"children":[]}]}]},
            "samples":[{"size":4000,"nodeId":3,"ordinal":1}]}"#;
        let f = fold(h.as_bytes()).unwrap();
        assert_eq!(f.kind, Kind::Heap);
        assert_eq!(f.stacks()["leak (/app/l.js:3);Big (/app/l.js:8)"], 4000);
        assert_eq!(f.total, 4100);
        let svg = String::from_utf8(render(&f, &RenderOptions::default()).unwrap()).unwrap();
        assert!(svg.contains("Big (/app/l.js:8)") && svg.contains("bytes"));
    }

    #[test]
    fn pruning_light_subtrees_draws_the_same_svg() {
        // 12000 nodes in a random tree, 20000 samples: most stacks are too thin to draw.
        let mut seed = 7u64;
        let mut rnd = |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let n = 12000u64;
        let mut children: Vec<Vec<u64>> = vec![Vec::new(); n as usize];
        for i in 1..n {
            let p = if rnd(3) == 0 { rnd(i) } else { i - 1 - rnd(i.min(20)) };
            children[p as usize].push(i + 1);
        }
        let mut json = String::from("{\"nodes\":[");
        for i in 0..n {
            let name = if i == 0 { "(root)".to_string() } else { format!("f{}", rnd(300)) };
            let kids: Vec<String> = children[i as usize].iter().map(|c| c.to_string()).collect();
            json.push_str(&format!(
                "{}{{\"id\":{},\"callFrame\":{{\"functionName\":\"{name}\",\"url\":\"file:///m{}.js\",\"lineNumber\":{}}},\"children\":[{}]}}",
                if i > 0 { "," } else { "" },
                i + 1,
                rnd(20),
                rnd(50),
                kids.join(",")
            ));
        }
        json.push_str("],\"samples\":[");
        let samples: Vec<String> = (0..20000).map(|_| (2 + rnd(n - 1)).to_string()).collect();
        json.push_str(&samples.join(","));
        json.push_str("]}");
        let f = fold(json.as_bytes()).unwrap();
        let o = RenderOptions { min_width: 3.0, ..Default::default() };
        let width = 1180.0;
        let min_total = (f.total as f64 * o.min_width / width / 2.0).floor() as u64;
        assert!(min_total > 1, "the test must prune something ({min_total})");
        let (a, b) = (f.stacks_pruned(min_total).len(), f.stacks_pruned(0).len());
        assert!(a * 2 < b, "pruning removes most lines: {a} of {b} kept (min {min_total})");
        let merged = f.render_lines(min_total).len();
        assert!(merged < a, "runs of hidden siblings merge: {merged} lines of {a}");
        let pruned = render_with(&f, &o, true).unwrap();
        let full = render_with(&f, &o, false).unwrap();
        assert!(pruned == full, "same SVG with and without pruning");
        let total: u64 = f.stacks_pruned(min_total).iter().map(|s| s.1).sum();
        assert_eq!(total, f.total);
    }

    #[test]
    fn differential() {
        let a = fold(CPU.as_bytes()).unwrap();
        let b = fold(CPU.replace("[4,4,2,4,5]", "[5,5,5,4,2]").as_bytes()).unwrap();
        let svg = String::from_utf8(render_diff(&a, &b, &RenderOptions::default()).unwrap()).unwrap();
        assert!(svg.contains("Differential") && svg.contains("work (/app/b.js:5)"));
    }

    #[test]
    fn corrupt_input_gives_an_offset_not_a_panic() {
        let cut = &CPU.as_bytes()[..300];
        let e = fold(cut).unwrap_err();
        assert!(e.message.contains("truncated"), "{e}");
        assert_eq!(e.offset, Some(300));
        let mut bad = CPU.to_string();
        let at = bad.find("\"hitCount\":3").unwrap();
        bad.replace_range(at..at + 12, "\"hitCount\":@");
        let e = fold(bad.as_bytes()).unwrap_err();
        assert!(e.message.contains("invalid JSON"), "{e}");
        let off = e.offset.unwrap();
        assert!((at..at + 13).contains(&off), "{off} near {at}");
        assert!(fold(b"").unwrap_err().message.contains("empty"));
        assert!(fold(b"[1,2]").unwrap_err().message.contains("JSON object"));
        assert!(fold(br#"{"nodes":[{"id":1,"callFrame":{},"children":[9]}]}"#).unwrap_err().message.contains("unknown child"));
        assert!(fold(br#"{"nodes":[{"id":1,"callFrame":{},"children":[1]}]}"#).is_err());
        assert!(fold(br#"{"nodes":[{"id":1,"callFrame":{},"children":[2]},{"id":2,"callFrame":{},"children":[1]}]}"#).is_err());
        assert!(fold(br#"{"nodes":"x"}"#).unwrap_err().message.contains("structure"));
    }

    #[test]
    fn deep_heap_profiles_are_refused_or_parsed_without_overflow() {
        fn nested(depth: usize) -> String {
            let mut s = String::from(r#"{"head":"#);
            for _ in 0..depth {
                s.push_str(r#"{"callFrame":{"functionName":"f","url":"u","lineNumber":1},"selfSize":1,"children":["#);
            }
            s.push_str(r#"{"callFrame":{"functionName":"leaf"},"selfSize":1,"children":[]}"#);
            for _ in 0..depth {
                s.push_str("]}");
            }
            s.push('}');
            s
        }
        let ok = nested(MAX_DEPTH / 2 - 10);
        let f = on_big_stack(move || fold(ok.as_bytes()).map(|f| f.total)).unwrap().unwrap();
        assert_eq!(f, (MAX_DEPTH / 2 - 10 + 1) as u64);
        let deep = nested(MAX_DEPTH);
        let e = on_big_stack(move || fold(deep.as_bytes())).unwrap().unwrap_err();
        assert!(e.message.contains("deeper"), "{e}");
    }
}
