//! `/call` is not an open relay: it invokes only the app ids and methods listed here.

use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowlist(Vec<Rule>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    app_id: String,
    method: MethodPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum MethodPattern {
    /// `savestate`: exactly this method.
    Exact(String),
    /// `state/*`: anything below `state/` (at least one more character).
    Below(String),
    /// `*`: every method of the app.
    Any,
}

impl Allowlist {
    pub const DEFAULT: &'static str = "backend:savestate,backend:state/*";

    /// Whether `/call` may invoke `method` (a path without query, no leading `/`) on `app_id`.
    pub fn permits(&self, app_id: &str, method: &str) -> bool {
        self.0.iter().any(|rule| {
            rule.app_id == app_id
                && match &rule.method {
                    MethodPattern::Exact(exact) => method == exact,
                    MethodPattern::Below(prefix) => {
                        method.len() > prefix.len() && method.starts_with(prefix.as_str())
                    }
                    MethodPattern::Any => true,
                }
        })
    }
}

impl FromStr for Allowlist {
    type Err = String;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let rules = list
            .split(',')
            .map(str::trim)
            .filter(|rule| !rule.is_empty())
            .map(|rule| {
                let (app_id, method) = rule
                    .split_once(':')
                    .filter(|(app_id, method)| !app_id.is_empty() && !method.is_empty())
                    .ok_or_else(|| {
                        format!("allowlist rule {rule:?} is not of the form appId:method")
                    })?;
                let method = method.trim_start_matches('/');
                let method = match method.strip_suffix('*') {
                    Some("") => MethodPattern::Any,
                    Some(prefix) if prefix.ends_with('/') => {
                        MethodPattern::Below(prefix.to_owned())
                    }
                    Some(_) => {
                        return Err(format!(
                            "in allowlist rule {rule:?}, '*' may only stand alone or after a '/'"
                        ));
                    }
                    None => MethodPattern::Exact(method.to_owned()),
                };
                Ok(Rule {
                    app_id: app_id.to_owned(),
                    method,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(rules))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_allows_saving_and_keys_of_the_backend_only() {
        let allowlist: Allowlist = Allowlist::DEFAULT.parse().unwrap();
        assert!(allowlist.permits("backend", "savestate"));
        assert!(allowlist.permits("backend", "state/mykey"));
        assert!(allowlist.permits("backend", "state/a/b"));
        assert!(!allowlist.permits("backend", "state/"));
        assert!(!allowlist.permits("backend", "savestate2"));
        assert!(!allowlist.permits("backend", "admin"));
        assert!(!allowlist.permits("frontend", "savestate"));
        assert!(!allowlist.permits("payments", "state/k"));
    }

    #[test]
    fn a_star_alone_allows_every_method_of_that_app() {
        let allowlist: Allowlist = "orders:*".parse().unwrap();
        assert!(allowlist.permits("orders", "anything/at/all"));
        assert!(!allowlist.permits("backend", "savestate"));
    }

    #[test]
    fn an_empty_list_allows_nothing() {
        let allowlist: Allowlist = "".parse().unwrap();
        assert!(!allowlist.permits("backend", "savestate"));
    }

    #[test]
    fn malformed_rules_are_refused_at_start() {
        assert!(
            "backend"
                .parse::<Allowlist>()
                .unwrap_err()
                .contains("appId:method")
        );
        assert!(":savestate".parse::<Allowlist>().is_err());
        assert!(
            "backend:state*"
                .parse::<Allowlist>()
                .unwrap_err()
                .contains("'*'")
        );
    }
}
