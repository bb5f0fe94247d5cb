//! Argument and result serialisation strategies (`messages.md` §5).
//!
//! Only the `json` strategy is language-neutral; `pickle` payloads are opaque
//! to Rust and can be forwarded but not decoded.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ExchangeError;

/// First element of a serialised `result` array.
pub const SERIALIZED_SENTINEL: &str = "__serialized__";

/// Key that marks an encoded exception inside `json` payloads.
pub const EXCEPTION_KEY: &str = "__exception__";

/// How `pargs`, `kargs`, results and exceptions are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SerializationStrategy {
    /// Python pickle, base64-encoded. Opaque to Rust.
    Pickle,
    /// Python `json.dumps` text.
    Json,
}

impl SerializationStrategy {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            SerializationStrategy::Pickle => "pickle",
            SerializationStrategy::Json => "json",
        }
    }

    /// Encodes a value as the strategy's text.
    pub fn encode(self, value: &Value) -> Result<String, ExchangeError> {
        match self {
            SerializationStrategy::Json => Ok(python_json_dumps(value)),
            SerializationStrategy::Pickle => Err(ExchangeError::Serialization(
                "the pickle strategy is Python-only; use json".into(),
            )),
        }
    }

    /// Decodes the strategy's text into a value.
    pub fn decode(self, text: &str) -> Result<Value, ExchangeError> {
        match self {
            SerializationStrategy::Json => python_json_loads(text),
            SerializationStrategy::Pickle => Err(ExchangeError::Serialization(
                "cannot decode a pickle payload in Rust; ask the peer for json".into(),
            )),
        }
    }
}

/// Text of Python's `json.dumps(value)` with default settings: `", "` and
/// `": "` separators and non-ASCII escaped as `\uXXXX`.
///
/// ```
/// use academy_exchange::message::python_json_dumps;
/// let v = serde_json::json!({"scale": 10, "name": "é", "xs": [1, 2.5]});
/// assert_eq!(python_json_dumps(&v), r#"{"scale": 10, "name": "\u00e9", "xs": [1, 2.5]}"#);
/// ```
pub fn python_json_dumps(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => {
            if n.is_f64() {
                match n.as_f64() {
                    Some(f) => out.push_str(&python_float_repr(f)),
                    None => out.push_str("null"),
                }
            } else {
                let _ = write!(out, "{n}");
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str(out, k);
                out.push_str(": ");
                write_value(out, v);
            }
            out.push('}');
        }
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    // Copy runs of printable ASCII at once; escape everything else.
    let mut run_start = 0;
    for (i, c) in s.char_indices() {
        if matches!(c, ' '..='~') && c != '"' && c != '\\' {
            continue;
        }
        out.push_str(&s[run_start..i]);
        run_start = i + c.len_utf8();
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            _ => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push_str(&s[run_start..]);
    out.push('"');
}

/// Python's `repr(float)`: shortest round-trip digits, scientific notation
/// below 1e-4 or from 1e16, exponent with sign and at least two digits.
fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // `{:e}` gives the shortest round-trip digits as d.ddddde±x.
    let sci = format!("{f:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if negative { "-" } else { "" };
    if !(-4..16).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{esign}{:02}", exp.abs());
    }
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        format!("{sign}0.{}{}", "0".repeat((-point) as usize), digits)
    } else if (point as usize) >= digits.len() {
        format!(
            "{sign}{}{}.0",
            digits,
            "0".repeat(point as usize - digits.len())
        )
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{sign}{int}.{frac}")
    }
}

/// Parses `json` strategy text. Accepts Python's bare `NaN`, `Infinity` and
/// `-Infinity`, which decode as `null` (serde_json values cannot hold them).
pub fn python_json_loads(text: &str) -> Result<Value, ExchangeError> {
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(first) => {
            let replaced = replace_non_finite(text);
            if replaced == text {
                return Err(ExchangeError::Serialization(format!(
                    "invalid json payload: {first}"
                )));
            }
            serde_json::from_str(&replaced)
                .map_err(|e| ExchangeError::Serialization(format!("invalid json payload: {e}")))
        }
    }
}

/// Replaces the non-standard number tokens outside strings with `null`.
fn replace_non_finite(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_str = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let token = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t));
        if let Some(t) = token {
            out.push_str("null");
            rest = &rest[t.len()..];
            continue;
        }
        if c == '"' {
            in_str = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The `exception_str` of an encoded exception object, if `value` is one.
pub fn exception_text(value: &Value) -> Option<&str> {
    let obj = value.as_object()?;
    if obj.contains_key(EXCEPTION_KEY) {
        Some(
            obj.get("exception_str")
                .and_then(Value::as_str)
                .unwrap_or(""),
        )
    } else {
        None
    }
}

/// `json` strategy text of an exception, in Python's shape:
/// `{"__exception__": true, "exception_str": "<Type>: <message>\n"}`.
///
/// ```
/// use academy_exchange::message::encode_exception;
/// assert_eq!(
///     encode_exception("ZeroDivisionError", "division by zero"),
///     r#"{"__exception__": true, "exception_str": "ZeroDivisionError: division by zero\n"}"#
/// );
/// ```
pub fn encode_exception(type_name: &str, message: &str) -> String {
    let mut map = serde_json::Map::new();
    map.insert(EXCEPTION_KEY.into(), Value::Bool(true));
    map.insert(
        "exception_str".into(),
        Value::String(format!("{type_name}: {message}\n")),
    );
    python_json_dumps(&Value::Object(map))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dumps_matches_python_defaults() {
        assert_eq!(python_json_dumps(&json!([1, 2])), "[1, 2]");
        assert_eq!(python_json_dumps(&json!({"scale": 10})), "{\"scale\": 10}");
        assert_eq!(python_json_dumps(&json!("hi")), "\"hi\"");
        assert_eq!(python_json_dumps(&json!("😀")), "\"\\ud83d\\ude00\"");
        assert_eq!(
            python_json_dumps(&json!("\u{7f}\u{1}")),
            "\"\\u007f\\u0001\""
        );
        assert_eq!(python_json_dumps(&json!({})), "{}");
        assert_eq!(python_json_dumps(&json!([])), "[]");
    }

    #[test]
    fn floats_like_python_repr() {
        let cases = [
            (1.0, "1.0"),
            (2.5, "2.5"),
            (1e100, "1e+100"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123456789.125, "123456789.125"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (-0.5, "-0.5"),
            (0.1, "0.1"),
        ];
        for (f, s) in cases {
            assert_eq!(python_float_repr(f), s, "{f}");
        }
    }

    #[test]
    fn loads_accepts_non_finite_tokens_outside_strings() {
        let v = python_json_loads("[NaN, Infinity, -Infinity, \"NaN\"]").unwrap();
        assert_eq!(v, json!([null, null, null, "NaN"]));
        assert!(python_json_loads("[1,").is_err());
    }

    #[test]
    fn pickle_is_refused_with_a_clear_error() {
        let err = SerializationStrategy::Pickle
            .decode("gARLAy4=")
            .unwrap_err();
        assert!(err.to_string().contains("pickle"));
    }
}
