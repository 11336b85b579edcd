//! What `data` may be so that it reads back as it was saved, on every store the backend runs
//! on (a value that works locally works in Azure). Dapr decodes a JSON value into Go's `any`
//! before the store gets it (numbers become `float64`), and Dapr's Cosmos DB state store writes
//! a value it reads back with json-iterator's `ConfigFastest`, whose `MarshalFloatWith6Digits`
//! writes every number up to 83886079 (`0x4ffffff`) with at most 6 digits after the point. So:
//!
//! - integers (written without a fraction or exponent) only within ±(2^53 − 1), the range
//!   I-JSON (RFC 7493 §2.2) gives for numbers every reader holds exactly:
//!   `9007199254740993` would read back `9007199254740992`;
//! - other numbers only if they read back as the same decimal value: as the nearest 64-bit
//!   float (`123456789012345678901234567890.0` and `0.30000000000000001` would come back rounded,
//!   `1e400` not at all, `1e-400` as `0`), and, up to 83886079, with at most 6 digits after the
//!   point (`3.14159265` would come back `3.141593`, `1e-7` as `0`, on Cosmos DB);
//! - strings without unpaired surrogate escapes (`"\ud800"` would come back as `"\u{fffd}"`);
//! - objects without a member name twice (Go keeps the last, silently);
//! - at most [`MAX_DEPTH`] levels of objects and arrays.
//!
//! What is kept is the value, not its text: `1.0` reads back `1`, `1e2` as `100`, `"\u00e9"`
//! as `"é"`, and an object's members in an order of the store's own.

use std::collections::HashSet;

use service_kit::json::tokens::{self, Token};
use service_kit::problem::echo;

/// How deeply `data` may nest objects and arrays: deep enough for any document, and well
/// within every store's own limit (Go's decoder stops at 10,000). Below the request body's
/// 128 ([`service_kit::json::MAX_DEPTH`], serde_json's own limit) on purpose: `data` sits inside
/// the body, and is kept inside the store's own document, so it gets the smaller share and a
/// detail that names `data`.
pub const MAX_DEPTH: usize = 64;

/// The largest integer every JSON reader holds exactly: 2^53 − 1.
const MAX_EXACT_INTEGER: u64 = (1 << 53) - 1;

/// Why `data` cannot be stored as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotKept {
    #[error(
        "data is nested more than {MAX_DEPTH} levels deep (objects and arrays); at most {MAX_DEPTH} are stored"
    )]
    TooDeep,
    #[error(
        "data holds the integer {0}, beyond ±(2^53 − 1): the store keeps numbers as 64-bit floats, which cannot hold it exactly; send it as a string"
    )]
    IntegerTooLarge(String),
    #[error(
        "data holds the number {0}, out of the range of a 64-bit float (about ±1.8e308), as which the store keeps numbers"
    )]
    OutOfRange(String),
    #[error(
        "data holds the number {0}, with more digits than the store keeps (a 64-bit float; and, up to 83886079, 6 after the point in Dapr's Cosmos DB store): it would read back as {1}; send it as a string"
    )]
    TooPrecise(String, String),
    #[error(
        "data holds the string {0}, with an unpaired UTF-16 surrogate escape that no store keeps"
    )]
    LoneSurrogate(String),
    #[error("data has an object with the member {0} twice: only one of them would be stored")]
    DuplicateMember(String),
}

/// Checks `data` (JSON text that serde_json has read) against what the store keeps exactly.
pub fn check(data: &str) -> Result<(), NotKept> {
    // For each open object, the member names seen; `None` for each open array.
    let mut open: Vec<Option<HashSet<String>>> = Vec::new();
    tokens::walk(data, |token, depth| {
        if depth > MAX_DEPTH {
            return Err(NotKept::TooDeep);
        }
        match token {
            Token::OpenObject => open.push(Some(HashSet::new())),
            Token::OpenArray => open.push(None),
            Token::Close => {
                open.pop();
            }
            Token::Key(raw) => {
                check_string(raw)?;
                let name: String = serde_json::from_str(raw)
                    .map_err(|_| NotKept::LoneSurrogate(echo(raw).into_owned()))?;
                if let Some(Some(names)) = open.last_mut()
                    && !names.insert(name)
                {
                    return Err(NotKept::DuplicateMember(echo(raw).into_owned()));
                }
            }
            Token::String(raw) => check_string(raw)?,
            Token::Number(number) => check_number(number)?,
            Token::Literal(_) => {}
        }
        Ok(())
    })
}

