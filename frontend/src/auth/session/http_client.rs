//! oauth2's HTTP client, made of the frontend's own reqwest (oauth2's reqwest feature would add
//! a second reqwest, 0.12): no redirects followed (the token endpoint must answer itself, and
//! following one would send the code or the secret elsewhere), every request bounded in time.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse};

/// Every request to the provider: connect and answer within this.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// The provider's HTTP client. A type of its own rather than a closure, so that its future is
/// `Send` for every lifetime oauth2 asks about (axum's handlers must be `Send`).
#[derive(Clone)]
pub struct ProviderHttp(pub reqwest::Client);

impl<'c> AsyncHttpClient<'c> for ProviderHttp {
    type Error = reqwest::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(send(&self.0, request))
    }
}

pub fn client() -> Result<ProviderHttp, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(PROVIDER_TIMEOUT)
        .connect_timeout(PROVIDER_TIMEOUT)
        .build()
        .map(ProviderHttp)
        .map_err(|e| format!("building the identity provider's HTTP client: {e}"))
}

/// One oauth2 request over `client`.
pub async fn send(
    client: &reqwest::Client,
    request: HttpRequest,
) -> Result<HttpResponse, reqwest::Error> {
    let request = reqwest::Request::try_from(request)?;
    let answer = client.execute(request).await?;
    let mut response = http::Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        response = response.header(name, value);
    }
    let body = answer.bytes().await?.to_vec();
    Ok(response
        .body(body)
        .expect("a status and headers taken from a response"))
}
