//! CPU-based adaptive load shedding, following go-zero's `core/load/adaptiveshedder.go`.
//!
//! A request is dropped when the system is overloaded (CPU usage at or above the threshold, or
//! within 1 s of a drop while it was) *and* in-flight requests exceed the estimated capacity
//! `max_pass_per_bucket * min_rt_ms * buckets_per_ms`, scaled down as CPU approaches 100%.
//! CPU usage is an exponential moving average (beta 0.95) of `/proc/stat` sampled every 250 ms,
//! as go-zero does. No maintained crate implements this algorithm, hence the code.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::rolling::RollingWindow;

const WINDOW: Duration = Duration::from_secs(5);
const BUCKETS: usize = 50;
const DEFAULT_MIN_RT: f64 = 1000.0;
const FLYING_BETA: f64 = 0.9;
const COOL_OFF: Duration = Duration::from_secs(1);
const CPU_MAX: f64 = 1000.0;
const OVERLOAD_FACTOR_LOWER_BOUND: f64 = 0.1;

/// Where CPU usage (per mille) comes from; tests pin it.
#[derive(Clone)]
pub enum CpuSource {
    /// The process-wide `/proc/stat` sampler.
    System,
    /// A fixed value, for tests and forced shedding.
    Fixed(Arc<AtomicU64>),
}

impl CpuSource {
    fn usage(&self) -> u64 {
        match self {
            CpuSource::System => system_cpu().load(Ordering::Relaxed),
            CpuSource::Fixed(v) => v.load(Ordering::Relaxed),
        }
    }
}

/// One bucket of go-zero's two windows (passed requests, response times), which have the
/// same size and interval and are kept as one here: one window to move per request.
#[derive(Default)]
struct Bucket {
    /// Requests that passed (go-zero's `passCounter`).
    passed: i64,
    /// Their response times in ms, summed (go-zero's `rtCounter` keeps sum and count; the
    /// count is `passed`).
    rt_ms: i64,
}

struct Windows {
    stat: RollingWindow<Bucket>,
    avg_flying: f64,
    overload_time: Option<Instant>,
    /// The capacity figures of the finished buckets, with the start of the bucket that was
    /// current when they were read: they change only when the window moves (every 100 ms),
    /// while an overloaded server asks for them on every request.
    capacity: Option<(Instant, Capacity)>,
}

/// What the finished buckets say a request costs.
#[derive(Clone, Copy)]
struct Capacity {
    /// The most requests one bucket passed (at least 1).
    max_pass: i64,
    /// The least mean response time of a bucket, in ms, rounded.
    min_rt: f64,
}

impl Windows {
    /// The capacity figures at `now`, read anew only when the window has moved.
    fn capacity(&mut self, now: Instant) -> Capacity {
        let start = self.stat.current_start(now);
        if let Some((at, c)) = self.capacity
            && at == start
        {
            return c;
        }
        let mut c = Capacity {
            max_pass: 1,
            min_rt: DEFAULT_MIN_RT,
        };
        self.stat.reduce(now, |b| {
            c.max_pass = c.max_pass.max(b.passed);
            if b.passed > 0 {
                c.min_rt = c.min_rt.min((b.rt_ms as f64 / b.passed as f64).round());
            }
        });
        self.capacity = Some((start, c));
        c
    }
}

/// The shedder (one per server).
pub struct Shedder {
    threshold: u64,
    cpu: CpuSource,
    window_scale: f64,
    flying: AtomicI64,
    dropped_recently: AtomicBool,
    w: Mutex<Windows>,
}

