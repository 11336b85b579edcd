//! The Cosmos DB tier's peer: the Cosmos DB protocol server of `launcher/cosmos` (npm
//! `@vercel/cosmosdb-server` with the fixes Dapr needs) on loopback over TLS, with a
//! certificate made for this run, its database and container, a managed identity endpoint or a
//! master key, and the shipped Cosmos DB component written out for the backend's daprd with
//! this server's values.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use tokio::process::Command;

use crate::paths::repo_root;
use crate::ports::free_port;
use crate::process::ManagedProcess;
use crate::process::STOP_GRACE;
use crate::secrets::random_token;
use crate::wait::{get_status, wait_until};

pub const DATABASE: &str = "dapr-pair";
pub const CONTAINER: &str = "state";
const SECRET_STORE: &str = "cosmos-secrets";

/// How the backend's daprd signs in to the account: the two shipped variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CosmosAuth {
    /// `components/azure/statestore.yaml`: an Entra ID token for the managed identity named by
    /// `azureClientId`, from a managed identity endpoint as Container Apps runs one
    /// (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`). The account then takes no other credential.
    ManagedIdentity,
    /// `components/azure/master-key/statestore.yaml`: the account key, read from a secret store
    /// (here a file; `kubernetes` on AKS). The account then takes only requests signed with that key.
    MasterKey,
}

impl CosmosAuth {
    fn component(self) -> &'static str {
        match self {
            Self::ManagedIdentity => "components/azure/statestore.yaml",
            Self::MasterKey => "components/azure/master-key/statestore.yaml",
        }
    }
}

/// The credentials the account takes, made up for this run.
enum Credentials {
    ManagedIdentity(IdentityEndpoint),
    /// The account key (base64, as Cosmos DB's keys are; hex digits are base64 too).
    MasterKey(String),
}

/// The managed identity endpoint the server runs for [`CosmosAuth::ManagedIdentity`].
struct IdentityEndpoint {
    port: u16,
    /// What Container Apps puts in `IDENTITY_HEADER`: the endpoint wants it back.
    header: String,
    /// The managed identity's client id, the only one the endpoint gives a token to.
    client_id: String,
}

impl IdentityEndpoint {
    fn new() -> Self {
        let id = random_token();
        Self {
            port: free_port(),
            header: random_token(),
            // A client id is a GUID.
            client_id: format!(
                "{}-{}-{}-{}-{}",
                &id[..8],
                &id[8..12],
                &id[12..16],
                &id[16..20],
                &id[20..32]
            ),
        }
    }
}

pub struct CosmosServer {
    /// What daprd uses: `https://127.0.0.1:PORT/`.
    pub url: String,
    /// The same server over plain HTTP, for the tests' own reads of the stored documents.
    pub inspect_url: String,
    /// The server's certificate, which daprd trusts through `SSL_CERT_FILE`.
    pub certificate: PathBuf,
    pub auth: CosmosAuth,
    pub process: ManagedProcess,
    credentials: Credentials,
    /// Where the files the backend's daprd needs besides its component go (the secrets file).
    dir: PathBuf,
    http: reqwest::Client,
}

