//! Why a sign-in (`/auth/login`, `/auth/callback`, `/auth/logout`) cannot go on, and the page
//! a browser gets for each: a status that says which, what happened, a way to start again
//! where that helps; never a redirect (no loop) and never a 500.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::pages::page;
use super::provider::ProviderError;
use super::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// `?return=` names something other than a path of this site (an open redirect).
    #[error("the return address is not a local path")]
    ForeignReturn,
    /// The callback without a `state` and a `code`.
    #[error("a callback without state and code")]
    NotACallback,
    /// No attempt of this browser under this `state`: opened in another browser (login
    /// CSRF), expired, already completed here, or a `state` that is not ours.
    #[error("no sign-in attempt of this browser under that state")]
    NotThisBrowsersAttempt,
    /// The provider sent the browser back with `error=` (the user declined, say).
    #[error("the identity provider ended the sign-in: {0}")]
    EndedAtProvider(String),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The attempt could not be sealed (no randomness): nothing the browser did.
    #[error("sealing the sign-in attempt failed: {0}")]
    Sealing(String),
}

impl IntoResponse for SignInError {
    fn into_response(self) -> Response {
        match &self {
            Self::ForeignReturn | Self::NotACallback | Self::NotThisBrowsersAttempt => {
                tracing::info!(error = %self, "a sign-in request refused");
            }
            Self::EndedAtProvider(_) => tracing::info!(error = %self, "sign-in not completed"),
            Self::Provider(_) => {
                tracing::warn!(error = %self, "sign-in failed at the identity provider")
            }
            Self::Store(_) => {
                tracing::warn!(error = %self, "the session store failed during a sign-in")
            }
            Self::Sealing(_) => tracing::warn!(error = %self, "a sign-in could not start"),
        }
        match self {
            Self::ForeignReturn => page(
                StatusCode::BAD_REQUEST,
                "The return address is not a page of this site: only a local path such as /page is accepted.",
                false,
            ),
            Self::NotACallback => page(
                StatusCode::BAD_REQUEST,
                "This address is where the identity provider sends you back, with a state and a code; this request has neither.",
                true,
            ),
            Self::NotThisBrowsersAttempt => page(
                StatusCode::BAD_REQUEST,
                "This sign-in was not started in this browser, or it has expired or was completed already.",
                true,
            ),
            Self::EndedAtProvider(error) => page(
                StatusCode::UNAUTHORIZED,
                &format!("The sign-in was not completed ({error})."),
                true,
            ),
            Self::Provider(ProviderError::Unavailable(_)) => page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The identity provider cannot be reached right now. Try again in a moment.",
                true,
            ),
            Self::Provider(ProviderError::Refused(_)) => page(
                StatusCode::BAD_REQUEST,
                "The identity provider did not accept this sign-in (it may have been used already or expired).",
                true,
            ),
            Self::Provider(ProviderError::BadIdToken(_)) => page(
                StatusCode::UNAUTHORIZED,
                "The identity provider's answer did not prove who signed in.",
                true,
            ),
            Self::Store(_) => page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is unavailable right now (the session store did not answer). Try again in a moment.",
                true,
            ),
            Self::Sealing(_) => page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in cannot start right now. Try again in a moment.",
                true,
            ),
        }
    }
}
