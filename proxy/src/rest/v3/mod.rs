//! The Confluent REST Proxy v3 API (`/v3/clusters/...`, `application/json`), served on the REST
//! listeners beside v2: the routes, and one file per resource area. Envelopes, links and the
//! cluster check are `envelope.rs`'s; errors answer through `error.rs` in Confluent's shape.

mod acls;
mod clusters;
mod configs;
pub mod envelope;
pub mod error;
mod groups;
mod partitions;
mod produce_record;
mod reassignments;
mod records;
mod records_batch;
mod schema_data;
mod topics;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use crate::rest::App;

/// The v3 routes (documented in `openapi::V3`).
pub fn routes() -> Router<Arc<App>> {
    const CLUSTER: &str = "/v3/clusters/{cluster_id}";
    const TOPIC: &str = "/v3/clusters/{cluster_id}/topics/{topic}";
    const PARTITION: &str = "/v3/clusters/{cluster_id}/topics/{topic}/partitions/{partition}";
    const GROUP: &str = "/v3/clusters/{cluster_id}/consumer-groups/{group}";
    const CONSUMER: &str = "/v3/clusters/{cluster_id}/consumer-groups/{group}/consumers/{consumer}";
    Router::new()
        .route("/v3/clusters", get(clusters::list_clusters))
        .route(CLUSTER, get(clusters::get_cluster))
        .route(
            &format!("{CLUSTER}/acls"),
            get(acls::list_acls)
                .post(acls::create_acl)
                .delete(acls::delete_acls),
        )
        .route(&format!("{CLUSTER}/acls:batch"), post(acls::create_acls))
        .route(&format!("{CLUSTER}/brokers"), get(clusters::list_brokers))
        .route(
            &format!("{CLUSTER}/brokers/{{broker_id}}"),
            get(clusters::get_broker),
        )
        .route(
            &format!("{CLUSTER}/brokers/{{broker_id}}/partition-replicas"),
            get(partitions::broker_replicas),
        )
        .route(
            &format!("{CLUSTER}/brokers/{{broker_id}}/configs"),
            get(configs::list_broker_configs),
        )
        .route(
            &format!("{CLUSTER}/brokers/{{broker_id}}/configs/{{name}}"),
            get(configs::get_broker_config)
                .put(configs::put_broker_config)
                .delete(configs::delete_broker_config),
        )
        .route(
            &format!("{CLUSTER}/brokers/{{broker_id}}/configs:alter"),
            post(configs::alter_broker_configs),
        )
        .route(
            &format!("{CLUSTER}/broker-configs"),
            get(configs::list_cluster_configs),
        )
        .route(
            &format!("{CLUSTER}/broker-configs/{{name}}"),
            get(configs::get_cluster_config)
                .put(configs::put_cluster_config)
                .delete(configs::delete_cluster_config),
        )
        .route(
            &format!("{CLUSTER}/broker-configs:alter"),
            post(configs::alter_cluster_configs),
        )
        .route(
            &format!("{TOPIC}/configs"),
            get(configs::list_topic_configs),
        )
        .route(
            &format!("{TOPIC}/configs/{{name}}"),
            get(configs::get_topic_config)
                .put(configs::put_topic_config)
                .delete(configs::delete_topic_config),
        )
        .route(
            &format!("{TOPIC}/configs:alter"),
            post(configs::alter_topic_configs),
        )
        .route(
            &format!("{CLUSTER}/topics"),
            get(topics::list_topics).post(topics::create_topic),
        )
        .route(
            TOPIC,
            get(topics::get_topic)
                .patch(topics::update_topic)
                .delete(topics::delete_topic),
        )
        .route(
            &format!("{TOPIC}/records"),
            axum::routing::post(records::produce),
        )
        .route(
            &format!("{TOPIC}/records:batch"),
            axum::routing::post(records_batch::produce_batch),
        )
        .route(
            &format!("{TOPIC}/partitions"),
            get(partitions::list_partitions),
        )
        .route(PARTITION, get(partitions::get_partition))
        .route(&format!("{PARTITION}/offset"), get(partitions::get_offsets))
        .route(
            &format!("{PARTITION}/reassignment"),
            get(reassignments::get_reassignments),
        )
        .route(
            &format!("{PARTITION}/replicas"),
            get(partitions::list_replicas),
        )
        .route(
            &format!("{PARTITION}/replicas/{{broker_id}}"),
            get(partitions::get_replica),
        )
        .route(
            &format!("{CLUSTER}/consumer-groups"),
            get(groups::list_groups),
        )
        .route(GROUP, get(groups::get_group))
        .route(&format!("{GROUP}/consumers"), get(groups::list_consumers))
        .route(CONSUMER, get(groups::get_consumer))
        .route(
            &format!("{CONSUMER}/assignments"),
            get(groups::list_assignments),
        )
        .route(
            &format!("{CONSUMER}/assignments/{{topic}}/partitions/{{partition}}"),
            get(groups::get_assignment),
        )
        .route(&format!("{GROUP}/lags"), get(groups::list_lags))
        .route(
            &format!("{GROUP}/lags/{{topic}}/partitions/{{partition}}"),
            get(groups::get_lag),
        )
        .route(&format!("{GROUP}/lag-summary"), get(groups::lag_summary))
}
