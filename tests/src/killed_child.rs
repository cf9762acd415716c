//! [`run_until_killed`]: what both SIGKILL crash loops do with their child process: spawn it with
//! piped output, let the loop decide from its stdout when to kill it, SIGKILL it, and hand back
//! the lines it printed.
//!
//! Invariants:
//! - Only whole lines count: a line cut by the kill was never printed.
//! - The child must die of the SIGKILL: one that exited by itself is an error, with its stderr.
//! - A failed wait (the child printed nothing in time, or closed its stdout) is an error too,
//!   reported with the child's stderr, but only after the child is killed and reaped.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};

/// SIGKILL's number (POSIX).
pub const SIGKILL: i32 = 9;

/// Spawns `command` (stdin closed, stdout and stderr piped), calls `wait` with a channel that
/// receives each whole line the child prints, SIGKILLs the child when `wait` returns, and
/// returns every whole line it printed. `name` names the child in errors.
pub fn run_until_killed(
    mut command: Command,
    name: &str,
    wait: impl FnOnce(&Receiver<String>) -> Result<(), String>,
) -> Result<Vec<String>, String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("spawning {name}: {err}"))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let (lines_tx, lines_rx) = mpsc::channel();
    let stdout_reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line)? > 0 && line.ends_with(b"\n") {
            line.pop();
            let text = String::from_utf8_lossy(&line).into_owned();
            let _ = lines_tx.send(text.clone());
            lines.push(text);
            line.clear();
        }
        Ok::<_, std::io::Error>(lines)
    });
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let waited = wait(&lines_rx);
    let killed = child.kill();
    let status = child.wait();
    let lines = stdout_reader
        .join()
        .expect("the stdout reader does not panic");
    let stderr = stderr_reader
        .join()
        .expect("the stderr reader does not panic");
    let status = status.map_err(|err| format!("waiting for {name}: {err}"))?;
    if status.signal() != Some(SIGKILL) {
        return Err(format!(
            "{name} exited by itself ({status}) instead of being killed; its stderr:\n{stderr}"
        ));
    }
    waited.map_err(|what| format!("{what}; its stderr:\n{stderr}"))?;
    killed.map_err(|err| format!("killing {name}: {err}"))?;
    lines.map_err(|err| format!("reading {name}'s stdout: {err}"))
}
