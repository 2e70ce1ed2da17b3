//! Streaming `.heapsnapshot` reader.
//!
//! The file is never held as one string: a byte scanner walks it with a fixed
//! buffer, decoding the `nodes`/`edges` arrays straight into compact typed
//! vectors laid out by the snapshot's own `meta` (field order is never assumed),
//! the `strings` array into one text buffer plus offsets, and `snapshot` (the
//! small header) through serde_json. Every error names the byte offset where the
//! input stopped making sense. Memory is bounded by the file size: reservations
//! trust the header only up to what the file could possibly contain.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// An input that is not a readable heap snapshot.
#[derive(Debug, Clone)]
pub struct HeapError {
    /// Byte offset in the file where reading failed, when it is known.
    pub offset: Option<u64>,
    pub message: String,
}

impl HeapError {
    pub fn at(offset: u64, message: impl Into<String>) -> Self {
        Self { offset: Some(offset), message: message.into() }
    }
    pub fn new(message: impl Into<String>) -> Self {
        Self { offset: None, message: message.into() }
    }
}

impl fmt::Display for HeapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(o) => write!(f, "{} (at byte {o})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for HeapError {}

pub type Result<T> = std::result::Result<T, HeapError>;

/// The snapshot's string table: one text buffer and end offsets.
#[derive(Default, Debug)]
pub struct Strings {
    buf: String,
    ends: Vec<usize>,
}

impl Strings {
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    /// The string at `i`, or `""` when out of range.
    pub fn get(&self, i: u32) -> &str {
        let i = i as usize;
        match self.ends.get(i) {
            Some(&end) => {
                let start = if i == 0 { 0 } else { self.ends[i - 1] };
                &self.buf[start..end]
            }
            None => "",
        }
    }
    pub fn push(&mut self, s: &str) -> u32 {
        self.buf.push_str(s);
        self.ends.push(self.buf.len());
        (self.ends.len() - 1) as u32
    }
    fn finish_one(&mut self) {
        self.ends.push(self.buf.len());
    }
    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity() + self.ends.capacity() * std::mem::size_of::<usize>()
    }
}

/// What a numeric node field is used for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum NodeRole {
    Type,
    Name,
    Id,
    SelfSize,
    EdgeCount,
    Detachedness,
    Ignored,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum EdgeRole {
    Type,
    NameOrIndex,
    ToNode,
    Ignored,
}

/// The decoded snapshot, in struct-of-arrays form indexed by node/edge ordinal.
#[derive(Default, Debug)]
pub struct RawSnapshot {
    pub node_types: Vec<String>,
    pub edge_types: Vec<String>,
    pub node_type: Vec<u8>,
    pub node_name: Vec<u32>,
    pub node_id: Vec<u32>,
    pub node_self: Vec<u32>,
    /// Outgoing edge count per node (turned into first-edge indexes by the analysis).
    pub node_edge_count: Vec<u32>,
    pub node_detachedness: Vec<u8>,
    pub edge_type: Vec<u8>,
    pub edge_name: Vec<u32>,
    /// Target node *ordinal* (the file stores ordinal × node field count).
    pub edge_to: Vec<u32>,
    pub strings: Strings,
    /// `(node ordinal, script id, line, column)` for objects with a source location.
    pub locations: Vec<[u32; 4]>,
    pub root: u32,
    pub extra_native_bytes: f64,
    /// File size in bytes.
    pub file_bytes: u64,
    has_detachedness: bool,
}

impl RawSnapshot {
    pub fn node_count(&self) -> usize {
        self.node_type.len()
    }
    pub fn edge_count(&self) -> usize {
        self.edge_type.len()
    }
    pub fn has_detachedness(&self) -> bool {
        self.has_detachedness
    }
    pub fn type_index(&self, name: &str) -> Option<u8> {
        self.node_types.iter().position(|t| t == name).map(|i| i as u8)
    }
    pub fn edge_type_index(&self, name: &str) -> Option<u8> {
        self.edge_types.iter().position(|t| t == name).map(|i| i as u8)
    }
}