/// A string's escapes, as written: a `\uD800`–`\uDBFF` must be followed by a `\uDC00`–`\uDFFF`,
/// and a low one must follow a high one.
fn check_string(raw: &str) -> Result<(), NotKept> {
    let lone = || NotKept::LoneSurrogate(echo(raw).into_owned());
    let bytes = raw.as_bytes();
    let mut at = 0;
    let mut after_high = false;
    while at < bytes.len() {
        if bytes[at] != b'\\' {
            if after_high {
                return Err(lone());
            }
            at += 1;
            continue;
        }
        let escaped = bytes.get(at + 1).copied();
        if escaped != Some(b'u') {
            if after_high {
                return Err(lone());
            }
            at += 2;
            continue;
        }
        let unit = raw
            .get(at + 2..at + 6)
            .and_then(|hex| u16::from_str_radix(hex, 16).ok())
            .unwrap_or(0);
        match unit {
            0xD800..=0xDBFF if after_high => return Err(lone()),
            0xD800..=0xDBFF => after_high = true,
            0xDC00..=0xDFFF if !after_high => return Err(lone()),
            _ if after_high && !(0xDC00..=0xDFFF).contains(&unit) => return Err(lone()),
            _ => after_high = false,
        }
        at += 6;
    }
    Ok(())
}

fn check_number(number: &str) -> Result<(), NotKept> {
    let quoted = || echo(number).into_owned();
    if !number.contains(['.', 'e', 'E']) {
        let digits = number.trim_start_matches('-');
        let within =
            digits.len() <= 16 && digits.parse::<u64>().is_ok_and(|n| n <= MAX_EXACT_INTEGER);
        return if within {
            Ok(())
        } else {
            Err(NotKept::IntegerTooLarge(quoted()))
        };
    }
    let Ok(value) = number.parse::<f64>() else {
        return Ok(()); // not a JSON number: serde_json has refused it already
    };
    if value.is_infinite() {
        return Err(NotKept::OutOfRange(quoted()));
    }
    // What the store writes back against the number as written, both as digits and a power
    // of ten.
    let kept = read_back(value);
    match (decimal(number), decimal(&kept)) {
        (Some(written), Some(kept)) if written == kept => Ok(()),
        _ => Err(NotKept::TooPrecise(quoted(), kept)),
    }
}

/// Beyond this, json-iterator writes a float in full (`stream_float.go`, `WriteFloat64Lossy`).
const WRITTEN_IN_FULL_ABOVE: f64 = 83_886_079.0;

/// How a float comes back from the stores: as its shortest decimal (Go's `encoding/json`, which
/// SQLite's values go through), or, up to 83886079, rounded to 6 digits after the point, as
/// json-iterator's `WriteFloat64Lossy` writes it for Dapr's Cosmos DB store. (Up to there, a
/// number with at most 6 digits after the point has at most 14 digits, which its float keeps:
/// both agree on it.)
fn read_back(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude > WRITTEN_IN_FULL_ABOVE {
        return shortest(value);
    }
    let sign = if value < 0.0 { "-" } else { "" };
    // As json-iterator computes it: uint64(val*1e6 + 0.5).
    let millionths = (magnitude * 1e6 + 0.5) as u64;
    let (whole, fraction) = (millionths / 1_000_000, millionths % 1_000_000);
    if fraction == 0 {
        format!("{sign}{whole}")
    } else {
        let fraction = format!("{fraction:06}");
        format!("{sign}{whole}.{}", fraction.trim_end_matches('0'))
    }
}

/// A number's value as its significant digits (no leading or trailing zeros; empty for zero)
/// and the power of ten of the last of them; the sign is kept with the digits.
fn decimal(number: &str) -> Option<(String, i64)> {
    let (negative, unsigned) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], &unsigned[at + 1..]),
        None => (unsigned, "0"),
    };
    let exponent: i64 = exponent
        .strip_prefix('+')
        .unwrap_or(exponent)
        .parse()
        .ok()
        .or_else(|| {
            // Beyond i64: the float is 0 or infinite, which the caller has told apart already.
            Some(if exponent.starts_with('-') {
                i64::MIN / 2
            } else {
                i64::MAX / 2
            })
        })?;
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = format!("{whole}{fraction}");
    let trimmed = all.trim_start_matches('0');
    let significant = trimmed.trim_end_matches('0');
    if significant.is_empty() {
        return Some((String::new(), 0));
    }
    let trailing = i64::try_from(trimmed.len() - significant.len()).ok()?;
    let fraction_digits = i64::try_from(fraction.len()).ok()?;
    let sign = if negative { "-" } else { "" };
    Some((
        format!("{sign}{significant}"),
        exponent
            .saturating_sub(fraction_digits)
            .saturating_add(trailing),
    ))
}

