//! Panic recovery: a panicking handler answers 500 (JSON), the panic is logged, the server
//! lives on. The stack catches the panic around the rest of the request (see `stack.rs`).

use std::any::Any;

use axum::response::{IntoResponse, Response};

use crate::error::Error;

/// The answer to a panic caught in the stack: logged (with the request's trace ids, since the
/// stack catches it inside the request), then 500 JSON.
pub(crate) fn answer(err: Box<dyn Any + Send + 'static>) -> Response {
    let msg = err
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    tracing::error!(panic = %msg, "handler panicked");
    Error::Internal(format!("panic: {msg}")).into_response()
}

#[cfg(test)]
mod tests {
    use crate::middleware::Stack;
    use crate::middleware::test_util::{get, run_stack};
    use http::StatusCode;

    /// Records, for each event, whether request ids were current when it was written.
    #[derive(Clone, Default)]
    struct IdsSeen(std::sync::Arc<std::sync::Mutex<Vec<(String, bool)>>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for IdsSeen {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            let name = event.metadata().name().to_owned();
            let ids = crate::ids::current().is_some();
            self.0.lock().unwrap().push((name, ids));
        }
    }

    #[tokio::test]
    async fn panic_becomes_500_json_logged_with_the_request_ids() {
        use tracing_subscriber::layer::SubscriberExt;
        let seen = IdsSeen::default();
        let _guard =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(seen.clone()));
        let stack = Stack {
            recover: true,
            trace: Some(crate::middleware::Trace::new("/boom")),
            ..Stack::default()
        };
        let boom = |_r| async {
            if true {
                panic!("kaboom")
            }
        };
        let (status, headers, body) = run_stack(stack, boom, get("/boom")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["code"], 500);
        assert!(
            headers.contains_key("traceparent"),
            "traced like any answer"
        );
        let seen = seen.0.lock().unwrap();
        assert!(
            seen.iter().any(|(_, ids)| *ids),
            "the panic line carries the request's ids: {seen:?}"
        );
    }

    #[tokio::test]
    async fn without_recover_the_panic_goes_on() {
        let boom = |_r| async {
            if true {
                panic!("kaboom")
            }
        };
        let run = tokio::spawn(run_stack(Stack::default(), boom, get("/boom")));
        assert!(run.await.unwrap_err().is_panic());
    }
}
