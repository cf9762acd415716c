//! `crash_child <log-dir> <cycle>`: the process the `crash_loop` test kills. It owns nothing but
//! the commit-and-acknowledge protocol that test checks.
//!
//! It opens the `Wal` in `<log-dir>` with the crash loop's options, prints `ready <first>
//! <current>`, then [`CHILD_THREADS`] threads each commit records `(cycle, thread, 0, 1, ...)`
//! one at a time and, once `commit` has returned (the record is durable), print `ack <lsn>
//! <thread> <seq>` before committing the next. Each line is one `write` to the pipe followed by a
//! flush, so a line the parent reads was printed whole, and an ack is in the pipe before the next
//! record is appended. It runs until killed; it exits on its own, with an error, only if opening
//! or committing fails, its stdout is gone, or [`CHILD_LIFETIME_MAX`] passes (an orphan whose
//! parent died).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use walden::Wal;
use walden_tests::crash::{
    wal_options, Ack, ChildLine, RecordId, CHILD_LIFETIME_MAX, CHILD_THREADS,
};

fn main() -> ExitCode {
    let started = Instant::now();
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(Ok(cycle)), 3) = (
        args.get(1).map(PathBuf::from),
        args.get(2).map(|cycle| cycle.parse::<u64>()),
        args.len(),
    ) else {
        eprintln!("usage: crash_child <log-dir> <cycle>");
        return ExitCode::from(2);
    };
    let wal = match Wal::open_with(&dir, wal_options()) {
        Ok(wal) => Arc::new(wal),
        Err(err) => {
            eprintln!("crash_child: opening {}: {err}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    print_line(&ChildLine::Ready {
        first: wal.first_lsn(),
        current: wal.current_lsn(),
    });
    let threads: Vec<_> = (0..CHILD_THREADS)
        .map(|thread| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || commit_loop(&wal, cycle, thread, started))
        })
        .collect();
    for thread in threads {
        // `commit_loop` never returns; it ends the process itself.
        if thread.join().is_err() {
            eprintln!("crash_child: a committing thread panicked");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::FAILURE
}

/// Commits thread `thread`'s records one at a time, acknowledging each, until the process is
/// killed (or gives up; see the module documentation).
fn commit_loop(wal: &Wal, cycle: u64, thread: u32, started: Instant) {
    for seq in 0.. {
        if started.elapsed() > CHILD_LIFETIME_MAX {
            eprintln!(
                "crash_child: still running after {CHILD_LIFETIME_MAX:?} without being killed; \
                 the parent is gone, stopping"
            );
            std::process::exit(3);
        }
        let id = RecordId { cycle, thread, seq };
        match wal.commit(&id.payload()) {
            Ok(committed) => print_line(&ChildLine::Ack(Ack {
                lsn: committed.lsn(),
                thread,
                seq,
            })),
            Err(err) => {
                eprintln!("crash_child: committing {id}: {err}");
                std::process::exit(1);
            }
        }
    }
}

/// Writes one line to stdout in one `write` and flushes it; exits if stdout is gone (the parent
/// died), so no orphan keeps committing.
fn print_line(line: &ChildLine) {
    let text = format!("{line}\n");
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        std::process::exit(4);
    }
}
