//! `[mirror] dir`: the public page, the v2 JSON, the feeds, `/theme.css` and every incident
//! page written to a directory whenever they change, each with its gzip and brotli forms
//! beside it (`.gz`, `.br`), so a plain web server or a CDN can serve the last state even
//! when no Pharos is up (SPEC §8).
//!
//! Paths follow the URLs: `/` is `index.html`, `/history` is `history.html`,
//! `/incidents/{id}` is `incidents/{id}.html`, the rest keep their names
//! (`api/v2/summary.json`, `history.atom`). Each file is written to a temporary name and
//! renamed, so a reader never sees half of one; a body that did not change is not written
//! again.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::snapshot::{Entry, Resource, Snapshot};

/// A directory kept in step with the published snapshot.
#[derive(Debug)]
pub struct Mirror {
    dir: PathBuf,
    /// The ETag of what each file (by its path under `dir`) holds now.
    written: HashMap<PathBuf, String>,
}

impl Mirror {
    /// The mirror in `dir`, created if missing; fails when it cannot be written.
    pub fn open(dir: &Path) -> io::Result<Mirror> {
        std::fs::create_dir_all(dir)?;
        // Fail at start, not at the first change: write and remove a file.
        let probe = dir.join(".pharos-write-test");
        std::fs::write(&probe, b"")?;
        std::fs::remove_file(&probe)?;
        Ok(Mirror {
            dir: dir.to_path_buf(),
            written: HashMap::new(),
        })
    }

    /// Writes what changed in `snapshot`; returns how many files it wrote. Incident pages go
    /// first, so a page or list that links to one never does before it exists.
    pub fn write(&mut self, snapshot: &Snapshot) -> io::Result<usize> {
        let mut count = 0;
        for (id, page) in snapshot.incident_pages() {
            count += self.put(&PathBuf::from(format!("incidents/{id}.html")), page)?;
        }
        for resource in Resource::ALL {
            count += self.put(&file_for(resource.path()), snapshot.get(resource))?;
        }
        Ok(count)
    }

    /// Writes `entry` (and its compressed forms) at `rel` unless it holds it already.
    fn put(&mut self, rel: &Path, entry: &Entry) -> io::Result<usize> {
        let etag = entry.etag_str();
        if self.written.get(rel).is_some_and(|e| e == etag) {
            return Ok(0);
        }
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        write_atomic(&path, &entry.body)?;
        let mut count = 1;
        let encoded = entry.encoded();
        for (suffix, form) in [(".gz", &encoded.gzip), (".br", &encoded.brotli)] {
            let mut name = path.clone().into_os_string();
            name.push(suffix);
            let name = PathBuf::from(name);
            match form {
                Some((bytes, _)) => {
                    write_atomic(&name, bytes)?;
                    count += 1;
                }
                // Too small to compress: no stale compressed copy may outlive the body.
                None => match std::fs::remove_file(&name) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                },
            }
        }
        self.written.insert(rel.to_path_buf(), etag.to_owned());
        Ok(count)
    }
}

/// Where the body served at URL `path` goes under the mirror directory.
fn file_for(path: &str) -> PathBuf {
    match path {
        "/" => PathBuf::from("index.html"),
        p if Path::new(p).extension().is_none() => PathBuf::from(format!("{}.html", &p[1..])),
        p => PathBuf::from(&p[1..]),
    }
}

/// Writes `bytes` to `path` by way of a temporary file in the same directory and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.to_path_buf().into_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_follow_the_urls() {
        assert_eq!(file_for("/"), PathBuf::from("index.html"));
        assert_eq!(file_for("/history"), PathBuf::from("history.html"));
        assert_eq!(file_for("/history.atom"), PathBuf::from("history.atom"));
        assert_eq!(
            file_for("/api/v2/summary.json"),
            PathBuf::from("api/v2/summary.json")
        );
        assert_eq!(
            file_for("/api/v2/scheduled-maintenances/active.json"),
            PathBuf::from("api/v2/scheduled-maintenances/active.json")
        );
        assert_eq!(file_for("/theme.css"), PathBuf::from("theme.css"));
    }
}
