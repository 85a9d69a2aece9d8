//! A counting semaphore that serves its waiters by priority, then in arrival order.
//!
//! The runner holds one for the run (`--concurrency`) and one per server
//! (`--per-server`). A waiter's priority is the length of the longest chain of checks
//! that wait for its check: the checks that hold up the most work start first, so that
//! a run takes about as long as its slowest chain even when thousands of checks compete
//! for the permits (a first-come queue let 3,000 short leaf checks of a 120-node run
//! delay the start of the DNS → SIP chains by seconds).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The semaphore. Cloning shares it.
#[derive(Clone)]
pub(crate) struct Gate {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    free: usize,
    waiting: BinaryHeap<Waiter>,
    arrivals: u64,
}

struct Waiter {
    priority: u32,
    arrival: u64,
    tx: oneshot::Sender<Permit>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    /// The heap's greatest is served first: the highest priority, then the earliest.
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then(other.arrival.cmp(&self.arrival))
    }
}

/// A permit of a [`Gate`]; given back when dropped.
pub(crate) struct Permit {
    gate: Option<Arc<Mutex<Inner>>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(gate) = self.gate.take() {
            release(gate);
        }
    }
}

/// Hands the permit to the best waiter still waiting, or puts it back.
fn release(gate: Arc<Mutex<Inner>>) {
    let mut inner = gate.lock().expect("gate lock never poisoned");
    while let Some(w) = inner.waiting.pop() {
        let permit = Permit {
            gate: Some(gate.clone()),
        };
        match w.tx.send(permit) {
            Ok(()) => return,
            // That waiter gave up (its check was stopped): the next one.
            Err(mut unsent) => {
                unsent.gate = None;
            }
        }
    }
    inner.free += 1;
}

impl Gate {
    /// A gate of `permits` permits (at least one).
    pub(crate) fn new(permits: usize) -> Gate {
        Gate {
            inner: Arc::new(Mutex::new(Inner {
                free: permits.max(1),
                waiting: BinaryHeap::new(),
                arrivals: 0,
            })),
        }
    }

    /// Waits for a permit. Dropping the future gives up the place in the queue (and a
    /// permit handed over meanwhile goes to the next waiter).
    pub(crate) async fn acquire(&self, priority: u32) -> Permit {
        let rx = {
            let mut inner = self.inner.lock().expect("gate lock never poisoned");
            if inner.free > 0 {
                inner.free -= 1;
                return Permit {
                    gate: Some(self.inner.clone()),
                };
            }
            let (tx, rx) = oneshot::channel();
            inner.arrivals += 1;
            let arrival = inner.arrivals;
            inner.waiting.push(Waiter {
                priority,
                arrival,
                tx,
            });
            rx
        };
        // The sender lives in the heap until it is sent: it is never dropped unsent
        // while this receiver waits.
        rx.await
            .expect("a waiting place is only removed by a hand-over")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
    use std::time::Duration;

    #[tokio::test]
    async fn serves_the_highest_priority_first_then_the_earliest() {
        let gate = Gate::new(1);
        let held = gate.acquire(0).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, priority) in [("low", 1), ("high-1", 5), ("mid", 3), ("high-2", 5)] {
            let (gate, order) = (gate.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _p = gate.acquire(priority).await;
                order.lock().unwrap().push(name);
            }));
            // Arrival order is the order of this loop.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["high-1", "high-2", "mid", "low"]);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_loses_no_permit() {
        let gate = Gate::new(1);
        let held = gate.acquire(0).await;
        // Waits, then is dropped before it gets the permit.
        let quitter = tokio::time::timeout(Duration::from_millis(10), gate.acquire(9)).await;
        assert!(quitter.is_err(), "no permit was free");
        drop(held);
        // The permit is back: a later waiter gets it at once.
        let again = tokio::time::timeout(Duration::from_millis(100), gate.acquire(0)).await;
        assert!(
            again.is_ok(),
            "the permit was lost with the waiter that gave up"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn never_more_holders_than_permits() {
        let gate = Gate::new(3);
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..200u32 {
            let (gate, now, most) = (gate.clone(), now.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                // Some waiters give up half-way.
                let wait = gate.acquire(i % 7);
                let permit = if i % 5 == 0 {
                    match tokio::time::timeout(Duration::from_micros(50), wait).await {
                        Ok(p) => p,
                        Err(_) => return,
                    }
                } else {
                    wait.await
                };
                let n = now.fetch_add(1, AtomicOrdering::SeqCst) + 1;
                most.fetch_max(n, AtomicOrdering::SeqCst);
                tokio::time::sleep(Duration::from_micros(200)).await;
                now.fetch_sub(1, AtomicOrdering::SeqCst);
                drop(permit);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert!(most.load(AtomicOrdering::SeqCst) <= 3);
        assert_eq!(
            most.load(AtomicOrdering::SeqCst),
            3,
            "the permits were used"
        );
        // All three permits are free again.
        for _ in 0..3 {
            let p = tokio::time::timeout(Duration::from_millis(100), gate.acquire(0)).await;
            std::mem::forget(p.expect("a permit is free"));
        }
    }
}
