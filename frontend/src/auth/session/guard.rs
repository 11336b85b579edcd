//! The middleware of the browser paths in `AUTH_MODE=session`: the session named by the
//! request's cookie, read from the store on every request (so whichever replica answers, and
//! after any restart, it is the same), its access token refreshed when it expires within a
//! minute. Without a session a page load is sent to sign in, and a script's request gets a 401
//! problem (a `fetch` cannot follow a login, and a redirect would loop).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use oauth2::CsrfToken;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use service_kit::Problem;

use super::provider::ProviderError;
use super::records::{Session, now};
use super::store::StoreError;
use super::{SessionLogin, cookie};
use crate::auth::Caller;
use crate::auth::middleware::run_as;

/// An access token expiring within this is refreshed first.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(60);

/// Middleware: `from_fn_with_state(login, require_session)`.
pub async fn require_session(
    State(login): State<Arc<SessionLogin>>,
    request: Request,
    next: Next,
) -> Response {
    let id = cookie::session_id(request.headers());
    let had_cookie = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .any(|value| value.to_str().is_ok_and(|v| v.contains(cookie::NAME)));
    let session = match &id {
        Some(id) => current_session(&login, id).await,
        None => Ok(None),
    };
    let session = match session {
        Ok(Some(session)) => session,
        Ok(None) => return sign_in_first(&request, had_cookie),
        Err(unavailable) => return unavailable.into_response(),
    };
    let caller = Caller {
        subject: session.subject.clone(),
        name: session.name.clone(),
    };
    run_as(caller, request, next).await
}

/// How long one request holds the right to refresh a session (longer than a call to the
/// provider may take); meanwhile the others go on with the current access token.
const REFRESH_CLAIM: Duration = Duration::from_secs(15);
/// How often, and how long apart, a request whose access token has expired looks again for
/// the tokens another request is fetching.
const WAIT_ROUNDS: usize = 25;
const WAIT_STEP: Duration = Duration::from_millis(200);

/// Why a request's session cannot be had just now: a 503 the browser may try again.
#[derive(Debug, thiserror::Error)]
enum SessionUnavailable {
    #[error("the session store did not answer; try again in a moment")]
    Store(StoreError),
    #[error(
        "the session is being renewed and that takes longer than it should; try again in a moment"
    )]
    RenewalTooSlow,
    #[error("the identity provider cannot be reached to renew the session; try again in a moment")]
    ProviderUnreachable,
}

impl IntoResponse for SessionUnavailable {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            Self::Store(error) => {
                tracing::warn!(%error, "the session store failed");
                1
            }
            Self::RenewalTooSlow => 1,
            Self::ProviderUnreachable => 5,
        };
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, self.to_string())
            .with_retry_after(retry_after)
            .into_response()
    }
}

/// The session under `id` with an access token good for more than [`REFRESH_BEFORE`], or
/// `None` once it has ended (absent, expired, or its refresh refused).
///
/// One request at a time refreshes a session, whichever replica it reached: it first claims
/// the refresh by writing the session back with its claim, guarded by the ETag it read
/// (first write wins). Others meanwhile use the access token while it is valid, or wait for
/// the new one. Without this, two replicas would both send the same refresh token, and a
/// provider that rotates them (Entra ID, the local one) takes the second use as a stolen
/// token and revokes the grant: the user would be signed out.
async fn current_session(
    login: &SessionLogin,
    id: &str,
) -> Result<Option<Session>, SessionUnavailable> {
    let key = login.keys.record_key(id);
    for _ in 0..WAIT_ROUNDS {
        let (session, etag) = match login.store.get::<Session>(&key).await {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(None),
            Err(error) => return Err(SessionUnavailable::Store(error)),
        };
        let now = now();
        if session.expires_at > now + REFRESH_BEFORE.as_secs() {
            return Ok(Some(session));
        }
        if session.refreshing_until > now {
            if session.expires_at > now {
                return Ok(Some(session));
            }
            tokio::time::sleep(WAIT_STEP).await;
            continue;
        }
        let claim = CsrfToken::new_random().secret().clone();
        let mut claimed = session.clone();
        claimed.refreshing_until = now + REFRESH_CLAIM.as_secs();
        claimed.refresh_claim = claim.clone();
        let remaining = remaining_life(login, &session);
        match login
            .store
            .save(&key, &claimed, Some(&etag), remaining)
            .await
        {
            Ok(()) => {}
            // Another request claimed it (or refreshed, or signed out) first: look again.
            Err(StoreError::Conflict) => continue,
            Err(error) => return Err(SessionUnavailable::Store(error)),
        }
        // The ETag of the claim just written, which the refreshed session is saved over.
        match login.store.get::<Session>(&key).await {
            Ok(Some((mine, etag))) if mine.refresh_claim == claim => {
                return refresh(login, &key, mine, &etag).await;
            }
            Ok(Some(_)) => continue,
            Ok(None) => return Ok(None),
            Err(error) => return Err(SessionUnavailable::Store(error)),
        }
    }
    Err(SessionUnavailable::RenewalTooSlow)
}

