//! Small checkers for nested exporter options (`prometheus.*`, `falcon.*`).
//! Each error names the option path and the form expected, like config.rs.


use serde_json::{Map, Value};

use crate::config::{ConfigError, ErrorKind};

pub(crate) use crate::config::{bytes, duration, range_err, type_err};

/// An object whose keys are all in `known`.
pub fn object<'a>(path: &str, v: &'a Value, known: &[&str]) -> Result<&'a Map<String, Value>, ConfigError> {
    let o = v.as_object().ok_or_else(|| type_err(path, "an object", v))?;
    for k in o.keys() {
        if !known.contains(&k.as_str()) {
            return Err(ConfigError {
                kind: ErrorKind::Type,
                message: format!("shield: unknown option '{path}.{k}'; known options are {}", known.join(", ")),
            });
        }
    }
    Ok(o)
}


pub fn ratio(path: &str, v: &Value) -> Result<f64, ConfigError> {
    let r = v.as_f64().ok_or_else(|| type_err(path, "a number between 0 and 1", v))?;
    if !(r > 0.0 && r <= 1.0) {
        return Err(range_err(path, "a number greater than 0 and at most 1", v));
    }
    Ok(r)
}

pub fn string(path: &str, v: &Value, expected: &str) -> Result<String, ConfigError> {
    match v {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        _ => Err(type_err(path, expected, v)),
    }
}

/// An integer in `[min, max]`.
pub fn int(path: &str, v: &Value, min: u64, max: u64) -> Result<u64, ConfigError> {
    let n = v.as_f64().filter(|n| n.fract() == 0.0).ok_or_else(|| type_err(path, "an integer", v))?;
    if n < min as f64 || n > max as f64 {
        return Err(range_err(path, &format!("an integer from {min} to {max}"), v));
    }
    Ok(n as u64)
}

pub fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_') && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_') && !s.starts_with("__")
}

/// `{ name: value }` with Prometheus label names, string/number values, and
/// none of the `reserved` names (labels shield sets itself).
pub fn labels(path: &str, v: &Value, reserved: &[&str]) -> Result<Vec<(String, String)>, ConfigError> {
    let o = v.as_object().ok_or_else(|| type_err(path, "an object of label names to string values, such as { app: 'api' }", v))?;
    let mut out = Vec::new();
    for (k, val) in o {
        let p = format!("{path}.{k}");
        if !is_label_name(k) {
            return Err(type_err(&p, "named like a Prometheus label ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)", &Value::String(k.clone())));
        }
        if reserved.contains(&k.as_str()) {
            return Err(type_err(&p, &format!("a label shield does not set itself (reserved: {})", reserved.join(", ")), &Value::String(k.clone())));
        }
        let s = match val {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(type_err(&p, "a string or number", val)),
        };
        out.push((k.clone(), s));
    }
    Ok(out)
}

/// `http://host[:port][/path]`: shield's pushers speak plain HTTP only.
pub fn http_url(path: &str, v: &Value) -> Result<String, ConfigError> {
    let s = string(path, v, "an http:// URL string")?;
    let rest = s.strip_prefix("http://").ok_or_else(|| type_err(path, "an http:// URL (https is not supported; push to a local agent or proxy)", v))?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err(type_err(path, "an http:// URL with a host", v));
    }
    Ok(s)
}

/// The machine's hostname (Open-Falcon endpoint, Pushgateway instance).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into our buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let h = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    if h.is_empty() { "localhost".into() } else { h }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_and_urls() {
        let l = labels("prometheus.labels", &json!({ "app": "api", "n": 3 }), &["pid"]).unwrap();
        assert_eq!(l, vec![("app".into(), "api".into()), ("n".into(), "3".into())]);
        assert!(labels("x", &json!({ "pid": "1" }), &["pid"]).unwrap_err().message.contains("'x.pid'"));
        assert!(labels("x", &json!({ "a-b": "1" }), &[]).is_err());
        assert!(labels("x", &json!({ "__a": "1" }), &[]).is_err());
        assert!(http_url("falcon.url", &json!("https://x")).unwrap_err().message.contains("https"));
        assert!(http_url("u", &json!("http://127.0.0.1:1988/v1/push")).is_ok());
        assert!(!hostname().is_empty());
    }
}
