//! One `/call` → `/savestate` is one trace, across both apps and both real daprd, exported over
//! OTLP to a collector the test runs, with each span the child of the one that caused it.

use std::time::Duration;

use crate::support::TestPair;
use crate::support::collector::{Collector, ReceivedSpan};
use launcher::TopologyOptions;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::json;

/// The trace the test's own "caller" started, as a browser's or gateway's `traceparent` would.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";

/// One hop of the chain: what it is, and how to recognise its span.
type Hop<'a> = (&'a str, &'a dyn Fn(&ReceivedSpan) -> bool);

/// The scope daprd's spans carry; the apps' spans carry the app's name.
const DAPRD: &str = "dapr-diagnostics";

#[tokio::test]
async fn a_call_is_one_trace_from_the_frontend_through_both_sidecars_to_the_state_store() {
    let collector = Collector::start().await;
    let pair = TestPair::spawn_with(TopologyOptions {
        otlp_endpoint: Some(collector.endpoint()),
        ..TopologyOptions::default()
    })
    .await;

    let answer = pair
        .send(
            pair.http
                .post(format!("{}/call", pair.topology.frontend_url()))
                .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01"))
                .json(&json!({"appId": "backend", "method": "savestate", "payload": {"key": "traced", "data": 1}})),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);

    // Hop by hop, what each span is; each one's parent must be the span before it.
    let hops: [Hop; 7] = [
        ("the frontend serving /call", &|s| {
            s.service == "frontend"
                && s.scope == "frontend"
                && s.name == "POST /call"
                && s.kind == SpanKind::Server
        }),
        ("the frontend calling its sidecar", &|s| {
            s.service == "frontend"
                && s.scope == "frontend"
                && s.name == "POST /v1.0/invoke"
                && s.kind == SpanKind::Client
        }),
        ("the frontend's daprd invoking the backend", &|s| {
            s.service == "frontend" && s.scope == DAPRD && s.name == "CallLocal/backend/savestate"
        }),
        ("the backend's daprd taking the invocation", &|s| {
            s.service == "backend"
                && s.scope == DAPRD
                && s.name == "CallLocal/backend/savestate"
                && s.kind == SpanKind::Server
        }),
        ("the backend serving /savestate", &|s| {
            s.service == "backend"
                && s.scope == "backend"
                && s.name == "POST /savestate"
                && s.kind == SpanKind::Server
        }),
        ("the backend saving through its sidecar", &|s| {
            s.service == "backend"
                && s.scope == "backend"
                && s.name == "POST /v1.0/state"
                && s.kind == SpanKind::Client
        }),
        ("the backend's daprd saving to the state store", &|s| {
            s.service == "backend" && s.scope == DAPRD && s.name == "/v1.0/state/statestore"
        }),
    ];
    let in_trace = |s: &&ReceivedSpan| s.trace_id == TRACE_ID;
    // Four processes export on their own schedules (about a second after a span ends, with
    // the launcher's batch delay): wait until every hop has arrived.
    let spans = collector
        .wait_for(Duration::from_secs(15), |spans| {
            hops.iter()
                .all(|(_, is)| spans.iter().filter(in_trace).any(is))
        })
        .await;
    let trace: Vec<&ReceivedSpan> = spans.iter().filter(in_trace).collect();
    let chain: Vec<&ReceivedSpan> = hops
        .iter()
        .map(|(description, is)| {
            trace.iter().copied().find(|s| is(s)).unwrap_or_else(|| {
                panic!("no span for {description} in trace {TRACE_ID}: {trace:#?}")
            })
        })
        .collect();
    assert_eq!(
        chain[0].parent_span_id, CALLER_SPAN_ID,
        "the frontend continues the caller's trace"
    );
    for hop in chain.windows(2) {
        assert_eq!(
            hop[1].parent_span_id, hop[0].span_id,
            "{:?} should be the child of {:?}",
            hop[1].name, hop[0].name
        );
    }

    // A plain save is one state operation: nothing reads it back.
    let state_calls: Vec<&str> = trace
        .iter()
        .filter(|s| s.scope == "backend" && s.kind == SpanKind::Client)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(state_calls, ["POST /v1.0/state"]);

    // A log line of each app leads to the trace: the request line carries the ids of the
    // app's server span.
    for (app, server_span) in [("frontend", chain[0]), ("backend", chain[4])] {
        let carries_the_trace = |line: &serde_json::Value| {
            line["message"] == "request"
                && line["trace_id"] == TRACE_ID
                && line["span_id"] == server_span.span_id.as_str()
        };
        let lines = pair.log_lines(app, carries_the_trace).await;
        assert!(
            lines.iter().any(carries_the_trace),
            "no {app} log line with trace id {TRACE_ID} and span id {}: {lines:#?}",
            server_span.span_id
        );
    }
}

#[tokio::test]
async fn each_app_counts_its_requests_per_route_on_its_metrics_port() {
    let pair = TestPair::spawn().await;
    let answer = pair.save("counted", json!(1)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);

    for (service, route) in [
        (&pair.topology.frontend, "/call"),
        (&pair.topology.backend, "/savestate"),
    ] {
        let scrape = pair
            .send(pair.http.get(format!(
                "http://127.0.0.1:{}/metrics",
                service.app_metrics_port
            )))
            .await;
        assert_eq!(scrape.status, 200, "{}", scrape.text);
        let counted = format!(
            r#"http_server_requests_total{{method="POST",route="{route}",status_class="2xx"}} 1"#
        );
        assert!(
            scrape.text.contains(&counted),
            "{} /metrics lacks {counted}: {}",
            service.app_id,
            scrape.text
        );
        assert!(
            scrape
                .text
                .contains("http_server_request_duration_seconds_bucket")
        );
    }
}
