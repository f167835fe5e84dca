//! Printing an error with its causes, once.
//!
//! Error types in tidemark keep their cause as `#[source]` and do not repeat its text in their
//! own message; whoever prints an error (the CLI, a log line) prints the whole chain with this.

use std::fmt;

/// Displays an error and every cause, `: `-separated:
/// `merging into public.t: connection lost: broken pipe`.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("reading the config")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn prints_every_cause_once() {
        let e = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(
            ErrorChain(&e).to_string(),
            "reading the config: disk on fire"
        );
    }
}