/// What is left of the session's life (`SESSION_TTL` from its start), at least a second.
fn remaining_life(login: &SessionLogin, session: &Session) -> Duration {
    Duration::from_secs(
        (session.created_at + login.session_ttl.as_secs())
            .saturating_sub(now())
            .max(1),
    )
}

/// The refresh of a session this request has claimed (`etag` is its claim's).
async fn refresh(
    login: &SessionLogin,
    key: &str,
    session: Session,
    etag: &str,
) -> Result<Option<Session>, SessionUnavailable> {
    let now = now();
    let refreshed = match login.provider.refresh(&session).await {
        Ok(refreshed) => refreshed,
        Err(ProviderError::Unavailable(why)) if session.expires_at > now => {
            // Still valid for a few seconds; the claim lapses and a later request tries again.
            tracing::warn!(
                error = why,
                "the refresh failed; the access token is still valid"
            );
            return Ok(Some(session));
        }
        Err(ProviderError::Unavailable(why)) => {
            tracing::warn!(
                error = why,
                "the refresh failed and the access token has expired"
            );
            return Err(SessionUnavailable::ProviderUnreachable);
        }
        Err(error) => {
            // Refused (revoked, expired, used): the session ends here, for every replica.
            tracing::info!(%error, caller = session.subject, "the refresh was refused; signed out");
            if let Err(error) = login.store.delete(key, Some(etag)).await {
                tracing::info!(%error, "the ended session was changed or gone already");
            }
            return Ok(None);
        }
    };
    let remaining = remaining_life(login, &session);
    match login
        .store
        .save(key, &refreshed, Some(etag), remaining)
        .await
    {
        Ok(()) => {
            tracing::info!(
                caller = refreshed.subject,
                "refreshed the session's access token"
            );
            Ok(Some(refreshed))
        }
        // Signed out meanwhile (the only other writer of a claimed session).
        Err(StoreError::Conflict) => match login.store.get::<Session>(key).await {
            Ok(found) => Ok(found.map(|(session, _)| session)),
            Err(error) => Err(SessionUnavailable::Store(error)),
        },
        Err(error) => Err(SessionUnavailable::Store(error)),
    }
}

/// No session: a page load goes to sign in and comes back here; anything else is a 401. A
/// cookie that names no session (tampered, expired, signed out elsewhere) is cleared.
fn sign_in_first(request: &Request, had_cookie: bool) -> Response {
    let mut response = if request.method() == Method::GET || request.method() == Method::HEAD {
        let here = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let location = format!(
            "/auth/login?return={}",
            utf8_percent_encode(here, NON_ALPHANUMERIC)
        );
        let mut response = StatusCode::FOUND.into_response();
        if let Ok(location) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    } else {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "not signed in, or the session has ended: reload the page to sign in",
        )
        .into_response()
    };
    if had_cookie {
        response
            .headers_mut()
            .insert(header::SET_COOKIE, cookie::clear());
    }
    response
}
