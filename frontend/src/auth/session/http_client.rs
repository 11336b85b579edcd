//! oauth2's HTTP client: the issuer's own reqwest client ([`crate::auth::issuer::Issuer`]: no
//! redirects followed, every request bounded in time) under oauth2's trait (oauth2's reqwest
//! feature would add a second reqwest, 0.12).

use std::future::Future;
use std::pin::Pin;

use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse};

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