/// How JavaScript and Go write the float back (`1.2345678901234568e+29`, `0.3`).
fn shortest(value: f64) -> String {
    let plain = format!("{value}");
    if plain.len() <= 21 {
        plain
    } else {
        format!("{value:e}").replace('e', "e+").replace("e+-", "e-")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(data: &str) -> NotKept {
        check(data).unwrap_err()
    }

    #[test]
    fn values_kept_exactly_pass() {
        for data in [
            r#"{"name":"geert","n":[1,-2,0,-0,0.5,1.0,1e2,1E+2,2.5e-3,9007199254740991,-9007199254740991]}"#,
            "0.1",
            "1.7976931348623157e308",
            "0.000001",
            "-83886079.123456",
            "3.141593",
            "123456789012345680000000000000.0",
            "12345678901.0123",
            r#""\ud83d\ude00 é \u00e9 \\ud800 \" ""#,
            r#"[{"a":1},{"a":2}]"#,
            r#"{"a":{"a":1},"b":{"a":2}}"#,
            r#""123456789012345678901234567890""#,
        ] {
            assert_eq!(check(data), Ok(()), "{data}");
        }
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(check(&deep), Ok(()));
    }

    #[test]
    fn integers_beyond_two_to_the_53_are_refused() {
        for data in [
            "9007199254740993",
            "9007199254740992",
            "-9007199254740992",
            "123456789012345678901234567890",
            "[1, 18446744073709551616]",
        ] {
            assert!(
                matches!(refused(data), NotKept::IntegerTooLarge(_)),
                "{data}"
            );
        }
    }

    #[test]
    fn numbers_a_float_does_not_keep_are_refused_and_say_what_they_would_become() {
        for data in ["1e400", "-1e400", "1e99999999999999999999"] {
            assert!(matches!(refused(data), NotKept::OutOfRange(_)), "{data}");
        }
        for (data, kept) in [
            ("1e-400", "0"),
            ("5e-324", "0"),
            ("2.2250738585072014e-308", "0"),
            ("1e-7", "0"),
            ("-1e-7", "-0"),
            ("3.14159265", "3.141593"),
            ("0.30000000000000004", "0.3"),
            ("0.0000015", "0.000002"),
        ] {
            assert_eq!(
                refused(data),
                NotKept::TooPrecise(data.into(), kept.into()),
                "{data}"
            );
        }
        let too_precise = refused("123456789012345678901234567890.0");
        assert!(
            too_precise
                .to_string()
                .contains("would read back as 1.2345678901234568e+29"),
            "{too_precise}"
        );
        assert_eq!(
            refused("0.30000000000000001"),
            NotKept::TooPrecise("0.30000000000000001".into(), "0.3".into())
        );
        assert!(matches!(
            refused("9007199254740993.0"),
            NotKept::TooPrecise(..)
        ));
    }

    #[test]
    fn lone_surrogates_duplicate_members_and_depth_are_refused() {
        for data in [
            r#""\ud800""#,
            r#""\udc00""#,
            r#""a\ud800b""#,
            r#""\ud800\ud800""#,
            r#""\ud800\n""#,
            r#"{"\ud800":1}"#,
        ] {
            assert!(matches!(refused(data), NotKept::LoneSurrogate(_)), "{data}");
        }
        assert!(matches!(
            refused(r#"{"a":1,"a":2}"#),
            NotKept::DuplicateMember(_)
        ));
        // The same name, written two ways.
        assert!(matches!(
            refused(r#"{"a":1,"\u0061":2}"#),
            NotKept::DuplicateMember(_)
        ));
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(refused(&deep), NotKept::TooDeep);
    }

    #[test]
    fn what_is_refused_is_quoted_only_so_far() {
        let huge = format!("1{}", "0".repeat(100_000));
        let detail = refused(&huge).to_string();
        assert!(detail.len() < 400, "{}", detail.len());
    }
}
