//! A string that must never reach a log line: admin tokens and the like.

/// A secret value from the configuration (admin tokens, passwords, keys): the domain's
/// [`pharos_domain::Secret`], whose `Debug` and `Display` print `[redacted]`, so a secret
/// inside a logged `Config` never leaks; `expose` is the one way to read it.
pub use pharos_domain::Secret;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{:?}", vec![s.clone()]), "[[redacted]]");
        assert_eq!(s.expose(), "hunter2");
    }
}
