//! A job queue instrumented the way most Rust libraries are: with the
//! `metrics` facade's macros only. It knows nothing of mmstats; the
//! application chooses the recorder (see the workspace's
//! `examples/metrics_recorder.rs`).

use std::time::Duration;

/// Describes the metrics, once, before they are used: the recorder turns
/// the descriptions into help texts and units.
pub fn describe() {
    metrics::describe_counter!("jobs_done", metrics::Unit::Count, "jobs finished, by queue");
    metrics::describe_gauge!("jobs_waiting", "jobs waiting in the queue");
    metrics::describe_histogram!("job_seconds", metrics::Unit::Seconds, "time to run one job");
}

/// A queue that runs jobs and reports them.
#[derive(Debug)]
pub struct Queue {
    name: &'static str,
    waiting: usize,
    done: metrics::Counter,
    depth: metrics::Gauge,
    seconds: metrics::Histogram,
}

impl Queue {
    /// A queue named `name`, its handles registered once.
    pub fn new(name: &'static str) -> Queue {
        Queue {
            name,
            waiting: 0,
            done: metrics::counter!("jobs_done", "queue" => name),
            depth: metrics::gauge!("jobs_waiting", "queue" => name),
            seconds: metrics::histogram!("job_seconds", "queue" => name),
        }
    }

    /// Adds `n` jobs.
    pub fn push(&mut self, n: usize) {
        self.waiting += n;
        self.depth.set(self.waiting as f64);
    }

    /// Runs every waiting job, each said to take `each`.
    pub fn run(&mut self, each: Duration) {
        while self.waiting > 0 {
            self.waiting -= 1;
            self.done.increment(1);
            self.seconds.record(each.as_secs_f64());
        }
        self.depth.set(0.0);
        // A metric made on the spot, as code that does not keep handles
        // writes it.
        metrics::counter!("queue_runs", "queue" => self.name).increment(1);
    }
}
