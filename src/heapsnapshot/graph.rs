//! The snapshot graph and what DevTools derives from it: retainers, DOM state,
//! page-owned flags, essential edges, shallow-size ownership, the dominator
//! tree (Lengauer–Tarjan, as DevTools' worker), retained sizes, distances.
//! Each step follows Chrome DevTools' `HeapSnapshot.ts` so the numbers agree.

use std::collections::HashSet;

use super::reader::RawSnapshot;

pub const NONE: u32 = u32::MAX;
const NO_TYPE: u8 = u8::MAX;
/// DevTools' distance of objects reachable only from system roots.
pub const BASE_SYSTEM_DISTANCE: i32 = 100_000_000;
const NO_DISTANCE: i32 = -5;

/// Type codes of the node and edge kinds the analysis cares about.
#[derive(Clone, Copy, Debug)]
pub struct Types {
    pub hidden: u8,
    pub array: u8,
    pub string: u8,
    pub object: u8,
    pub code: u8,
    pub closure: u8,
    pub regexp: u8,
    pub native: u8,
    pub synthetic: u8,
    pub cons_string: u8,
    pub sliced_string: u8,
    pub e_context: u8,
    pub e_element: u8,
    pub e_property: u8,
    pub e_internal: u8,
    pub e_hidden: u8,
    pub e_shortcut: u8,
    pub e_weak: u8,
}

impl Types {
    fn of(raw: &RawSnapshot) -> Self {
        let n = |s| raw.type_index(s).unwrap_or(NO_TYPE);
        let e = |s| raw.edge_type_index(s).unwrap_or(NO_TYPE);
        Self {
            hidden: n("hidden"),
            array: n("array"),
            string: n("string"),
            object: n("object"),
            code: n("code"),
            closure: n("closure"),
            regexp: n("regexp"),
            native: n("native"),
            synthetic: n("synthetic"),
            cons_string: n("concatenated string"),
            sliced_string: n("sliced string"),
            e_context: e("context"),
            e_element: e("element"),
            e_property: e("property"),
            e_internal: e("internal"),
            e_hidden: e("hidden"),
            e_shortcut: e("shortcut"),
            e_weak: e("weak"),
        }
    }
}

/// A fully analysed snapshot.
pub struct Graph {
    pub raw: RawSnapshot,
    pub t: Types,
    /// First outgoing edge ordinal of each node; `n + 1` entries.
    pub first_edge: Vec<u32>,
    pub first_retainer: Vec<u32>,
    pub retaining_nodes: Vec<u32>,
    pub retaining_edges: Vec<u32>,
    pub dominator: Vec<u32>,
    pub retained: Vec<f64>,
    pub distance: Vec<i32>,
    /// Edge through which the distance BFS first reached each node (`NONE` for roots).
    pub bfs_parent: Vec<u32>,
    pub first_dominated: Vec<u32>,
    pub dominated: Vec<u32>,
    /// Nodes DevTools reported as unreachable from the root.
    pub unreachable: usize,
}

impl Graph {
    pub fn n(&self) -> usize {
        self.raw.node_count()
    }
    pub fn root(&self) -> u32 {
        self.raw.root
    }
    #[inline]
    pub fn edges(&self, node: u32) -> std::ops::Range<usize> {
        self.first_edge[node as usize] as usize..self.first_edge[node as usize + 1] as usize
    }
    #[inline]
    pub fn retainers(&self, node: u32) -> std::ops::Range<usize> {
        self.first_retainer[node as usize] as usize..self.first_retainer[node as usize + 1] as usize
    }
    pub fn name(&self, node: u32) -> &str {
        self.raw.strings.get(self.raw.node_name[node as usize])
    }
    pub fn type_name(&self, node: u32) -> &str {
        self.raw.node_types.get(self.raw.node_type[node as usize] as usize).map(|s| s.as_str()).unwrap_or("")
    }
    pub fn edge_has_string_name(&self, e: usize) -> bool {
        let t = self.raw.edge_type[e];
        t != self.t.e_element && t != self.t.e_hidden
    }
    /// The edge's name as DevTools prints it (numbers for element/hidden edges).
    pub fn edge_name(&self, e: usize) -> String {
        if self.edge_has_string_name(e) {
            self.raw.strings.get(self.raw.edge_name[e]).to_string()
        } else {
            self.raw.edge_name[e].to_string()
        }
    }
    pub fn edge_name_str(&self, e: usize) -> Option<&str> {
        self.edge_has_string_name(e).then(|| self.raw.strings.get(self.raw.edge_name[e]))
    }
    fn is_user_root(&self, node: u32) -> bool {
        let ty = self.raw.node_type[node as usize];
        ty != self.t.synthetic || self.name(node) == "(Document DOM trees)"
    }

