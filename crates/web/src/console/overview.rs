//! The console's overview (`GET /console`): who is signed in, the open incidents, the
//! components.

use axum::response::Response;
use axum::Extension;
use http::StatusCode;

use super::{html, pages, Ctx, Signed};
use axum::extract::State;

/// The overview page.
pub(super) async fn page(State(ctx): State<Ctx>, Extension(signed): Extension<Signed>) -> Response {
    html(
        StatusCode::OK,
        pages::home(&ctx.control, &signed),
    )
}
