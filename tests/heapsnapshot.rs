//! The reader must never panic and must name a byte offset on bad input: truncated
//! and mutated variants of a real snapshot (written by the local `node`).

use std::path::PathBuf;
use std::process::Command;

use shield::heapsnapshot::{self, graph::Graph, reader};

fn real_snapshot() -> Vec<u8> {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("shield-heap-fuzz-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file: PathBuf = dir.join("small.heapsnapshot");
    let status = Command::new("node")
        .arg("-e")
        .arg(format!(
            "const m = new Map(); for (let i = 0; i < 200; i++) m.set('k' + i, {{ v: 'x'.repeat(i) }}); globalThis.m = m; \
             require('v8').writeHeapSnapshot({:?})",
            file.to_str().unwrap()
        ))
        .status()
        .expect("node must be installed to write a heap snapshot");
    assert!(status.success());
    let data = std::fs::read(&file).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    data
}

fn analyse(bytes: &[u8]) -> Result<usize, reader::HeapError> {
    let raw = reader::read(bytes, bytes.len() as u64)?;
    let g = Graph::build(raw);
    let defs = g.infer_interfaces();
    let classes = g.classes(&defs);
    Ok(g.aggregates(&classes).len())
}

/// Tiny deterministic PRNG (xorshift) so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn real_snapshot_reads_and_truncations_fail_with_offsets() {
    let data = real_snapshot();
    assert!(analyse(&data).unwrap() > 50);
    let mut cuts: Vec<usize> = (0..40).map(|i| data.len() * i / 40).collect();
    cuts.extend([1, 2, 10, data.len() - 1, data.len() - 2]);
    for cut in cuts {
        let err = analyse(&data[..cut]).expect_err("a truncated snapshot must not load");
        assert!(err.offset.is_some(), "cut at {cut}: {err}");
        assert!(err.offset.unwrap() <= cut as u64, "cut at {cut}: offset {:?} past the end", err.offset);
    }
}

#[test]
fn random_mutations_never_panic() {
    let data = real_snapshot();
    let mut rng = Rng(0x9E3779B97F4A7C15);
    let alphabet = b"0123456789,[]{}\":\\u -.eE\n";
    let mut errors = 0;
    for round in 0..300 {
        let mut m = data.clone();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(m.len());
            match rng.below(4) {
                0 => m[at] = alphabet[rng.below(alphabet.len())],
                1 => m[at] = rng.next() as u8,
                2 => {
                    m.remove(at);
                }
                _ => m.insert(at, alphabet[rng.below(alphabet.len())]),
            }
        }
        // Either it loads (the mutation kept it valid) or it fails with a message; never a panic.
        let r = std::panic::catch_unwind(|| analyse(&m));
        match r {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                errors += 1;
                assert!(!e.message.is_empty(), "round {round}");
            }
            Err(_) => panic!("round {round}: the analysis panicked"),
        }
    }
    assert!(errors > 50, "most mutations should be rejected ({errors})");
}

#[test]
fn hand_made_inputs() {
    for (input, needle) in [
        (&b""[..], "not a heap snapshot"),
        (b"[]", "expected a JSON object"),
        (b"{}", "empty object"),
        (b"{\"nodes\":[1,2]}", "before 'snapshot.meta'"),
        (b"{\"snapshot\":{\"meta\":{}}}", "bad snapshot header"),
        (b"{\"snapshot\":{}", "bad snapshot header"),
        (b"{\"a\":[[[[", "truncated"),
        (b"{\"strings\":[\"\\q\"]}", "invalid escape"),
    ] {
        let e = analyse(input).expect_err(std::str::from_utf8(input).unwrap());
        assert!(e.to_string().contains(needle), "{:?}: {e}", std::str::from_utf8(input));
    }
    // Nesting deeper than the limit is refused without recursion.
    let deep = format!("{{\"x\":{}}}", "[".repeat(100_000));
    assert!(analyse(deep.as_bytes()).unwrap_err().to_string().contains("nested too deeply"));
    // A header that claims billions of nodes reserves no more than the file can hold.
    let liar = br#"{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count"],"node_types":[["synthetic"]],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["element"]]},"node_count":4000000000,"edge_count":4000000000},"nodes":[0,0,1,0,0],"edges":[],"strings":[""]}"#;
    assert_eq!(analyse(liar).unwrap(), 0);
    // Lone surrogates in strings are replaced, not rejected.
    let s = br#"{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count"],"node_types":[["synthetic","object"]],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["element","property"]]}},"nodes":[0,0,1,0,1,1,1,3,16,0],"edges":[0,1,5],"strings":["","\ud800x"]}"#;
    let raw = reader::read(&s[..], s.len() as u64).unwrap();
    assert_eq!(raw.strings.get(1), "\u{FFFD}x");
    let _ = heapsnapshot::human_bytes(1.0);
}
