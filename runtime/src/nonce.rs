//! Replay protection: a nonce is accepted once until it expires. Every nonce is kept in a
//! bounded store in this process; with Redis configured it is also `SET NX` there (with the
//! same expiry), so that replicas refuse what another replica saw. When Redis fails the local
//! store alone decides (logged once per outage), and Redis is asked again a few seconds later.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::redis_conn::Redis;

/// How long Redis is left alone after a failure (so a dead Redis costs no time per request).
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Seen nonces, by expiry (unix seconds) and a hash of the nonce.
///
/// Bounded: when full, the nonces that expire first are dropped and every nonce expiring no
/// later than them is refused from then on, so a flood shortens the window nonces are
/// accepted in rather than letting a dropped one be replayed.
#[derive(Debug)]
struct Local {
    seen: BTreeSet<(i64, [u8; 32])>,
    /// Nonces expiring at or before this were dropped unexpired: refuse them all.
    floor: i64,
    capacity: usize,
}

impl Local {
    /// `true` the first time `nonce` (valid until `until`) is offered.
    fn first_use(&mut self, nonce: &str, until: i64, now: i64) -> bool {
        while self.seen.first().is_some_and(|&(u, _)| u < now) {
            self.seen.pop_first();
        }
        if until <= self.floor {
            return false;
        }
        let hash: [u8; 32] = Sha256::digest(nonce.as_bytes()).into();
        if !self.seen.insert((until, hash)) {
            return false;
        }
        while self.seen.len() > self.capacity.max(1) {
            if let Some((u, _)) = self.seen.pop_first() {
                self.floor = self.floor.max(u);
            }
        }
        true
    }
}

/// Where nonces are remembered.
#[derive(Debug)]
pub(crate) struct Nonces {
    local: Mutex<Local>,
    redis: Option<(Redis, String)>,
    /// Redis is not asked before this instant (after a failure).
    retry_at: Mutex<Option<Instant>>,
    /// Redis failed and has not answered since (for logging the outage once).
    down: AtomicBool,
}

impl Nonces {
    /// A store keeping at most `capacity` nonces locally, and every nonce in `redis` (keys
    /// `<prefix>:<nonce>`) when given.
    pub(crate) fn new(capacity: usize, redis: Option<(Redis, String)>) -> Self {
        Nonces {
            local: Mutex::new(Local {
                seen: BTreeSet::new(),
                floor: i64::MIN,
                capacity,
            }),
            redis,
            retry_at: Mutex::new(None),
            down: AtomicBool::new(false),
        }
    }

    /// `true` the first time `nonce`, valid until the unix second `until`, is offered (`now`
    /// being the current unix second); `false` for a replay.
    pub(crate) async fn first_use(&self, nonce: &str, until: i64, now: i64) -> bool {
        let fresh = self
            .local
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .first_use(nonce, until, now);
        if !fresh {
            return false;
        }
        let Some((redis, prefix)) = &self.redis else {
            return true;
        };
        if self
            .retry_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| Instant::now() < t)
        {
            return true;
        }
        let ttl = until.saturating_sub(now).saturating_add(1).max(1);
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{prefix}:{nonce}"))
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(ttl);
        match redis.query::<Option<String>>(&cmd).await {
            Ok(reply) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("Signature.Redis answers again: replays are checked there");
                }
                reply.is_some()
            }
            Err(e) => {
                *self.retry_at.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(Instant::now() + RETRY_AFTER);
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        error = %e,
                        "Signature.Redis is unreachable: replays are checked against this \
                         process's local store only, until Redis answers again"
                    );
                }
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_nonce_is_accepted_once_until_it_expires() {
        let n = Nonces::new(10, None);
        assert!(n.first_use("a", 100, 50).await);
        assert!(!n.first_use("a", 100, 60).await, "replay");
        assert!(n.first_use("b", 100, 60).await);
        assert!(
            !n.first_use("a", 100, 100).await,
            "still valid at its last second"
        );
    }

    #[test]
    fn a_full_store_refuses_what_it_dropped_rather_than_forget_it() {
        let mut l = Local {
            seen: BTreeSet::new(),
            floor: i64::MIN,
            capacity: 3,
        };
        for (i, until) in [110, 120, 130].into_iter().enumerate() {
            assert!(l.first_use(&i.to_string(), until, 100));
        }
        assert!(l.first_use("new", 140, 100), "full: 110 is dropped");
        assert_eq!(l.seen.len(), 3);
        assert!(
            !l.first_use("0", 110, 100),
            "the dropped one is not replayable"
        );
        assert!(
            !l.first_use("never seen", 105, 100),
            "nor anything expiring before it"
        );
        assert!(l.first_use("later", 150, 100));
        // Expired entries leave without raising the floor.
        assert!(l.first_use("x", 200, 160));
        assert_eq!(l.seen.len(), 1, "{:?}", l.seen);
    }
}
