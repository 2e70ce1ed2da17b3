//! Leak attribution: objects new in the later snapshot are grouped under the
//! nearest *surviving, named* object that dominates them (the owner that keeps
//! them alive), the groups ranked by size, and each owner described by the
//! retainer chain that reaches it ("`sessions` (Object) of `MemoryStore` ←
//! `store` in closure `session` (app.js)"), with one sample path to a GC root.

use std::collections::HashMap;

use serde::Serialize;

use super::classes::Classes;
use super::graph::{Graph, NONE};
use super::{human_bytes, human_count};

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct NodeRef {
    pub id: u32,
    pub name: String,
    pub class_name: String,
    #[serde(rename = "type")]
    pub node_type: String,
    pub self_size: f64,
    pub retained_size: f64,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct PathStep {
    /// Edge name as DevTools shows it (`[3]` for elements).
    pub edge: String,
    pub edge_type: String,
    /// The object holding the edge.
    pub holder: NodeRef,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ClassShare {
    pub name: String,
    pub count: u64,
    pub size: f64,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Suspect {
    /// One line a person reads: growth, what it is made of, and who holds it.
    pub text: String,
    /// Bytes of new objects held by this owner.
    pub added_size: f64,
    pub added_count: u64,
    /// The surviving object that dominates the new objects.
    pub owner: NodeRef,
    /// How the owner is reached, nearest link first.
    pub held_by: String,
    pub top_classes: Vec<ClassShare>,
    /// The largest new object of the group and its shortest retainer path to a root,
    /// nearest holder first.
    pub sample: NodeRef,
    pub retainer_path: Vec<PathStep>,
}

struct Group {
    count: u64,
    size: f64,
    by_class: HashMap<u32, (u64, f64)>,
    sample: u32,
    sample_size: u32,
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

impl Graph {
    /// The node holding edge `e`.
    pub fn edge_source(&self, e: u32) -> u32 {
        (self.first_edge.partition_point(|&f| f <= e) - 1) as u32
    }

    fn is_context(&self, node: u32) -> bool {
        let n = self.name(node);
        n == "system / Context" || n.starts_with("system / Context / ")
    }

    fn node_ref(&self, classes: &Classes, node: u32) -> NodeRef {
        NodeRef {
            id: self.raw.node_id[node as usize],
            name: truncate(self.name(node), 80),
            class_name: classes.names[classes.of[node as usize] as usize].clone(),
            node_type: self.type_name(node).to_string(),
            self_size: self.raw.node_self[node as usize] as f64,
            retained_size: self.retained[node as usize],
        }
    }

    fn edge_label(&self, e: usize) -> String {
        match self.edge_name_str(e) {
            Some(s) => truncate(s, 60),
            None => format!("[{}]", self.raw.edge_name[e]),
        }
    }

    /// `(edge, holder)` pairs from `node` up to a root along the BFS tree.
    fn path_up(&self, node: u32, max: usize) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        let mut x = node;
        while out.len() < max {
            let e = self.bfs_parent[x as usize];
            if e == NONE {
                break;
            }
            let h = self.edge_source(e);
            out.push((e, h));
            if h == self.root() {
                break;
            }
            x = h;
        }
        out
    }

    /// A closure whose context is `ctx`, and its script's file name.
    fn closure_of_context(&self, ctx: u32) -> Option<(String, Option<String>)> {
        for ri in self.retainers(ctx) {
            let e = self.retaining_edges[ri] as usize;
            let holder = self.retaining_nodes[ri];
            if self.raw.node_type[holder as usize] == self.t.closure && self.edge_name_str(e) == Some("context") {
                let name = self.name(holder);
                let name = if name.is_empty() { "(anonymous)" } else { name };
                return Some((name.to_string(), self.script_of_closure(holder)));
            }
        }
        None
    }

    fn script_of_closure(&self, f: u32) -> Option<String> {
        let shared = self.edges(f).find(|&e| self.edge_name_str(e) == Some("shared")).map(|e| self.raw.edge_to[e])?;
        let script = self
            .edges(shared)
            .find(|&e| matches!(self.edge_name_str(e), Some("script_or_debug_info") | Some("script")))
            .map(|e| self.raw.edge_to[e])?;
        let url = self.name(script);
        let base = url.rsplit('/').next().unwrap_or(url).to_string();
        (!base.is_empty() && !base.starts_with("system / ")).then_some(base)
    }

    fn where_is(&self, classes: &Classes, holder: u32) -> (String, bool) {
        if holder == self.root() {
            return (" of (root)".into(), true);
        }
        if self.is_context(holder) {
            return match self.closure_of_context(holder) {
                Some((f, Some(file))) => (format!(" in closure `{f}` ({file})"), true),
                Some((f, None)) => (format!(" in closure `{f}`"), true),
                None => (" in a closure context".into(), true),
            };
        }
        let ty = self.raw.node_type[holder as usize];
        if ty == self.t.synthetic {
            return (format!(" of {}", self.name(holder)), true);
        }
        let class = &classes.names[classes.of[holder as usize] as usize];
        (format!(" of `{class}`"), false)
    }

    /// "`sessions` (Object) of `MemoryStore` ← `store` in closure `session` (app.js)".
    pub fn describe_owner(&self, classes: &Classes, owner: u32) -> String {
        let class = &classes.names[classes.of[owner as usize] as usize];
        let hops = self.path_up(owner, 16);
        if hops.is_empty() {
            return format!("({class})");
        }
        let mut out = String::new();
        let mut shown = 0;
        for (i, &(e, h)) in hops.iter().enumerate() {
            let ty = self.raw.node_type[h as usize];
            // Internal arrays and hidden holders add nothing a person recognises.
            let internal = (ty == self.t.array || ty == self.t.hidden) && i + 1 < hops.len();
            if internal && shown > 0 {
                continue;
            }
            if shown > 0 {
                out.push_str(" ← ");
            }
            out.push('`');
            out.push_str(&self.edge_label(e as usize));
            out.push('`');
            if shown == 0 {
                out.push_str(&format!(" ({class})"));
            }
            let (w, stop) = self.where_is(classes, h);
            out.push_str(&w);
            shown += 1;
            if stop || shown >= 3 {
                break;
            }
        }
        out
    }
}

/// Groups the objects of `g` whose ids are not in `base_ids` (sorted) by owner.
pub fn suspects(g: &Graph, classes: &Classes, base_ids: &[u32], top: usize) -> Vec<Suspect> {
    let n = g.n();
    let old = |o: u32| base_ids.binary_search(&g.raw.node_id[o as usize]).is_ok();
    let t = g.t;
    let candidate = |o: u32| {
        let ty = g.raw.node_type[o as usize];
        (ty == t.object || ty == t.closure || ty == t.regexp || ty == t.native || ty == t.synthetic) && old(o)
    };
    let root = g.root();
    let mut up = vec![NONE; n];
    let mut path: Vec<u32> = Vec::new();
    let mut owner_of = |v: u32, up: &mut Vec<u32>| -> u32 {
        path.clear();
        let mut x = v;
        let res;
        let mut steps = 0usize;
        loop {
            let d = g.dominator[x as usize];
            if d == x || x == root || steps > n {
                res = root;
                break;
            }
            if candidate(d) {
                res = d;
                break;
            }
            if up[d as usize] != NONE {
                res = up[d as usize];
                break;
            }
            path.push(d);
            x = d;
            steps += 1;
        }
        up[v as usize] = res;
        for &p in &path {
            up[p as usize] = res;
        }
        res
    };
    let mut groups: HashMap<u32, Group> = HashMap::new();
    for v in 0..n as u32 {
        let size = g.raw.node_self[v as usize];
        if size == 0 || old(v) {
            continue;
        }
        let o = if up[v as usize] != NONE { up[v as usize] } else { owner_of(v, &mut up) };
        let gr = groups.entry(o).or_insert(Group { count: 0, size: 0.0, by_class: HashMap::new(), sample: v, sample_size: 0 });
        gr.count += 1;
        gr.size += size as f64;
        let c = gr.by_class.entry(classes.of[v as usize]).or_insert((0, 0.0));
        c.0 += 1;
        c.1 += size as f64;
        if size > gr.sample_size {
            gr.sample = v;
            gr.sample_size = size;
        }
    }
    let mut ranked: Vec<(u32, Group)> = groups.into_iter().collect();
    ranked.sort_by(|a, b| b.1.size.total_cmp(&a.1.size));
    ranked.truncate(top);
    ranked
        .into_iter()
        .map(|(owner, gr)| {
            let mut top_classes: Vec<ClassShare> = gr
                .by_class
                .iter()
                .map(|(&c, &(count, size))| ClassShare { name: classes.names[c as usize].clone(), count, size })
                .collect();
            top_classes.sort_by(|a, b| b.size.total_cmp(&a.size));
            top_classes.truncate(5);
            let held_by = if owner == root {
                "several retainers (no single owner)".to_string()
            } else if g.raw.node_type[owner as usize] == g.t.synthetic {
                g.name(owner).to_string()
            } else {
                g.describe_owner(classes, owner)
            };
            let made_of = top_classes
                .first()
                .map(|c| format!(" (mostly {}: {} × {})", c.name, human_count(c.count), human_bytes(c.size)))
                .unwrap_or_default();
            let text = format!("+{} in {} new objects{made_of}, held by {held_by}", human_bytes(gr.size), human_count(gr.count));
            let retainer_path = g
                .path_up(gr.sample, 24)
                .into_iter()
                .map(|(e, h)| PathStep {
                    edge: g.edge_label(e as usize),
                    edge_type: g.raw.edge_types.get(g.raw.edge_type[e as usize] as usize).cloned().unwrap_or_default(),
                    holder: g.node_ref(classes, h),
                })
                .collect();
            Suspect {
                text,
                added_size: gr.size,
                added_count: gr.count,
                owner: g.node_ref(classes, owner),
                held_by,
                top_classes,
                sample: g.node_ref(classes, gr.sample),
                retainer_path,
            }
        })
        .collect()
}
