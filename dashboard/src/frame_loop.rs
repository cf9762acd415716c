//! The animation clock: calls a function once per display frame (`requestAnimationFrame`) with
//! a monotonic timestamp in milliseconds, until the calling component is cleaned up. Drawing
//! once per frame, rather than on a timer, keeps the views in step with the display's refresh.
//!
//! Invariants: at most one frame request is pending per loop, and none is made after cleanup.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use leptos::prelude::*;

/// Starts the loop; `tick` gets `performance.now()` at each frame.
pub(crate) fn on_every_frame(tick: impl Fn(f64) + 'static) {
    let stopped = Arc::new(AtomicBool::new(false));
    let stop = Arc::clone(&stopped);
    on_cleanup(move || stop.store(true, Ordering::Relaxed));
    schedule(Rc::new(tick), stopped);
}

fn schedule(tick: Rc<dyn Fn(f64)>, stopped: Arc<AtomicBool>) {
    request_animation_frame(move || {
        if stopped.load(Ordering::Relaxed) {
            return;
        }
        tick(now_ms());
        schedule(tick, stopped);
    });
}

/// The page's monotonic clock, in milliseconds.
pub(crate) fn now_ms() -> f64 {
    window()
        .performance()
        .map_or(0.0, |performance| performance.now())
}
