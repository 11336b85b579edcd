//! The sign-in's own endpoints. None of them needs a session, and each failure is a page that
//! says what happened with a way to start again ([`SignInError`]), not a redirect (no loop)
//! and not a 500.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use oauth2::CsrfToken;
use oauth2::url::form_urlencoded;
use service_kit::description::Route;

use super::pages::page;
use super::records::Session;
use super::sign_in_error::SignInError;
use super::{SessionLogin, attempt_cookie, cookie, is_random_id, return_path};
use crate::cross_site;

/// The sign-in's routes, as `dapr-pair describe` tells them (held to the router by
/// tests/description.rs).
pub const ROUTES: &[Route] = &[
    Route {
        path: "/auth/login",
        methods: &[Method::GET],
    },
    Route {
        path: "/auth/callback",
        methods: &[Method::GET],
    },
    Route {
        path: "/auth/logout",
        methods: &[Method::POST],
    },
];

pub fn router(login: Arc<SessionLogin>) -> Router {
    Router::new()
        .route("/auth/login", get(login_start))
        .route("/auth/callback", get(callback))
        .route("/auth/logout", post(logout))
        .with_state(login)
}

fn query_value(uri: &Uri, name: &str) -> Option<String> {
    let query = uri.query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

fn redirect(status: StatusCode, location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(location) => {
            let mut response = status.into_response();
            response.headers_mut().insert(header::LOCATION, location);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(_) => page(
            StatusCode::BAD_GATEWAY,
            "The identity provider's address is not a valid URL.",
            false,
        ),
    }
}

/// `GET /auth/login?return=/path`: a new attempt under a `state` of its own, sealed in a
/// cookie of its own (so parallel sign-ins of one browser never clash, and the store is not
/// written), then off to the provider.
async fn login_start(
    State(login): State<Arc<SessionLogin>>,
    request: Request,
) -> Result<Response, SignInError> {
    let wanted = query_value(request.uri(), "return").unwrap_or_else(|| "/".to_owned());
    let return_to = return_path::local(&wanted).ok_or(SignInError::ForeignReturn)?;
    let (url, state, attempt) = login.provider.start(return_to.to_owned()).await?;
    let made = attempt_cookie::make(&login.keys.attempts, &state, attempt)
        .map_err(SignInError::Sealing)?;
    let set = attempt_cookie::set(&made)
        .ok_or_else(|| SignInError::Sealing("not a header value".to_owned()))?;
    let mut response = redirect(StatusCode::FOUND, &url);
    let headers = response.headers_mut();
    for clear in attempt_cookie::make_room(&login.keys.attempts, request.headers(), made.len()) {
        headers.append(header::SET_COOKIE, clear);
    }
    headers.append(header::SET_COOKIE, set);
    Ok(response)
}

/// `GET /auth/callback?state=…&code=…`: only the browser that started the attempt holds its
/// cookie; the cookie is cleared whatever happens (a replay here finds none), the code
/// exchanged with the verifier, the id_token checked, a session made.
async fn callback(
    State(login): State<Arc<SessionLogin>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let state = query_value(&uri, "state").filter(|state| is_random_id(state));
    let mut response = match finish(&login, &uri, &headers, state.as_deref()).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    if let Some(clear) = state.as_deref().and_then(attempt_cookie::clear) {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

async fn finish(
    login: &SessionLogin,
    uri: &Uri,
    headers: &HeaderMap,
    state: Option<&str>,
) -> Result<Response, SignInError> {
    if let Some(error) = query_value(uri, "error") {
        return Err(SignInError::EndedAtProvider(error));
    }
    let (Some(_), Some(code)) = (query_value(uri, "state"), query_value(uri, "code")) else {
        return Err(SignInError::NotACallback);
    };
    // `state` is the query's, if well-formed (a malformed one names no attempt of ours).
    let attempt = state
        .and_then(|state| attempt_cookie::find(&login.keys.attempts, headers, state))
        .ok_or(SignInError::NotThisBrowsersAttempt)?;
    let signed_in = login.provider.finish(code, &attempt).await?;
    let id = CsrfToken::new_random_len(32).secret().clone();
    login
        .store
        .save(
            &login.keys.record_key(&id),
            &signed_in.session,
            None,
            login.session_ttl,
        )
        .await?;
    tracing::info!(
        caller = signed_in.session.subject,
        "signed in; a new session"
    );
    let mut response = redirect(StatusCode::FOUND, &attempt.return_to);
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie::set(&id));
    Ok(response)
}

/// `POST /auth/logout`: the session deleted (on every replica at once: it is one record), the
/// cookie cleared, and the browser sent on to the provider's end-session endpoint (a 303, so
/// the browser follows with a GET) to end the provider's own session too.
async fn logout(State(login): State<Arc<SessionLogin>>, headers: HeaderMap) -> Response {
    if let Err(refused) = cross_site::same_origin(&headers) {
        return refused.into_response();
    }
    let mut next = login.after_logout.clone();
    if let Some(id) = cookie::session_id(&headers) {
        let key = login.keys.record_key(&id);
        match login.store.get::<Session>(&key).await {
            Ok(Some((session, _))) => {
                if let Some(url) = login
                    .provider
                    .end_session_url(&session.id_token, &login.after_logout)
                    .await
                {
                    next = url;
                }
                if let Err(error) = login.store.delete(&key, None).await {
                    return SignInError::Store(error).into_response();
                }
            }
            Ok(None) => {}
            Err(error) => return SignInError::Store(error).into_response(),
        }
    }
    let mut response = redirect(StatusCode::SEE_OTHER, &next);
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie::clear());
    response
}
