//! A refusal of the command line's own (an argument, a file, a configuration): what was asked
//! cannot be done, nothing was changed, and the hint says what to do instead.

use std::fmt;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Refused {
    reason: String,
    hint: String,
}

impl Refused {
    pub(crate) fn new(reason: impl Into<String>, hint: impl Into<String>) -> Refused {
        Refused {
            reason: reason.into(),
            hint: hint.into(),
        }
    }

    /// What to do instead.
    pub(crate) fn hint(&self) -> &str {
        &self.hint
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Refused {}