    /// Runs DevTools' initialisation steps on a decoded snapshot.
    pub fn build(raw: RawSnapshot) -> Graph {
        let t = Types::of(&raw);
        let n = raw.node_count();
        let mut first_edge = Vec::with_capacity(n + 1);
        let mut acc = 0u32;
        for &c in &raw.node_edge_count {
            first_edge.push(acc);
            acc += c;
        }
        first_edge.push(acc);
        let mut g = Graph {
            raw,
            t,
            first_edge,
            first_retainer: Vec::new(),
            retaining_nodes: Vec::new(),
            retaining_edges: Vec::new(),
            dominator: Vec::new(),
            retained: Vec::new(),
            distance: Vec::new(),
            bfs_parent: Vec::new(),
            first_dominated: Vec::new(),
            dominated: Vec::new(),
            unreachable: 0,
        };
        g.raw.node_edge_count = Vec::new();
        g.build_retainers();
        g.propagate_dom_state();
        let page = g.page_owned();
        let mut eph = Ephemerons::new(g.raw.strings.len());
        let essential = g.essential_edges(&page, &mut eph);
        drop(page);
        g.shallow_sizes();
        g.dominators(&essential);
        drop(essential);
        g.distances(&mut eph);
        g.build_dominated();
        g
    }

    fn build_retainers(&mut self) {
        let n = self.n();
        let m = self.raw.edge_count();
        let mut first = vec![0u32; n + 1];
        for &to in &self.raw.edge_to {
            first[to as usize] += 1;
        }
        let mut acc = 0u32;
        for f in first.iter_mut().take(n) {
            let c = *f;
            *f = acc;
            acc += c;
        }
        first[n] = acc;
        let mut fill = first.clone();
        let mut nodes = vec![0u32; m];
        let mut edges = vec![0u32; m];
        for src in 0..n {
            for e in self.edges(src as u32) {
                let to = self.raw.edge_to[e] as usize;
                let slot = fill[to] as usize;
                fill[to] += 1;
                nodes[slot] = src as u32;
                edges[slot] = e as u32;
            }
        }
        self.first_retainer = first;
        self.retaining_nodes = nodes;
        self.retaining_edges = edges;
    }

    /// DevTools' propagateDOMState: detached native nodes are renamed "Detached …".
    fn propagate_dom_state(&mut self) {
        if !self.raw.has_detachedness() || self.raw.node_detachedness.len() != self.n() {
            return;
        }
        let n = self.n();
        let native = self.t.native;
        let mut visited = vec![false; n];
        let mut attached: Vec<u32> = Vec::new();
        let mut detached: Vec<u32> = Vec::new();
        let mut renamed: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
        let process = |g: &mut Graph, visited: &mut Vec<bool>, attached: &mut Vec<u32>, detached: &mut Vec<u32>, renamed: &mut std::collections::HashMap<u32, u32>, ord: u32, state: u8| {
            let i = ord as usize;
            if visited[i] {
                return;
            }
            if g.raw.node_type[i] != native {
                visited[i] = true;
                return;
            }
            g.raw.node_detachedness[i] = state;
            if state == 1 {
                attached.push(ord);
            } else if state == 2 {
                let old = g.raw.node_name[i];
                let new = *renamed.entry(old).or_insert_with(|| {
                    let s = format!("Detached {}", g.raw.strings.get(old));
                    g.raw.strings.push(&s)
                });
                g.raw.node_name[i] = new;
                detached.push(ord);
            }
            visited[i] = true;
        };
        for ord in 0..n as u32 {
            let state = self.raw.node_detachedness[ord as usize];
            if state == 0 {
                continue;
            }
            process(self, &mut visited, &mut attached, &mut detached, &mut renamed, ord, state);
        }
        let skip = [self.t.e_hidden, self.t.e_weak];
        while let Some(ord) = attached.pop() {
            for e in self.edges(ord) {
                if skip.contains(&self.raw.edge_type[e]) {
                    continue;
                }
                let to = self.raw.edge_to[e];
                process(self, &mut visited, &mut attached, &mut detached, &mut renamed, to, 1);
            }
        }
        while let Some(ord) = detached.pop() {
            if self.raw.node_detachedness[ord as usize] == 1 {
                continue;
            }
            for e in self.edges(ord) {
                if skip.contains(&self.raw.edge_type[e]) {
                    continue;
                }
                let to = self.raw.edge_to[e];
                process(self, &mut visited, &mut attached, &mut detached, &mut renamed, to, 2);
            }
        }
    }

