//! The HTTP side: accepting connections and turning requests into calls of
//! [`routes::respond`] and back.
//!
//! What keeps one client from hurting the others:
//!
//! * each connection is its own task on the runtime, so a client that
//!   sends nothing, or sends slowly, holds no thread;
//! * a client must send a request's whole head within
//!   [`HEADER_TIMEOUT`] of connecting or of its previous answer, or the
//!   connection is closed, and no connection lives longer than
//!   [`CONNECTION_LIFETIME`];
//! * a request head larger than [`MAX_HEAD`] bytes is answered with 431 and
//!   the connection closed; request bodies are never read;
//! * at most [`MAX_CONNECTIONS`] connections are open at once: one more is
//!   closed as soon as it is accepted, so memory stays bounded;
//! * reading files runs on tokio's blocking pool, at most
//!   [`BLOCKING_THREADS`] threads; requests beyond that wait their turn.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::routes::{self, Reply, State};

/// Time a client has to send a request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a connection stays open, however busy.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(300);
/// Largest request head (request line and headers), in bytes.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most connections open at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// Most threads reading files at once.
pub const BLOCKING_THREADS: usize = 4;

/// A server bound to its address, not yet serving.
#[derive(Debug)]
pub struct Server {
    listener: std::net::TcpListener,
    address: SocketAddr,
    state: State,
}

impl Server {
    /// Binds `address` (port 0 picks a free port); [`Server::run`] then
    /// serves `state`'s routes on it.
    pub fn bind(address: SocketAddr, state: State) -> std::io::Result<Server> {
        let context = |e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("cannot listen on {address}: {e}"))
        };
        let listener = std::net::TcpListener::bind(address).map_err(context)?;
        listener.set_nonblocking(true).map_err(context)?;
        let address = listener.local_addr().map_err(context)?;
        Ok(Server {
            listener,
            address,
            state,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Serves until the process is stopped; returns only when the server
    /// cannot start.
    pub fn run(self) -> std::io::Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(BLOCKING_THREADS)
            .enable_all()
            .build()
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot start the server: {e}")))?;
        let state = Arc::new(self.state);
        let address = self.address;
        runtime.block_on(async move {
            let listener = TcpListener::from_std(self.listener).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot listen on {address}: {e}"))
            })?;
            accept_loop(listener, state).await
        })
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors or a connection reset before it
                // was accepted: wait a little instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(Arc::clone(&state), request));
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEAD)
                .serve_connection(TokioIo::new(stream), service);
            // Errors (a client gone, a head too slow) concern that client only.
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
            drop(slot);
        });
    }
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let reply = Reply::error(405, "only GET and HEAD are served");
        return Ok(response(reply));
    }
    let uri = request.uri().clone();
    let reply =
        tokio::task::spawn_blocking(move || routes::respond(&state, uri.path(), uri.query()))
            .await
            .unwrap_or_else(|_| Reply::error(500, "the request failed"));
    Ok(response(reply))
}

fn response(reply: Reply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}
