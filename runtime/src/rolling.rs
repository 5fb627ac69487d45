//! A time-bucketed rolling window, the counter both the breaker and the shedder use
//! (go-zero's `collection.RollingWindow`). Hand-written because the algorithms below need its
//! exact semantics (reset of expired buckets, optionally ignoring the current bucket), which no
//! general crate offers. Callers pass `now`, so tests control time.

use std::time::{Duration, Instant};

pub(crate) struct RollingWindow<B> {
    buckets: Vec<B>,
    interval: Duration,
    offset: usize,
    /// Where the current bucket starts, and where the next one does.
    last: Instant,
    next: Instant,
    ignore_current: bool,
}

impl<B: Default> RollingWindow<B> {
    pub(crate) fn new(size: usize, interval: Duration, ignore_current: bool, now: Instant) -> Self {
        RollingWindow {
            buckets: (0..size).map(|_| B::default()).collect(),
            interval,
            offset: 0,
            last: now,
            next: now + interval,
            ignore_current,
        }
    }

    fn update(&mut self, now: Instant) {
        self.expire(now, |_| {});
    }

    /// Moves the window to `now`, showing each bucket that falls out of it to `expired`
    /// (for callers that keep running totals).
    pub(crate) fn expire(&mut self, now: Instant, mut expired: impl FnMut(&B)) {
        // Nearly every call lands in the current bucket: one comparison instead of the
        // 128-bit division below (this runs several times per request).
        if now < self.next {
            return;
        }
        let elapsed = now.saturating_duration_since(self.last);
        let span = (elapsed.as_nanos() / self.interval.as_nanos().max(1)) as usize;
        if span == 0 {
            return;
        }
        let size = self.buckets.len();
        for i in 0..span.min(size) {
            let b = &mut self.buckets[(self.offset + 1 + i) % size];
            expired(b);
            *b = B::default();
        }
        self.offset = (self.offset + span) % size;
        self.last += self.interval * span as u32;
        self.next = self.last + self.interval;
    }

    /// The bucket for `now`, after expiring old ones.
    pub(crate) fn current(&mut self, now: Instant) -> &mut B {
        self.update(now);
        &mut self.buckets[self.offset]
    }

    /// Where the current bucket (for `now`) starts: it changes exactly when the window moves.
    pub(crate) fn current_start(&mut self, now: Instant) -> Instant {
        self.update(now);
        self.last
    }

    /// Visits the live buckets from oldest to newest.
    pub(crate) fn reduce(&mut self, now: Instant, mut f: impl FnMut(&B)) {
        self.update(now);
        let size = self.buckets.len();
        let count = if self.ignore_current { size - 1 } else { size };
        for i in 0..count {
            f(&self.buckets[(self.offset + 1 + i) % size]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_old_buckets_and_can_ignore_current() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut w = RollingWindow::<i64>::new(3, ms(100), false, t0);
        *w.current(t0) += 1;
        *w.current(t0 + ms(100)) += 2;
        *w.current(t0 + ms(250)) += 4;
        let mut sum = 0;
        w.reduce(t0 + ms(250), |b| sum += b);
        assert_eq!(sum, 7);
        let mut sum = 0;
        w.reduce(t0 + ms(300), |b| sum += b);
        assert_eq!(sum, 6, "the first bucket expired");
        let mut sum = 0;
        w.reduce(t0 + ms(10_000), |b| sum += b);
        assert_eq!(sum, 0);
        let mut w = RollingWindow::<i64>::new(3, ms(100), true, t0);
        *w.current(t0) += 1;
        let mut sum = 0;
        w.reduce(t0, |b| sum += b);
        assert_eq!(sum, 0, "current bucket ignored");
        w.reduce(t0 + ms(100), |b| sum += b);
        assert_eq!(sum, 1);
    }
}
