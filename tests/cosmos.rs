//! What only Cosmos DB shows: the documents the shipped component writes, read straight from
//! the Cosmos DB protocol server, and the parts of the protocol Dapr uses beyond one item.
//! (Everything in `pair.rs` runs against Cosmos DB too.)

use crate::support::TestPair;
use launcher::{CosmosAuth, StateStore};
use serde_json::{Value, json};

#[tokio::test]
async fn each_key_is_one_document_holding_the_value_as_json() {
    let pair = TestPair::spawn_on(StateStore::Cosmos(CosmosAuth::ManagedIdentity)).await;
    for (key, data) in [
        ("k", json!("123")),
        ("person", json!({"name": "geert", "tags": [1, 2]})),
    ] {
        let saved = pair.save_returning_etag(key, data.clone()).await;
        assert_eq!(saved.status, 200, "{}", saved.text);

        let document = pair.cosmos_document(key).await.expect("a document");
        // Dapr's key for app id `backend`, also its partition key.
        assert_eq!(document["id"], format!("backend||{key}"));
        assert_eq!(document["partitionKey"], format!("backend||{key}"));
        // A string stays a string and an object an object: not base64, not JSON in a string.
        assert_eq!(document["value"], data);
        assert_eq!(document["isBinary"], false);
        // The backend's ETag is the document's, whose own quotes make the header's.
        assert_eq!(
            document["_etag"].as_str(),
            saved.headers["etag"].to_str().ok(),
            "{document}"
        );

        let read = pair.read(key).await;
        assert_eq!(read.status, 200, "{}", read.text);
        assert_eq!(read.json(), data);
    }

    let deleted = pair
        .call(json!({"appId": "backend", "method": "state/k", "httpMethod": "DELETE"}))
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    assert_eq!(pair.cosmos_document("k").await, None);
    pair.read("k")
        .await
        .assert_problem(404, "no value for key 'k'");
}

#[tokio::test]
async fn a_stale_if_match_is_412_and_leaves_the_document_alone() {
    let pair = TestPair::spawn_on(StateStore::Cosmos(CosmosAuth::ManagedIdentity)).await;
    let first = pair.save_returning_etag("counter", json!(1)).await;
    let second = pair.save_returning_etag("counter", json!(2)).await;
    let stored = pair.cosmos_document("counter").await.expect("a document");

    let call = |if_match: String, data: i64| {
        let payload = json!({"key": "counter", "data": data}).to_string();
        pair.http
            .post(format!("{}/call", pair.topology.frontend_url()))
            .header("If-Match", if_match)
            .json(&json!({"appId": "backend", "method": "savestate", "payload": payload}))
    };
    pair.send(call(format!("\"{}\"", first.etag()), 3))
        .await
        .assert_problem(412, "ETag does not match");
    assert_eq!(pair.cosmos_document("counter").await, Some(stored));

    let answer = pair.send(call(format!("\"{}\"", second.etag()), 3)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let updated = pair.cosmos_document("counter").await.expect("a document");
    assert_eq!(updated["value"], 3);
    assert_eq!(
        updated["_etag"].as_str(),
        answer.headers["etag"].to_str().ok()
    );
}

/// Dapr's transactions are Cosmos DB transactional batches in one partition, and its queries
/// with a partition key are scoped to that partition: both work against the protocol server
/// (with the test server's fixes) through the backend's own sidecar.
#[tokio::test]
async fn transactions_are_atomic_and_queries_keep_to_their_partition() {
    let pair = TestPair::spawn_on(StateStore::Cosmos(CosmosAuth::ManagedIdentity)).await;
    let transaction = |operations: Value| {
        pair.sidecar_api(reqwest::Method::POST, "/v1.0/state/statestore/transaction")
            .json(&json!({"operations": operations, "metadata": {"partitionKey": "tx"}}))
    };
    let upsert = |key: &str, color: &str| json!({"operation": "upsert", "request": {"key": key, "value": {"color": color}}});

    let answer = pair
        .send(transaction(json!([
            upsert("a", "red"),
            upsert("b", "blue")
        ])))
        .await;
    assert_eq!(answer.status, 204, "{}", answer.text);
    let a = pair
        .cosmos_document_in("backend||a", "tx")
        .await
        .expect("a");
    assert_eq!(a["value"], json!({"color": "red"}));
    assert!(pair.cosmos_document_in("backend||b", "tx").await.is_some());

    // One operation fails (a stale ETag), so none is applied.
    let stale_delete = json!({"operation": "delete", "request": {"key": "a", "etag": "\"stale\""}});
    let answer = pair
        .send(transaction(json!([upsert("c", "green"), stale_delete])))
        .await;
    assert!(answer.status >= 400, "{} {}", answer.status, answer.text);
    assert_eq!(pair.cosmos_document_in("backend||c", "tx").await, None);
    assert_eq!(pair.cosmos_document_in("backend||a", "tx").await, Some(a));

    // The same value in another partition stays out of a query on partition `tx`.
    assert_eq!(
        pair.save("elsewhere", json!({"color": "blue"}))
            .await
            .status,
        200
    );
    let query = pair
        .sidecar_api(
            reqwest::Method::POST,
            "/v1.0-alpha1/state/statestore/query?metadata.partitionKey=tx",
        )
        .json(&json!({"filter": {"EQ": {"color": "blue"}}}));
    let answer = pair.send(query).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let results = answer.json()["results"].clone();
    let keys: Vec<&str> = results
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|result| result["key"].as_str())
        .collect();
    assert_eq!(keys, ["b"], "{}", answer.text);
}

/// The fallback variant: daprd reads the account key from a secret store, and the account,
/// which then takes only requests signed with that key, accepts what it signs.
#[tokio::test]
async fn the_master_key_variant_signs_in_with_the_key_from_its_secret_store() {
    let pair = TestPair::spawn_on(StateStore::Cosmos(CosmosAuth::MasterKey)).await;
    let saved = pair.save("k", json!("v")).await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    let document = pair.cosmos_document("k").await.expect("a document");
    assert_eq!(document["value"], "v");
    let read = pair.read("k").await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.json(), json!("v"));
}
