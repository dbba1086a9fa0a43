//! Work that must finish once begun, even when whoever awaits it goes away.
//!
//! A produce request is enqueued as a whole or not at all: if its client disconnects while the
//! records are being sent (or retried), the rest must still be sent and answered, never cut off
//! half-way. Running that work in a task of its own guarantees it, but costs a spawn and two
//! wake-ups per request (the task's, then the waiting handler's), which single-record produce
//! measured. [`Finish`] runs the future in its caller's task instead, and only if the caller
//! drops it before it completes hands the rest to a new task.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future that completes even if dropped: see the module documentation.
pub struct Finish<F>
where
    F: Future + Send + 'static,
    F::Output: Send,
{
    inner: Option<Pin<Box<F>>>,
}

impl<F> Finish<F>
where
    F: Future + Send + 'static,
    F::Output: Send,
{
    pub fn new(future: F) -> Self {
        Finish {
            inner: Some(Box::pin(future)),
        }
    }
}

impl<F> Future for Finish<F>
where
    F: Future + Send + 'static,
    F::Output: Send,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let future = self
            .inner
            .as_mut()
            .expect("Finish polled after it completed");
        let output = std::task::ready!(future.as_mut().poll(cx));
        self.inner = None;
        Poll::Ready(output)
    }
}

impl<F> Drop for Finish<F>
where
    F: Future + Send + 'static,
    F::Output: Send,
{
    fn drop(&mut self) {
        // Dropped before completing: the rest runs on its own (unless the runtime itself is
        // gone, when nothing can run any more).
        if let Some(rest) = self.inner.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    rest.await;
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::sync::oneshot;

    #[tokio::test]
    async fn completes_in_place_when_awaited() {
        assert_eq!(Finish::new(async { 7 }).await, 7);
    }

    #[tokio::test]
    async fn work_dropped_half_way_still_completes() {
        let (go, wait) = oneshot::channel::<()>();
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let mut work = Finish::new(async move {
            let _ = wait.await;
            flag.store(true, Ordering::SeqCst);
        });
        // Started, waiting on `go`, then abandoned by its caller.
        let waker = futures_util::task::noop_waker();
        assert!(Pin::new(&mut work)
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        drop(work);
        go.send(()).unwrap();
        let finished = tokio::time::timeout(Duration::from_secs(5), async {
            while !done.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        assert!(finished.is_ok(), "the abandoned work never completed");
    }
}
