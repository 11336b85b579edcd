//! `dapr-pair describe`'s frontend against the real router in each auth mode: what it
//! describes is what it serves, and a route of one mode only is not there in the others.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use service_kit::testing::routes_disagreeing;
use support::{APP_TOKEN, router};
use tower::ServiceExt;

#[tokio::test]
async fn every_described_route_and_no_other_method_is_served_in_its_modes() {
    let description = frontend::description::describe();
    for mode in description.required_settings.keys() {
        let router = router(mode);
        let (here, elsewhere): (Vec<_>, Vec<_>) =
            description.routes.iter().partition(|described| {
                described
                    .auth_modes
                    .is_none_or(|modes| modes.contains(mode))
            });
        let here: Vec<_> = here.iter().map(|described| described.route).collect();
        let problems = routes_disagreeing(&router, &here, |request| {
            request
                .header("dapr-api-token", APP_TOKEN)
                .header("host", "pair.example.com")
                .header("content-type", "application/json")
                .header("sec-fetch-site", "same-origin")
        })
        .await;
        assert!(problems.is_empty(), "AUTH_MODE={mode}: {problems:#?}");
        for described in elsewhere {
            let route = described.route;
            let request = Request::builder()
                .method(route.methods[0].clone())
                .uri(route.path)
                .header("dapr-api-token", APP_TOKEN)
                .body(Body::empty())
                .unwrap();
            let status = router.clone().oneshot(request).await.unwrap().status();
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "AUTH_MODE={mode}: {}",
                route.path
            );
        }
    }
}
