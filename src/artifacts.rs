//! Artifact files (profiles, heap snapshots, flame graphs): where they go,
//! what they are called, how they are written and how many may stay.
//!
//! - Every file is written under a temporary hidden name and renamed into
//!   place, so a reader never sees half a file; mode 0600 in a 0700 directory.
//! - Names are `<kind>-<pid>-<thread>-<iso time>.<ext>` (colons of the time
//!   replaced by `-` so the names work on every file system), each with a
//!   `.json` sidecar that says why it was taken.
//! - After each write, the oldest artifacts are removed until at most
//!   `max_artifacts` remain and they take at most `max_disk_bytes`.
//! - Large streams (heap snapshot chunks) go through one writer thread fed by
//!   a bounded channel: the JS thread hands a chunk over and moves on.
//!
//! No napi types here; `bind_evidence.rs` is the glue.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{bounded, Receiver, Sender, SendTimeoutError};
use parking_lot::Mutex;
use serde::Serialize;

/// The kinds of artifact shield writes; the name is the file prefix.
pub const KINDS: &[&str] = &["cpuprofile", "heapsnapshot", "heapprofile", "flamegraph"];

/// Where artifacts go and how much may stay there.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreSettings {
    pub dir: PathBuf,
    pub max_artifacts: usize,
    pub max_disk_bytes: u64,
}

/// A finished artifact.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Written {
    pub path: String,
    pub bytes: u64,
    /// The `.json` sidecar, when one was written.
    pub sidecar: Option<String>,
    /// Older artifacts removed to stay within the quota.
    pub rotated: Vec<String>,
}

#[derive(Debug)]
pub struct ArtifactError(pub String);

impl std::fmt::Display for ArtifactError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArtifactError {}

fn err(what: &str, path: &Path, e: io::Error) -> ArtifactError {
    ArtifactError(format!("{what} {}: {e}", path.display()))
}

/// `2026-11-23T12-22-33.123Z` for a time in ms since the epoch (UTC).
pub fn iso_name_time(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let sod = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}-{:02}-{:02}.{:03}Z", sod / 3600, sod / 60 % 60, sod % 60, ms % 1000)
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Base name (no directory, no extension) for a new artifact.
pub fn artifact_stem(kind: &str, pid: u32, thread: u32, ms: u64) -> String {
    format!("{kind}-{pid}-{thread}-{}", iso_name_time(ms))
}

/// Creates the directory (and parents) with mode 0700 when missing. An
/// existing directory is used as it is: shield does not change the mode of a
/// directory it did not create.
pub fn ensure_dir(dir: &Path) -> Result<(), ArtifactError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| err("cannot create logsPath", dir, e))
}

