//! Live mode's link to a real log: opening `walden-dashboard.wal` in the Origin Private File
//! System through walden-wasm's [`WaldenLog`] (its worker is `live-worker.js`, running this
//! app's own wasm), reading the worker's events and stats, the record payloads writers commit,
//! and the "crash" signal. No simulation here: every LSN, flush and latency comes from the real
//! log.

use js_sys::{ArrayBuffer, Object, Promise, Reflect, Uint8Array};
use walden_core::{frame_len, scan_file, Codec, Lsn, RecoveryMode};
use walden_wasm::WaldenLog;
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use crate::live_model::LiveEvent;

/// The OPFS file live mode writes.
pub(crate) const LOG_NAME: &str = "walden-dashboard.wal";
/// The worker script Trunk copies next to the app (see `dashboard/index.html`).
const WORKER_URL: &str = "./live-worker.js";
/// The channel `live-worker.js` listens on for "crash".
const CRASH_CHANNEL: &str = "walden-dashboard-crash";
/// Opening right after a crash can find the file still locked for a moment, until the browser
/// has torn the dead worker down: this many attempts, `OPEN_RETRY_MS` apart.
const OPEN_ATTEMPTS: u32 = 25;
const OPEN_RETRY_MS: i32 = 200;

/// What opening (and recovering) the log found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Opened {
    /// The log's first LSN.
    pub(crate) base: u64,
    /// Where the recovered log ends (the next append's LSN).
    pub(crate) end: u64,
    /// What this process has made durable (the base right after opening: nothing counts as
    /// durable until this process has flushed it).
    pub(crate) durable: u64,
    /// Records recovery found.
    pub(crate) recovered_records: u64,
    /// Bytes of torn tail recovery cut off.
    pub(crate) truncated_bytes: u64,
}

/// A failure, as the page shows it: the error's stable kind and its message.
pub(crate) fn describe(error: &JsValue) -> String {
    let kind = get(error, "kind").as_string().unwrap_or_default();
    let message = get(error, "message")
        .as_string()
        .or_else(|| error.as_string())
        .unwrap_or_else(|| format!("{error:?}"));
    if kind.is_empty() {
        message
    } else {
        format!("{kind}: {message}")
    }
}

/// Opens the log, retrying while another (dying) worker still holds it.
pub(crate) async fn open() -> Result<WaldenLog, String> {
    let options = Object::new();
    let _ = Reflect::set(&options, &"workerUrl".into(), &WORKER_URL.into());
    let mut attempt = 0;
    loop {
        attempt += 1;
        match WaldenLog::open(LOG_NAME.to_owned(), Some(options.clone())).await {
            Ok(log) => return Ok(log),
            Err(error) => {
                let locked = get(&error, "kind").as_string().as_deref() == Some("locked");
                if !locked || attempt >= OPEN_ATTEMPTS {
                    return Err(describe(&error));
                }
                sleep_ms(OPEN_RETRY_MS).await;
            }
        }
    }
}

/// The log's stats right after opening.
pub(crate) async fn opened(log: &WaldenLog) -> Result<Opened, String> {
    let stats = JsFuture::from(log.stats())
        .await
        .map_err(|error| describe(&error))?;
    Ok(Opened {
        base: lsn(&get(&stats, "baseLsn")).unwrap_or(0),
        end: lsn(&get(&stats, "currentLsn")).unwrap_or(0),
        durable: lsn(&get(&stats, "durableLsn")).unwrap_or(0),
        recovered_records: count(&get(&stats, "recoveredRecords")),
        truncated_bytes: count(&get(&stats, "truncatedBytes")),
    })
}

/// Ends the log's worker at once, in the middle of whatever batch it is in: `live-worker.js`
/// calls `self.close()` on this message. Every page of this origin hears it: dashboard tabs
/// with live mode open share one log (one leads, the others follow), and all of their workers
/// end, as if every tab were killed at once; each recovers the log when it reopens.
pub(crate) fn crash_worker() -> Result<(), String> {
    let channel = web_sys::BroadcastChannel::new(CRASH_CHANNEL).map_err(|e| describe(&e))?;
    let sent = channel
        .post_message(&"crash".into())
        .map_err(|e| describe(&e));
    channel.close();
    sent
}

/// Where [`tear_tail`] tore the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tear {
    /// The LSN of the record whose write was torn (the end of the valid records).
    pub(crate) at: u64,
    /// The bytes of it that "reached the disk": the first half of its frame.
    pub(crate) bytes: usize,
}

