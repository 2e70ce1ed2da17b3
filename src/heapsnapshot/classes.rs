//! Class names and per-class aggregates, as DevTools' Summary view groups them:
//! calculateObjectNames, inferred plain-object interfaces (`{a, b}`), class keys
//! that split same-named constructors by source location, and the per-class
//! retained size that does not double-count nested instances of one class.

use std::collections::HashMap;

use super::graph::{Graph, NONE};

/// A named plain-object shape, as DevTools infers them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceDef {
    pub name: String,
    pub properties: Vec<String>,
}

const MIN_INTERFACE_PROPERTY_COUNT: usize = 1;
const MAX_INTERFACE_NAME_LENGTH: usize = 120;
const MIN_OBJECT_COUNT_PER_INTERFACE: f64 = 2.0;
const MIN_OBJECT_PROPORTION_PER_INTERFACE: f64 = 1000.0;

/// Class of every node.
pub struct Classes {
    pub names: Vec<String>,
    pub of: Vec<u32>,
}

/// Length in UTF-16 code units, as JavaScript counts it.
fn js_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.encode_utf16().count()
    }
}

/// JSHeapSnapshotNode.formatPropertyName.
pub fn format_property_name(name: &str) -> String {
    if name.bytes().any(|b| matches!(b, b',' | b'\'' | b'"' | b'{' | b'}')) {
        serde_json::to_string(name).unwrap_or_else(|_| name.to_string())
    } else {
        name.to_string()
    }
}

impl Graph {
    fn is_plain_object(&self, node: u32) -> bool {
        self.raw.node_type[node as usize] == self.t.object && self.name(node) == "Object"
    }

    /// HeapSnapshot.inferInterfaceDefinitions.
    pub fn infer_interfaces(&self) -> Vec<InterfaceDef> {
        struct Cand {
            def: InterfaceDef,
            count: usize,
        }
        let mut cands: Vec<Cand> = Vec::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        let mut total = 0usize;
        for node in 0..self.n() as u32 {
            if !self.is_plain_object(node) {
                continue;
            }
            total += 1;
            let mut name = String::from("{");
            let mut name_len = 1usize;
            let mut props: Vec<String> = Vec::new();
            for e in self.edges(node) {
                if self.raw.edge_type[e] != self.t.e_property {
                    continue;
                }
                let edge_name = self.raw.strings.get(self.raw.edge_name[e]);
                if edge_name == "__proto__" {
                    continue;
                }
                let formatted = format_property_name(edge_name);
                let flen = js_len(&formatted);
                if name_len > MIN_INTERFACE_PROPERTY_COUNT && name_len + flen > MAX_INTERFACE_NAME_LENGTH {
                    break;
                }
                if name_len != 1 {
                    name.push_str(", ");
                    name_len += 2;
                }
                name.push_str(&formatted);
                name_len += flen;
                props.push(edge_name.to_string());
            }
            if props.is_empty() {
                continue;
            }
            name.push('}');
            match by_name.get(&name) {
                Some(&i) => cands[i].count += 1,
                None => {
                    by_name.insert(name.clone(), cands.len());
                    cands.push(Cand { def: InterfaceDef { name, properties: props }, count: 1 });
                }
            }
        }
        cands.sort_by(|a, b| b.count.cmp(&a.count));
        let min = MIN_OBJECT_COUNT_PER_INTERFACE.max(total as f64 / MIN_OBJECT_PROPORTION_PER_INTERFACE);
        cands.into_iter().take_while(|c| c.count as f64 >= min).map(|c| c.def).collect()
    }

