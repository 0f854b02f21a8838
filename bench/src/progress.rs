//! A live progress line (indicatif) on stderr for phases that run longer than two seconds.
//! It shows nothing when stderr is not a terminal.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug)]
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts watching the counters; the bar appears once the phase has run for two seconds.
    pub fn start(enabled: bool, label: String, ops: Arc<AtomicU64>, bytes: Arc<AtomicU64>) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        if !enabled || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            return Progress { stop, thread: None };
        }
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut bar: Option<ProgressBar> = None;
            let (mut last_t, mut last_ops, mut last_bytes) = (t0, 0u64, 0u64);
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(250));
                if t0.elapsed() < Duration::from_secs(2) {
                    continue;
                }
                let bar = bar.get_or_insert_with(|| {
                    let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                    b.set_style(
                        ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    b
                });
                let (now, o, b) =
                    (Instant::now(), ops.load(Ordering::Relaxed), bytes.load(Ordering::Relaxed));
                let dt = now.duration_since(last_t).as_secs_f64().max(1e-9);
                bar.set_message(format!(
                    "{label}: {o} ops, {:.0} ops/s, {:.1} MiB/s",
                    (o - last_ops) as f64 / dt,
                    (b - last_bytes) as f64 / dt / 1048576.0
                ));
                bar.tick();
                (last_t, last_ops, last_bytes) = (now, o, b);
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        Progress { stop, thread: Some(thread) }
    }

    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
