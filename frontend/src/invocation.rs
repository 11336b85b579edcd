//! What `/call` accepts: the JSON body the original sample's users script against, checked
//! and turned into the one request the sidecar is asked to make.

use bytes::Bytes;
use reqwest::Method;
use serde::Deserialize;
use serde_json::value::RawValue;
use service_kit::description::DaprApi;
use service_kit::problem::echo;

use crate::call_error::CallError;

/// The sidecar's service invocation API: every call's path starts with it.
const INVOKE: &str = "/v1.0/invoke";
pub const INVOKE_API: DaprApi = DaprApi::Http { path: INVOKE };

/// The longest `method` (path and query, as given): far above any path of the backend (a key
/// is at most 512 characters), and short enough that the request line stays within what daprd
/// reads (its `--read-buffer-size`), percent-encoding included.
pub const MAX_METHOD_BYTES: usize = 2048;

/// The body of `POST /call`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvokeRequest {
    pub app_id: String,
    pub method: String,
    #[serde(default)]
    pub http_method: Option<String>,
    /// A string is forwarded as its raw text (how the original sample's users send JSON);
    /// any other JSON value is forwarded as JSON; absent or null means no body.
    #[serde(default)]
    pub payload: Option<Box<RawValue>>,
}

/// A checked invocation: which app, which method path (no leading `/`), optional query,
/// which HTTP verb, and the body with its content type.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub app_id: String,
    pub method: String,
    pub query: Option<String>,
    pub verb: Method,
    pub body: Option<(Bytes, &'static str)>,
}

impl Invocation {
    pub fn parse(request: InvokeRequest) -> Result<Self, CallError> {
        let app_id = check_app_id(request.app_id)?;
        let (method, query) = check_method(&request.method)?;
        let verb = check_verb(request.http_method.as_deref())?;
        let body = request
            .payload
            .and_then(|payload| body_of(&payload))
            .transpose()?;
        Ok(Self {
            app_id,
            method,
            query,
            verb,
            body,
        })
    }

    /// The sidecar's invocation URL path for this call.
    pub fn sidecar_path(&self) -> String {
        let query = self
            .query
            .as_deref()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        format!("{INVOKE}/{}/method/{}{query}", self.app_id, self.method)
    }

    /// `backend/savestate`: how the target is named in problems and logs.
    pub fn target(&self) -> String {
        format!("{}/{}", self.app_id, self.method)
    }
}

/// Dapr app ids are DNS-label-like; a `.` separates an app id from its namespace.
fn check_app_id(app_id: String) -> Result<String, CallError> {
    let valid = !app_id.is_empty()
        && app_id.len() <= 128
        && app_id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && app_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(app_id)
    } else {
        Err(CallError::InvalidAppId(echo(&app_id).into_owned()))
    }
}

/// The method must stay a path below the target app: no `.`/`..` segments, no empty segments
/// (`//host`, `http://...`), no backslashes, no percent-encoded `/`, `\` or `.` that the app
/// could decode into one of those, no fragment. A leading `/` is tolerated and dropped.
///
/// Its percent-escapes must be whole (`%` and two hex digits) and decode to UTF-8 (daprd
/// carries the method over gRPC, as text). And daprd decodes the path once before the target
/// decodes it again, so `%25`, `%3F` and `%23` would reach the target as `%`, `?` and `#`:
/// `state/a%252Fb` would read key `a/b`. They are refused; so is a method over
/// [`MAX_METHOD_BYTES`].
fn check_method(method: &str) -> Result<(String, Option<String>), CallError> {
    let refuse = |why| {
        Err(CallError::InvalidMethod {
            method: echo(method).into_owned(),
            why,
        })
    };
    if method.len() > MAX_METHOD_BYTES {
        return refuse("is longer than 2048 bytes");
    }
    let trimmed = method.strip_prefix('/').unwrap_or(method);
    let (path, query) = match trimmed.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (trimmed, None),
    };
    if path.is_empty() {
        return refuse("is empty");
    }
    if method
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '\\' | '#'))
    {
        return refuse("contains whitespace, a control character, '\\' or '#'");
    }
    if !percent_escapes_are_whole_and_utf8(method) {
        return refuse("has a '%' that is not a percent-escape of UTF-8 (%XX, e.g. %C3%A9)");
    }
    let lowered = path.to_ascii_lowercase();
    if ["%2f", "%5c", "%2e"]
        .iter()
        .any(|encoded| lowered.contains(encoded))
    {
        return refuse("contains a percent-encoded '/', '\\' or '.'");
    }
    if ["%25", "%3f", "%23"]
        .iter()
        .any(|encoded| lowered.contains(encoded))
    {
        return refuse(
            "contains a percent-encoded '%', '?' or '#', which Dapr would decode before the target decodes the path again",
        );
    }
    if path
        .split('/')
        .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return refuse("must be a relative path without empty, '.' or '..' segments");
    }
    Ok((path.to_owned(), query.map(str::to_owned)))
}

