//! `GET /api/v1/cluster`: which node answers, which one leads, and every node the cluster
//! knows (SPEC §8). Served by every node itself (never forwarded), behind the admin token.
//!
//! The answer comes from a [`ClusterInfo`] the server supplies: on a cluster, read from the
//! database's node rows and lease; on a single node, just this node, leading.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::State;
use axum::middleware;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth;
use super::error::ApiError;
use super::{AdminToken, PREFIX};

/// The cluster as one node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ClusterStatus {
    /// This node's id.
    pub node: String,
    /// The leader's id, `null` while none is elected.
    pub leader: Option<String>,
    /// The nodes, by id.
    pub nodes: Vec<ClusterNode>,
}

/// One node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ClusterNode {
    /// Its id.
    pub id: String,
    /// The URL the other nodes reach it at.
    pub address: String,
    /// `leader`, `follower`, or `offline` for a node not seen for three lease lengths.
    pub role: String,
    /// When it last said it was alive.
    #[schema(value_type = String, format = DateTime)]
    pub last_seen_at: DateTime<Utc>,
}

/// A future of a [`ClusterStatus`], or why it could not be read.
pub type ClusterStatusFuture = Pin<Box<dyn Future<Output = Result<ClusterStatus, String>> + Send>>;

/// Reads the cluster's state on demand.
pub type ClusterInfo = Arc<dyn Fn() -> ClusterStatusFuture + Send + Sync>;

/// The router of `GET /api/v1/cluster`, behind the admin tokens like every admin route.
pub fn router(tokens: Vec<AdminToken>, info: ClusterInfo) -> Router {
    // Only the configured tokens: a follower has no engine to look API tokens up with.
    let auth = auth::AuthState::new(Arc::from(tokens), None);
    Router::new()
        .route(&format!("{PREFIX}/cluster"), get(status))
        .route_layer(middleware::from_fn_with_state(auth, auth::require_token))
        .with_state(info)
}

/// The operation's place in the admin API's OpenAPI document (the route itself is served
/// by every node apart from the admin router; see [`router`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(status), components(schemas(ClusterStatus, ClusterNode)))]
pub(crate) struct ClusterDoc;

/// Which node answers, which leads, and every node of the cluster.
#[utoipa::path(
    get,
    path = "/api/v1/cluster",
    operation_id = "get_cluster",
    tag = "cluster",
    responses(
        (status = 200, description = "This node, the leader (null during an election) and every node with its role: leader, follower, or offline when not seen for three failover periods", body = ClusterStatus),
        (status = 503, description = "The database could not be read", body = super::error::ErrorBody)
    )
)]
async fn status(State(info): State<ClusterInfo>) -> Result<Json<ClusterStatus>, ApiError> {
    match info().await {
        Ok(status) => Ok(Json(status)),
        Err(error) => {
            tracing::warn!(%error, "reading the cluster's state failed");
            Err(ApiError::unavailable(
                "the cluster's state could not be read; the details are in Pharos's log",
            ))
        }
    }
}
