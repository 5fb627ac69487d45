//! Google SRE adaptive breaker ("client-side throttling", SRE book ch. 21), following go-zero's
//! `core/breaker/googlebreaker.go`: over a 10 s window of 40 buckets, requests are dropped with
//! probability `max(0, (total - protection - w*accepts) / (total + 1))`, where `w` falls from
//! 1.5 towards 1.1 as more recent buckets hold only failures. One request is let through at
//! least every second while dropping, and the ratio is scaled down by the share of recent
//! buckets that are healthy. No maintained crate implements this algorithm, hence the code.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::rolling::RollingWindow;

const WINDOW: Duration = Duration::from_secs(10);
const BUCKETS: usize = 40;
const FORCE_PASS: Duration = Duration::from_secs(1);
const K: f64 = 1.5;
const MIN_K: f64 = 1.1;
const PROTECTION: i64 = 5;

#[derive(Default)]
struct Bucket {
    sum: i64,
    success: i64,
    failure: i64,
}

struct State {
    stat: RollingWindow<Bucket>,
    last_pass: Option<Instant>,
    /// Running sums over the window (`sum` and `success` of all buckets): a healthy route is
    /// let through from these without visiting the 40 buckets.
    total: i64,
    accepts: i64,
}

impl State {
    fn advance(&mut self, now: Instant) {
        let (total, accepts) = (&mut self.total, &mut self.accepts);
        self.stat.expire(now, |b| {
            *total -= b.sum;
            *accepts -= b.success;
        });
    }
}

/// One breaker (the server keeps one per route).
pub struct Breaker {
    state: Mutex<State>,
}

impl Default for Breaker {
    fn default() -> Self {
        Self::new()
    }
}

impl Breaker {
    /// A closed breaker.
    pub fn new() -> Self {
        Breaker {
            state: Mutex::new(State {
                stat: RollingWindow::new(BUCKETS, WINDOW / BUCKETS as u32, false, Instant::now()),
                last_pass: None,
                total: 0,
                accepts: 0,
            }),
        }
    }

    /// Whether a request may go ahead now; a refused request is counted as a drop.
    pub fn allow(&self) -> bool {
        self.allow_at(Instant::now(), fastrand::f64())
    }

    /// [`Breaker::allow`] at `now`, with `dice` a random number in [0, 1).
    pub(crate) fn allow_at(&self, now: Instant, dice: f64) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.advance(now);
        // The drop ratio below is never positive when even the smallest weight lets this
        // many accepts cover the total.
        if (st.total - PROTECTION) as f64 - MIN_K * st.accepts as f64 <= 0.0 {
            return true;
        }
        let (mut accepts, mut total, mut failing, mut working) = (0i64, 0i64, 0i64, 0i64);
        st.stat.reduce(now, |b| {
            accepts += b.success;
            total += b.sum;
            if b.failure > 0 {
                working = 0;
            } else if b.success > 0 {
                working += 1;
            }
            if b.success > 0 {
                failing = 0;
            } else if b.failure > 0 {
                failing += 1;
            }
        });
        let w = (K - (K - MIN_K) * failing as f64 / BUCKETS as f64).max(MIN_K);
        let mut drop_ratio =
            ((total - PROTECTION) as f64 - w * accepts as f64) / (total + 1) as f64;
        if drop_ratio <= 0.0 {
            return true;
        }
        if st
            .last_pass
            .is_some_and(|last| now.saturating_duration_since(last) > FORCE_PASS)
        {
            st.last_pass = Some(now);
            return true;
        }
        drop_ratio *= (BUCKETS as i64 - working) as f64 / BUCKETS as f64;
        if dice < drop_ratio {
            st.stat.current(now).sum += 1; // a drop
            st.total += 1;
            return false;
        }
        st.last_pass = Some(now);
        true
    }

    /// Records the outcome of an allowed request.
    pub fn record(&self, success: bool) {
        self.record_at(Instant::now(), success);
    }

    /// [`Breaker::record`] at `now`.
    pub(crate) fn record_at(&self, now: Instant, success: bool) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.advance(now);
        let b = st.stat.current(now);
        b.sum += 1;
        if success {
            b.success += 1;
        } else {
            b.failure += 1;
        }
        st.total += 1;
        st.accepts += i64::from(success);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_closed_while_healthy() {
        let b = Breaker::new();
        let t = Instant::now();
        for _ in 0..1000 {
            assert!(b.allow_at(t, 0.0));
            b.record_at(t, true);
        }
    }

    #[test]
    fn opens_on_failures_and_force_passes_each_second() {
        let b = Breaker::new();
        let t = Instant::now();
        // The protection lets the first few failures through regardless.
        for _ in 0..5 {
            assert!(b.allow_at(t, 0.0));
            b.record_at(t, false);
        }
        for _ in 0..100 {
            if b.allow_at(t, 0.99) {
                b.record_at(t, false);
            }
        }
        assert!(
            !b.allow_at(t, 0.5),
            "mostly failing: a median dice roll must be dropped"
        );
        // A pass more than a second after the last one goes through even when open.
        assert!(b.allow_at(t + Duration::from_millis(1500), 0.0));
        // After the window, history is gone and the breaker closes.
        assert!(b.allow_at(t + Duration::from_secs(11), 0.0));
    }

    #[test]
    fn running_sums_match_the_buckets() {
        let b = Breaker::new();
        let t0 = Instant::now();
        let mut rng = fastrand::Rng::with_seed(7);
        for i in 0..5000u64 {
            let t = t0 + Duration::from_millis(i * 7 + rng.u64(0..400));
            if b.allow_at(t, rng.f64()) {
                b.record_at(t, rng.f64() < 0.4);
            }
            let mut st = b.state.lock().unwrap();
            st.advance(t);
            let (mut total, mut accepts) = (0, 0);
            st.stat.reduce(t, |x| {
                total += x.sum;
                accepts += x.success;
            });
            assert_eq!((st.total, st.accepts), (total, accepts), "step {i}");
        }
    }
}
