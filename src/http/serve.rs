//! The accept loop: HTTP/1.1 connections served by hyper with a timer, so a
//! client that dribbles its headers is cut off after HEADER_TIMEOUT_SECS
//! (axum::serve sets no timer, and hyper enforces no header timeout without
//! one). Graceful shutdown: stop accepting, let in-flight requests finish
//! (at most 30 s), then return.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Serves `app` on `listener` until `stop` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    header_timeout: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            let app = app.clone();
            async move {
                Ok::<_, Infallible>(
                    app.oneshot(req.map(axum::body::Body::new))
                        .await
                        .unwrap_or_else(|e| match e {}),
                )
            }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .keep_alive(true)
            // hyper answers a bare 431 beyond these; below them the header
            // limit middleware answers in the error envelope.
            .max_headers(super::HYPER_MAX_HEADERS)
            .max_buf_size(super::HYPER_MAX_BUF)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within 30 s; closing");
    }
}