fn create_private(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

fn tmp_path(dir: &Path, stem: &str) -> PathBuf {
    let n = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{stem}.{}-{n}.tmp", std::process::id()))
}

/// A final path that does not exist yet: `stem.ext`, else `stem-1.ext`, …
fn free_path(dir: &Path, stem: &str, ext: &str) -> PathBuf {
    let first = dir.join(format!("{stem}.{ext}"));
    if !first.exists() {
        return first;
    }
    (1..)
        .map(|i| dir.join(format!("{stem}-{i}.{ext}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

/// Writes `data` to `path` atomically (temp + fsync + rename), mode 0600.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<u64, ArtifactError> {
    write_atomic_mode(path, data, true)
}

/// Same, with the usual mode (0666 less the umask) when `private` is false:
/// for a file the user named (`flamegraph -o out.svg`).
pub fn write_atomic_mode(path: &Path, data: &[u8], private: bool) -> Result<u64, ArtifactError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let stem = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = tmp_path(dir, &stem);
    let r = (|| {
        let mut f = if private { create_private(&tmp)? } else { OpenOptions::new().write(true).create_new(true).open(&tmp)? };
        f.write_all(data)?;
        // Evidence is fsync'd before the rename; a file the user named (CLI
        // output) is only renamed, like any other tool's output.
        if private {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)
    })();
    if let Err(e) = r {
        let _ = fs::remove_file(&tmp);
        return Err(err("cannot write", path, e));
    }
    Ok(data.len() as u64)
}

/// True when `name` is an artifact shield wrote (not a sidecar, not a temp file).
fn is_artifact_name(name: &str) -> bool {
    if name.starts_with('.') || name.ends_with(".json") {
        return false;
    }
    KINDS.iter().any(|k| {
        name.strip_prefix(k).and_then(|r| r.strip_prefix('-')).is_some_and(|r| {
            let mut parts = r.splitn(3, '-');
            let pid = parts.next().unwrap_or("");
            let thread = parts.next().unwrap_or("");
            !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) && !thread.is_empty() && thread.bytes().all(|b| b.is_ascii_digit())
        })
    })
}

fn sidecar_of(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".json");
    PathBuf::from(s)
}

/// Serialises rotation and renaming within the process (several threads share a directory).
static ROTATE: Mutex<()> = Mutex::new(());

/// Removes the oldest artifacts (and their sidecars) until one more artifact
/// of `incoming` bytes fits the quota. Call with [`ROTATE`] held. Returns the
/// removed paths. Stale temp files (older than an hour: a crashed writer) go too.
fn make_room(settings: &StoreSettings, incoming: u64) -> Result<Vec<String>, ArtifactError> {
    let dir = &settings.dir;
    let rd = fs::read_dir(dir).map_err(|e| err("cannot list logsPath", dir, e))?;
    struct Entry {
        path: PathBuf,
        bytes: u64,
        mtime: SystemTime,
    }
    let mut entries = Vec::new();
    for de in rd.flatten() {
        let name = de.file_name().to_string_lossy().into_owned();
        let Ok(meta) = de.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
        if name.starts_with('.') && name.ends_with(".tmp") && KINDS.iter().any(|k| name[1..].starts_with(k)) {
            if mtime.elapsed().unwrap_or_default() > Duration::from_secs(3600) {
                let _ = fs::remove_file(de.path());
            }
            continue;
        }
        if !is_artifact_name(&name) {
            continue;
        }
        let path = de.path();
        let side = fs::metadata(sidecar_of(&path)).map_or(0, |m| m.len());
        entries.push(Entry { path, bytes: meta.len() + side, mtime });
    }
    // Oldest first; the name (which carries the time) breaks ties.
    entries.sort_by(|a, b| a.mtime.cmp(&b.mtime).then_with(|| a.path.cmp(&b.path)));
    let mut count = entries.len() + 1;
    let mut total: u64 = entries.iter().map(|e| e.bytes).sum::<u64>() + incoming;
    let mut removed = Vec::new();
    for e in entries {
        if count <= settings.max_artifacts && total <= settings.max_disk_bytes {
            break;
        }
        if fs::remove_file(&e.path).is_ok() {
            let _ = fs::remove_file(sidecar_of(&e.path));
            removed.push(e.path.to_string_lossy().into_owned());
            count -= 1;
            total -= e.bytes;
        }
    }
    Ok(removed)
}

/// Puts a complete temp file in place: makes room under the quota, writes the
/// sidecar, renames. The directory never holds more than the quota allows.
fn commit(settings: &StoreSettings, tmp: &Path, stem: &str, ext: &str, bytes: u64, sidecar: Option<&[u8]>) -> Result<Written, ArtifactError> {
    let incoming = bytes + sidecar.map_or(0, |s| s.len() as u64);
    if incoming > settings.max_disk_bytes {
        let _ = fs::remove_file(tmp);
        return Err(ArtifactError(format!(
            "{stem}.{ext} ({incoming} bytes with its sidecar) is larger than maxDiskBytes ({} bytes); not kept",
            settings.max_disk_bytes
        )));
    }
    let _g = ROTATE.lock();
    let rotated = match make_room(settings, incoming) {
        Ok(r) => r,
        Err(e) => {
            let _ = fs::remove_file(tmp);
            return Err(e);
        }
    };
    let path = free_path(&settings.dir, stem, ext);
    let side = match sidecar {
        Some(s) => {
            let p = sidecar_of(&path);
            if let Err(e) = write_atomic(&p, s) {
                let _ = fs::remove_file(tmp);
                return Err(e);
            }
            Some(p)
        }
        None => None,
    };
    if let Err(e) = fs::rename(tmp, &path) {
        let _ = fs::remove_file(tmp);
        if let Some(p) = &side {
            let _ = fs::remove_file(p);
        }
        return Err(err("cannot rename into", &path, e));
    }
    Ok(Written { path: path.to_string_lossy().into_owned(), bytes, sidecar: side.map(|p| p.to_string_lossy().into_owned()), rotated })
}

/// Stores a complete artifact (already in memory): atomic write, sidecar, rotation.
pub fn store(settings: &StoreSettings, stem: &str, ext: &str, data: &[u8], sidecar: Option<&[u8]>) -> Result<Written, ArtifactError> {
    ensure_dir(&settings.dir)?;
    let side_len = sidecar.map_or(0, |s| s.len() as u64);
    if data.len() as u64 + side_len > settings.max_disk_bytes {
        return Err(ArtifactError(format!(
            "{stem}.{ext} ({} bytes) is larger than maxDiskBytes ({} bytes); not written",
            data.len(),
            settings.max_disk_bytes
        )));
    }
    let tmp = tmp_path(&settings.dir, stem);
    let r = (|| {
        let mut f = create_private(&tmp)?;
        f.write_all(data)?;
        f.sync_all()
    })();
    if let Err(e) = r {
        let _ = fs::remove_file(&tmp);
        return Err(err("cannot write", &tmp, e));
    }
    commit(settings, &tmp, stem, ext, data.len() as u64, sidecar)
}

// ---------------------------------------------------------------------------
// Streaming writer: one thread per process, fed by a bounded channel.

/// How long the JS thread may wait for room in the channel before the
/// artifact is abandoned (the disk is not keeping up).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Chunks in flight (V8 sends heap snapshot chunks of about 100 KB).
pub const CHANNEL_CAPACITY: usize = 256;

enum Msg {
    Open(u64, Box<Open>),
    Chunk(u64, Vec<u8>),
    Finish(u64, Option<Vec<u8>>, Sender<Result<Written, ArtifactError>>),
    Abort(u64),
}

struct Open {
    file: BufWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    settings: StoreSettings,
    bytes: u64,
    error: Option<String>,
}

impl Open {
    fn write(&mut self, chunk: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if self.bytes + chunk.len() as u64 > self.settings.max_disk_bytes {
            self.error = Some(format!(
                "{} grew past maxDiskBytes ({} bytes); abandoned",
                self.path.display(),
                self.settings.max_disk_bytes
            ));
            return;
        }
        match self.file.write_all(chunk) {
            Ok(()) => self.bytes += chunk.len() as u64,
            Err(e) => self.error = Some(err("cannot write", &self.tmp, e).0),
        }
    }

    fn finish(mut self, sidecar: Option<Vec<u8>>) -> Result<Written, ArtifactError> {
        if let Some(e) = self.error.take() {
            let _ = fs::remove_file(&self.tmp);
            return Err(ArtifactError(e));
        }
        let r = self.file.flush().and_then(|_| self.file.get_ref().sync_all());
        if let Err(e) = r {
            let _ = fs::remove_file(&self.tmp);
            return Err(err("cannot write", &self.tmp, e));
        }
        drop(self.file);
        let stem = self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let ext = self.path.extension().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        commit(&self.settings, &self.tmp, &stem, &ext, self.bytes, sidecar.as_deref())
    }
}

struct Writer {
    tx: Sender<Msg>,
}

fn writer_loop(rx: Receiver<Msg>) {
    let mut open: HashMap<u64, Open> = HashMap::new();
    for msg in rx {
        match msg {
            Msg::Open(id, o) => {
                open.insert(id, *o);
            }
            Msg::Chunk(id, data) => {
                if let Some(o) = open.get_mut(&id) {
                    o.write(&data);
                }
            }
            Msg::Finish(id, sidecar, reply) => {
                let r = match open.remove(&id) {
                    Some(o) => o.finish(sidecar),
                    None => Err(ArtifactError(format!("artifact {id} is not open"))),
                };
                let _ = reply.send(r);
            }
            Msg::Abort(id) => {
                if let Some(o) = open.remove(&id) {
                    drop(o.file);
                    let _ = fs::remove_file(&o.tmp);
                }
            }
        }
    }
}

fn writer() -> Result<&'static Writer, ArtifactError> {
    static W: OnceLock<Option<Writer>> = OnceLock::new();
    W.get_or_init(|| {
        let (tx, rx) = bounded(CHANNEL_CAPACITY);
        std::thread::Builder::new().name("shield-writer".into()).spawn(move || writer_loop(rx)).ok().map(|_| Writer { tx })
    })
    .as_ref()
    .ok_or_else(|| ArtifactError("cannot start the artifact writer thread".into()))
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A stream being written; returned by [`open_stream`].
#[derive(Debug, Clone, Serialize)]
pub struct Opened {
    pub id: u64,
    pub path: String,
}

/// Opens a temp file for a streamed artifact (on the calling thread, so an
/// unwritable directory is known before anything is captured).
pub fn open_stream(settings: &StoreSettings, stem: &str, ext: &str) -> Result<Opened, ArtifactError> {
    let w = writer()?;
    ensure_dir(&settings.dir)?;
    let tmp = tmp_path(&settings.dir, stem);
    let file = create_private(&tmp).map_err(|e| err("cannot create a file in logsPath", &settings.dir, e))?;
    let path = free_path(&settings.dir, stem, ext);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let o = Open { file: BufWriter::with_capacity(1 << 20, file), tmp: tmp.clone(), path: path.clone(), settings: settings.clone(), bytes: 0, error: None };
    if w.tx.send_timeout(Msg::Open(id, Box::new(o)), SEND_TIMEOUT).is_err() {
        let _ = fs::remove_file(&tmp);
        return Err(ArtifactError("the artifact writer is not keeping up".into()));
    }
    Ok(Opened { id, path: path.to_string_lossy().into_owned() })
}

/// Hands a chunk to the writer thread. Waits for room in the channel (at most
/// [`SEND_TIMEOUT`]): dropping a chunk would corrupt the file.
pub fn write_chunk(id: u64, data: Vec<u8>) -> Result<(), ArtifactError> {
    let w = writer()?;
    match w.tx.try_send(Msg::Chunk(id, data)) {
        Ok(()) => Ok(()),
        Err(crossbeam_channel::TrySendError::Full(m)) => match w.tx.send_timeout(m, SEND_TIMEOUT) {
            Ok(()) => Ok(()),
            Err(SendTimeoutError::Timeout(_)) => Err(ArtifactError("the artifact writer is not keeping up (disk too slow)".into())),
            Err(SendTimeoutError::Disconnected(_)) => Err(ArtifactError("the artifact writer stopped".into())),
        },
        Err(crossbeam_channel::TrySendError::Disconnected(_)) => Err(ArtifactError("the artifact writer stopped".into())),
    }
}

/// Completes a stream: flush, fsync, rename, sidecar, rotation. Blocks until
/// the writer thread has done it (call it off the JS thread).
pub fn finish_stream(id: u64, sidecar: Option<Vec<u8>>) -> Result<Written, ArtifactError> {
    let w = writer()?;
    let (tx, rx) = bounded(1);
    w.tx.send(Msg::Finish(id, sidecar, tx)).map_err(|_| ArtifactError("the artifact writer stopped".into()))?;
    rx.recv().map_err(|_| ArtifactError("the artifact writer stopped".into()))?
}

/// Drops a stream and its temp file.
pub fn abort_stream(id: u64) {
    if let Ok(w) = writer() {
        let _ = w.tx.send_timeout(Msg::Abort(id), SEND_TIMEOUT);
    }
}

pub fn now_stem(kind: &str, pid: u32, thread: u32) -> String {
    artifact_stem(kind, pid, thread, now_ms())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("shield-artifacts-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn iso_times() {
        assert_eq!(iso_name_time(0), "1970-01-01T00-00-00.000Z");
        assert_eq!(iso_name_time(1_700_000_000_123), "2023-11-14T22-13-20.123Z");
        assert_eq!(iso_name_time(951_782_400_000), "2000-02-29T00-00-00.000Z");
        assert_eq!(artifact_stem("cpuprofile", 12, 3, 0), "cpuprofile-12-3-1970-01-01T00-00-00.000Z");
    }

    #[test]
    fn names() {
        assert!(is_artifact_name("cpuprofile-12-0-1970-01-01T00-00-00.000Z.cpuprofile"));
        assert!(is_artifact_name("flamegraph-12-3-x.svg"));
        assert!(!is_artifact_name("cpuprofile-12-0-1970.cpuprofile.json"));
        assert!(!is_artifact_name(".cpuprofile-12-0-x.tmp"));
        assert!(!is_artifact_name("cpuprofile-ab-0-x"));
        assert!(!is_artifact_name("notes.txt"));
    }

    #[test]
    fn store_is_private_and_rotates_oldest_first() {
        let dir = tmpdir("rotate");
        let s = StoreSettings { dir: dir.join("logs"), max_artifacts: 3, max_disk_bytes: 1 << 20 };
        let mut paths = Vec::new();
        for i in 0..5 {
            let w = store(&s, &artifact_stem("heapprofile", 1, 0, i * 1000), "heapprofile", b"{}", Some(b"{\"a\":1}")).unwrap();
            paths.push(w.path);
            std::thread::sleep(Duration::from_millis(15));
        }
        let left: Vec<_> = fs::read_dir(&s.dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(left.iter().filter(|n| !n.ends_with(".json")).count(), 3, "{left:?}");
        assert_eq!(left.iter().filter(|n| n.ends_with(".json")).count(), 3, "{left:?}");
        assert!(!Path::new(&paths[0]).exists() && !Path::new(&paths[1]).exists());
        assert!(Path::new(&paths[4]).exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&s.dir).unwrap().permissions().mode() & 0o777, 0o700);
            assert_eq!(fs::metadata(&paths[4]).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn disk_quota_holds_and_refuses_oversized() {
        let dir = tmpdir("quota");
        let s = StoreSettings { dir: dir.clone(), max_artifacts: 100, max_disk_bytes: 2500 };
        for i in 0..6 {
            store(&s, &artifact_stem("cpuprofile", 1, 0, i), "cpuprofile", &[b'x'; 1000], None).unwrap();
            std::thread::sleep(Duration::from_millis(15));
        }
        let total: u64 = fs::read_dir(&dir).unwrap().flatten().map(|e| e.metadata().unwrap().len()).sum();
        assert!(total <= 2500, "{total}");
        let e = store(&s, "cpuprofile-1-0-big", "cpuprofile", &[b'x'; 3000], None).unwrap_err();
        assert!(e.0.contains("maxDiskBytes"), "{e}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn streams_through_the_writer() {
        let dir = tmpdir("stream");
        let s = StoreSettings { dir: dir.clone(), max_artifacts: 10, max_disk_bytes: 1 << 20 };
        let o = open_stream(&s, "heapsnapshot-1-0-t", "heapsnapshot").unwrap();
        for i in 0..100 {
            write_chunk(o.id, format!("{i},").into_bytes()).unwrap();
        }
        let w = finish_stream(o.id, Some(b"{}".to_vec())).unwrap();
        let text = fs::read_to_string(&w.path).unwrap();
        assert!(text.starts_with("0,1,2,") && text.ends_with("99,"));
        assert_eq!(w.bytes, text.len() as u64);
        // A stream larger than the quota is abandoned, its temp file removed.
        let small = StoreSettings { max_disk_bytes: 10, ..s.clone() };
        let o = open_stream(&small, "heapsnapshot-1-0-u", "heapsnapshot").unwrap();
        write_chunk(o.id, vec![b'x'; 64]).unwrap();
        assert!(finish_stream(o.id, None).unwrap_err().0.contains("maxDiskBytes"));
        let tmp_left = fs::read_dir(&dir).unwrap().flatten().any(|e| e.file_name().to_string_lossy().ends_with(".tmp"));
        assert!(!tmp_left);
        let _ = fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn unwritable_dir_is_an_error() {
        let e = open_stream(&StoreSettings { dir: "/proc/shield-no".into(), max_artifacts: 1, max_disk_bytes: 1 }, "x", "y").unwrap_err();
        assert!(e.0.contains("/proc/shield-no"), "{e}");
    }
}