    /// markPageOwnedNodes: everything reachable (not through weak edges) from the
    /// root's shortcut edges (user globals) and DOM tree roots.
    fn page_owned(&self) -> Vec<bool> {
        let mut flags = vec![false; self.n()];
        let mut stack: Vec<u32> = Vec::new();
        for e in self.edges(self.root()) {
            let ty = self.raw.edge_type[e];
            let to = self.raw.edge_to[e];
            if ty == self.t.e_element {
                if !(self.raw.node_type[to as usize] == self.t.synthetic && self.name(to) == "(Document DOM trees)") {
                    continue;
                }
            } else if ty != self.t.e_shortcut {
                continue;
            }
            stack.push(to);
            flags[to as usize] = true;
        }
        while let Some(ord) = stack.pop() {
            for e in self.edges(ord) {
                let to = self.raw.edge_to[e];
                if flags[to as usize] || self.raw.edge_type[e] == self.t.e_weak {
                    continue;
                }
                flags[to as usize] = true;
                stack.push(to);
            }
        }
        flags
    }

    fn essential_edges(&self, page: &[bool], eph: &mut Ephemerons) -> Vec<u64> {
        let m = self.raw.edge_count();
        let mut bits = vec![0u64; m.div_ceil(64)];
        let root = self.root();
        for node in 0..self.n() as u32 {
            for e in self.edges(node) {
                let ty = self.raw.edge_type[e];
                if ty == self.t.e_internal {
                    if let Some((_, table)) = eph.parse(&self.raw.strings, self.raw.edge_name[e]) {
                        if table == self.raw.node_id[node as usize] {
                            continue;
                        }
                    }
                }
                if ty == self.t.e_weak {
                    continue;
                }
                let to = self.raw.edge_to[e];
                if to == node {
                    continue;
                }
                if node != root {
                    if ty == self.t.e_shortcut {
                        continue;
                    }
                    if page[to as usize] && !page[node as usize] {
                        continue;
                    }
                }
                bits[e / 64] |= 1 << (e % 64);
            }
        }
        bits
    }

    /// JSHeapSnapshot.calculateShallowSizes: arrays and hidden internals owned by a
    /// single object have their size moved onto that object.
    fn shallow_sizes(&mut self) {
        let has_user_roots = self.edges(self.root()).any(|e| self.is_user_root(self.raw.edge_to[e]));
        if !has_user_roots {
            return;
        }
        const UNVISITED: u32 = u32::MAX;
        const MULTIPLE: u32 = u32::MAX - 1;
        let n = self.n();
        let mut owners = vec![0u32; n];
        let mut work: Vec<u32> = Vec::new();
        for i in 0..n {
            let ty = self.raw.node_type[i];
            if ty == self.t.hidden
                || ty == self.t.array
                || (ty == self.t.native && self.name(i as u32) == "system / ExternalStringData")
            {
                owners[i] = UNVISITED;
            } else {
                owners[i] = i as u32;
                work.push(i as u32);
            }
        }
        while let Some(id) = work.pop() {
            let owner = owners[id as usize];
            for e in self.edges(id) {
                if self.raw.edge_type[e] == self.t.e_weak {
                    continue;
                }
                let target = self.raw.edge_to[e];
                let cur = owners[target as usize];
                if cur == UNVISITED {
                    owners[target as usize] = owner;
                    work.push(target);
                } else if cur == target || cur == owner || cur == MULTIPLE {
                } else {
                    owners[target as usize] = MULTIPLE;
                    work.push(target);
                }
            }
        }
        let root = self.root();
        for i in 0..n {
            let o = owners[i];
            if o == UNVISITED || o == MULTIPLE || o == i as u32 {
                continue;
            }
            if self.raw.node_type[o as usize] == self.t.synthetic || o == root {
                continue;
            }
            let size = self.raw.node_self[i];
            self.raw.node_self[i] = 0;
            self.raw.node_self[o as usize] = self.raw.node_self[o as usize].saturating_add(size);
        }
    }

