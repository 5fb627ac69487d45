//! One load per key at a time (go-zero's `SingleFlight`, against cache breakdown): while a
//! caller loads a key from the database, others asking for the same key wait for its result
//! instead of querying too. Hand-written because the result is shared as the cached text
//! (followers decode it) and a leader that is cancelled must not strand its followers: the
//! crates that do single-flight share typed values and block followers on a cancelled leader.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

/// What a finished load left: the row's cached text, `None` for "no such row", or an error.
pub(super) type Shared = Result<Option<String>, String>;

/// The loads in progress, by key.
#[derive(Default)]
pub(super) struct Flights {
    running: Mutex<HashMap<String, watch::Receiver<Option<Shared>>>>,
}

/// The caller's part in a key's load.
pub(super) enum Role {
    /// Load it, then [`Leader::finish`].
    Leader(Leader),
    /// Another caller loaded it.
    Follower(Shared),
}

/// The caller that loads a key; dropping it unfinished lets the followers load themselves.
pub(super) struct Leader {
    key: String,
    done: watch::Sender<Option<Shared>>,
    flights: std::sync::Weak<Flights>,
}

impl Leader {
    /// Hands the result to every follower.
    pub(super) fn finish(self, result: Shared) {
        let _ = self.done.send(Some(result));
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if let Some(flights) = self.flights.upgrade() {
            flights.lock().remove(&self.key);
        }
    }
}

impl Flights {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Receiver<Option<Shared>>>> {
        // A panic while holding the lock leaves the map usable: it holds only receivers.
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Joins the load of `key` in progress, or becomes its leader.
    pub(super) async fn join(self: &std::sync::Arc<Self>, key: &str) -> Role {
        let waiting = {
            let mut running = self.lock();
            match running.get(key) {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    running.insert(key.to_owned(), rx);
                    return Role::Leader(Leader {
                        key: key.to_owned(),
                        done: tx,
                        flights: std::sync::Arc::downgrade(self),
                    });
                }
            }
        };
        let mut waiting = waiting;
        match waiting.wait_for(Option::is_some).await {
            Ok(result) => Role::Follower(result.clone().unwrap_or(Ok(None))),
            // The leader was cancelled before it finished: load alone.
            Err(_) => Role::Leader(Leader {
                key: String::new(),
                done: watch::channel(None).0,
                flights: std::sync::Weak::new(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn followers_get_the_leaders_result_and_the_key_is_free_after() {
        let flights = Arc::new(Flights::default());
        let Role::Leader(leader) = flights.join("k").await else {
            panic!("the first caller leads");
        };
        let f = flights.clone();
        let follower = tokio::spawn(async move { f.join("k").await });
        tokio::task::yield_now().await;
        assert!(!follower.is_finished(), "a follower waits for the leader");
        leader.finish(Ok(Some("row".into())));
        match follower.await.unwrap() {
            Role::Follower(Ok(Some(text))) => assert_eq!(text, "row"),
            _ => panic!("the follower shares the leader's row"),
        }
        assert!(matches!(flights.join("k").await, Role::Leader(_)));
    }

    #[tokio::test]
    async fn a_cancelled_leader_does_not_strand_followers() {
        let flights = Arc::new(Flights::default());
        let Role::Leader(leader) = flights.join("k").await else {
            panic!("the first caller leads");
        };
        let f = flights.clone();
        let follower = tokio::spawn(async move { f.join("k").await });
        tokio::task::yield_now().await;
        drop(leader);
        assert!(matches!(follower.await.unwrap(), Role::Leader(_)));
    }
}
