//! Undoing what a check created on the system under test.
//!
//! A check that creates state (a roster item, a subscription, a chat room, a SIP
//! publication) registers its undo with [`Cleanup::register`] as soon as the state
//! exists; in its normal course it runs the undo itself ([`Undo::run`]). Whatever is
//! still registered when the check ends — it failed early, timed out, or the run was
//! interrupted or hit its deadline — the runner awaits, each undo with its own budget,
//! and the report names what could not be undone.

use futures::future::BoxFuture;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

/// An undo, started with the instant by which it must be done.
type UndoFn = Box<dyn FnOnce(Instant) -> BoxFuture<'static, Result<(), String>> + Send>;
type Pending = Vec<(u64, String, UndoFn)>;

/// The undos one check has registered and not yet run.
#[derive(Clone, Default)]
pub struct Cleanup {
    pending: Arc<Mutex<Pending>>,
    next: Arc<AtomicU64>,
}

impl std::fmt::Debug for Cleanup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cleanup")
            .field("pending", &self.pending_names())
            .finish()
    }
}

/// One registered undo; run it with [`Undo::run`] when the check is done with the state.
#[must_use = "an undo is run by the runner only if the check does not run it"]
pub struct Undo {
    id: u64,
    cleanup: Cleanup,
}

impl Cleanup {
    /// Registers `undo`, described as `what` (`room impv-123@conference.lab.test`): a
    /// function of the instant by which the undo must be done, giving a future that owns
    /// what it needs (it may run after the check's own future was dropped). Whoever runs
    /// it gives the deadline: the check its own, the runner what the run has left.
    pub fn register<F, Fut>(&self, what: impl Into<String>, undo: F) -> Undo
    where
        F: FnOnce(Instant) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let undo: UndoFn = Box::new(move |deadline| Box::pin(undo(deadline)));
        self.pending
            .lock()
            .expect("not poisoned")
            .push((id, what.into(), undo));
        Undo {
            id,
            cleanup: self.clone(),
        }
    }

    /// What is registered and not yet undone.
    pub fn pending_names(&self) -> Vec<String> {
        self.pending
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|(_, w, _)| w.clone())
            .collect()
    }

    /// Takes every pending undo out (the runner runs them).
    fn take_all(&self) -> Vec<(String, UndoFn)> {
        std::mem::take(&mut *self.pending.lock().expect("not poisoned"))
            .into_iter()
            .map(|(_, w, f)| (w, f))
            .collect()
    }

    fn take(&self, id: u64) -> Option<UndoFn> {
        let mut pending = self.pending.lock().expect("not poisoned");
        let i = pending.iter().position(|(i, _, _)| *i == id)?;
        Some(pending.remove(i).2)
    }
}

impl Undo {
    /// Runs the undo now, to be done by `deadline` (and unregisters it): the check's
    /// normal teardown.
    pub async fn run(self, deadline: Instant) -> Result<(), String> {
        match self.cleanup.take(self.id) {
            Some(f) => match tokio::time::timeout_at(deadline, f(deadline)).await {
                Ok(r) => r,
                Err(_) => Err("not done in time".into()),
            },
            None => Ok(()),
        }
    }

    /// Unregisters the undo without running it (the state is already gone).
    pub fn forget(self) {
        drop(self.cleanup.take(self.id));
    }
}

/// Runs every undo still registered, concurrently, each to be done by `deadline`: the
/// ones that failed or did not finish, with why.
pub async fn run_pending(cleanup: &Cleanup, deadline: Instant) -> Vec<(String, String)> {
    // Rounded up: the time it had, as given.
    let budget_ms = deadline
        .saturating_duration_since(Instant::now())
        .as_micros()
        .div_ceil(1000);
    run_pending_as(cleanup, deadline, format!("not done within {budget_ms} ms")).await
}

/// [`run_pending`], saying `late` of an undo that did not finish by `deadline`.
pub(crate) async fn run_pending_as(
    cleanup: &Cleanup,
    deadline: Instant,
    late: String,
) -> Vec<(String, String)> {
    let undos = cleanup.take_all();
    let late = &late;
    let runs = undos.into_iter().map(|(what, f)| async move {
        match tokio::time::timeout_at(deadline, f(deadline)).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some((what, e)),
            Err(_) => Some((what, late.clone())),
        }
    });
    futures::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[tokio::test]
    async fn an_undo_run_by_the_check_is_not_run_again() {
        let c = Cleanup::default();
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        let u = c.register("room", |_| async move {
            n2.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        u.run(Instant::now() + Duration::from_secs(1))
            .await
            .unwrap();
        assert!(run_pending(&c, Instant::now() + Duration::from_secs(1))
            .await
            .is_empty());
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn what_is_left_is_run_and_failures_are_named() {
        let c = Cleanup::default();
        let _a = c.register("roster item bob", |_| async { Ok(()) });
        let _b = c.register("room r1", |_| async { Err("item-not-found".into()) });
        let _h = c.register("publication", |_| std::future::pending());
        let _f = c.register("forgotten", |_| async { panic!("never run") });
        _f.forget();
        let mut failed = run_pending(&c, Instant::now() + Duration::from_millis(50)).await;
        failed.sort();
        assert_eq!(failed.len(), 2, "{failed:?}");
        assert_eq!(failed[0].0, "publication");
        assert!(failed[0].1.contains("not done within 50 ms"));
        assert_eq!(failed[1], ("room r1".into(), "item-not-found".into()));
        assert!(c.pending_names().is_empty());
    }
}