    /// Lengauer–Tarjan, ported from DevTools' calculateDominatorsAndRetainedSizes
    /// (same orphan handling, so unreachable cliques land where DevTools puts them).
    fn dominators(&mut self, essential: &[u64]) {
        let n = self.n();
        let is_ess = |e: usize| essential[e / 64] >> (e % 64) & 1 == 1;
        let len = n + 1;
        let mut parent = vec![0u32; len];
        let mut ancestor = vec![0u32; len];
        let mut vertex = vec![0u32; len];
        let mut label = vec![0u32; len];
        let mut semi = vec![0u32; len];
        let mut next_edge = vec![0u32; len];
        let mut count: u32 = 0;
        let first_edge = &self.first_edge;
        let edge_to = &self.raw.edge_to;

        let mut dfs = |root: u32, parent: &mut Vec<u32>, semi: &mut Vec<u32>, vertex: &mut Vec<u32>, label: &mut Vec<u32>, count: &mut u32| {
            let ro = (root - 1) as usize;
            next_edge[ro] = first_edge[ro];
            let mut v = root;
            while v != 0 {
                if semi[v as usize] == 0 {
                    *count += 1;
                    semi[v as usize] = *count;
                    vertex[*count as usize] = v;
                    label[v as usize] = v;
                }
                let mut v_next = parent[v as usize];
                let vo = (v - 1) as usize;
                while next_edge[vo] < first_edge[vo + 1] {
                    let e = next_edge[vo] as usize;
                    next_edge[vo] += 1;
                    if !is_ess(e) {
                        continue;
                    }
                    let wo = edge_to[e] as usize;
                    let w = wo as u32 + 1;
                    if semi[w as usize] == 0 {
                        parent[w as usize] = v;
                        next_edge[wo] = first_edge[wo];
                        v_next = w;
                        break;
                    }
                }
                v = v_next;
            }
        };

        let r = self.root() + 1;
        dfs(r, &mut parent, &mut semi, &mut vertex, &mut label, &mut count);
        let mut unreachable = 0usize;
        if (count as usize) < n {
            unreachable = n - count as usize;
            for v in 1..=n as u32 {
                let vo = v - 1;
                if semi[v as usize] == 0 && self.retainers(vo).all(|ri| !is_ess(self.retaining_edges[ri] as usize)) {
                    parent[v as usize] = r;
                    dfs(v, &mut parent, &mut semi, &mut vertex, &mut label, &mut count);
                }
            }
        }
        if (count as usize) < n {
            for v in 1..=n as u32 {
                if semi[v as usize] == 0 {
                    parent[v as usize] = r;
                    count += 1;
                    semi[v as usize] = count;
                    vertex[count as usize] = v;
                    label[v as usize] = v;
                }
            }
        }
        self.unreachable = unreachable;
        drop(next_edge);

        let mut stack = vec![0u32; len];
        let mut compress = |v: u32, ancestor: &mut Vec<u32>, label: &mut Vec<u32>, semi: &Vec<u32>| {
            let mut sp = 0usize;
            let mut v = v;
            while ancestor[ancestor[v as usize] as usize] != 0 {
                sp += 1;
                stack[sp] = v;
                v = ancestor[v as usize];
            }
            while sp > 0 {
                let w = stack[sp] as usize;
                sp -= 1;
                let aw = ancestor[w] as usize;
                if semi[label[aw] as usize] < semi[label[w] as usize] {
                    label[w] = label[aw];
                }
                ancestor[w] = ancestor[aw];
            }
        };
        let mut dom = vec![0u32; len];
        let mut bucket_head = vec![0u32; len];
        let mut bucket_next = vec![0u32; len];
        for i in (2..=count as usize).rev() {
            let w = vertex[i];
            let wo = w - 1;
            let mut orphan = true;
            for ri in self.retainers(wo) {
                if !is_ess(self.retaining_edges[ri] as usize) {
                    continue;
                }
                orphan = false;
                let v = self.retaining_nodes[ri] + 1;
                let u = if ancestor[v as usize] == 0 {
                    v
                } else {
                    compress(v, &mut ancestor, &mut label, &semi);
                    label[v as usize]
                };
                if semi[u as usize] < semi[w as usize] {
                    semi[w as usize] = semi[u as usize];
                }
            }
            if orphan {
                semi[w as usize] = semi[r as usize];
            }
            let b = vertex[semi[w as usize] as usize] as usize;
            bucket_next[w as usize] = bucket_head[b];
            bucket_head[b] = w;
            let pw = parent[w as usize];
            ancestor[w as usize] = pw;
            let mut v = bucket_head[pw as usize];
            while v != 0 {
                let u = if ancestor[v as usize] == 0 {
                    v
                } else {
                    compress(v, &mut ancestor, &mut label, &semi);
                    label[v as usize]
                };
                dom[v as usize] = if semi[u as usize] < semi[v as usize] { u } else { pw };
                v = bucket_next[v as usize];
            }
            bucket_head[pw as usize] = 0;
        }
        drop(bucket_head);
        drop(bucket_next);
        drop(ancestor);
        drop(label);
        drop(parent);
        dom[0] = r;
        dom[r as usize] = r;
        for i in 2..=count as usize {
            let w = vertex[i] as usize;
            if dom[w] != vertex[semi[w] as usize] {
                dom[w] = dom[dom[w] as usize];
            }
        }
        drop(semi);
        let mut dominator = vec![0u32; n];
        let mut retained = vec![0f64; n];
        for o in 0..n {
            dominator[o] = dom[o + 1].wrapping_sub(1).min(n as u32 - 1);
            retained[o] = self.raw.node_self[o] as f64;
        }
        drop(dom);
        for i in (2..=count as usize).rev() {
            let o = (vertex[i] - 1) as usize;
            let d = dominator[o] as usize;
            retained[d] += retained[o];
        }
        self.dominator = dominator;
        self.retained = retained;
    }