/// Every `%` starts `%XX`, and what the escapes decode to, with the rest, is UTF-8.
fn percent_escapes_are_whole_and_utf8(text: &str) -> bool {
    let bytes = text.as_bytes();
    let whole = bytes.iter().enumerate().all(|(at, &byte)| {
        byte != b'%'
            || bytes
                .get(at + 1..at + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    whole
        && std::str::from_utf8(&percent_encoding::percent_decode_str(text).collect::<Vec<u8>>())
            .is_ok()
}

fn check_verb(verb: Option<&str>) -> Result<Method, CallError> {
    let Some(verb) = verb else {
        return Ok(Method::POST);
    };
    match verb.to_ascii_uppercase().as_str() {
        "GET" => Ok(Method::GET),
        "POST" => Ok(Method::POST),
        "PUT" => Ok(Method::PUT),
        "PATCH" => Ok(Method::PATCH),
        "DELETE" => Ok(Method::DELETE),
        _ => Err(CallError::UnknownHttpMethod(echo(verb).into_owned())),
    }
}

fn body_of(payload: &RawValue) -> Option<Result<(Bytes, &'static str), CallError>> {
    let raw = payload.get();
    if raw == "null" {
        return None;
    }
    if !raw.starts_with('"') {
        return Some(Ok((
            Bytes::copy_from_slice(raw.as_bytes()),
            "application/json",
        )));
    }
    let text: String = match serde_json::from_str(raw) {
        Ok(text) => text,
        Err(error) => return Some(Err(CallError::InvalidPayload(error))),
    };
    // Read as raw JSON, which has no recursion limit: text that is JSON only nested too deep
    // for a typed parse is still JSON, and refused as such.
    let is_json = serde_json::from_str::<&RawValue>(&text).is_ok();
    // JSON text is held to what a JSON payload is (it would be one, had it not been quoted).
    if is_json && let Err(error) = service_kit::json::check_limits(&text) {
        return Some(Err(CallError::PayloadOverLimits(error)));
    }
    let content_type = if is_json {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    Some(Ok((Bytes::from(text), content_type)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use service_kit::Problem;

    /// The problem a failed parse is answered with.
    fn parse(json: &str) -> Result<Invocation, Problem> {
        Invocation::parse(serde_json::from_str(json).unwrap()).map_err(|error| error.problem())
    }

    #[test]
    fn the_original_samples_request_forwards_the_payload_text_as_json() {
        let call = parse(r#"{"appId":"backend","method":"savestate","httpMethod":"POST","payload":"{\"key\":\"mykey\",\"data\":\"123\"}"}"#).unwrap();
        assert_eq!(call.sidecar_path(), "/v1.0/invoke/backend/method/savestate");
        assert_eq!(call.verb, Method::POST);
        assert_eq!(
            call.body,
            Some((
                Bytes::from(r#"{"key":"mykey","data":"123"}"#),
                "application/json"
            ))
        );
    }

    #[test]
    fn payload_may_be_any_json_value_text_or_absent() {
        let call = parse(r#"{"appId":"backend","method":"savestate","payload":{"key":"k","data":{"name":"geert"}}}"#).unwrap();
        assert_eq!(
            call.body,
            Some((
                Bytes::from(r#"{"key":"k","data":{"name":"geert"}}"#),
                "application/json"
            ))
        );
        let call = parse(r#"{"appId":"backend","method":"echo","payload":"plain words"}"#).unwrap();
        assert_eq!(
            call.body,
            Some((Bytes::from("plain words"), "text/plain; charset=utf-8"))
        );
        assert_eq!(
            parse(r#"{"appId":"backend","method":"state/k","httpMethod":"GET"}"#)
                .unwrap()
                .body,
            None
        );
        assert_eq!(
            parse(r#"{"appId":"backend","method":"state/k","payload":null}"#)
                .unwrap()
                .body,
            None
        );
    }

    #[test]
    fn http_method_defaults_to_post_and_accepts_five_verbs_in_any_case() {
        assert_eq!(
            parse(r#"{"appId":"a","method":"m"}"#).unwrap().verb,
            Method::POST
        );
        for (verb, expected) in [
            ("get", Method::GET),
            ("PUT", Method::PUT),
            ("Patch", Method::PATCH),
            ("DELETE", Method::DELETE),
        ] {
            assert_eq!(
                parse(&format!(
                    r#"{{"appId":"a","method":"m","httpMethod":"{verb}"}}"#
                ))
                .unwrap()
                .verb,
                expected
            );
        }
        let problem = parse(r#"{"appId":"a","method":"m","httpMethod":"TRACE"}"#).unwrap_err();
        assert_eq!(problem.status, 422);
    }

    #[test]
    fn methods_that_escape_their_path_are_400() {
        for method in [
            "",
            "../admin",
            "state/../../v1.0/secrets",
            "./savestate",
            "state//k",
            "http://evil.example/x",
            "//evil.example",
            "state%2F..%2Fadmin",
            "state/%2e%2e",
            "a\\b",
            "state/k#frag",
            "state/a b",
        ] {
            let problem =
                parse(&serde_json::json!({"appId": "backend", "method": method}).to_string())
                    .unwrap_err();
            assert_eq!(problem.status, 400, "{method:?}");
            assert!(
                problem.detail.contains(&format!("{method:?}")),
                "{method:?}: {}",
                problem.detail
            );
        }
    }

    #[test]
    fn a_leading_slash_and_a_query_are_kept_apart() {
        let call = parse(r#"{"appId":"backend","method":"/state/k?consistency=strong"}"#).unwrap();
        assert_eq!(
            (call.method.as_str(), call.query.as_deref()),
            ("state/k", Some("consistency=strong"))
        );
        assert_eq!(
            call.sidecar_path(),
            "/v1.0/invoke/backend/method/state/k?consistency=strong"
        );
    }

    #[test]
    fn app_ids_are_checked() {
        for app_id in ["", "-x", "a/b", "a b", "back end", &"a".repeat(129)] {
            let problem = parse(&serde_json::json!({"appId": app_id, "method": "m"}).to_string())
                .unwrap_err();
            assert_eq!(problem.status, 400, "{app_id:?}");
        }
        assert!(parse(r#"{"appId":"backend.prod","method":"m"}"#).is_ok());
    }
}