    /// calculateObjectNames followed by applyInterfaceDefinitions(defs).
    pub fn classes(&self, defs: &[InterfaceDef]) -> Classes {
        let n = self.n();
        let mut names: Vec<String> = Vec::new();
        let mut by_name: HashMap<String, u32> = HashMap::new();
        let mut intern = |s: &str, names: &mut Vec<String>| -> u32 {
            if let Some(&i) = by_name.get(s) {
                return i;
            }
            names.push(s.to_string());
            by_name.insert(s.to_string(), names.len() as u32 - 1);
            names.len() as u32 - 1
        };
        let mut by_string = vec![NONE; self.raw.strings.len()];
        let mut by_type = vec![NONE; self.raw.node_types.len()];
        let mut of = vec![0u32; n];
        let t = self.t;
        for i in 0..n {
            let ty = self.raw.node_type[i];
            of[i] = if ty == t.object || ty == t.native {
                let si = self.raw.node_name[i] as usize;
                if by_string[si] == NONE {
                    let raw = self.raw.strings.get(si as u32);
                    let name = if raw.starts_with('<') {
                        match raw.find(' ') {
                            Some(sp) => format!("{}>", &raw[..sp]),
                            None => raw.to_string(),
                        }
                    } else if raw.starts_with("Detached <") {
                        match raw[10..].find(' ') {
                            Some(sp) => format!("{}>", &raw[..10 + sp]),
                            None => raw.to_string(),
                        }
                    } else {
                        raw.to_string()
                    };
                    by_string[si] = intern(&name, &mut names);
                }
                by_string[si]
            } else {
                let ti = ty as usize;
                if by_type[ti] == NONE {
                    let name = if ty == t.hidden {
                        "(system)".to_string()
                    } else if ty == t.code {
                        "(compiled code)".to_string()
                    } else if ty == t.closure {
                        "Function".to_string()
                    } else if ty == t.regexp {
                        "RegExp".to_string()
                    } else {
                        format!("({})", self.raw.node_types[ti])
                    };
                    by_type[ti] = intern(&name, &mut names);
                }
                by_type[ti]
            };
        }
        drop(by_string);
        self.apply_interfaces(defs, &mut of, &mut |s, names| intern(s, names), &mut names);
        Classes { names, of }
    }

    fn apply_interfaces(
        &self,
        defs: &[InterfaceDef],
        of: &mut [u32],
        intern: &mut dyn FnMut(&str, &mut Vec<String>) -> u32,
        names: &mut Vec<String>,
    ) {
        struct TreeNode {
            next: HashMap<String, usize>,
            matched: Option<(usize, usize, usize)>, // (def index, property count, index)
            greatest: Option<String>,
        }
        let mut tree = vec![TreeNode { next: HashMap::new(), matched: None, greatest: None }];
        for (di, def) in defs.iter().enumerate() {
            let mut props = def.properties.clone();
            props.sort();
            let mut cur = 0usize;
            for p in &props {
                let nx = match tree[cur].next.get(p) {
                    Some(&x) => x,
                    None => {
                        tree.push(TreeNode { next: HashMap::new(), matched: None, greatest: None });
                        let x = tree.len() - 1;
                        tree[cur].next.insert(p.clone(), x);
                        if tree[cur].greatest.as_deref().is_none_or(|g| g < p.as_str()) {
                            tree[cur].greatest = Some(p.clone());
                        }
                        x
                    }
                };
                cur = nx;
            }
            if tree[cur].matched.is_none() {
                tree[cur].matched = Some((di, props.len(), di));
            }
        }
        // (def index or NONE for "Object", property count, definition index)
        type M = (usize, usize, usize);
        const INITIAL: M = (usize::MAX, 0, usize::MAX);
        let better = |a: M, b: Option<M>| -> M {
            match b {
                None => a,
                Some(b) => {
                    if a.1 > b.1 {
                        a
                    } else if b.1 > a.1 {
                        b
                    } else if a.2 <= b.2 {
                        a
                    } else {
                        b
                    }
                }
            }
        };
        let mut def_class: Vec<u32> = vec![NONE; defs.len()];
        let mut props: Vec<&str> = Vec::new();
        let mut states: Vec<usize> = Vec::new();
        for node in 0..self.n() as u32 {
            if !self.is_plain_object(node) {
                continue;
            }
            props.clear();
            for e in self.edges(node) {
                if self.raw.edge_type[e] == self.t.e_property {
                    props.push(self.raw.strings.get(self.raw.edge_name[e]));
                }
            }
            props.sort_unstable();
            states.clear();
            states.push(0);
            let mut m = better(INITIAL, tree[0].matched);
            for p in &props {
                let snapshot: Vec<usize> = states.clone();
                for st in snapshot {
                    if tree[st].greatest.as_deref().is_none_or(|g| *p >= g) {
                        states.retain(|&x| x != st);
                    }
                    if let Some(&nx) = tree[st].next.get(*p) {
                        if !states.contains(&nx) {
                            states.push(nx);
                        }
                        m = better(m, tree[nx].matched);
                    }
                }
            }
            if m.0 != usize::MAX {
                if def_class[m.0] == NONE {
                    def_class[m.0] = intern(&defs[m.0].name, names);
                }
                of[node as usize] = def_class[m.0];
            }
        }
    }
}

