//! The deadline of the request being served: the REST route's timeout counted from the
//! request's arrival, and for gRPC the smaller of `Timeout` and the caller's `grpc-timeout`;
//! current while the stack polls the handler, as the trace ids are. Logic reads it through
//! [`crate::Ctx::deadline`].

use std::cell::Cell;
use std::time::Instant;

use crate::current::{self, Current};

/// When the request being served must be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestDeadline(pub Instant);

thread_local! {
    static DEADLINE: Cell<Option<RequestDeadline>> = const { Cell::new(None) };
}

impl Current for RequestDeadline {
    fn slot() -> &'static std::thread::LocalKey<Cell<Option<RequestDeadline>>> {
        &DEADLINE
    }
}

/// The deadline of the request being polled on this thread, if something limits it.
pub fn current() -> Option<Instant> {
    current::get::<RequestDeadline>().map(|d| d.0)
}

/// Makes `deadline` current on this thread until the returned guard drops.
pub(crate) fn enter(deadline: Instant) -> current::Restore<RequestDeadline> {
    current::enter(RequestDeadline(deadline))
}
