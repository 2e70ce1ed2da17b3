//! Heap snapshot analysis: a streaming `.heapsnapshot` reader, DevTools' Summary
//! (count, self size and retained size per constructor), the Comparison view
//! (diff by node id) and leak attribution (who holds the growth). Pure Rust,
//! no Node types: the napi glue is `bind_heap.rs`.

pub mod attribution;
pub mod classes;
pub mod graph;
pub mod reader;

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

pub use reader::{HeapError, Result};

use classes::{Aggregate, InterfaceDef};
use graph::Graph;

/// Loads and analyses one snapshot file.
pub fn load(path: &Path) -> Result<Graph> {
    let raw = reader::read_file(path)?;
    Ok(Graph::build(raw))
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ClassRow {
    pub name: String,
    /// DevTools' class key (`",Name"`, or `"script,line,column,Name"` for objects whose
    /// constructor has a source location).
    pub key: String,
    pub count: u64,
    /// Bytes.
    pub self_size: f64,
    /// Bytes.
    pub retained_size: f64,
    /// Shortest distance from a user root (DevTools' "Distance").
    pub distance: i32,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotInfo {
    pub path: String,
    pub file_bytes: u64,
    pub node_count: usize,
    pub edge_count: usize,
    /// Bytes: the root's retained size plus `extra_native_bytes`.
    pub total_size: f64,
    /// Nodes the dominator pass found unreachable from the root.
    pub unreachable: usize,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub snapshot: SnapshotInfo,
    /// Sorted by retained size, largest first.
    pub classes: Vec<ClassRow>,
}

fn info(path: &Path, g: &Graph) -> SnapshotInfo {
    SnapshotInfo {
        path: path.display().to_string(),
        file_bytes: g.raw.file_bytes,
        node_count: g.n(),
        edge_count: g.raw.edge_count(),
        total_size: g.total_size(),
        unreachable: g.unreachable,
    }
}

fn rows(aggs: &[Aggregate]) -> Vec<ClassRow> {
    let mut rows: Vec<ClassRow> = aggs
        .iter()
        .map(|a| ClassRow {
            name: a.name.clone(),
            key: a.key.clone(),
            count: a.count,
            self_size: a.self_size,
            retained_size: a.retained_size,
            distance: a.distance,
        })
        .collect();
    rows.sort_by(|a, b| b.retained_size.total_cmp(&a.retained_size).then(b.self_size.total_cmp(&a.self_size)));
    rows
}

/// DevTools' Summary view of one snapshot.
pub fn summary(path: &Path) -> Result<Summary> {
    let g = load(path)?;
    let defs = g.infer_interfaces();
    let classes = g.classes(&defs);
    let aggs = g.aggregates(&classes);
    Ok(Summary { snapshot: info(path, &g), classes: rows(&aggs) })
}

#[derive(Serialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClassDiff {
    pub name: String,
    pub key: String,
    /// Objects in `after` whose id is not in `before`.
    pub added_count: u64,
    /// Objects in `before` whose id is not in `after`.
    pub removed_count: u64,
    pub count_delta: i64,
    /// Bytes.
    pub added_size: f64,
    pub removed_size: f64,
    pub size_delta: f64,
    pub retained_before: f64,
    pub retained_after: f64,
    pub retained_delta: f64,
    pub count_before: u64,
    pub count_after: u64,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Diff {
    pub before: SnapshotInfo,
    pub after: SnapshotInfo,
    pub total_size_delta: f64,
    /// Classes with added or removed objects, largest size delta first.
    pub classes: Vec<ClassDiff>,
    /// Owners of the largest growth, largest first.
    pub suspects: Vec<attribution::Suspect>,
}

/// Per-class id lists of the base snapshot, all that a diff keeps of it.
struct BaseClass {
    name: String,
    ids: Vec<u32>,
    sizes: Vec<u32>,
    retained: f64,
}

/// DevTools' Comparison view of `after` against `before`, plus leak attribution.
pub fn diff(before: &Path, after: &Path) -> Result<Diff> {
    // Analyse both files at once: the work is independent until the class names.
    let (a, b) = std::thread::scope(|s| {
        let ha = s.spawn(|| load(before));
        let b = load(after);
        let a = ha.join().unwrap_or_else(|_| Err(HeapError::new("analysis thread failed")));
        (a, b)
    });
    let (a, b) = (a?, b?);
    let defs: Vec<InterfaceDef> = b.infer_interfaces();

    // Base: aggregate with the after snapshot's interface definitions, keep ids only.
    let before_info = info(before, &a);
    let (base, base_ids) = {
        let classes = a.classes(&defs);
        let aggs = a.aggregates(&classes);
        let mut base: HashMap<String, BaseClass> = HashMap::new();
        for ag in aggs {
            let ids = ag.nodes.iter().map(|&o| a.raw.node_id[o as usize]).collect();
            let sizes = ag.nodes.iter().map(|&o| a.raw.node_self[o as usize]).collect();
            base.insert(ag.key, BaseClass { name: ag.name, ids, sizes, retained: ag.retained_size });
        }
        let mut all: Vec<u32> = a.raw.node_id.clone();
        all.sort_unstable();
        (base, all)
    };
    drop(a);

    let classes = b.classes(&defs);
    let aggs = b.aggregates(&classes);
    let mut out: Vec<ClassDiff> = Vec::new();
    let mut seen: std::collections::HashSet<&str> = Default::default();
    for ag in &aggs {
        seen.insert(ag.key.as_str());
        let empty = BaseClass { name: ag.name.clone(), ids: vec![], sizes: vec![], retained: 0.0 };
        let bc = base.get(&ag.key).unwrap_or(&empty);
        if let Some(d) = class_diff(&b, bc, Some(ag)) {
            out.push(d);
        }
    }
    for (key, bc) in &base {
        if seen.contains(key.as_str()) {
            continue;
        }
        if let Some(mut d) = class_diff(&b, bc, None) {
            d.key = key.clone();
            out.push(d);
        }
    }
    out.sort_by(|x, y| y.size_delta.total_cmp(&x.size_delta).then(y.count_delta.cmp(&x.count_delta)));
    let suspects = attribution::suspects(&b, &classes, &base_ids, 10);
    let after_info = info(after, &b);
    Ok(Diff {
        total_size_delta: after_info.total_size - before_info.total_size,
        before: before_info,
        after: after_info,
        classes: out,
        suspects,
    })
}

/// HeapSnapshot.calculateDiffForClass: merge the sorted id lists.
fn class_diff(b: &Graph, base: &BaseClass, ag: Option<&Aggregate>) -> Option<ClassDiff> {
    let mut d = ClassDiff {
        name: ag.map(|a| a.name.clone()).unwrap_or_else(|| base.name.clone()),
        key: ag.map(|a| a.key.clone()).unwrap_or_default(),
        ..Default::default()
    };
    let nodes: &[u32] = ag.map(|a| a.nodes.as_slice()).unwrap_or(&[]);
    let (mut i, mut j) = (0, 0);
    while i < base.ids.len() && j < nodes.len() {
        let id_a = base.ids[i];
        let id_b = b.raw.node_id[nodes[j] as usize];
        if id_a < id_b {
            d.removed_count += 1;
            d.removed_size += base.sizes[i] as f64;
            i += 1;
        } else if id_a > id_b {
            d.added_count += 1;
            d.added_size += b.raw.node_self[nodes[j] as usize] as f64;
            j += 1;
        } else {
            i += 1;
            j += 1;
        }
    }
    for &s in &base.sizes[i..] {
        d.removed_count += 1;
        d.removed_size += s as f64;
    }
    for &o in &nodes[j..] {
        d.added_count += 1;
        d.added_size += b.raw.node_self[o as usize] as f64;
    }
    if d.added_count == 0 && d.removed_count == 0 {
        return None;
    }
    d.count_delta = d.added_count as i64 - d.removed_count as i64;
    d.size_delta = d.added_size - d.removed_size;
    d.count_before = base.ids.len() as u64;
    d.count_after = nodes.len() as u64;
    d.retained_before = base.retained;
    d.retained_after = ag.map(|a| a.retained_size).unwrap_or(0.0);
    d.retained_delta = d.retained_after - d.retained_before;
    Some(d)
}

/// Sizes as people read them: `16.9 MB`, `512 B`.
pub fn human_bytes(b: f64) -> String {
    let a = b.abs();
    let sign = if b < 0.0 { "-" } else { "" };
    if a < 1000.0 {
        format!("{sign}{a:.0} B")
    } else if a < 1e6 {
        format!("{sign}{:.1} kB", a / 1e3)
    } else if a < 1e9 {
        format!("{sign}{:.1} MB", a / 1e6)
    } else {
        format!("{sign}{:.2} GB", a / 1e9)
    }
}

/// Counts as people read them: `270 k`.
pub fn human_count(c: u64) -> String {
    if c < 10_000 {
        c.to_string()
    } else if c < 1_000_000 {
        format!("{} k", (c as f64 / 1e3).round())
    } else {
        format!("{:.1} M", c as f64 / 1e6)
    }
}