/// One row of the Summary view.
#[derive(Clone, Debug)]
pub struct Aggregate {
    /// DevTools' durable class key: `",Name"` or `"script,line,column,Name"`.
    pub key: String,
    pub name: String,
    pub count: u64,
    pub self_size: f64,
    pub retained_size: f64,
    pub distance: i32,
    /// Node ordinals, sorted by node id.
    pub nodes: Vec<u32>,
}

impl Graph {
    /// buildAggregates + calculateClassesRetainedSize (all objects, no filter).
    pub fn aggregates(&self, classes: &Classes) -> Vec<Aggregate> {
        let n = self.n();
        let mut loc: HashMap<u32, (u32, u32, u32)> = HashMap::new();
        for l in &self.raw.locations {
            loc.insert(l[0], (l[1], l[2], l[3]));
        }
        // Interned class key per node.
        let mut keys: HashMap<(u32, Option<(u32, u32, u32)>), u32> = HashMap::new();
        let mut key_of = vec![NONE; n];
        let mut aggs: Vec<Aggregate> = Vec::new();
        for i in 0..n {
            let ty = self.raw.node_type[i];
            let class = classes.of[i];
            let l = if ty == self.t.object { loc.get(&(i as u32)).copied() } else { None };
            let k = *keys.entry((class, l)).or_insert_with(|| {
                let name = classes.names[class as usize].clone();
                let key = match l {
                    Some((s, li, c)) => format!("{s},{li},{c},{name}"),
                    None => format!(",{name}"),
                };
                aggs.push(Aggregate { key, name, count: 0, self_size: 0.0, retained_size: 0.0, distance: i32::MAX, nodes: Vec::new() });
                aggs.len() as u32 - 1
            });
            key_of[i] = k;
            let size = self.raw.node_self[i];
            if size == 0 {
                continue;
            }
            let a = &mut aggs[k as usize];
            a.count += 1;
            a.self_size += size as f64;
            a.distance = a.distance.min(self.distance[i]);
            a.nodes.push(i as u32);
        }
        // Retained size per class: walk the dominator tree, counting a node only when
        // no dominator of it on the current path has the same class.
        let mut seen = vec![false; aggs.len()];
        let mut list: Vec<u32> = vec![self.root()];
        let mut sizes: Vec<usize> = vec![usize::MAX];
        let mut class_stack: Vec<u32> = Vec::new();
        while let Some(node) = list.pop() {
            let k = key_of[node as usize];
            let from = self.first_dominated[node as usize] as usize;
            let to = self.first_dominated[node as usize + 1] as usize;
            if !seen[k as usize] && self.raw.node_self[node as usize] != 0 {
                aggs[k as usize].retained_size += self.retained[node as usize];
                if from != to {
                    seen[k as usize] = true;
                    sizes.push(list.len());
                    class_stack.push(k);
                }
            }
            list.extend_from_slice(&self.dominated[from..to]);
            let l = list.len();
            while sizes.last() == Some(&l) {
                sizes.pop();
                if let Some(k) = class_stack.pop() {
                    seen[k as usize] = false;
                }
            }
        }
        aggs.retain(|a| a.count > 0);
        for a in &mut aggs {
            a.nodes.sort_unstable_by_key(|&o| self.raw.node_id[o as usize]);
        }
        aggs
    }
}
