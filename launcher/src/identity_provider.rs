//! The local identity provider: npm `oidc-provider` (launcher/oidc/provider.mjs) on a free
//! loopback port, with one confidential client whose only redirect URI is the login entry, one
//! user with a password, and a signing key made here for this run.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::paths::repo_root;
use crate::ports::free_port;
use crate::process::ManagedProcess;
use crate::process::STOP_GRACE;
use crate::secrets::random_token;
use crate::wait::{get_status, wait_until};
use test_support::tokens::SigningKey;

/// The audience of the API's access tokens (an absolute URI, as resource indicators must be;
/// Entra ID's application ID URIs look the same).
pub const AUDIENCE: &str = "api://dapr-pair";
pub const CLIENT_ID: &str = "dapr-pair-frontend";
/// What the login asks for: who the person is, and a token for the API.
pub const SCOPES: &str = "openid,profile,api";

/// What the provider is started with besides its one client and first user.
#[derive(Default)]
pub struct ProviderOptions {
    /// The one URI the client may be sent back to after signing in.
    pub redirect_uri: String,
    /// The one URI the client may be sent back to after signing out.
    pub post_logout_redirect_uri: String,
    /// More users `(login, name)`, each with the run's password.
    pub extra_users: Vec<(String, String)>,
    /// How long access tokens live, in seconds (default 600).
    pub access_token_ttl_secs: Option<u64>,
}

pub struct IdentityProvider {
    /// `http://127.0.0.1:<port>`: the `iss` of its tokens, and where discovery is found.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub user: String,
    pub password: String,
    /// The name shown for the user (the `name` claim).
    pub user_name: String,
    /// The key its tokens are signed with (a test can sign with it too).
    pub signing_key: SigningKey,
    process: ManagedProcess,
}

impl IdentityProvider {
    /// Starts the provider and waits for its discovery document.
    pub async fn start(log_dir: &Path, options: &ProviderOptions) -> anyhow::Result<Self> {
        let dir = repo_root().join("launcher/oidc");
        crate::npm::ensure_installed(&dir)?;
        let port = free_port();
        let issuer = format!("http://127.0.0.1:{port}");
        let client_secret = random_token();
        let password = random_token()[..12].to_owned();
        let signing_key = SigningKey::generate(&format!("local-{}", &random_token()[..8]));
        let (user, user_name) = ("ada", "Ada Lovelace");
        let users: Vec<serde_json::Value> =
            std::iter::once((user.to_owned(), user_name.to_owned()))
                .chain(options.extra_users.iter().cloned())
                .map(|(login, name)| serde_json::json!({"login": login, "name": name}))
                .collect();
        let mut command = Command::new("node");
        command
            .arg(dir.join("provider.mjs"))
            .env("OIDC_PORT", port.to_string())
            .env("OIDC_ISSUER", &issuer)
            .env("OIDC_AUDIENCE", AUDIENCE)
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", &client_secret)
            .env("OIDC_REDIRECT_URI", &options.redirect_uri)
            .env(
                "OIDC_POST_LOGOUT_REDIRECT_URI",
                &options.post_logout_redirect_uri,
            )
            .env("OIDC_USERS", serde_json::Value::from(users).to_string())
            .env("OIDC_PASSWORD", &password)
            .env(
                "OIDC_ACCESS_TOKEN_TTL",
                options.access_token_ttl_secs.unwrap_or(600).to_string(),
            )
            .env("OIDC_SIGNING_KEY_PEM", signing_key.private_pem())
            .env("OIDC_SIGNING_KEY_ID", &signing_key.kid)
            .current_dir(&dir);
        let mut process = ManagedProcess::spawn("oidc-provider", command, log_dir)
            .context("starting node (launcher/oidc/provider.mjs)")?;
        let discovery = format!("{issuer}/.well-known/openid-configuration");
        wait_until(
            "oidc-provider",
            || async { get_status(&discovery).await == Some(200) },
            &mut process,
        )
        .await?;
        Ok(Self {
            issuer,
            client_id: CLIENT_ID.to_owned(),
            client_secret,
            user: user.to_owned(),
            password,
            user_name: user_name.to_owned(),
            signing_key,
            process,
        })
    }

    pub fn auth_url(&self) -> String {
        format!("{}/auth", self.issuer)
    }

    pub fn token_url(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// An access token for the API from the client-credentials grant, as a service (or curl)
    /// gets one.
    pub async fn client_credentials_token(&self) -> anyhow::Result<String> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()?;
        let response = client
            .post(self.token_url())
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&scope=api")
            .send()
            .await
            .with_context(|| format!("asking {} for a token", self.token_url()))?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("the token endpoint answered {status}: {text}");
        }
        let body: serde_json::Value = serde_json::from_str(&text)?;
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no access_token in {text}"))
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }

    pub async fn stop(&mut self) {
        self.process.stop(STOP_GRACE).await;
    }
}
