//! [`OpfsError`]: everything that can go wrong between the log and the Origin Private File
//! System, classified from the `DOMException` the browser throws.
//!
//! Invariants:
//! - Every JavaScript exception from an OPFS call becomes exactly one variant; the exception's
//!   `name` decides which (`NoModificationAllowedError` from `createSyncAccessHandle` is
//!   [`OpfsError::Locked`], `QuotaExceededError` is [`OpfsError::QuotaExceeded`]), and anything
//!   unrecognised keeps its name and message in [`OpfsError::Js`].
//! - Display texts say what happened and what the user can do about it.

use core::fmt;
use wasm_bindgen::{JsCast, JsValue};

/// An error from the OPFS storage of one log.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpfsError {
    /// Another tab or worker holds the log's file open (its sync access handle is exclusive).
    Locked {
        /// The log's name.
        name: String,
    },
    /// The origin's storage quota is used up. The write that hit it was not acknowledged; the
    /// log is poisoned, and everything acknowledged before it is durable.
    QuotaExceeded {
        /// The log's name.
        name: String,
        /// What was being done.
        op: &'static str,
    },
    /// This context cannot open a sync access handle: OPFS is missing, or this is not a
    /// dedicated worker.
    NotSupported {
        /// What is missing.
        what: String,
    },
    /// The storage was closed (by `close`, or because the worker is shutting down).
    Closed {
        /// The log's name.
        name: String,
    },
    /// A call wrote or read fewer bytes than it asked for, which OPFS never does on success.
    Short {
        /// The log's name.
        name: String,
        /// What was being done.
        op: &'static str,
        /// Bytes asked for.
        wanted: usize,
        /// Bytes the browser reported.
        done: usize,
    },
    /// Any other exception from the browser.
    Js {
        /// What was being done.
        op: &'static str,
        /// The exception's `name` (e.g. `InvalidStateError`), or `Error` when it had none.
        name: String,
        /// The exception's message.
        message: String,
    },
}

impl OpfsError {
    /// Classifies an exception thrown by the OPFS call `op` on the log `log`.
    pub fn from_js(op: &'static str, log: &str, err: &JsValue) -> OpfsError {
        let (name, message) = exception_name_and_message(err);
        match name.as_str() {
            "NoModificationAllowedError" if op == OP_CREATE_HANDLE => OpfsError::Locked {
                name: log.to_owned(),
            },
            "QuotaExceededError" => OpfsError::QuotaExceeded {
                name: log.to_owned(),
                op,
            },
            "SecurityError" | "NotSupportedError" => OpfsError::NotSupported {
                what: format!("{op}: {name}: {message}"),
            },
            _ => OpfsError::Js { op, name, message },
        }
    }

    /// A stable, short name for the error's kind, for JavaScript callers to switch on.
    pub fn kind(&self) -> &'static str {
        match self {
            OpfsError::Locked { .. } => "locked",
            OpfsError::QuotaExceeded { .. } => "quota",
            OpfsError::NotSupported { .. } => "notSupported",
            OpfsError::Closed { .. } => "closed",
            OpfsError::Short { .. } | OpfsError::Js { .. } => "io",
        }
    }
}

/// The operation name used for `createSyncAccessHandle`, the only call whose
/// `NoModificationAllowedError` means "locked".
pub(crate) const OP_CREATE_HANDLE: &str = "opening the log file (createSyncAccessHandle)";

impl fmt::Display for OpfsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpfsError::Locked { name } => write!(
                f,
                "the log {name} is open in another tab or worker; close it there first"
            ),
            OpfsError::QuotaExceeded { name, op } => write!(
                f,
                "the browser's storage quota is full ({op} on the log {name}): nothing \
                 acknowledged was lost, but the log is poisoned; free space (or ask for \
                 persistent storage) and reopen it"
            ),
            OpfsError::NotSupported { what } => write!(
                f,
                "the Origin Private File System's sync access handles are not available here \
                 ({what}): run the log in a dedicated worker of a browser that supports them"
            ),
            OpfsError::Closed { name } => {
                write!(f, "the log {name} is closed; open it again to use it")
            }
            OpfsError::Short {
                name,
                op,
                wanted,
                done,
            } => write!(
                f,
                "{op} on the log {name} moved {done} of {wanted} bytes; the log is poisoned, \
                 reopen it to recover"
            ),
            OpfsError::Js { op, name, message } => {
                write!(f, "{op} failed in the browser: {name}: {message}")
            }
        }
    }
}

impl std::error::Error for OpfsError {}

/// The `name` and `message` of a thrown value: a `DOMException` or `Error` has both; anything
/// else is shown as it prints.
pub(crate) fn exception_name_and_message(err: &JsValue) -> (String, String) {
    if let Some(exception) = err.dyn_ref::<web_sys::DomException>() {
        return (exception.name(), exception.message());
    }
    if let Some(error) = err.dyn_ref::<js_sys::Error>() {
        return (String::from(error.name()), String::from(error.message()));
    }
    let text = err.as_string().unwrap_or_else(|| format!("{err:?}"));
    ("Error".to_owned(), text)
}
