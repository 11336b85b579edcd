//! `dapr-pair describe`'s backend against the real router: what it describes is what it serves.

use std::time::Duration;

use backend::startup::app;
use backend::state_store::{Consistency, StateClient};
use service_kit::settings::Secret;
use service_kit::testing::{absent_sidecar, routes_disagreeing};

const APP_TOKEN: &str = "the-app-token";

#[tokio::test]
async fn every_described_route_and_no_other_method_is_served() {
    let sidecar = absent_sidecar(Duration::from_millis(200));
    let store = StateClient::new(sidecar.clone(), "statestore".into(), Consistency::Strong);
    let router = app(store, &sidecar, Some(Secret::from(APP_TOKEN.to_owned())));
    let routes: Vec<_> = backend::description::describe()
        .routes
        .iter()
        .map(|described| described.route)
        .collect();
    let problems = routes_disagreeing(&router, &routes, |request| {
        request
            .header("dapr-api-token", APP_TOKEN)
            .header("content-type", "application/json")
    })
    .await;
    assert!(problems.is_empty(), "{problems:#?}");
}
