//! Process-wide readings an exporter takes itself, on its own thread, at
//! scrape time (so they are live even while every JS loop is blocked):
//! CPU time from `getrusage`, memory and descriptors from `/proc/self` on Linux.
//! prom-client reads the same sources for its `process_*` metrics.

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessReading {
    pub cpu_user_s: Option<f64>,
    pub cpu_system_s: Option<f64>,
    pub rss_bytes: Option<f64>,
    pub virtual_bytes: Option<f64>,
    /// VmData, what prom-client calls `process_heap_bytes`.
    pub data_bytes: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
    pub start_time_s: Option<f64>,
}

fn rusage() -> Option<(f64, f64)> {
    // SAFETY: getrusage writes into the zeroed struct we own.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut ru) != 0 {
            return None;
        }
        let s = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        Some((s(ru.ru_utime), s(ru.ru_stime)))
    }
}

/// `VmRSS:    1234 kB` → bytes.
fn status_kb(status: &str, key: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024.0)
}

/// "Max open files  1024  4096  files" → the soft limit.
fn max_open_files(limits: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// Start time from `/proc/self/stat` field 22 (clock ticks after boot) and `btime`.
fn start_time(stat: &str, proc_stat: &str, ticks: f64) -> Option<f64> {
    // The command name (field 2) may contain spaces: fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let start_ticks: f64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let btime: f64 = proc_stat.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()?;
    (ticks > 0.0).then(|| (btime + start_ticks / ticks).round())
}

pub fn read() -> ProcessReading {
    let mut r = ProcessReading::default();
    if let Some((u, s)) = rusage() {
        r.cpu_user_s = Some(u);
        r.cpu_system_s = Some(s);
    }
    if cfg!(target_os = "linux") {
        if let Ok(st) = std::fs::read_to_string("/proc/self/status") {
            r.rss_bytes = status_kb(&st, "VmRSS:");
            r.virtual_bytes = status_kb(&st, "VmSize:");
            r.data_bytes = status_kb(&st, "VmData:");
        }
        if let Ok(d) = std::fs::read_dir("/proc/self/fd") {
            // minus the descriptor read_dir itself holds, as prom-client does
            r.open_fds = Some((d.count() as f64 - 1.0).max(0.0));
        }
        if let Ok(l) = std::fs::read_to_string("/proc/self/limits") {
            r.max_fds = max_open_files(&l);
        }
        if let (Ok(stat), Ok(ps)) = (std::fs::read_to_string("/proc/self/stat"), std::fs::read_to_string("/proc/stat")) {
            // SAFETY: sysconf has no preconditions.
            let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
            r.start_time_s = start_time(&stat, &ps, ticks);
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        assert_eq!(status_kb("Name:\tnode\nVmRSS:\t   2048 kB\n", "VmRSS:"), Some(2048.0 * 1024.0));
        assert_eq!(max_open_files("Max cpu time  unlimited unlimited seconds\nMax open files            1024                 524288               files\n"), Some(1024.0));
        let stat = "123 (no de) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 500 20";
        assert_eq!(start_time(stat, "cpu 1 2\nbtime 1700000000\n", 100.0), Some(1_700_000_005.0));
    }

    #[test]
    fn reads_this_process() {
        let r = read();
        assert!(r.cpu_user_s.unwrap() >= 0.0);
        if cfg!(target_os = "linux") {
            assert!(r.rss_bytes.unwrap() > 1e5);
            assert!(r.open_fds.unwrap() >= 2.0);
            assert!(r.max_fds.unwrap() >= 16.0);
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
            let st = r.start_time_s.unwrap();
            assert!(st <= now + 1.0 && st > now - 86_400.0 * 365.0, "start {st}");
        }
    }
}