impl CosmosServer {
    /// Makes a certificate in `dir`, starts the server taking the credentials of `auth`, and
    /// creates the database and the container (partition key path `/partitionKey`, as
    /// docs/cosmos-db.md asks of Azure).
    pub async fn start(dir: &Path, log_dir: &Path, auth: CosmosAuth) -> anyhow::Result<Self> {
        let script = repo_root().join("launcher/cosmos/server.js");
        crate::npm::ensure_installed(&repo_root().join("launcher/cosmos"))?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let (certificate, key) = make_certificate(dir).await?;

        let port = free_port();
        let inspect_port = free_port();
        let mut command = Command::new("node");
        command
            .arg(&script)
            .args(["--port", &port.to_string()])
            .args(["--inspect-port", &inspect_port.to_string()])
            .arg("--cert")
            .arg(&certificate)
            .arg("--key")
            .arg(&key)
            .current_dir(dir);
        let credentials = match auth {
            CosmosAuth::ManagedIdentity => Credentials::ManagedIdentity(IdentityEndpoint::new()),
            CosmosAuth::MasterKey => Credentials::MasterKey(random_token()),
        };
        match &credentials {
            Credentials::ManagedIdentity(identity) => command
                .args(["--identity-port", &identity.port.to_string()])
                .args(["--client-id", &identity.client_id])
                .args(["--identity-header", &identity.header]),
            Credentials::MasterKey(key) => command.args(["--master-key", key]),
        };
        let mut process = ManagedProcess::spawn("cosmosdb-server", command, log_dir)
            .with_context(|| format!("starting node {}", script.display()))?;
        let inspect_url = format!("http://127.0.0.1:{inspect_port}");
        let meta = format!("{inspect_url}/");
        wait_until(
            "cosmosdb-server",
            || async { get_status(&meta).await == Some(200) },
            &mut process,
        )
        .await?;

        let server = Self {
            url: format!("https://127.0.0.1:{port}/"),
            inspect_url,
            certificate,
            auth,
            process,
            credentials,
            dir: dir.to_owned(),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(10))
                .build()?,
        };
        server.create("/dbs", json!({"id": DATABASE})).await?;
        let container = json!({
            "id": CONTAINER,
            "partitionKey": {"paths": ["/partitionKey"], "kind": "Hash", "version": 2},
        });
        server
            .create(&format!("/dbs/{DATABASE}/colls"), container)
            .await?;
        Ok(server)
    }

    /// Writes into `dir` (the backend's daprd's resources path) the shipped Cosmos DB component
    /// of [`Self::auth`] with this server's values; with a master key also the secret store it
    /// reads the key from (a file, as `kubernetes` secrets are on AKS).
    pub fn write_components(&self, dir: &Path) -> anyhow::Result<()> {
        let write = |path: PathBuf, text: String| {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
        };
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let component = self.auth.component();
        let shipped = repo_root().join(component);
        let template = std::fs::read_to_string(&shipped)
            .with_context(|| format!("reading {}", shipped.display()))?;
        let mut values = vec![
            ("COSMOS_URL", self.url.as_str()),
            ("COSMOS_DATABASE", DATABASE),
            ("COSMOS_CONTAINER", CONTAINER),
        ];
        match &self.credentials {
            Credentials::ManagedIdentity(identity) => {
                values.push(("AZURE_CLIENT_ID", &identity.client_id))
            }
            Credentials::MasterKey(_) => values.push(("SECRET_STORE", SECRET_STORE)),
        }
        write(
            dir.join("statestore.yaml"),
            substitute(component, &template, &values)?,
        )?;
        if let Credentials::MasterKey(key) = &self.credentials {
            let secrets_file = self.dir.join("secrets.json");
            let secrets = json!({"cosmos-db": {"masterKey": key}});
            write(secrets_file.clone(), secrets.to_string())?;
            let secret_store = format!(
                "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {SECRET_STORE}\n\
                 spec:\n  type: secretstores.local.file\n  version: v1\n  metadata:\n\
                 \x20   - name: secretsFile\n      value: {secrets_file:?}\n\
                 \x20   - name: multiValued\n      value: \"true\"\nscopes:\n  - backend\n"
            );
            write(dir.join("secretstore.yaml"), secret_store)?;
        }
        Ok(())
    }

    /// The environment the backend's daprd needs to reach this server: trust in its
    /// certificate, and the managed identity endpoint as Container Apps announces it.
    pub fn daprd_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![(
            "SSL_CERT_FILE",
            self.certificate.to_string_lossy().into_owned(),
        )];
        if let Credentials::ManagedIdentity(identity) = &self.credentials {
            let url = format!("http://127.0.0.1:{}/msi/token", identity.port);
            env.push(("IDENTITY_ENDPOINT", url));
            env.push(("IDENTITY_HEADER", identity.header.clone()));
        }
        env
    }

    /// The document with this `id` in partition `partition_key`, read straight from the
    /// server's REST API (`GET /dbs/{db}/colls/{container}/docs/{id}`), or `None` if absent.
    pub async fn document(&self, id: &str, partition_key: &str) -> anyhow::Result<Option<Value>> {
        let id = utf8_percent_encode(id, NON_ALPHANUMERIC);
        let path = format!("/dbs/{DATABASE}/colls/{CONTAINER}/docs/{id}");
        let response = self
            .request(reqwest::Method::GET, &path)
            .header(
                "x-ms-documentdb-partitionkey",
                json!([partition_key]).to_string(),
            )
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        match response.status().as_u16() {
            404 => Ok(None),
            200 => Ok(Some(response.json().await?)),
            other => Err(anyhow::anyhow!(
                "GET {path} answered {other}: {}",
                response.text().await.unwrap_or_default()
            )),
        }
    }

    pub async fn stop(&mut self) {
        self.process.stop(STOP_GRACE).await;
    }

    async fn create(&self, path: &str, body: Value) -> anyhow::Result<()> {
        let response = self
            .request(reqwest::Method::POST, path)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        match response.status().as_u16() {
            201 => Ok(()),
            other => Err(anyhow::anyhow!(
                "POST {path} answered {other}: {}",
                response.text().await.unwrap_or_default()
            )),
        }
    }

    /// A request with the headers Cosmos DB's REST API requires. The signature is not
    /// computed: the server ignores it (it would be an HMAC of the request with the key).
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.inspect_url))
            .header("x-ms-version", "2020-07-15")
            .header("x-ms-date", httpdate::fmt_http_date(SystemTime::now()))
            .header(
                "authorization",
                "type%3Dmaster%26ver%3D1.0%26sig%3Dbm90LWNoZWNrZWQ%3D",
            )
    }
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, valid for two days (the server's
/// bundled one has no subjectAltName and has expired).
async fn make_certificate(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let certificate = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let output = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&certificate)
        .stdin(Stdio::null())
        .output()
        .await
        .context("running openssl (is it installed?)")?;
    if !output.status.success() {
        bail!(
            "openssl could not make a certificate: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok((certificate, key))
}

/// Replaces each `{{NAME}}` in a shipped file; a placeholder left over is an error, so a new
/// one in the file cannot reach daprd unreplaced.
fn substitute(file: &str, template: &str, values: &[(&str, &str)]) -> anyhow::Result<String> {
    let mut text = template.to_owned();
    for (name, value) in values {
        text = text.replace(&format!("{{{{{name}}}}}"), value);
    }
    let mut lines = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'));
    match lines.find(|line| line.contains("{{")) {
        Some(line) => Err(anyhow::anyhow!("a placeholder is left in {file}: {line}")),
        None => Ok(text),
    }
}