/// Tears the log's tail the way a power loss in the middle of a write can: the first half of
/// one more record's frame (a real frame, encoded by the core for the log's salt and that LSN),
/// written right after the last valid record. Only possible while no worker holds the file,
/// i.e. after a crash; it retries for a moment while the dead worker's lock lingers.
pub(crate) async fn tear_tail(payload_bytes: usize) -> Result<Tear, String> {
    let storage = web_sys::window().ok_or("no window")?.navigator().storage();
    let root: web_sys::FileSystemDirectoryHandle = awaited(storage.get_directory()).await?;
    let file: web_sys::FileSystemFileHandle = awaited(root.get_file_handle(LOG_NAME)).await?;
    let snapshot: web_sys::File = awaited(file.get_file()).await?;
    let buffer: ArrayBuffer = awaited(snapshot.array_buffer()).await?;
    let image = Uint8Array::new(&buffer).to_vec();
    let (header, recovery) = scan_file(&image, Codec::new, RecoveryMode::TolerateTornTail)
        .map_err(|error| format!("scanning the log before tearing it: {error}"))?;
    let mut frame = Vec::new();
    Codec::new(header.salt)
        .encode_append(
            recovery.end_lsn,
            &payload_named("torn", payload_bytes),
            &mut frame,
        )
        .map_err(|error| format!("encoding the torn record: {error}"))?;
    let half = &frame[..frame.len() / 2];
    let options = web_sys::FileSystemCreateWritableOptions::new();
    options.set_keep_existing_data(true);
    let mut attempt = 0;
    let stream: web_sys::FileSystemWritableFileStream = loop {
        attempt += 1;
        match awaited(file.create_writable_with_options(&options)).await {
            Ok(stream) => break stream,
            Err(_) if attempt < OPEN_ATTEMPTS => sleep_ms(OPEN_RETRY_MS).await,
            Err(error) => return Err(format!("opening the log to tear it: {error}")),
        }
    };
    let _: JsValue = awaited(
        stream
            .seek_with_f64(recovery.valid_file_len() as f64)
            .map_err(|e| describe(&e))?,
    )
    .await?;
    let _: JsValue = awaited(stream.write_with_u8_array(half).map_err(|e| describe(&e))?).await?;
    let _: JsValue = awaited(stream.close()).await?;
    Ok(Tear {
        at: recovery.end_lsn.get(),
        bytes: half.len(),
    })
}

/// Awaits a promise and casts what it resolves to.
async fn awaited<T: JsCast>(promise: Promise) -> Result<T, String> {
    let value = JsFuture::from(promise).await.map_err(|e| describe(&e))?;
    value
        .dyn_into::<T>()
        .map_err(|value| format!("unexpected value {value:?}"))
}

/// A record's payload: who wrote it and its sequence number, padded with dots to `size` bytes
/// (at least the label), so the record browser can say whose record each is.
pub(crate) fn payload(writer: usize, seq: u64, size: usize) -> Vec<u8> {
    payload_named(&format!("W{} #{seq}", writer + 1), size)
}

fn payload_named(label: &str, size: usize) -> Vec<u8> {
    let mut bytes = format!("{label} ").into_bytes();
    if bytes.len() < size {
        bytes.resize(size, b'.');
    }
    bytes
}

/// The writer label at the start of a payload `payload` made, if it has one.
pub(crate) fn payload_label(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes.get(..bytes.len().min(24))?).ok()?;
    let mut words = text.split(' ');
    let writer = words.next().filter(|w| w.starts_with('W'))?;
    let seq = words.next().filter(|s| s.starts_with('#'))?;
    Some(format!("{writer} {seq}"))
}

/// Where a record of `payload_bytes` bytes at `lsn` ends.
pub(crate) fn record_end(lsn: Lsn, payload_bytes: usize) -> u64 {
    lsn.get().saturating_add(frame_len(payload_bytes) as u64)
}

/// One of walden-wasm's event objects, if it is one the views draw.
pub(crate) fn parse_event(event: &JsValue) -> Option<LiveEvent> {
    let field = |name: &str| get(event, name);
    match get(event, "type").as_string()?.as_str() {
        "appended" => Some(LiveEvent::Appended {
            current: lsn(&field("current"))?,
        }),
        "drained" => Some(LiveEvent::Drained {
            written: lsn(&field("written"))?,
        }),
        "flushStarted" => Some(LiveEvent::FlushStarted {
            upto: lsn(&field("upto"))?,
            commits: count(&field("commits")) as usize,
        }),
        "flushFinished" => Some(LiveEvent::FlushFinished {
            durable: lsn(&field("durable"))?,
            commits: count(&field("commits")) as usize,
            records: count(&field("records")),
            elapsed_us: (field("elapsedMs").as_f64().unwrap_or(0.0) * 1_000.0).max(0.0) as u64,
            ok: field("ok").as_bool().unwrap_or(false),
        }),
        _ => None,
    }
}

/// Waits `ms` milliseconds (a `setTimeout`), yielding to the page meanwhile.
pub(crate) async fn sleep_ms(ms: i32) {
    let promise = Promise::new(&mut |resolve, _reject| {
        let scheduled = web_sys::window().and_then(|window| {
            window
                .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
                .ok()
        });
        if scheduled.is_none() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    });
    let _ = JsFuture::from(promise).await;
}

fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// An LSN from a `bigint` (or a plain number).
fn lsn(value: &JsValue) -> Option<u64> {
    if value.is_bigint() {
        u64::try_from(value.clone()).ok()
    } else {
        value
            .as_f64()
            .filter(|n| *n >= 0.0 && n.fract() == 0.0)
            .map(|n| n as u64)
    }
}

fn count(value: &JsValue) -> u64 {
    value.as_f64().map_or(0, |n| n.max(0.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_their_writer_and_size() {
        let bytes = payload(4, 17, 64);
        assert_eq!(bytes.len(), 64);
        assert_eq!(payload_label(&bytes).as_deref(), Some("W5 #17"));
        // Shorter than its label: the label is kept whole.
        assert_eq!(payload(63, 1_000_000, 4), b"W64 #1000000 ".to_vec());
        assert_eq!(payload_label(b"not ours"), None);
        assert_eq!(payload_label(&[0xff, 0xfe]), None);
    }

    #[test]
    fn record_ends_count_the_frame() {
        assert_eq!(record_end(Lsn::new(100), 256), 100 + frame_len(256) as u64);
    }
}
