//! Serving: what every service wraps around its own routes, and the serve loop that waits for
//! the sidecar and, on shutdown, lets traffic move away (`SHUTDOWN_DELAY`, see
//! [`crate::shutdown`]) and drains in-flight requests (within `SHUTDOWN_TIMEOUT`). Each
//! connection is served with the bounds of [`crate::connections`].

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::app_token::with_app_token;
use crate::connections::{self, Deadline, Limits, closing};
use crate::json::MAX_BODY_BYTES;
use crate::problem::{method_not_allowed, no_such_route};
use crate::settings::{Secret, ServiceSettings};
use crate::shutdown::{self, Draining, Stop};
use crate::sidecar::SidecarNotReady;
use crate::telemetry::{self, metrics};
use crate::{SidecarClient, health};

/// A service, bound and ready to serve: binding comes first, so port 0 works and the address
/// is known before serving starts.
pub struct Application {
    name: &'static str,
    listener: TcpListener,
    router: Router,
    /// `/metrics` is served on a listener of its own, apart from the API and its app token.
    metrics_listener: TcpListener,
    sidecar: SidecarClient,
    sidecar_wait: Duration,
    limits: Limits,
    shutdown_delay: Duration,
    /// Set on shutdown; `/readyz` reads it from each request's extensions.
    draining: Draining,
}

impl Application {
    /// Binds, makes the sidecar client, and asks `make_router` for the service's router.
    pub async fn build(
        name: &'static str,
        settings: &ServiceSettings,
        make_router: impl FnOnce(SidecarClient) -> Router,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(settings.listen_address()).await?;
        let metrics_listener = TcpListener::bind(settings.metrics_address()).await?;
        let sidecar = SidecarClient::from_settings(settings)?;
        let draining = Draining::default();
        let router = make_router(sidecar.clone()).layer(Extension(draining.clone()));
        Ok(Self {
            name,
            listener,
            router,
            metrics_listener,
            sidecar,
            sidecar_wait: settings.sidecar_wait(),
            limits: Limits::from_settings(settings),
            shutdown_delay: settings.shutdown_delay,
            draining,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn metrics_address(&self) -> SocketAddr {
        self.metrics_listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `stop` completes, then winds down as [`shutdown::wind_down`] says; a second
    /// signal cuts the delay short.
    pub async fn run_until_stopped(
        self,
        stop: impl Future<Output = Stop> + Send + 'static,
    ) -> Result<(), ServeError> {
        tracing::info!(service = self.name, address = %self.address(), metrics = %self.metrics_address(), sidecar = self.sidecar.base_url(), "listening");
        let limits = self.limits;
        let metrics_listener = self.metrics_listener;
        let metrics = tokio::spawn(async move {
            connections::serve_bounded(
                metrics_listener,
                metrics::router(),
                limits,
                std::future::pending(),
            )
            .await;
        });
        let (delay, draining) = (self.shutdown_delay, self.draining);
        let shutdown =
            async move { shutdown::wind_down(stop, shutdown::signal(), delay, &draining).await };
        let served = serve_awaiting_sidecar(
            self.listener,
            self.router,
            self.sidecar,
            self.sidecar_wait,
            limits,
            shutdown,
        )
        .await;
        metrics.abort();
        served
    }
}

/// A service's whole `main` once its settings are parsed: a Tokio runtime with
/// `worker_threads` threads, logs and traces as `settings` say, then `build` and serve until
/// Ctrl-C or SIGTERM. A failure becomes a log line and a failing exit code; the last spans are
/// exported before the process ends.
///
/// One thread is a current-thread runtime (no work stealing, no wake-ups across threads), more a
/// multi-threaded one (see `WORKER_THREADS`).
pub fn main<F>(
    name: &'static str,
    settings: &ServiceSettings,
    build: impl FnOnce() -> F,
) -> ExitCode
where
    F: Future<Output = std::io::Result<Application>>,
{
    let mut runtime = if settings.worker_threads > 1 {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(settings.worker_threads.into());
        builder
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    // Log lines are written a batch at a time, when the runtime runs out of ready work.
    let runtime = match runtime
        .on_thread_park(telemetry::flush_logs)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{name}: could not start the Tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        // Inside the runtime: the OTLP exporter's connection runs on it.
        let telemetry = telemetry::init(name, settings.log_format, &settings.sampling);
        let code = run(build()).await;
        telemetry.shutdown().await;
        code
    })
}

async fn run(built: impl Future<Output = std::io::Result<Application>>) -> ExitCode {
    match built.await {
        Ok(application) => {
            let name = application.name;
            match application.run_until_stopped(shutdown::signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!(service = name, %error, "stopped");
                    ExitCode::FAILURE
                }
            }
        }
        Err(error) => {
            tracing::error!(%error, "could not start");
            ExitCode::FAILURE
        }
    }
}

/// Wraps a service's API routes with what every service has: the app-token check (when
/// enforced) on the API, the health routes (which skip it), problem bodies for unknown routes
/// and methods, the body size limit (a `Content-Length` over it refused before any byte of the
/// body is read), the request's deadline, and per request a span, its metrics and a log line.
pub fn with_common_routes(
    api: Router,
    sidecar: &SidecarClient,
    app_token: Option<Secret>,
) -> Router {
    let api = with_app_token(
        api.method_not_allowed_fallback(method_not_allowed),
        app_token,
    );
    api.merge(health::routes(sidecar.clone()))
        .fallback(no_such_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn(every_request))
}

/// What every request goes through, in one layer rather than one each: axum's `Router::layer`
/// wraps every route in each layer, and for each request clones a route's stack of layers
/// below each one of them (a boxed service per level), which `perf` showed as a good part of
/// the apps' own cost per request (docs/benchmark.md).
async fn every_request(request: Request, next: Next) -> Response {
    telemetry::observe_request(request, |request| async move {
        match declared_oversize(&request) {
            Some(refusal) => refusal,
            None => within_deadline(request, next).await,
        }
    })
    .await
}

/// A body whose `Content-Length` is over the limit gets 413 at once, and the connection is
/// closed: reading up to the limit first would wait on a client that declared ten gigabytes and
/// sends a byte a minute. Not tower-http's `RequestBodyLimit`: its 413 is plain text, without
/// the declared length, and leaves the connection open.
fn declared_oversize(request: &Request) -> Option<Response> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())?;
    (declared > MAX_BODY_BYTES as u64).then(|| {
        closing(
            crate::Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request body is larger than {MAX_BODY_BYTES} bytes: its Content-Length is {declared} bytes"
                ),
            )
            .into_response(),
        )
    })
}

