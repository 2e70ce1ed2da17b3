//! Human units in options: durations (`'200ms'`, `'1.5s'`, `'2m'`) and byte
//! sizes (`'1.5GB'`, `'512MB'`, 1024-based like the `bytes` npm package).

/// Parses `<number><unit>`; `None` when malformed. `units` maps suffixes
/// (lowercase) to multipliers; an empty suffix is only allowed if listed.
fn parse_with(s: &str, units: &[(&str, f64)]) -> Option<f64> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num.replace('_', "").parse().ok()?;
    let unit = unit.trim().to_ascii_lowercase();
    let mult = units.iter().find(|(u, _)| *u == unit)?.1;
    let v = num * mult;
    v.is_finite().then_some(v)
}

/// A duration string in milliseconds: `ms`, `s`, `m`, `h` (e.g. `'200ms'`, `'1.5s'`).
pub fn parse_duration_ms(s: &str) -> Option<f64> {
    parse_with(s, &[("ms", 1.0), ("s", 1e3), ("sec", 1e3), ("m", 60e3), ("min", 60e3), ("h", 3600e3)])
}

/// A size string in bytes: `b`, `kb`, `mb`, `gb`, `tb` (powers of 1024; `kib`… accepted too).
pub fn parse_bytes(s: &str) -> Option<f64> {
    const K: f64 = 1024.0;
    parse_with(
        s,
        &[
            ("", 1.0),
            ("b", 1.0),
            ("kb", K),
            ("kib", K),
            ("mb", K * K),
            ("mib", K * K),
            ("gb", K * K * K),
            ("gib", K * K * K),
            ("tb", K * K * K * K),
            ("tib", K * K * K * K),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("200ms"), Some(200.0));
        assert_eq!(parse_duration_ms(" 1.5s "), Some(1500.0));
        assert_eq!(parse_duration_ms("2m"), Some(120_000.0));
        assert_eq!(parse_duration_ms("10 S"), Some(10_000.0));
        assert_eq!(parse_duration_ms("10"), None, "a bare string needs a unit");
        assert_eq!(parse_duration_ms("fast"), None);
        assert_eq!(parse_duration_ms("-5ms"), None);
        assert_eq!(parse_duration_ms("1.2.3s"), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1.5GB"), Some(1.5 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(parse_bytes("512mb"), Some(512.0 * 1024.0 * 1024.0));
        assert_eq!(parse_bytes("100"), Some(100.0));
        assert_eq!(parse_bytes("1_000kb"), Some(1_024_000.0));
        assert_eq!(parse_bytes("3 furlongs"), None);
    }
}