    /// JSHeapSnapshot.calculateDistances (with its filter), keeping the BFS parent edge.
    fn distances(&mut self, eph: &mut Ephemerons) {
        let n = self.n();
        let mut dist = vec![NO_DISTANCE; n];
        let mut parent = vec![NONE; n];
        let mut queue: Vec<u32> = Vec::with_capacity(n);
        let root = self.root();
        for e in self.edges(root) {
            let to = self.raw.edge_to[e];
            if self.is_user_root(to) {
                dist[to as usize] = 1;
                parent[to as usize] = e as u32;
                queue.push(to);
            }
        }
        let mut pending: HashSet<String> = HashSet::new();
        let had_user_roots = !queue.is_empty();
        self.bfs(&mut queue, &mut dist, &mut parent, &mut pending, eph);
        dist[root as usize] = if had_user_roots { BASE_SYSTEM_DISTANCE } else { 0 };
        queue.clear();
        queue.push(root);
        self.bfs(&mut queue, &mut dist, &mut parent, &mut pending, eph);
        self.distance = dist;
        self.bfs_parent = parent;
    }

    fn bfs(&self, queue: &mut Vec<u32>, dist: &mut [i32], parent: &mut [u32], pending: &mut HashSet<String>, eph: &mut Ephemerons) {
        let mut head = 0usize;
        while head < queue.len() {
            let node = queue[head];
            head += 1;
            let d = dist[node as usize] + 1;
            let ty = self.raw.node_type[node as usize];
            let special = (ty == self.t.hidden && self.name(node) == "system / NativeContext")
                || (ty == self.t.array && self.name(node) == "(map descriptors)");
            for e in self.edges(node) {
                let ety = self.raw.edge_type[e];
                if ety == self.t.e_weak {
                    continue;
                }
                let to = self.raw.edge_to[e];
                if dist[to as usize] != NO_DISTANCE {
                    continue;
                }
                if special {
                    if ty == self.t.hidden {
                        if self.edge_name_str(e) == Some("sloppy_function_map") {
                            continue;
                        }
                    } else {
                        let idx = match self.edge_name_str(e) {
                            Some(s) => js_parse_int(s),
                            None => Some(self.raw.edge_name[e] as u64),
                        };
                        if let Some(i) = idx {
                            if !(i < 2 || i % 3 != 1) {
                                continue;
                            }
                        }
                    }
                }
                if ety == self.t.e_internal {
                    if let Some((dup, _)) = eph.parse(&self.raw.strings, self.raw.edge_name[e]) {
                        if !pending.remove(dup) {
                            pending.insert(dup.to_string());
                            continue;
                        }
                    }
                }
                dist[to as usize] = d;
                parent[to as usize] = e as u32;
                queue.push(to);
            }
        }
    }

