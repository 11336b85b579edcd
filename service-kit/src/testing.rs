//! Helpers for tests of the services (feature `testing`).

use std::time::Duration;

use crate::SidecarClient;

/// A client for a sidecar that is not there, so every call is refused. Port 1 (tcpmux) is
/// below the range the OS hands out: a port that was merely free a moment ago could be taken
/// by a mock server of a test running in parallel, which then answered for the absent sidecar.
pub fn absent_sidecar(timeout: Duration) -> SidecarClient {
    SidecarClient::new("http://127.0.0.1:1".into(), None, timeout).expect("an HTTP client")
}

/// Holds a router to the routes its service describes ([`crate::description`]): each described
/// method of each path answers something other than 404 or 405, and every other common method
/// on those paths 405. `request` adds what gets a request past the router's guards (a token);
/// a path's `{param}` is sent as `x`. The problems found, none when they agree.
pub async fn routes_disagreeing(
    router: &axum::Router,
    routes: &[crate::description::Route],
    request: impl Fn(http::request::Builder) -> http::request::Builder,
) -> Vec<String> {
    use http::{Method, StatusCode};
    use tower::ServiceExt;

    let mut problems = Vec::new();
    for route in routes {
        let path = concrete(route.path);
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            let builder = request(http::Request::builder().method(method.clone()).uri(&path));
            let answer = router
                .clone()
                .oneshot(
                    builder
                        .body(axum::body::Body::from("{}"))
                        .expect("a request"),
                )
                .await
                .expect("routers do not fail");
            let status = answer.status();
            let described = route.methods.contains(&method);
            let routed = !matches!(
                status,
                StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
            );
            if described && !routed {
                problems.push(format!(
                    "{method} {path} is described, the router answers {status}"
                ));
            } else if !described && status != StatusCode::METHOD_NOT_ALLOWED {
                problems.push(format!(
                    "{method} {path} is not described, the router answers {status}"
                ));
            }
        }
    }
    problems
}

/// A path with each `{param}` or `{*rest}` replaced by `x`.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|part| if part.starts_with('{') { "x" } else { part })
        .collect::<Vec<_>>()
        .join("/")
}
