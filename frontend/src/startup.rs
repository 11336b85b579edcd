//! Building the frontend: its router on the shared serving machinery.

use std::sync::Arc;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use service_kit::app_token::with_app_token;
use service_kit::server::{Application, with_common_routes};
use service_kit::settings::Secret;

use crate::auth::session::{self, SessionLogin, require_session};
use crate::auth::{AuthMode, Authenticator, require_caller};
use crate::configuration::Config;
use crate::cross_site;
use crate::page::{self, PageOptions};
use crate::routes::{self, CallState};

pub async fn build(config: Config) -> std::io::Result<Application> {
    let (authenticator, login) = authentication(&config).map_err(std::io::Error::other)?;
    if login.is_none() {
        authenticator.log_mode();
    }
    let authenticator = Arc::new(authenticator);
    let app_token = config.service.enforced_app_token().cloned();
    let allowlist = Arc::new(config.call_allowlist.clone());
    Application::build("frontend", &config.service, |sidecar| {
        app(
            CallState { sidecar, allowlist },
            app_token,
            authenticator,
            login,
        )
    })
    .await
}

/// How callers are checked, and the session login in `AUTH_MODE=session`: what start-up
/// refuses to go on without when a setting is missing or wrong.
pub fn authentication(
    config: &Config,
) -> Result<(Authenticator, Option<Arc<SessionLogin>>), String> {
    let authenticator = Authenticator::from_settings(&config.auth)?;
    let login = match config.auth.auth_mode {
        AuthMode::Session => Some(Arc::new(SessionLogin::from_settings(
            &config.auth,
            &config.service,
            &authenticator,
        )?)),
        _ => None,
    };
    Ok((authenticator, login))
}

/// The whole frontend as a router, for serving and for `oneshot` tests. Every route but the
/// health probes (and the sign-in's own) needs a caller, unless authentication is off: API
/// paths a bearer token (or Easy Auth's headers), the browser paths (`/`, `/page/…`) the same,
/// or with the session login a session. Browser writes are same-origin JSON only.
///
/// The app token (`dapr-api-token`, what daprd sends the app) is required on every route but
/// the health probes, except with the session login: there browsers reach the app's port
/// straight from the front door and cannot send it, so only `/call` (the path API clients
/// reach through the sidecar, whose bearer middleware checked them) needs it, and the browser
/// paths are guarded by the session and the cross-site checks.
pub fn app(
    state: CallState,
    app_token: Option<Secret>,
    authenticator: Arc<Authenticator>,
    login: Option<Arc<SessionLogin>>,
) -> Router {
    let sidecar = state.sidecar.clone();
    let api = routes::router(state.clone());
    let options = PageOptions {
        sign_out_to: login.as_ref().map(|login| login.provider_origin.clone()),
    };
    let browser = routes::page_router(state)
        .layer(from_fn(cross_site::browser_writes))
        .merge(page::router(options));
    // With the session login the app token guards the API alone (see above).
    let (routes, app_token_on_all) = match login {
        Some(login) => {
            // The app token outside the bearer check: a request that did not come through the
            // sidecar is refused before its token costs a key-set fetch.
            let api = api.layer(from_fn_with_state(authenticator, require_caller));
            let routes = with_app_token(api, app_token)
                .merge(browser.layer(from_fn_with_state(login.clone(), require_session)))
                .merge(session::routes::router(login));
            (routes, None)
        }
        None if authenticator.is_off() => (api.merge(browser), app_token),
        None => (
            api.merge(browser)
                .layer(from_fn_with_state(authenticator, require_caller)),
            app_token,
        ),
    };
    with_common_routes(routes, &sidecar, app_token_on_all)
}