    fn build_dominated(&mut self) {
        let n = self.n();
        let root = self.root() as usize;
        let mut first = vec![0u32; n + 1];
        for o in 0..n {
            if o != root {
                first[self.dominator[o] as usize] += 1;
            }
        }
        let mut acc = 0u32;
        for f in first.iter_mut().take(n) {
            let c = *f;
            *f = acc;
            acc += c;
        }
        first[n] = acc;
        let mut fill = first.clone();
        let mut dominated = vec![0u32; acc as usize];
        for o in 0..n {
            if o != root {
                let d = self.dominator[o] as usize;
                dominated[fill[d] as usize] = o as u32;
                fill[d] += 1;
            }
        }
        self.first_dominated = first;
        self.dominated = dominated;
    }

    /// Total size as DevTools shows it: the root's retained size plus extra native bytes.
    pub fn total_size(&self) -> f64 {
        self.retained[self.root() as usize] + self.raw.extra_native_bytes
    }
}

/// `parseInt` of a string's leading digits (enough for edge names).
fn js_parse_int(s: &str) -> Option<u64> {
    let s = s.trim_start();
    let digits = s.bytes().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    s[..digits.min(18)].parse().ok()
}

/// Cache of WeakMap ephemeron edge names ("<i> / part of key (… @1) -> value (… @2) pair in
/// WeakMap (table @3)"), keyed by string index.
pub struct Ephemerons {
    state: Vec<u8>,
    tables: std::collections::HashMap<u32, u32>,
}

impl Ephemerons {
    pub fn new(strings: usize) -> Self {
        Self { state: vec![0; strings], tables: Default::default() }
    }

    /// `(duplicated part, table id)` when the string is an ephemeron edge name.
    pub fn parse<'a>(&mut self, strings: &'a super::reader::Strings, idx: u32) -> Option<(&'a str, u32)> {
        let st = *self.state.get(idx as usize)?;
        if st == 1 {
            return None;
        }
        let s = strings.get(idx);
        let digits = s.bytes().take_while(|b| b.is_ascii_digit()).count();
        if st == 2 {
            return Some((&s[digits..], *self.tables.get(&idx)?));
        }
        match parse_ephemeron(s) {
            Some(table) => {
                self.state[idx as usize] = 2;
                self.tables.insert(idx, table);
                Some((&s[digits..], table))
            }
            None => {
                self.state[idx as usize] = 1;
                None
            }
        }
    }
}

fn parse_ephemeron(s: &str) -> Option<u32> {
    let digits = s.bytes().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let body = s[digits..].strip_prefix(" / part of key (")?.strip_suffix(')')?;
    const TABLE: &str = ") pair in WeakMap (table @";
    let at = body.rfind(TABLE)?;
    let id = &body[at + TABLE.len()..];
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let middle = &body[..at]; // "<key> @1) -> value (<value> @2"
    let ends_with_at_digits = |x: &str| {
        let d = x.bytes().rev().take_while(|b| b.is_ascii_digit()).count();
        d > 0 && x[..x.len() - d].ends_with(" @")
    };
    if !ends_with_at_digits(middle) {
        return None;
    }
    const VALUE: &str = ") -> value (";
    let mut from = 0;
    while let Some(p) = middle[from..].find(VALUE) {
        if ends_with_at_digits(&middle[..from + p]) {
            return id.parse().ok();
        }
        from += p + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn ephemeron_names() {
        assert_eq!(
            parse_ephemeron("12 / part of key (Object @123) -> value (Object @456) pair in WeakMap (table @789)"),
            Some(789)
        );
        assert_eq!(parse_ephemeron("part of key (Object @123) -> value (Object @456) pair in WeakMap (table @789)"), None);
        assert_eq!(parse_ephemeron("12 / something else"), None);
        assert_eq!(js_parse_int("12abc"), Some(12));
        assert_eq!(js_parse_int("abc"), None);
    }
}
