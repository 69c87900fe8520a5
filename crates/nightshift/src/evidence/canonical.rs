//! Canonical JSON: the one byte encoding of a JSON value that records are hashed and signed in.
//!
//! Object members sorted by key (byte order of their UTF-8, which equals UTF-16 order for the
//! ASCII keys records use), no whitespace, strings escaped as `serde_json` does (`\"`, `\\`,
//! `\n`, `\r`, `\t`, `\b`, `\f`, other control characters as `\u00xx`, everything else as
//! UTF-8), integers only (records hold no floating-point numbers). For such values this is
//! the JSON Canonicalization Scheme of RFC 8785.

use serde_json::Value;

/// The canonical text of `value`.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut members: Vec<_> = map.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_keys_and_drops_whitespace() {
        let value = serde_json::json!({ "b": [1, { "z": null, "a": "x\ny" }], "a": true });
        assert_eq!(
            canonical_json(&value),
            r#"{"a":true,"b":[1,{"a":"x\ny","z":null}]}"#
        );
    }
}