impl Shedder {
    /// A shedder dropping above `threshold` per mille CPU.
    pub fn new(threshold: u64, cpu: CpuSource) -> Self {
        let bucket = WINDOW / BUCKETS as u32;
        let now = Instant::now();
        Shedder {
            threshold,
            cpu,
            window_scale: Duration::from_secs(1).as_secs_f64() / bucket.as_secs_f64() / 1000.0,
            flying: AtomicI64::new(0),
            dropped_recently: AtomicBool::new(false),
            w: Mutex::new(Windows {
                stat: RollingWindow::new(BUCKETS, bucket, true, now),
                avg_flying: 0.0,
                overload_time: None,
                capacity: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Windows> {
        self.w.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a request (returning the promise to settle when it ends) or refuses it.
    pub fn allow(self: &Arc<Self>) -> Option<Promise> {
        self.allow_at(Instant::now())
    }

    /// [`Shedder::allow`] for a request that arrived at `now`.
    pub fn allow_at(self: &Arc<Self>, now: Instant) -> Option<Promise> {
        if self.should_drop(now) {
            self.dropped_recently.store(true, Ordering::Relaxed);
            return None;
        }
        self.flying.fetch_add(1, Ordering::Relaxed);
        Some(Promise {
            shedder: self.clone(),
            start: now,
            settled: false,
        })
    }

    fn should_drop(&self, now: Instant) -> bool {
        let cpu = self.cpu.usage();
        let overloaded = cpu >= self.threshold;
        if !overloaded && !self.dropped_recently.load(Ordering::Relaxed) {
            // The common case: no lock taken.
            return false;
        }
        let mut w = self.lock();
        if overloaded {
            w.overload_time = Some(now);
        }
        let hot = self.dropped_recently.load(Ordering::Relaxed)
            && match w.overload_time {
                Some(t) if now.saturating_duration_since(t) < COOL_OFF => true,
                _ => {
                    self.dropped_recently.store(false, Ordering::Relaxed);
                    false
                }
            };
        if !overloaded && !hot {
            return false;
        }
        let Capacity { max_pass, min_rt } = w.capacity(now);
        let max_flight = (max_pass as f64 * min_rt * self.window_scale).max(1.0);
        let factor = ((CPU_MAX - cpu as f64) / (CPU_MAX - self.threshold as f64))
            .clamp(OVERLOAD_FACTOR_LOWER_BOUND, 1.0);
        let max_flight = max_flight * factor;
        let flying = self.flying.load(Ordering::Relaxed) as f64;
        let drop = w.avg_flying > max_flight && flying > max_flight;
        if drop {
            tracing::error!(
                cpu,
                max_pass,
                min_rt,
                flying,
                avg_flying = w.avg_flying,
                "dropreq: shedding load"
            );
        }
        drop
    }

    /// Requests let in and not settled yet.
    #[cfg(test)]
    pub(crate) fn flying(&self) -> i64 {
        self.flying.load(Ordering::Relaxed)
    }

    /// A request ended; `passed` is its response time and end when it was served.
    fn done(&self, passed: Option<(Duration, Instant)>) {
        let flying = self.flying.fetch_sub(1, Ordering::Relaxed) - 1;
        let mut w = self.lock();
        w.avg_flying = w.avg_flying * FLYING_BETA + flying as f64 * (1.0 - FLYING_BETA);
        if let Some((rt, now)) = passed {
            // Whole milliseconds, rounded up, in integers (no libm call per request).
            let nanos = u64::try_from(rt.as_nanos()).unwrap_or(u64::MAX);
            let ms = i64::try_from(nanos.div_ceil(1_000_000)).unwrap_or(i64::MAX);
            let b = w.stat.current(now);
            b.passed += 1;
            b.rt_ms += ms;
        }
    }
}

/// An admitted request; settle it with [`Promise::pass`] or [`Promise::fail`].
pub struct Promise {
    shedder: Arc<Shedder>,
    start: Instant,
    settled: bool,
}

impl Promise {
    /// The request was served: its latency feeds the capacity estimate.
    pub fn pass(self) {
        self.pass_at(Instant::now());
    }

    /// [`Promise::pass`] for a request answered at `now`.
    pub fn pass_at(mut self, now: Instant) {
        self.settled = true;
        let rt = now.saturating_duration_since(self.start);
        self.shedder.done(Some((rt, now)));
    }
    /// The request failed from overload (503); only the in-flight count changes.
    pub fn fail(mut self) {
        self.settled = true;
        self.shedder.done(None);
    }
}

impl Drop for Promise {
    /// A request dropped unanswered (its client went away) is no longer in flight.
    fn drop(&mut self) {
        if !self.settled {
            self.shedder.done(None);
        }
    }
}

/// Process CPU usage in per mille, kept current by a background thread.
fn system_cpu() -> &'static AtomicU64 {
    static CPU: OnceLock<Arc<AtomicU64>> = OnceLock::new();
    CPU.get_or_init(|| {
        let v = Arc::new(AtomicU64::new(0));
        let out = v.clone();
        let spawned = std::thread::Builder::new()
            .name("cpu-usage".into())
            .spawn(move || {
                let mut prev = read_proc_stat();
                loop {
                    std::thread::sleep(Duration::from_millis(250));
                    let cur = read_proc_stat();
                    if let (Some((pb, pt)), Some((cb, ct))) = (prev, cur) {
                        let total = ct.saturating_sub(pt);
                        if let Some(now) = (cb.saturating_sub(pb) * 1000).checked_div(total) {
                            let old = out.load(Ordering::Relaxed) as f64;
                            out.store((old * 0.95 + now as f64 * 0.05) as u64, Ordering::Relaxed);
                        }
                    }
                    prev = cur;
                }
            });
        if spawned.is_err() {
            tracing::warn!("could not start the CPU sampler; shedding sees 0% CPU");
        }
        v
    })
}

/// `(busy, total)` jiffies of all CPUs from `/proc/stat`.
fn read_proc_stat() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?;
    let nums: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|n| n.parse().ok())
        .collect();
    let total: u64 = nums.iter().sum();
    let idle = nums.get(3).copied().unwrap_or(0) + nums.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shedder(cpu: u64) -> (Arc<Shedder>, Arc<AtomicU64>) {
        let v = Arc::new(AtomicU64::new(cpu));
        (Arc::new(Shedder::new(900, CpuSource::Fixed(v.clone()))), v)
    }

    #[test]
    fn never_drops_below_threshold() {
        let (s, _) = shedder(100);
        let held: Vec<_> = (0..500).map(|_| s.allow().expect("admitted")).collect();
        drop(held);
    }

    #[test]
    fn drops_when_overloaded_and_too_many_in_flight() {
        let (s, cpu) = shedder(950);
        // Build up in-flight requests while CPU is fine.
        cpu.store(0, Ordering::Relaxed);
        let mut held: Vec<_> = (0..100).map(|_| s.allow().unwrap()).collect();
        // Requests finishing while 99..50 are still in flight push the moving average up.
        for _ in 0..50 {
            held.pop().unwrap().fail();
        }
        cpu.store(950, Ordering::Relaxed);
        assert!(
            s.allow().is_none(),
            "overloaded with high in-flight must drop"
        );
        // Below the threshold, but dropped within the cool-off: still hot, still dropping.
        cpu.store(0, Ordering::Relaxed);
        assert!(s.allow().is_none(), "cool-off keeps dropping");
        // Few in flight: admitted even while hot.
        for p in held.drain(..) {
            p.fail();
        }
        for _ in 0..100 {
            let p = s.allow().unwrap();
            p.pass();
        }
        assert!(s.allow().is_some());
    }

    #[test]
    fn capacity_is_read_again_only_when_the_window_moves() {
        let (s, _) = shedder(0);
        let t0 = Instant::now();
        let bucket = WINDOW / BUCKETS as u32;
        let capacity = |at| {
            let c = s.lock().capacity(at);
            (c.max_pass, c.min_rt)
        };
        for _ in 0..4 {
            s.allow_at(t0)
                .unwrap()
                .pass_at(t0 + Duration::from_millis(10));
        }
        // The current bucket does not count.
        assert_eq!(
            capacity(t0 + Duration::from_millis(10)),
            (1, DEFAULT_MIN_RT)
        );
        // The window moved: the finished bucket passed 4 requests of 10 ms.
        let t1 = t0 + bucket;
        assert_eq!(capacity(t1), (4, 10.0));
        for _ in 0..9 {
            s.allow_at(t1)
                .unwrap()
                .pass_at(t1 + Duration::from_micros(2_500));
        }
        assert_eq!(
            capacity(t1 + Duration::from_millis(5)),
            (4, 10.0),
            "same bucket: kept"
        );
        // 2.5 ms rounds up to 3 ms per request.
        assert_eq!(capacity(t1 + bucket), (9, 3.0));
    }

    #[test]
    fn proc_stat_reads() {
        let (busy, total) = read_proc_stat().expect("/proc/stat");
        assert!(total >= busy && total > 0);
    }
}
