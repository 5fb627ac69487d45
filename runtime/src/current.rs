//! Values current on a thread while a request's future is polled: its trace ids (`ids.rs`)
//! and its client's address (`peer.rs`), which the log and extractors read without their
//! being passed down. Hand-written rather than `tokio::task_local!`, whose scopes only wrap
//! a whole future or closure: the stack also makes the ids current, with a guard, for the
//! synchronous part of a call and for each poll of its own future.

use std::cell::Cell;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread::LocalKey;

/// A value with a slot of its own on every thread.
pub trait Current: Copy + 'static {
    /// This thread's slot.
    fn slot() -> &'static LocalKey<Cell<Option<Self>>>;
}

/// The value current on this thread, if any.
pub(crate) fn get<T: Current>() -> Option<T> {
    T::slot().with(Cell::get)
}

/// Makes `value` current on this thread until the returned guard drops.
pub(crate) fn enter<T: Current>(value: T) -> Restore<T> {
    Restore(T::slot().with(|c| c.replace(Some(value))))
}

/// Puts the previous value back when dropped, also when a handler panics through it.
pub struct Restore<T: Current>(Option<T>);

impl<T: Current> Drop for Restore<T> {
    fn drop(&mut self) {
        T::slot().with(|c| c.set(self.0));
    }
}

pin_project_lite::pin_project! {
    /// A future polled with `value` current.
    pub struct WithCurrent<T, F> {
        value: T,
        #[pin]
        fut: F,
    }
}

impl<T, F> WithCurrent<T, F> {
    /// Polls `fut` with `value` current.
    pub fn new(value: T, fut: F) -> Self {
        WithCurrent { value, fut }
    }
}

impl<T: Current, F: Future> Future for WithCurrent<T, F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _restore = enter(*this.value);
        this.fut.poll(cx)
    }
}
