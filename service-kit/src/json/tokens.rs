//! Walking JSON text token by token, with each token's raw text: what serde_json keeps of a
//! number without its `arbitrary_precision` feature (which would change `serde_json::Number`
//! for every crate of the build) is the `f64` it rounds to, and what a check of the text needs
//! is the number as written, the escapes of a string as written, and how deep it is nested.
//!
//! The text is expected to be JSON (checked by serde_json before or after); on text that is
//! not, the walk ends early or yields tokens of no meaning, but never panics.

/// One token of JSON text, with its raw text (strings with their quotes and escapes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    /// `{`: the object's depth is the one given with the token.
    OpenObject,
    /// `[`
    OpenArray,
    /// `}` or `]`
    Close,
    /// A member name, as written (`"na\u006de"`).
    Key(&'a str),
    /// A string value, as written.
    String(&'a str),
    /// A number, as written (`-1.50e+3`).
    Number(&'a str),
    /// `true`, `false` or `null`.
    Literal(&'a str),
}

/// Calls `visit` with each token of `text` and its depth: how many objects and arrays hold it,
/// itself included for `{`, `[` and their close (a top-level scalar is at 0, the outermost `{`
/// and its members at 1), until the text ends or `visit` returns an error.
pub fn walk<'a, E>(
    text: &'a str,
    mut visit: impl FnMut(Token<'a>, usize) -> Result<(), E>,
) -> Result<(), E> {
    let bytes = text.as_bytes();
    // For each open container, whether it is an object (whose next string may be a key).
    let mut open: Vec<bool> = Vec::new();
    let mut expect_key = false;
    let mut at = 0;
    while at < bytes.len() {
        let depth = open.len();
        match bytes[at] {
            b'{' => {
                visit(Token::OpenObject, depth + 1)?;
                open.push(true);
                expect_key = true;
                at += 1;
            }
            b'[' => {
                visit(Token::OpenArray, depth + 1)?;
                open.push(false);
                expect_key = false;
                at += 1;
            }
            b'}' | b']' => {
                visit(Token::Close, depth)?;
                open.pop();
                expect_key = false;
                at += 1;
            }
            b',' => {
                expect_key = open.last() == Some(&true);
                at += 1;
            }
            b':' => {
                expect_key = false;
                at += 1;
            }
            b'"' => {
                let end = string_end(bytes, at);
                let raw = &text[at..end];
                let token = if expect_key {
                    Token::Key(raw)
                } else {
                    Token::String(raw)
                };
                visit(token, depth)?;
                expect_key = false;
                at = end;
            }
            b'-' | b'0'..=b'9' => {
                let end = run_end(bytes, at, |b| {
                    matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                });
                visit(Token::Number(&text[at..end]), depth)?;
                at = end;
            }
            b't' | b'f' | b'n' => {
                let end = run_end(bytes, at, |b| b.is_ascii_alphabetic());
                visit(Token::Literal(&text[at..end]), depth)?;
                at = end;
            }
            // Whitespace, and anything JSON does not have.
            _ => at += 1,
        }
    }
    Ok(())
}

/// The index just past the string that starts with the quote at `start` (or the end of the
/// text, if it is not closed).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut at = start + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'"' => return at + 1,
            _ => at += 1,
        }
    }
    bytes.len()
}

fn run_end(bytes: &[u8], start: usize, part: impl Fn(u8) -> bool) -> usize {
    bytes[start..]
        .iter()
        .position(|&b| !part(b))
        .map_or(bytes.len(), |length| start + length)
}

/// How deep `text` is nested: how many objects and arrays hold its innermost value (0 for a
/// scalar, 1 for `{"a":1}` or `[]`, 2 for `[[]]`).
pub fn depth(text: &str) -> usize {
    let mut deepest = 0;
    let _ = walk::<()>(text, |_, depth| {
        deepest = deepest.max(depth);
        Ok(())
    });
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<(Token<'_>, usize)> {
        let mut seen = Vec::new();
        walk::<()>(text, |token, depth| {
            seen.push((token, depth));
            Ok(())
        })
        .unwrap();
        seen
    }

    #[test]
    fn tokens_come_with_their_raw_text_and_depth() {
        use Token::*;
        assert_eq!(
            tokens(r#" {"a\"b": [1.50e+3, "x,\\", true], "c": {"d": null}} "#),
            vec![
                (OpenObject, 1),
                (Key(r#""a\"b""#), 1),
                (OpenArray, 2),
                (Number("1.50e+3"), 2),
                (String(r#""x,\\""#), 2),
                (Literal("true"), 2),
                (Close, 2),
                (Key(r#""c""#), 1),
                (OpenObject, 2),
                (Key(r#""d""#), 2),
                (Literal("null"), 2),
                (Close, 2),
                (Close, 1),
            ]
        );
        assert_eq!(tokens("-0"), vec![(Number("-0"), 0)]);
        assert_eq!(
            tokens(r#"["k", "v"]"#),
            vec![
                (OpenArray, 1),
                (String(r#""k""#), 1),
                (String(r#""v""#), 1),
                (Close, 1)
            ]
        );
    }

    #[test]
    fn depth_counts_nesting() {
        assert_eq!(depth(""), 0);
        assert_eq!(depth("1"), 0);
        assert_eq!(depth("{}"), 1);
        assert_eq!(depth(r#"{"a":[{"b":1}]}"#), 3);
        assert_eq!(
            depth(&format!("{}{}", "[".repeat(500), "]".repeat(500))),
            500
        );
        // Brackets inside strings are text.
        assert_eq!(depth(r#"["[[[[", "]]"]"#), 1);
    }

    #[test]
    fn text_that_is_not_json_does_not_panic() {
        for text in [
            "\"",
            "\"\\",
            "[",
            "}}}",
            "{\"a",
            "-",
            "tru",
            "\u{e9}\"\\\u{e9}",
        ] {
            let _ = depth(text);
        }
    }
}
