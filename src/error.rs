//! The crate's one error type.

use std::fmt;

/// What went wrong, for programs that react differently to different failures.
///
/// The [`Error`]'s message names the parameter and its value; the kind is for matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A pooling parameter is out of its domain (zero kernel, padding too large, `p <= 0`, ...).
    InvalidParameter,
    /// The geometry gives no output, or a window lies wholly in padding.
    InvalidGeometry,
    /// A tensor's shape or strides are invalid, or do not match the plan.
    InvalidShape,
    /// A buffer is shorter than its shape and strides need.
    BufferTooSmall,
    /// A byte buffer is not aligned for the element type.
    Misaligned,
    /// An element count, offset or index does not fit its integer type.
    Overflow,
    /// The requested ISA tier is not available on this CPU (or this build).
    IsaUnavailable,
    /// An environment variable read by the crate has a value it does not understand.
    InvalidEnvironment,
    /// A combination the crate does not implement (yet), such as stochastic global pooling.
    Unsupported,
    /// A malformed or unsupported `.npy` file.
    Npy,
    /// An I/O error (only from the `.npy` helpers).
    Io,
}

/// The error returned by every fallible function of the crate.
///
/// Its `Display` is one line naming the offending parameter and its value, e.g.
/// `stride[1] = 0: must be at least 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// `name = value: reason`, the usual shape of a parameter error.
    pub(crate) fn param(name: impl fmt::Display, value: impl fmt::Display, reason: &str) -> Self {
        Self::new(
            ErrorKind::InvalidParameter,
            format!("{name} = {value}: {reason}"),
        )
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, e.to_string())
    }
}

/// Shorthand used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;