/// A request not answered by its [`Deadline`] (`REQUEST_TIMEOUT`) gets 503. (A body still
/// arriving by then is [`crate::json::JsonBody`]'s 408.)
async fn within_deadline(request: Request, next: Next) -> Response {
    let Some(deadline) = request.extensions().get::<Deadline>().copied() else {
        return next.run(request).await;
    };
    match tokio::time::timeout_at(deadline.at, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                timeout_secs = deadline.timeout.as_secs_f64(),
                "a request was not answered within REQUEST_TIMEOUT"
            );
            crate::Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the request was not answered within {:?} (REQUEST_TIMEOUT)",
                    deadline.timeout
                ),
            )
            .into_response()
        }
    }
}

/// [`connections::serve_bounded`], and the app's sidecar awaited beside it: serves `router`
/// on `listener` with `limits` until `shutdown` completes, then stops accepting and lets
/// in-flight requests finish, for at most `limits.shutdown_timeout`.
///
/// Serving starts at once, so probes and the sidecar's own check of the app port succeed while
/// the sidecar is still starting. Meanwhile the sidecar is polled for up to `sidecar_wait`: if
/// it never answers, the app shuts down with an error rather than run without it.
pub async fn serve_awaiting_sidecar(
    listener: TcpListener,
    router: Router,
    sidecar: SidecarClient,
    sidecar_wait: Duration,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (gave_up_tx, gave_up_rx) = oneshot::channel::<SidecarNotReady>();
    tokio::spawn(async move {
        match sidecar.wait_until_ready(sidecar_wait).await {
            Ok(()) => tracing::info!(sidecar = sidecar.base_url(), "Dapr sidecar is ready"),
            Err(error) => drop(gave_up_tx.send(error)),
        }
    });

    let (failure_tx, mut failure_rx) = oneshot::channel::<SidecarNotReady>();
    let stop = async move {
        tokio::select! {
            () = shutdown => tracing::info!("shutting down: draining in-flight requests"),
            Ok(error) = gave_up_rx => {
                tracing::error!(%error, "shutting down: no sidecar");
                drop(failure_tx.send(error));
            }
        }
    };

    connections::serve_bounded(listener, router, limits, stop).await;
    match failure_rx.try_recv() {
        Ok(error) => Err(ServeError::SidecarNotReady(error)),
        Err(_) => Ok(()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    SidecarNotReady(SidecarNotReady),
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use axum::routing::post;
    use tower::ServiceExt;

    fn app(token: Option<&str>) -> Router {
        let sidecar =
            SidecarClient::new("http://127.0.0.1:9".into(), None, Duration::from_secs(1)).unwrap();
        let api = Router::new().route("/thing", post(|| async { "made" }));
        with_common_routes(api, &sidecar, token.map(|t| Secret::from(t.to_owned())))
    }

    async fn call(app: Router, method: &str, path: &str) -> (StatusCode, String, String) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn unknown_routes_and_methods_get_problem_bodies() {
        let (status, content_type, body) = call(app(None), "GET", "/nope").await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::NOT_FOUND, crate::problem::CONTENT_TYPE)
        );
        assert!(body.contains("there is no endpoint at /nope"));

        let (status, content_type, body) = call(app(None), "GET", "/thing").await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::METHOD_NOT_ALLOWED, crate::problem::CONTENT_TYPE)
        );
        assert!(body.contains("GET is not allowed on /thing"));
    }

    #[tokio::test]
    async fn the_app_token_guards_the_api_but_not_the_liveness_probe() {
        assert_eq!(
            call(app(Some("t")), "POST", "/thing").await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            call(app(Some("t")), "GET", "/healthz").await.0,
            StatusCode::OK
        );
        assert_eq!(call(app(None), "POST", "/thing").await.0, StatusCode::OK);
    }

    /// A mock sidecar that answers its health check, and a client for it (keep the mock).
    async fn answering_sidecar() -> (wiremock::MockServer, SidecarClient) {
        let sidecar = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::path("/v1.0/healthz/outbound"))
            .respond_with(wiremock::ResponseTemplate::new(204))
            .mount(&sidecar)
            .await;
        let client = SidecarClient::new(sidecar.uri(), None, Duration::from_secs(1)).unwrap();
        (sidecar, client)
    }

    #[tokio::test]
    async fn shutdown_lets_in_flight_requests_finish() {
        let (_sidecar, client) = answering_sidecar().await;
        let entered = std::sync::Arc::new(tokio::sync::Notify::new());
        let in_handler = entered.clone();
        let router = Router::new().route(
            "/slow",
            axum::routing::get(move || async move {
                in_handler.notify_one();
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(serve_awaiting_sidecar(
            listener,
            router,
            client,
            Duration::from_secs(5),
            Limits::default(),
            async {
                let _ = stop_rx.await;
            },
        ));

        let request = tokio::spawn(reqwest::get(format!("http://{address}/slow")));
        entered.notified().await;
        stop_tx.send(()).unwrap();
        let response = request.await.unwrap().unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.unwrap(), "done");
        assert!(server.await.unwrap().is_ok());
        assert!(
            reqwest::get(format!("http://{address}/slow"))
                .await
                .is_err(),
            "no longer accepting"
        );
    }

    /// SIGTERM: not ready at once, but new connections and requests are still served until the
    /// delay is over (here ended by a second signal, so nothing depends on the clock).
    #[tokio::test]
    async fn after_sigterm_the_app_serves_on_while_not_ready_until_the_delay_ends() {
        let (_sidecar, client) = answering_sidecar().await;
        let draining = Draining::default();
        let api = Router::new().route("/thing", post(|| async { "made" }));
        let router = with_common_routes(api, &client, None).layer(Extension(draining.clone()));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (term_tx, term_rx) = oneshot::channel::<()>();
        let (again_tx, again_rx) = oneshot::channel::<()>();
        let stopping = draining.clone();
        let server = tokio::spawn(serve_awaiting_sidecar(
            listener,
            router,
            client,
            Duration::from_secs(5),
            Limits::default(),
            async move {
                let stop = async {
                    let _ = term_rx.await;
                    Stop::Terminate
                };
                let again = async {
                    let _ = again_rx.await;
                    Stop::Terminate
                };
                shutdown::wind_down(stop, again, Duration::from_secs(3600), &stopping).await;
            },
        ));
        let http = reqwest::Client::new();
        let status = |path: &'static str, method: reqwest::Method| {
            // A new connection each time: the listener must still accept.
            let request = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap()
                .request(method, format!("http://{address}{path}"));
            async move { request.send().await.map(|r| r.status()) }
        };
        assert_eq!(
            status("/readyz", reqwest::Method::GET).await.unwrap(),
            StatusCode::OK
        );

        term_tx.send(()).unwrap();
        while !draining.is_draining() {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            status("/readyz", reqwest::Method::GET).await.unwrap(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status("/thing", reqwest::Method::POST).await.unwrap(),
            StatusCode::OK
        );
        assert_eq!(
            status("/healthz", reqwest::Method::GET).await.unwrap(),
            StatusCode::OK
        );
        assert!(!server.is_finished(), "still serving during the delay");

        again_tx.send(()).unwrap();
        assert!(server.await.unwrap().is_ok());
        assert!(
            http.get(format!("http://{address}/healthz"))
                .send()
                .await
                .is_err(),
            "no longer accepting once the delay is over"
        );
    }

    #[tokio::test]
    async fn the_drain_on_shutdown_is_bounded_by_the_shutdown_timeout() {
        let sidecar = wiremock::MockServer::start().await;
        let client = SidecarClient::new(sidecar.uri(), None, Duration::from_secs(1)).unwrap();
        let entered = std::sync::Arc::new(tokio::sync::Notify::new());
        let in_handler = entered.clone();
        let router = Router::new().route(
            "/stuck",
            axum::routing::get(move || async move {
                in_handler.notify_one();
                std::future::pending::<()>().await;
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let limits = Limits {
            shutdown_timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(serve_awaiting_sidecar(
            listener,
            router,
            client,
            Duration::from_secs(5),
            limits,
            async {
                let _ = stop_rx.await;
            },
        ));
        let request = tokio::spawn(reqwest::get(format!("http://{address}/stuck")));
        entered.notified().await;
        let stopping = std::time::Instant::now();
        stop_tx.send(()).unwrap();
        let served = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("serve returns once the shutdown timeout has passed");
        assert!(served.unwrap().is_ok());
        let took = stopping.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(2),
            "{took:?}"
        );
        // The request still in flight is cut off, not answered.
        assert!(request.await.unwrap().is_err());
    }

    #[tokio::test]
    async fn a_content_length_over_the_limit_is_413_before_the_body_is_read() {
        let request = Request::post("/thing")
            .header(header::CONTENT_LENGTH, "10000000000")
            .body(Body::from("x"))
            .unwrap();
        let response = app(None).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(response.headers()[header::CONNECTION], "close");
    }

    #[tokio::test]
    async fn a_request_past_its_deadline_is_503() {
        let sidecar =
            SidecarClient::new("http://127.0.0.1:9".into(), None, Duration::from_secs(1)).unwrap();
        let api = Router::new().route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        );
        let app = with_common_routes(api, &sidecar, None);
        let timeout = Duration::from_millis(200);
        let mut request = Request::post("/slow").body(Body::empty()).unwrap();
        request.extensions_mut().insert(Deadline {
            at: tokio::time::Instant::now() + timeout,
            timeout,
        });
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains("REQUEST_TIMEOUT"));
    }

    #[tokio::test]
    async fn without_a_sidecar_the_app_gives_up_after_the_wait() {
        let nobody = crate::testing::absent_sidecar(Duration::from_secs(1));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let result = serve_awaiting_sidecar(
            listener,
            Router::new(),
            nobody,
            Duration::from_millis(300),
            Limits::default(),
            std::future::pending(),
        )
        .await;
        assert!(
            matches!(result, Err(ServeError::SidecarNotReady(_))),
            "{result:?}"
        );
    }
}
