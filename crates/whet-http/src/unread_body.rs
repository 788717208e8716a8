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
    // A client that asked to hear first whether to send its body (`Expect: 100-continue`)
    // would be made to send it just to have it thrown away.
    let waits_to_send = req
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    // A request without a body (most reads) has nothing to leave.
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let (give_back, mut left) = oneshot::channel();
    let req = req.map(|inner| {
        Body::new(Watched {
            inner: Some(inner),
            ended: false,
            give_back: Some(give_back),
        })
    });
    let mut response = next.run(req).await;
    // Nothing came back when the body was read to its end, or is still held by a task.
    let Ok(rest) = left.try_recv() else {
        return response;
    };
    let fits = !waits_to_send
        && rest
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::Router;
    use axum::body::Bytes;
    use axum::http::StatusCode;
    use axum::routing::post;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpStream;

    /// Serves a router whose `/refuse` answers without reading the body and whose `/read`
    /// reads it, behind the middleware when `finish` is set.
    async fn serve(finish: bool) -> std::net::SocketAddr {
        let mut app = Router::new()
            .route("/refuse", post(|| async { StatusCode::BAD_REQUEST }))
            .route(
                "/read",
                post(|body: Bytes| async move { body.len().to_string() }),
            );
        if finish {
            app = app.layer(axum::middleware::from_fn(super::finish_unread_bodies));
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    /// Writes a request's head, then after `pause` its body; returns the answer's status line
    /// and headers (lowercase), its body read, or None when the connection closed unanswered.
    async fn exchange(
        conn: &mut BufReader<TcpStream>,
        head: &str,
        body: &[u8],
        pause: Duration,
    ) -> Option<(String, Vec<String>)> {
        conn.get_mut().write_all(head.as_bytes()).await.ok()?;
        if !body.is_empty() {
            tokio::time::sleep(pause).await;
            conn.get_mut().write_all(body).await.ok()?;
        }
        let mut status = String::new();
        if conn.read_line(&mut status).await.ok()? == 0 {
            return None;
        }
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            conn.read_line(&mut line).await.ok()?;
            let line = line.trim_end().to_ascii_lowercase();
            if line.is_empty() {
                break;
            }
            headers.push(line);
        }
        let length = headers
            .iter()
            .find_map(|h| h.strip_prefix("content-length:"))
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut answer = vec![0; length];
        conn.read_exact(&mut answer).await.ok()?;
        Some((status.trim_end().to_string(), headers))
    }

    fn post_head(path: &str, length: usize) -> String {
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n")
    }

    /// Whether a request to `/refuse` whose body comes 200 ms after its head leaves the
    /// connection usable for a second request.
    async fn connection_survives_a_refusal(addr: std::net::SocketAddr) -> bool {
        let mut conn = BufReader::new(TcpStream::connect(addr).await.unwrap());
        let pause = Duration::from_millis(200);
        let (status, headers) = exchange(&mut conn, &post_head("/refuse", 5), b"hello", pause)
            .await
            .unwrap();
        assert!(status.contains(" 400 "), "{status}");
        assert!(
            !headers.iter().any(|h| h == "connection: close"),
            "{headers:?}"
        );
        exchange(&mut conn, &post_head("/read", 3), b"abc", Duration::ZERO)
            .await
            .is_some_and(|(status, _)| status.contains(" 200 "))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_body_left_unread_is_read_before_the_answer_and_the_connection_lives_on() {
        // Without the middleware the second request finds the connection closed: the test
        // sees the failure it guards against.
        assert!(!connection_survives_a_refusal(serve(false).await).await);
        let addr = serve(true).await;
        for _ in 0..3 {
            assert!(connection_survives_a_refusal(addr).await);
        }
        // A body read to its end comes back to no one.
        let mut conn = BufReader::new(TcpStream::connect(addr).await.unwrap());
        let (status, headers) = exchange(&mut conn, &post_head("/read", 3), b"abc", Duration::ZERO)
            .await
            .unwrap();
        assert!(status.contains(" 200 ") && !headers.iter().any(|h| h == "connection: close"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_body_too_big_to_read_is_left_and_the_answer_closes_the_connection() {
        let addr = serve(true).await;
        let mut conn = BufReader::new(TcpStream::connect(addr).await.unwrap());
        let head = post_head("/refuse", super::LEFT_BODY_LIMIT + 1);
        let (status, headers) = exchange(&mut conn, &head, b"", Duration::ZERO)
            .await
            .unwrap();
        assert!(status.contains(" 400 "), "{status}");
        assert!(
            headers.iter().any(|h| h == "connection: close"),
            "{headers:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_waiting_to_send_its_body_is_answered_without_sending_it() {
        let addr = serve(true).await;
        let mut conn = BufReader::new(TcpStream::connect(addr).await.unwrap());
        let head = "POST /refuse HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\
                    Content-Length: 5\r\n\r\n";
        let answer = exchange(&mut conn, head, b"", Duration::ZERO);
        // Read for the body instead, the middleware would wait LEFT_BODY_WAIT for it.
        let (status, headers) = tokio::time::timeout(Duration::from_secs(5), answer)
            .await
            .expect("an answer before the body was sent")
            .unwrap();
        assert!(status.contains(" 400 "), "{status}");
        assert!(
            headers.iter().any(|h| h == "connection: close"),
            "{headers:?}"
        );
    }
}
