//! A sign-in driven over plain HTTP, as an attacker scripts one: the app's `/auth/login`, the
//! provider's login and consent forms (oidc-provider's development pages), and a stop right
//! before the browser would be sent back, so the callback URL with its unused code is in hand.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

/// A client with its own cookies (one jar for every host: enough for these two servers, whose
/// cookie names differ), following no redirect by itself.
pub struct ScriptedClient {
    http: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
}

pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub text: String,
}

impl ScriptedClient {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let response = request
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .expect("an answer");
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(LOCATION)
            .map(|value| value.to_str().unwrap().to_owned());
        let set_cookies: Vec<String> = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|value| value.to_str().unwrap().to_owned())
            .collect();
        for set in &set_cookies {
            let pair = set.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                let gone =
                    value.is_empty() || set.contains("Max-Age=0") || set.contains("max-age=0");
                if gone {
                    self.cookies.remove(name.trim());
                } else {
                    self.cookies
                        .insert(name.trim().to_owned(), value.trim().to_owned());
                }
            }
        }
        let text = response.text().await.unwrap_or_default();
        Answer {
            status,
            location,
            set_cookies,
            text,
        }
    }

    pub async fn get(&mut self, url: &str) -> Answer {
        let request = self.http.get(url);
        self.send(request).await
    }

    async fn post_form(&mut self, url: &str, form: &[(&str, &str)]) -> Answer {
        let body: String = form
            .iter()
            .map(|(name, value)| {
                format!(
                    "{name}={}",
                    percent_encoding::utf8_percent_encode(
                        value,
                        percent_encoding::NON_ALPHANUMERIC
                    )
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        let request = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }

    /// Starts a sign-in at `login_url` (the app's `/auth/login`), signs in at the provider as
    /// `user` and consents, and returns the URL the provider sends the browser back to (the
    /// app's callback with `state` and an unused `code`), without opening it.
    pub async fn sign_in_up_to_the_callback(
        &mut self,
        login_url: &str,
        issuer: &str,
        callback_prefix: &str,
        user: &str,
        password: &str,
    ) -> String {
        let mut next = login_url.to_owned();
        // login → authorize → login form → resume → consent form → resume → callback
        for _ in 0..12 {
            if next.starts_with(callback_prefix) && next != login_url {
                return next;
            }
            let answer = self.get(&next).await;
            if let Some(location) = answer.location {
                next = absolute(issuer, &location);
                continue;
            }
            assert_eq!(answer.status, 200, "{next}: {}", answer.text);
            let form: Vec<(&str, &str)> = if answer.text.contains(r#"value="login""#) {
                vec![("prompt", "login"), ("login", user), ("password", password)]
            } else if answer.text.contains(r#"value="consent""#) {
                vec![("prompt", "consent")]
            } else {
                panic!(
                    "{next}: neither the login nor the consent form: {}",
                    answer.text
                );
            };
            let posted = self.post_form(&next, &form).await;
            next = absolute(
                issuer,
                &posted
                    .location
                    .unwrap_or_else(|| panic!("{next}: {} {}", posted.status, posted.text)),
            );
        }
        panic!("the provider never sent the browser back to {callback_prefix}");
    }
}

/// `location` as an absolute URL (oidc-provider answers with paths of its own origin).
fn absolute(issuer: &str, location: &str) -> String {
    if location.starts_with('/') {
        let origin = issuer
            .find("://")
            .and_then(|scheme| {
                issuer[scheme + 3..]
                    .find('/')
                    .map(|at| &issuer[..scheme + 3 + at])
            })
            .unwrap_or(issuer);
        format!("{origin}{location}")
    } else {
        location.to_owned()
    }
}
