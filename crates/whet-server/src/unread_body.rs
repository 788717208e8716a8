//! Requests answered without reading their whole body. A client writes a request's head and
//! its body separately; when the answer goes out before the body was read (a refused token, a
//! malformed request, a failed upload), hyper finds the body unread and closes the kept-alive
//! connection after the answer, without saying so. A client that already put its next request
//! on that connection then gets "closed without response". So the body a handler left is
//! handed back here and read to its end before the answer goes out; one too big or too slow to
//! read is left, and the answer says `Connection: close`, so the client opens a new connection.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use tokio::sync::oneshot;

/// The most of a left body read before answering.
const LEFT_BODY_LIMIT: usize = 1 << 20;
/// How long the rest of a left body may take to arrive.
const LEFT_BODY_WAIT: Duration = Duration::from_secs(10);

/// A request body that, dropped before its end, gives itself back to the middleware.
struct Watched {
    inner: Option<Body>,
    ended: bool,
    give_back: Option<oneshot::Sender<Body>>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            this.ended = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if self.is_end_stream() {
            return;
        }
        if let (Some(inner), Some(give_back)) = (self.inner.take(), self.give_back.take()) {
            let _ = give_back.send(inner);
        }
    }
}

/// Middleware: reads what the handler left of the request's body before the answer goes out.
pub async fn finish_unread_bodies(req: Request, next: Next) -> Response {
    let (give_back, mut left) = oneshot::channel();
    let req = req.map(|inner| {
        let ended = inner.is_end_stream();
        Body::new(Watched {
            inner: Some(inner),
            ended,
            give_back: Some(give_back),
        })
    });
    let mut response = next.run(req).await;
    // Nothing came back when the body was read to its end, or is still held by a task.
    let Ok(rest) = left.try_recv() else {
        return response;
    };
    let fits = rest
        .size_hint()
        .upper()
        .is_none_or(|n| n <= LEFT_BODY_LIMIT as u64);
    if fits {
        let read = axum::body::to_bytes(rest, LEFT_BODY_LIMIT);
        if let Ok(Ok(_)) = tokio::time::timeout(LEFT_BODY_WAIT, read).await {
            return response;
        }
    }
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
