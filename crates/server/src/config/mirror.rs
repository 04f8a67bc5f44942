//! `[mirror]`: a directory the public page, the v2 JSON and the feeds are written to on every
//! change (see `pharos_web::mirror`).
//!
//! ```toml
//! [mirror]
//! dir = "/var/www/status"   # created if missing; must be writable by pharos
//! ```

use std::path::PathBuf;

use super::walk::{Cx, Section};

/// Reads `[mirror]`: `dir`, required and not blank.
pub(super) fn mirror(cx: &mut Cx<'_>, s: Section<'_>) -> Option<PathBuf> {
    s.check_keys(cx, &["dir"]);
    let Some(f) = s.field("dir") else {
        s.missing(cx, "dir");
        return None;
    };
    let dir = cx.string(&f)?;
    if dir.text.trim().is_empty() {
        cx.error(
            dir.at,
            "`dir` must name a directory, like \"/var/www/status\"",
        );
        return None;
    }
    Some(PathBuf::from(dir.text))
}
