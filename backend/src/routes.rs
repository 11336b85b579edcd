//! The backend's API: parsing each request, calling the state store, and answering.

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;
use service_kit::Problem;
use service_kit::description::Route;
use service_kit::if_match::IfMatch;
use service_kit::json::JsonBody;

use crate::key::StateKey;
use crate::state_store::{StateClient, StateError};

/// The backend's routes, as `dapr-pair describe` tells them (held to [`router`] by
/// tests/description.rs).
pub const ROUTES: &[Route] = &[
    Route {
        path: "/savestate",
        methods: &[Method::POST],
    },
    Route {
        path: "/state/{*key}",
        methods: &[Method::GET, Method::DELETE],
    },
];

pub fn router(store: StateClient) -> Router {
    Router::new()
        .route("/savestate", post(save_state))
        .route("/state/{*key}", get(read_state).delete(delete_state))
        .with_state(store)
}

/// The body of `POST /savestate`. `data` is any JSON value (a string included) and is stored
/// as that value. `etag`, like an `If-Match` header, makes the save conditional; it is here
/// because callers going through the frontend's `/call` cannot always set headers (nor, so,
/// `Prefer`: `returnEtag` asks for the new version's ETag, which a conditional save always
/// answers with).
#[derive(Deserialize)]
struct SaveRequest {
    key: String,
    data: Box<RawValue>,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default, rename = "returnEtag")]
    return_etag: bool,
}

async fn save_state(
    State(store): State<StateClient>,
    if_match: IfMatch,
    JsonBody(request): JsonBody<SaveRequest>,
) -> Result<Response, Problem> {
    let key = StateKey::parse(request.key)?;
    if request.data.get() == "null" {
        return Err(Problem::unprocessable(
            "data is null; to remove a key, DELETE /state/{key}",
        ));
    }
    // Only what reads back as it was saved (see `value`).
    crate::value::check(request.data.get())
        .map_err(|not_kept| Problem::unprocessable(not_kept.to_string()))?;
    let etag = match (expected_etag(if_match)?, request.etag) {
        (Some(header), Some(field)) if header != field => {
            return Err(Problem::bad_request(
                "the If-Match header and the etag field disagree",
            ));
        }
        (header, field) => header.or(field),
    };
    store
        .save(&key, &request.data, etag.as_deref())
        .await
        .map_err(|e| state_problem(e, &key))?;
    // A plain save is one state operation, and Dapr's save says nothing of the new version:
    // the answer does not claim an ETag. Asked for one, it is read back, and given only if it
    // is this save's version (see `StateClient::etag_of`); else `etag` is null and
    // `etagUnknown` says why. The save itself has happened either way.
    if etag.is_none() && !request.return_etag {
        return Ok(axum::Json(json!({"key": key.as_str()})).into_response());
    }
    let unknown = match store.etag_of(&key, &request.data).await {
        Ok(Some(new_etag)) => {
            let mut response =
                axum::Json(json!({"key": key.as_str(), "etag": new_etag})).into_response();
            set_etag(&mut response, Some(&new_etag));
            return Ok(response);
        }
        Ok(None) => format!(
            "saved, but key '{key}' was written again (or deleted) right after; read it for the current version and its ETag"
        ),
        Err(error) => {
            tracing::warn!(%error, "reading back a saved version's ETag failed");
            format!("saved, but reading back its ETag failed ({error}); read key '{key}' for it")
        }
    };
    Ok(
        axum::Json(json!({"key": key.as_str(), "etag": null, "etagUnknown": unknown}))
            .into_response(),
    )
}

async fn read_state(
    State(store): State<StateClient>,
    key: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let key = key_in_path(key)?;
    let stored = store.get(&key).await.map_err(|e| state_problem(e, &key))?;
    let Some(stored) = stored else {
        return Err(Problem::not_found(format!(
            "there is no value for key '{key}'"
        )));
    };
    let mut response = ([(header::CONTENT_TYPE, "application/json")], stored.value).into_response();
    set_etag(&mut response, stored.etag.as_deref());
    Ok(response)
}

async fn delete_state(
    State(store): State<StateClient>,
    key: Result<Path<String>, PathRejection>,
    if_match: IfMatch,
) -> Result<StatusCode, Problem> {
    let key = key_in_path(key)?;
    let etag = expected_etag(if_match)?;
    store
        .delete(&key, etag.as_deref())
        .await
        .map_err(|e| state_problem(e, &key))?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `{key}` of `/state/{key}`, percent-decoded and checked.
fn key_in_path(key: Result<Path<String>, PathRejection>) -> Result<StateKey, Problem> {
    let Path(key) = key.map_err(|rejection| {
        Problem::bad_request(format!(
            "the key in the path is not valid: {}",
            rejection.body_text()
        ))
    })?;
    StateKey::parse(key)
}

/// The ETag in `If-Match`, quoted (`"abc"`, as we send it) or bare (`abc`, as Dapr does).
fn expected_etag(IfMatch(value): IfMatch) -> Result<Option<String>, Problem> {
    let Some(value) = value else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| Problem::bad_request("the If-Match header is not valid text"))?
        .trim();
    if value == "*" {
        return Err(Problem::bad_request(
            "If-Match: * is not supported; send the ETag of the version you read",
        ));
    }
    // If-Match compares strongly (RFC 9110 §13.1.1): a weak ETag matches no version.
    if value.starts_with("W/") {
        return Err(Problem::new(
            StatusCode::PRECONDITION_FAILED,
            "If-Match holds a weak ETag (W/\"...\"), which never matches: If-Match compares ETags strongly (RFC 9110 section 13.1.1); send the ETag as it was given",
        ));
    }
    let bare = value.trim_matches('"');
    if bare.is_empty() {
        return Err(Problem::bad_request("the If-Match header is empty"));
    }
    Ok(Some(bare.to_owned()))
}

fn set_etag(response: &mut Response, etag: Option<&str>) {
    if let Some(value) = etag.and_then(|etag| HeaderValue::from_str(&format!("\"{etag}\"")).ok()) {
        response.headers_mut().insert(header::ETAG, value);
    }
}

/// How each state-store failure is told to the caller: specific where it is the caller's
/// business (a stale ETag), general where it is ours (what the sidecar said goes to the log).
fn state_problem(error: StateError, key: &StateKey) -> Problem {
    match error {
        StateError::EtagMismatch => Problem::new(
            StatusCode::PRECONDITION_FAILED,
            format!(
                "the ETag does not match the current version of key '{key}'; read it again and retry"
            ),
        ),
        StateError::Timeout => Problem::new(
            StatusCode::GATEWAY_TIMEOUT,
            "the state store did not answer in time",
        ),
        StateError::Busy { message } => {
            tracing::warn!(dapr_message = %message, "state store busy");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the state store is busy; retry in a moment",
            )
            .with_retry_after(1)
        }
        StateError::Unreachable(source) => {
            tracing::warn!(error = %source, "Dapr sidecar unreachable");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the state store is unavailable: the Dapr sidecar does not answer",
            )
        }
        StateError::Dapr {
            status,
            code,
            message,
        } => {
            tracing::warn!(%status, %code, dapr_message = %message, "state store error");
            Problem::new(
                StatusCode::BAD_GATEWAY,
                format!("the state store failed ({code})"),
            )
            .with("errorCode", code)
        }
    }
}
