//! The crate's umbrella error: one enum a caller can `?` every core error into.
//!
//! Each family of operations has its own error type in its own module (as redb does); this type
//! only wraps them, so `Display` text always comes from the family that knows the cause.

use crate::frame::EncodeError;
use crate::group_commit::{GroupCommitError, Poisoned};
use crate::header::HeaderError;
use crate::scan::RecoveryError;
use crate::watermark::WatermarkError;
use core::fmt;

/// Any error from `walden-core`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A file header could not be decoded.
    Header(HeaderError),
    /// A record could not be encoded.
    Encode(EncodeError),
    /// Recovery refused the log.
    Recovery(RecoveryError),
    /// A watermark update would break `durable <= written <= current`.
    Watermark(WatermarkError),
    /// The group-commit protocol was misused.
    GroupCommit(GroupCommitError),
    /// A sync failed earlier; the log must be reopened.
    Poisoned(Poisoned),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Header(err) => err.fmt(f),
            Error::Encode(err) => err.fmt(f),
            Error::Recovery(err) => err.fmt(f),
            Error::Watermark(err) => err.fmt(f),
            Error::GroupCommit(err) => err.fmt(f),
            Error::Poisoned(err) => err.fmt(f),
        }
    }
}

macro_rules! wrap {
    ($($variant:ident($ty:ty)),* $(,)?) => {$(
        impl From<$ty> for Error {
            fn from(err: $ty) -> Error {
                Error::$variant(err)
            }
        }
    )*};
}

wrap!(
    Header(HeaderError),
    Encode(EncodeError),
    Recovery(RecoveryError),
    Watermark(WatermarkError),
    GroupCommit(GroupCommitError),
    Poisoned(Poisoned),
);

#[cfg(feature = "std")]
mod std_impls {
    extern crate std;

    impl std::error::Error for super::Error {}
    impl std::error::Error for crate::HeaderError {}
    impl std::error::Error for crate::EncodeError {}
    impl std::error::Error for crate::RecoveryError {}
    impl std::error::Error for crate::WatermarkError {}
    impl std::error::Error for crate::InputError {}
    impl std::error::Error for crate::PoisonedError {}
    impl std::error::Error for crate::GroupCommitError {}
    impl std::error::Error for crate::Poisoned {}
    impl std::error::Error for crate::Poison {}
    impl std::error::Error for crate::MemError {}
    impl<E: core::fmt::Debug + core::fmt::Display> std::error::Error for crate::WriterError<E> {}

    /// Lets backends that speak `std::io` (the native crate) run over [`crate::MemStorage`] in
    /// tests, with injected failures arriving as ordinary I/O errors.
    impl From<crate::MemError> for std::io::Error {
        fn from(err: crate::MemError) -> std::io::Error {
            std::io::Error::other(err)
        }
    }
}