const BUF: usize = 1 << 20;
const MAX_DEPTH: usize = 128;
const MAX_HEADER: usize = 16 << 20;

struct Scanner<R> {
    src: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
}

impl<R: Read> Scanner<R> {
    fn new(src: R) -> Self {
        Self { src, buf: vec![0u8; BUF].into_boxed_slice(), pos: 0, len: 0, base: 0, eof: false }
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    #[inline]
    fn fill(&mut self) -> Result<bool> {
        if self.pos < self.len {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        self.base += self.len as u64;
        self.pos = 0;
        self.len = 0;
        loop {
            match self.src.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.len = n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(HeapError::at(self.offset(), format!("read failed: {e}"))),
            }
        }
    }

    #[inline]
    fn peek(&mut self) -> Result<Option<u8>> {
        if self.pos < self.len || self.fill()? {
            Ok(Some(self.buf[self.pos]))
        } else {
            Ok(None)
        }
    }

    #[inline]
    fn next(&mut self) -> Result<u8> {
        match self.peek()? {
            Some(b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.eof_err()),
        }
    }

    fn eof_err(&self) -> HeapError {
        HeapError::at(self.offset(), "unexpected end of file: the snapshot is truncated")
    }

    fn unexpected(&mut self, what: &str) -> HeapError {
        let off = self.offset();
        match self.peek() {
            Ok(Some(b)) => HeapError::at(off, format!("expected {what}, found {}", show(b))),
            Ok(None) => self.eof_err(),
            Err(e) => e,
        }
    }

    #[inline]
    fn skip_ws(&mut self) -> Result<()> {
        loop {
            while self.pos < self.len {
                match self.buf[self.pos] {
                    b' ' | b'\n' | b'\r' | b'\t' => self.pos += 1,
                    _ => return Ok(()),
                }
            }
            if !self.fill()? {
                return Ok(());
            }
        }
    }

    fn expect(&mut self, b: u8) -> Result<()> {
        self.skip_ws()?;
        if self.peek()? == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(&format!("'{}'", b as char)))
        }
    }

    /// Reads an array of unsigned integers, calling `sink(value, index)` for each.
    fn u32_array(&mut self, mut sink: impl FnMut(u32, usize) -> std::result::Result<(), String>) -> Result<usize> {
        self.expect(b'[')?;
        self.skip_ws()?;
        if self.peek()? == Some(b']') {
            self.pos += 1;
            return Ok(0);
        }
        let mut i = 0usize;
        loop {
            self.skip_ws()?;
            let start = self.offset();
            let mut v: u64 = 0;
            let mut digits = 0usize;
            loop {
                while self.pos < self.len {
                    let b = self.buf[self.pos];
                    let d = b.wrapping_sub(b'0');
                    if d > 9 {
                        break;
                    }
                    v = v * 10 + d as u64;
                    digits += 1;
                    if v > u32::MAX as u64 {
                        return Err(HeapError::at(start, "number does not fit in 32 bits"));
                    }
                    self.pos += 1;
                }
                if self.pos < self.len || !self.fill()? {
                    break;
                }
            }
            if digits == 0 {
                return Err(self.unexpected("an unsigned integer"));
            }
            sink(v as u32, i).map_err(|m| HeapError::at(start, m))?;
            i += 1;
            self.skip_ws()?;
            match self.next()? {
                b',' => {}
                b']' => return Ok(i),
                b => {
                    self.pos -= 1;
                    return Err(HeapError::at(self.offset(), format!("expected ',' or ']' in a number array, found {}", show(b))));
                }
            }
        }
    }

    /// Decodes one JSON string (the opening quote not yet consumed) into `out`.
    fn string_into(&mut self, out: &mut String) -> Result<()> {
        self.skip_ws()?;
        if self.peek()? != Some(b'"') {
            return Err(self.unexpected("a string"));
        }
        self.pos += 1;
        let mut raw: Vec<u8> = Vec::new();
        loop {
            // Copy a run of plain bytes.
            let start = self.pos;
            while self.pos < self.len {
                let b = self.buf[self.pos];
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            raw.extend_from_slice(&self.buf[start..self.pos]);
            if self.pos >= self.len {
                // The run reached the end of the buffer: refill and keep copying.
                if !self.fill()? {
                    return Err(self.eof_err());
                }
                continue;
            }
            let off = self.offset();
            let b = self.next()?;
            match b {
                b'"' => break,
                b'\\' => {
                    let e = self.next()?;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi) {
                                // A high surrogate: pair it with a following low one, if any.
                                if self.peek()? == Some(b'\\') {
                                    self.pos += 1;
                                    if self.next()? != b'u' {
                                        return Err(HeapError::at(self.offset() - 1, "bad escape after a surrogate"));
                                    }
                                    let lo = self.hex4()?;
                                    if (0xDC00..0xE000).contains(&lo) {
                                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)).unwrap_or('\u{FFFD}')
                                    } else {
                                        push_char(&mut raw, '\u{FFFD}');
                                        char::from_u32(lo).unwrap_or('\u{FFFD}')
                                    }
                                } else {
                                    '\u{FFFD}'
                                }
                            } else {
                                char::from_u32(hi).unwrap_or('\u{FFFD}')
                            }
                        }
                        other => return Err(HeapError::at(off, format!("invalid escape '\\{}' in a string", other as char))),
                    };
                    push_char(&mut raw, c);
                }
                _ => return Err(HeapError::at(off, "control character inside a string")),
            }
        }
        match String::from_utf8(raw) {
            Ok(s) => out.push_str(&s),
            Err(e) => out.push_str(&String::from_utf8_lossy(e.as_bytes())),
        }
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            let off = self.offset();
            let b = self.next()?;
            let d = (b as char).to_digit(16).ok_or_else(|| HeapError::at(off, "invalid \\u escape"))?;
            v = v * 16 + d;
        }
        Ok(v)
    }

    /// Skips one JSON value without keeping it; `capture` receives its raw bytes when given.
    fn skip_value(&mut self, mut capture: Option<&mut Vec<u8>>) -> Result<()> {
        self.skip_ws()?;
        let mut depth = 0usize;
        let mut in_string = false;
        let start = self.offset();
        loop {
            if !(self.pos < self.len || self.fill()?) {
                return Err(self.eof_err());
            }
            let chunk_start = self.pos;
            let mut done = false;
            while self.pos < self.len {
                let b = self.buf[self.pos];
                self.pos += 1;
                if in_string {
                    match b {
                        b'\\' => {
                            // Skip the escaped byte (may straddle the buffer edge).
                            if self.pos < self.len {
                                self.pos += 1;
                            } else {
                                if let Some(c) = capture.as_deref_mut() {
                                    c.extend_from_slice(&self.buf[chunk_start..self.pos]);
                                }
                                let e = self.next()?;
                                if let Some(c) = capture.as_deref_mut() {
                                    c.push(e);
                                }
                                return self.skip_rest(depth, true, capture, start);
                            }
                        }
                        b'"' => {
                            in_string = false;
                            if depth == 0 {
                                done = true;
                                break;
                            }
                        }
                        _ => {}
                    }
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => {
                        depth += 1;
                        if depth > MAX_DEPTH {
                            return Err(HeapError::at(self.offset() - 1, "JSON nested too deeply"));
                        }
                    }
                    b'}' | b']' => {
                        if depth == 0 {
                            // The end of the enclosing container terminates a scalar.
                            self.pos -= 1;
                            if self.offset() == start {
                                return Err(HeapError::at(start, "expected a value"));
                            }
                            done = true;
                            break;
                        }
                        depth -= 1;
                        if depth == 0 {
                            done = true;
                            break;
                        }
                    }
                    b',' | b':' if depth == 0 => {
                        if self.offset() - 1 == start {
                            self.pos -= 1;
                            return Err(HeapError::at(start, "expected a value"));
                        }
                        self.pos -= 1;
                        done = true;
                        break;
                    }
                    b' ' | b'\n' | b'\r' | b'\t' if depth == 0 => {
                        self.pos -= 1;
                        done = true;
                        break;
                    }
                    _ => {}
                }
            }
            if let Some(c) = capture.as_deref_mut() {
                c.extend_from_slice(&self.buf[chunk_start..self.pos]);
                if c.len() > MAX_HEADER {
                    return Err(HeapError::at(start, "snapshot header is implausibly large"));
                }
            }
            if done {
                return Ok(());
            }
            if self.pos >= self.len && !self.fill()? {
                if depth == 0 && !in_string {
                    return Ok(());
                }
                return Err(self.eof_err());
            }
        }
    }

    fn skip_rest(&mut self, depth: usize, in_string: bool, capture: Option<&mut Vec<u8>>, start: u64) -> Result<()> {
        // Rare path: an escape straddled the buffer edge. Continue byte by byte until the
        // current string closes, then resume normal skipping at the same depth.
        let mut capture = capture;
        let mut depth = depth;
        let mut in_string = in_string;
        loop {
            let b = self.next()?;
            if let Some(c) = capture.as_deref_mut() {
                c.push(b);
                if c.len() > MAX_HEADER {
                    return Err(HeapError::at(start, "snapshot header is implausibly large"));
                }
            }
            if in_string {
                match b {
                    b'\\' => {
                        let e = self.next()?;
                        if let Some(c) = capture.as_deref_mut() {
                            c.push(e);
                        }
                    }
                    b'"' => {
                        in_string = false;
                        if depth == 0 {
                            return Ok(());
                        }
                    }
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(HeapError::at(self.offset() - 1, "JSON nested too deeply"));
                    }
                }
                b'}' | b']' => {
                    if depth == 0 {
                        return Err(HeapError::at(self.offset() - 1, format!("unexpected {}", show(b))));
                    }
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
    }
}

fn push_char(raw: &mut Vec<u8>, c: char) {
    let mut tmp = [0u8; 4];
    raw.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
}

fn show(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

#[derive(serde::Deserialize)]
struct Header {
    meta: Meta,
    #[serde(default)]
    node_count: Option<f64>,
    #[serde(default)]
    edge_count: Option<f64>,
    #[serde(default)]
    root_index: Option<f64>,
    #[serde(default)]
    extra_native_bytes: Option<f64>,
}

#[derive(serde::Deserialize)]
struct Meta {
    node_fields: Vec<String>,
    node_types: Vec<serde_json::Value>,
    edge_fields: Vec<String>,
    edge_types: Vec<serde_json::Value>,
    #[serde(default)]
    location_fields: Vec<String>,
}

fn type_names(types: &[serde_json::Value], offset: usize, what: &str) -> std::result::Result<Vec<String>, String> {
    let list = types
        .get(offset)
        .and_then(|v| v.as_array())
        .ok_or_else(|| format!("snapshot.meta.{what}_types[{offset}] must be the list of {what} type names"))?;
    let names: Vec<String> = list.iter().map(|v| v.as_str().unwrap_or("").to_string()).collect();
    if names.len() > 250 {
        return Err(format!("snapshot.meta.{what}_types has {} names; at most 250 are supported", names.len()));
    }
    Ok(names)
}

struct Layout {
    node_roles: Vec<NodeRole>,
    edge_roles: Vec<EdgeRole>,
    location_roles: [Option<usize>; 4],
    location_fields: usize,
}

/// Reads a heap snapshot file.
pub fn read_file(path: &Path) -> Result<RawSnapshot> {
    let file = File::open(path).map_err(|e| HeapError::new(format!("cannot open {}: {e}", path.display())))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    read(file, len)
}

/// Reads a heap snapshot from any byte stream; `size_hint` (the byte length, or 0)
/// bounds the reservations made from the header's counts.
pub fn read<R: Read>(src: R, size_hint: u64) -> Result<RawSnapshot> {
    let mut s = Scanner::new(src);
    let mut out = RawSnapshot { file_bytes: size_hint, ..Default::default() };
    let mut layout: Option<Layout> = None;
    let mut seen_nodes = false;
    let mut seen_edges = false;
    let mut seen_strings = false;
    let mut raw_locations: Vec<u32> = Vec::new();
    let mut root_index: u64 = 0;

    s.skip_ws()?;
    if s.peek()? != Some(b'{') {
        return Err(HeapError::at(s.offset(), "not a heap snapshot: expected a JSON object"));
    }
    s.pos += 1;
    s.skip_ws()?;
    if s.peek()? == Some(b'}') {
        return Err(HeapError::at(s.offset(), "not a heap snapshot: empty object"));
    }
    loop {
        let key_off = s.offset();
        let mut key = String::new();
        s.string_into(&mut key)?;
        s.expect(b':')?;
        let value_off = {
            s.skip_ws()?;
            s.offset()
        };
        match key.as_str() {
            "snapshot" => {
                let mut raw = Vec::new();
                s.skip_value(Some(&mut raw))?;
                let h: Header = serde_json::from_slice(&raw)
                    .map_err(|e| HeapError::at(value_off, format!("bad snapshot header: {e}")))?;
                let l = layout_from(&h, &mut out).map_err(|m| HeapError::at(value_off, m))?;
                root_index = h.root_index.unwrap_or(0.0).max(0.0) as u64;
                out.extra_native_bytes = h.extra_native_bytes.unwrap_or(0.0);
                let nfc = l.node_roles.len().max(1) as u64;
                let efc = l.edge_roles.len().max(1) as u64;
                // Each field takes at least two bytes ("0,"): never reserve more than the file holds.
                let bound = |declared: Option<f64>, fc: u64| -> usize {
                    let d = declared.unwrap_or(0.0).max(0.0).min(u32::MAX as f64) as u64;
                    let cap = if size_hint > 0 { size_hint / (2 * fc) } else { 1 << 16 };
                    d.min(cap) as usize
                };
                let n = bound(h.node_count, nfc);
                let e = bound(h.edge_count, efc);
                out.node_type.reserve_exact(n);
                out.node_name.reserve_exact(n);
                out.node_id.reserve_exact(n);
                out.node_self.reserve_exact(n);
                out.node_edge_count.reserve_exact(n);
                if out.has_detachedness {
                    out.node_detachedness.reserve_exact(n);
                }
                out.edge_type.reserve_exact(e);
                out.edge_name.reserve_exact(e);
                out.edge_to.reserve_exact(e);
                layout = Some(l);
            }
            "nodes" => {
                let l = layout.as_ref().ok_or_else(|| HeapError::at(key_off, "'nodes' comes before 'snapshot.meta'"))?;
                if seen_nodes {
                    return Err(HeapError::at(key_off, "duplicate 'nodes'"));
                }
                seen_nodes = true;
                let roles = &l.node_roles;
                let nfc = roles.len();
                let ntypes = out.node_types.len();
                let o = &mut out;
                let count = s.u32_array(|v, i| {
                    match roles[i % nfc] {
                        NodeRole::Type => {
                            if v as usize >= ntypes {
                                return Err(format!("node type {v} is not in snapshot.meta.node_types"));
                            }
                            o.node_type.push(v as u8)
                        }
                        NodeRole::Name => o.node_name.push(v),
                        NodeRole::Id => o.node_id.push(v),
                        NodeRole::SelfSize => o.node_self.push(v),
                        NodeRole::EdgeCount => o.node_edge_count.push(v),
                        NodeRole::Detachedness => o.node_detachedness.push(v.min(3) as u8),
                        NodeRole::Ignored => {}
                    }
                    Ok(())
                })?;
                if count % nfc != 0 {
                    return Err(HeapError::at(s.offset(), format!("'nodes' has {count} numbers, not a multiple of {nfc} fields")));
                }
            }
            "edges" => {
                let l = layout.as_ref().ok_or_else(|| HeapError::at(key_off, "'edges' comes before 'snapshot.meta'"))?;
                if seen_edges {
                    return Err(HeapError::at(key_off, "duplicate 'edges'"));
                }
                seen_edges = true;
                let roles = &l.edge_roles;
                let efc = roles.len();
                let nfc = l.node_roles.len() as u32;
                let etypes = out.edge_types.len();
                let o = &mut out;
                let count = s.u32_array(|v, i| {
                    match roles[i % efc] {
                        EdgeRole::Type => {
                            if v as usize >= etypes {
                                return Err(format!("edge type {v} is not in snapshot.meta.edge_types"));
                            }
                            o.edge_type.push(v as u8)
                        }
                        EdgeRole::NameOrIndex => o.edge_name.push(v),
                        EdgeRole::ToNode => {
                            if v % nfc != 0 {
                                return Err(format!("edge target {v} is not a multiple of the node field count {nfc}"));
                            }
                            o.edge_to.push(v / nfc)
                        }
                        EdgeRole::Ignored => {}
                    }
                    Ok(())
                })?;
                if count % efc != 0 {
                    return Err(HeapError::at(s.offset(), format!("'edges' has {count} numbers, not a multiple of {efc} fields")));
                }
            }
            "locations" => {
                let cap = (size_hint / 2) as usize;
                s.u32_array(|v, _| {
                    if raw_locations.len() >= cap.max(1 << 20) {
                        return Err("too many location numbers for the file size".into());
                    }
                    raw_locations.push(v);
                    Ok(())
                })?;
            }
            "strings" => {
                if seen_strings {
                    return Err(HeapError::at(key_off, "duplicate 'strings'"));
                }
                seen_strings = true;
                s.expect(b'[')?;
                s.skip_ws()?;
                if s.peek()? == Some(b']') {
                    s.pos += 1;
                } else {
                    loop {
                        s.string_into(&mut out.strings.buf)?;
                        out.strings.finish_one();
                        s.skip_ws()?;
                        match s.next()? {
                            b',' => {}
                            b']' => break,
                            b => {
                                s.pos -= 1;
                                return Err(HeapError::at(s.offset(), format!("expected ',' or ']' in 'strings', found {}", show(b))));
                            }
                        }
                    }
                }
            }
            _ => s.skip_value(None)?,
        }
        s.skip_ws()?;
        match s.next()? {
            b',' => continue,
            b'}' => break,
            b => {
                s.pos -= 1;
                return Err(HeapError::at(s.offset(), format!("expected ',' or '}}' after '{key}', found {}", show(b))));
            }
        }
    }
    let end = s.offset();
    s.skip_ws()?;
    if s.peek()?.is_some() {
        return Err(HeapError::at(s.offset(), "trailing data after the snapshot"));
    }
    let layout = layout.ok_or_else(|| HeapError::at(end, "not a heap snapshot: no 'snapshot' header"))?;
    if !seen_nodes || !seen_edges || !seen_strings {
        let missing = [("nodes", seen_nodes), ("edges", seen_edges), ("strings", seen_strings)]
            .iter()
            .filter(|(_, s)| !s)
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ");
        return Err(HeapError::at(end, format!("not a complete heap snapshot: missing {missing}")));
    }
    validate(&mut out, &layout, root_index, &raw_locations, end)?;
    Ok(out)
}

fn layout_from(h: &Header, out: &mut RawSnapshot) -> std::result::Result<Layout, String> {
    let m = &h.meta;
    let pos = |fields: &[String], name: &str| fields.iter().position(|f| f == name);
    if m.node_fields.is_empty() || m.node_fields.len() > 64 || m.edge_fields.is_empty() || m.edge_fields.len() > 64 {
        return Err("snapshot.meta field lists must have 1 to 64 entries".into());
    }
    let mut node_roles = vec![NodeRole::Ignored; m.node_fields.len()];
    for (role, name) in [
        (NodeRole::Type, "type"),
        (NodeRole::Name, "name"),
        (NodeRole::Id, "id"),
        (NodeRole::SelfSize, "self_size"),
        (NodeRole::EdgeCount, "edge_count"),
    ] {
        let i = pos(&m.node_fields, name).ok_or_else(|| format!("snapshot.meta.node_fields has no '{name}'"))?;
        node_roles[i] = role;
    }
    if let Some(i) = pos(&m.node_fields, "detachedness") {
        node_roles[i] = NodeRole::Detachedness;
        out.has_detachedness = true;
    }
    let mut edge_roles = vec![EdgeRole::Ignored; m.edge_fields.len()];
    for (role, name) in [(EdgeRole::Type, "type"), (EdgeRole::NameOrIndex, "name_or_index"), (EdgeRole::ToNode, "to_node")] {
        let i = pos(&m.edge_fields, name).ok_or_else(|| format!("snapshot.meta.edge_fields has no '{name}'"))?;
        edge_roles[i] = role;
    }
    out.node_types = type_names(&m.node_types, pos(&m.node_fields, "type").unwrap_or(0), "node")?;
    out.edge_types = type_names(&m.edge_types, pos(&m.edge_fields, "type").unwrap_or(0), "edge")?;
    let lf = &m.location_fields;
    Ok(Layout {
        node_roles,
        edge_roles,
        location_roles: [pos(lf, "object_index"), pos(lf, "script_id"), pos(lf, "line"), pos(lf, "column")],
        location_fields: lf.len(),
    })
}

fn validate(out: &mut RawSnapshot, layout: &Layout, root_index: u64, raw_locations: &[u32], end: u64) -> Result<()> {
    let n = out.node_type.len();
    let nfc = layout.node_roles.len() as u64;
    if n == 0 {
        return Err(HeapError::at(end, "the snapshot has no nodes"));
    }
    if n >= (u32::MAX / 2) as usize {
        return Err(HeapError::at(end, "too many nodes"));
    }
    if root_index % nfc != 0 || root_index / nfc >= n as u64 {
        return Err(HeapError::at(end, format!("snapshot.root_index {root_index} is not a node")));
    }
    out.root = (root_index / nfc) as u32;
    let total: u64 = out.node_edge_count.iter().map(|&c| c as u64).sum();
    if total != out.edge_type.len() as u64 {
        return Err(HeapError::at(
            end,
            format!("the nodes' edge counts add up to {total} but 'edges' holds {} edges", out.edge_type.len()),
        ));
    }
    if let Some(bad) = out.edge_to.iter().find(|&&t| t as usize >= n) {
        return Err(HeapError::at(end, format!("an edge points to node ordinal {bad}, past the {n} nodes")));
    }
    let ns = out.strings.len() as u32;
    if let Some(bad) = out.node_name.iter().find(|&&s| s >= ns) {
        return Err(HeapError::at(end, format!("a node name refers to string {bad}, past the {ns} strings")));
    }
    let element = out.edge_type_index("element");
    let hidden = out.edge_type_index("hidden");
    for (t, &name) in out.edge_type.iter().zip(&out.edge_name) {
        if Some(*t) != element && Some(*t) != hidden && name >= ns {
            return Err(HeapError::at(end, format!("an edge name refers to string {name}, past the {ns} strings")));
        }
    }
    if let (Some(oi), Some(si), Some(li), Some(ci)) =
        (layout.location_roles[0], layout.location_roles[1], layout.location_roles[2], layout.location_roles[3])
    {
        let lf = layout.location_fields;
        for chunk in raw_locations.chunks_exact(lf) {
            let idx = chunk[oi] as u64;
            if idx % nfc == 0 && idx / nfc < n as u64 {
                out.locations.push([(idx / nfc) as u32, chunk[si], chunk[li], chunk[ci]]);
            }
        }
    }
    Ok(())
}
