//! What each admin route requires (SPEC §9): one table, read by the token check for every
//! request, and tested against the OpenAPI document so no route goes without a row.
//!
//! Reading anything is [`Permission::Read`], which every role and scope has. Writes follow
//! the SPEC's rows: incidents, their updates, notes, postmortems and maintenances are
//! [`Permission::Communicate`]; overrides are [`Permission::Respond`]; removing subscribers and retrying
//! dead deliveries is [`Permission::Operate`]. Alerts and changes sent by other systems are
//! [`Permission::Ingest`], which responders and above have, and an `ingest` token has alone, so
//! a deploy pipeline or an Alertmanager holds a token that can do nothing else.

use axum::http::Method;
use pharos_domain::access::Permission;

/// Every protected route: method, path as registered, and the permission it needs.
pub(crate) const ROUTES: &[(&str, &str, Permission)] = &[
    ("GET", "/api/v1/alerts", Permission::Read),
    ("GET", "/api/v1/changes", Permission::Read),
    ("POST", "/api/v1/changes", Permission::Ingest),
    ("GET", "/api/v1/changes/{id}", Permission::Read),
    ("GET", "/api/v1/cluster", Permission::Read),
    ("GET", "/api/v1/components", Permission::Read),
    (
        "PUT",
        "/api/v1/components/{id}/override",
        Permission::Respond,
    ),
    (
        "DELETE",
        "/api/v1/components/{id}/override",
        Permission::Respond,
    ),
    ("GET", "/api/v1/coverage", Permission::Read),
    ("GET", "/api/v1/deliveries", Permission::Read),
    ("POST", "/api/v1/deliveries/{id}/retry", Permission::Operate),
    ("GET", "/api/v1/incidents", Permission::Read),
    ("POST", "/api/v1/incidents", Permission::Communicate),
    ("GET", "/api/v1/incidents/{id}", Permission::Read),
    ("PATCH", "/api/v1/incidents/{id}", Permission::Communicate),
    (
        "POST",
        "/api/v1/incidents/{id}/updates",
        Permission::Communicate,
    ),
    (
        "POST",
        "/api/v1/incidents/{id}/notes",
        Permission::Communicate,
    ),
    (
        "POST",
        "/api/v1/incidents/{id}/acknowledge",
        Permission::Respond,
    ),
    ("GET", "/api/v1/incidents/{id}/postmortem", Permission::Read),
    (
        "PUT",
        "/api/v1/incidents/{id}/postmortem",
        Permission::Communicate,
    ),
    (
        "POST",
        "/api/v1/incidents/{id}/postmortem/publish",
        Permission::Communicate,
    ),
    ("POST", "/api/v1/ingest/alertmanager", Permission::Ingest),
    ("POST", "/api/v1/ingest/grafana", Permission::Ingest),
    ("GET", "/api/v1/locations", Permission::Read),
    ("GET", "/api/v1/maintenances", Permission::Read),
    ("POST", "/api/v1/maintenances", Permission::Communicate),
    ("GET", "/api/v1/maintenances/{id}", Permission::Read),
    (
        "PATCH",
        "/api/v1/maintenances/{id}",
        Permission::Communicate,
    ),
    (
        "POST",
        "/api/v1/maintenances/{id}/updates",
        Permission::Communicate,
    ),
    ("GET", "/api/v1/monitors", Permission::Read),
    ("GET", "/api/v1/monitors/{id}", Permission::Read),
    ("GET", "/api/v1/reports", Permission::Read),
    ("GET", "/api/v1/self-check", Permission::Read),
    ("GET", "/api/v1/subscribers", Permission::Read),
    ("DELETE", "/api/v1/subscribers/{id}", Permission::Operate),
    // Tokens: the handlers narrow these to one's own tokens without `administer`, and only a
    // configured token mints.
    ("GET", "/api/v1/tokens", Permission::Read),
    ("POST", "/api/v1/tokens", Permission::Read),
    ("DELETE", "/api/v1/tokens/{id}", Permission::Read),
    ("GET", "/api/v1/audit", Permission::Administer),
    ("GET", "/api/v1/users", Permission::Read),
    ("POST", "/api/v1/users", Permission::Administer),
    ("PATCH", "/api/v1/users/{id}", Permission::Administer),
    (
        "POST",
        "/api/v1/users/{id}/sign-out",
        Permission::Administer,
    ),
];

/// The permission `method` on the route registered as `path` needs; `None` for a route not
/// in the table, which the token check refuses (a route added without a row is closed, not
/// open).
pub(crate) fn required(method: &Method, path: &str) -> Option<Permission> {
    // HEAD is a GET without the body.
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    ROUTES
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, permission)| *permission)
}

/// Whether the table has a row for the route registered as `path`, for any method: a
/// request with another method is then the router's 405 to give (every method the route has
/// is in the table, which the route-by-route test checks against the document).
pub(crate) fn is_listed(path: &str) -> bool {
    ROUTES.iter().any(|(_, p, _)| *p == path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn each_route_has_one_row() {
        for (i, (m, p, _)) in ROUTES.iter().enumerate() {
            assert!(
                !ROUTES[..i].iter().any(|(m2, p2, _)| m2 == m && p2 == p),
                "{m} {p} is listed twice"
            );
        }
    }

    #[test]
    fn head_is_read_like_get_and_unknown_routes_have_no_permission() {
        assert_eq!(
            required(&Method::HEAD, "/api/v1/incidents"),
            Some(Permission::Read)
        );
        assert_eq!(required(&Method::POST, "/api/v1/nowhere"), None);
    }
}
