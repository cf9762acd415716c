//! The record browser: the durable records of the live log, newest first, with each one's LSN,
//! payload and frame size, its writer (from the payload), and its checksum status. The log's
//! reader returns only records whose CRC32 (over length, payload, the log's salt and the LSN)
//! checks, so every row shown has passed that check; a torn or damaged record never reaches
//! this list (recovery cuts a torn tail; damage in the middle is refused as corruption).

use leptos::prelude::*;
use walden_core::{frame_len, Lsn};

use crate::format;
use crate::live_log::payload_label;

/// One listed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RecordRow {
    /// Where it starts.
    pub(crate) lsn: u64,
    /// Its payload's size.
    pub(crate) payload_bytes: usize,
    /// Its frame's size in the log (header and payload).
    pub(crate) frame_bytes: usize,
    /// Whose record it is, when the payload says.
    pub(crate) label: Option<String>,
}

impl RecordRow {
    /// The row for the record at `lsn` with `payload`.
    pub(crate) fn new(lsn: Lsn, payload: &[u8]) -> RecordRow {
        RecordRow {
            lsn: lsn.get(),
            payload_bytes: payload.len(),
            frame_bytes: frame_len(payload.len()),
            label: payload_label(payload),
        }
    }
}

/// The browser.
// The props builder `#[component]` derives is `pub` inside this crate-private type.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn RecordBrowser(
    /// The records read, if any: their total count, total payload bytes, and the newest rows.
    records: RwSignal<Option<(usize, u64, Vec<RecordRow>)>>,
    /// Reads the records again.
    on_read: Callback<()>,
    /// Whether a log is open to read.
    #[prop(into)]
    enabled: Signal<bool>,
) -> impl IntoView {
    let summary = move || {
        records.with(|records| match records {
            Some((total, bytes, rows)) => format!(
                "{} durable records ({} of payload), all with a valid CRC32; the newest {} below.",
                format::grouped(*total as u64),
                format::bytes(*bytes),
                rows.len()
            ),
            None => "Read the log to list its records.".to_owned(),
        })
    };
    let total = move || records.with(|r| r.as_ref().map(|(total, ..)| total.to_string()));
    view! {
        <section class="wd-records" aria-labelledby="wd-records-title">
            <h2 id="wd-records-title">"Records"</h2>
            <div class="wd-records-head">
                <button type="button" class="secondary" on:click=move |_| on_read.run(()) disabled=move || !enabled.get() data-testid="live-read">
                    "Read records"
                </button>
                <p class="muted" data-testid="live-record-count" data-value=total>{summary}</p>
            </div>
            <div class="wd-records-scroll">
                <table>
                    <thead>
                        <tr>
                            <th scope="col" class="num">"LSN"</th>
                            <th scope="col" class="num">"Payload"</th>
                            <th scope="col" class="num">"Frame"</th>
                            <th scope="col">"Writer"</th>
                            <th scope="col">"Checksum"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {move || {
                            records.with(|records| {
                                records.as_ref().map(|(_, _, rows)| {
                                    rows.iter()
                                        .map(|row| {
                                            view! {
                                                <tr>
                                                    <td class="num">{format::grouped(row.lsn)}</td>
                                                    <td class="num">{format::bytes(row.payload_bytes as u64)}</td>
                                                    <td class="num">{format::bytes(row.frame_bytes as u64)}</td>
                                                    <td>{row.label.clone().unwrap_or_else(|| "–".to_owned())}</td>
                                                    <td class="ok">"CRC32 ok"</td>
                                                </tr>
                                            }
                                        })
                                        .collect_view()
                                })
                            })
                        }}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live_log::payload;

    #[test]
    fn rows_name_the_writer_and_the_frame_size() {
        let row = RecordRow::new(Lsn::new(4_096), &payload(2, 9, 100));
        assert_eq!(row.lsn, 4_096);
        assert_eq!(row.payload_bytes, 100);
        assert_eq!(row.frame_bytes, frame_len(100));
        assert!(row.frame_bytes > row.payload_bytes);
        assert_eq!(row.label.as_deref(), Some("W3 #9"));
    }
}
