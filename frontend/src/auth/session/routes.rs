//! The sign-in's own endpoints. None of them needs a session, and each failure is a page that
//! says what happened with a way to start again, not a redirect (no loop) and not a 500.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use oauth2::CsrfToken;
use oauth2::url::form_urlencoded;

use super::pages::page;
use super::provider::ProviderError;
use super::records::{Session, attempt_key};
use super::store::StoreError;
use super::{ATTEMPT_TTL, SessionLogin, cookie, return_path};
use crate::cross_site;

pub fn router(login: Arc<SessionLogin>) -> Router {
    Router::new()
        .route("/auth/login", get(login_start))
        .route("/auth/callback", get(callback))
        .route("/auth/logout", post(logout))
        .with_state(login)
}

/// `state` is 32 random bytes in base64url, as made by [`super::provider::Provider::start`].
fn well_formed_state(state: &str) -> bool {
    state.len() == 43
        && state
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn query_value(request: &Request, name: &str) -> Option<String> {
    let query = request.uri().query()?;
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

fn provider_failed(error: &ProviderError) -> Response {
    tracing::warn!(%error, "sign-in failed at the identity provider");
    match error {
        ProviderError::Unavailable(_) => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The identity provider cannot be reached right now. Try again in a moment.",
            true,
        ),
        ProviderError::Refused(_) => page(
            StatusCode::BAD_REQUEST,
            "The identity provider did not accept this sign-in (it may have been used already or expired).",
            true,
        ),
        ProviderError::BadIdToken(_) => page(
            StatusCode::UNAUTHORIZED,
            "The identity provider's answer did not prove who signed in.",
            true,
        ),
    }
}

fn store_failed(error: &StoreError) -> Response {
    tracing::warn!(%error, "the session store failed during a sign-in");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Sign-in is unavailable right now (the session store did not answer). Try again in a moment.",
        true,
    )
}

/// `GET /auth/login?return=/path`: a new attempt under a `state` of its own (so parallel
/// sign-ins of one browser or of many never clash), then off to the provider.
async fn login_start(State(login): State<Arc<SessionLogin>>, request: Request) -> Response {
    let wanted = query_value(&request, "return").unwrap_or_else(|| "/".to_owned());
    let Some(return_to) = return_path::local(&wanted) else {
        return page(
            StatusCode::BAD_REQUEST,
            "The return address is not a page of this site: only a local path such as /page is accepted.",
            false,
        );
    };
    let (url, state, attempt) = match login.provider.start(return_to.to_owned()).await {
        Ok(started) => started,
        Err(error) => return provider_failed(&error),
    };
    if let Err(error) = login
        .store
        .save(&attempt_key(&state), &attempt, None, ATTEMPT_TTL)
        .await
    {
        return store_failed(&error);
    }
    redirect(StatusCode::FOUND, &url)
}

/// `GET /auth/callback?state=…&code=…`: the attempt is taken out of the store once (a delete
/// guarded by the ETag it was read with, so a replayed callback, here or at another replica,
/// finds nothing), the code exchanged, the id_token checked, a session made.
async fn callback(State(login): State<Arc<SessionLogin>>, request: Request) -> Response {
    if let Some(error) = query_value(&request, "error") {
        let described = query_value(&request, "error_description").unwrap_or_default();
        tracing::info!(error, described, "the identity provider ended the sign-in");
        return page(
            StatusCode::UNAUTHORIZED,
            &format!("The sign-in was not completed ({error})."),
            true,
        );
    }
    let (Some(state), Some(code)) = (
        query_value(&request, "state"),
        query_value(&request, "code"),
    ) else {
        return page(
            StatusCode::BAD_REQUEST,
            "This address is where the identity provider sends you back, with a state and a code; this request has neither.",
            true,
        );
    };
    let expired = || {
        page(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired or was completed already.",
            true,
        )
    };
    if !well_formed_state(&state) {
        return expired();
    }
    let key = attempt_key(&state);
    let (attempt, etag) = match login.store.get(&key).await {
        Ok(Some(found)) => found,
        Ok(None) => return expired(),
        Err(error) => return store_failed(&error),
    };
    match login.store.delete(&key, Some(&etag)).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => return expired(),
        Err(error) => return store_failed(&error),
    }
    let signed_in = match login.provider.finish(code, &attempt).await {
        Ok(signed_in) => signed_in,
        Err(error) => return provider_failed(&error),
    };
    let id = CsrfToken::new_random_len(32).secret().clone();
    if let Err(error) = login
        .store
        .save(
            &login.keys.record_key(&id),
            &signed_in.session,
            None,
            login.session_ttl,
        )
        .await
    {
        return store_failed(&error);
    }
    tracing::info!(
        caller = signed_in.session.subject,
        "signed in; a new session"
    );
    let mut response = redirect(StatusCode::FOUND, &attempt.return_to);
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie::set(&id));
    response
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
                    return store_failed(&error);
                }
            }
            Ok(None) => {}
            Err(error) => return store_failed(&error),
        }
    }
    let mut response = redirect(StatusCode::SEE_OTHER, &next);
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie::clear());
    response
}
