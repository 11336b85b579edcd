//! Where a browser may be sent after signing in: a path of this site only. A return address
//! that names another host (`//evil.example`, `/\evil.example`, which browsers read as
//! `//`, `https://…`) would make the login an open redirect.

/// The return path, if `path` is a local one: starts with one `/`, no `\` anywhere, no
/// control characters or spaces, at most 2048 bytes.
pub fn local(path: &str) -> Option<&str> {
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= 2048
        && !path.contains('\\')
        && path.bytes().all(|b| b.is_ascii_graphic());
    ok.then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_return_paths() {
        for good in ["/", "/page/x?y=1", "/a%2F"] {
            assert_eq!(local(good), Some(good));
        }
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "evil.example",
            "",
            "/a b",
            "/\u{7f}",
            "/é",
        ] {
            assert_eq!(local(bad), None, "{bad:?}");
        }
    }
}
