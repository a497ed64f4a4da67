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
//! * at most [`MAX_CONNECTIONS`] connections are open at once, and at most
//!   [`MAX_CONNECTIONS_PER_CLIENT`] of one client (an IPv4 address, or the
//!   /64 network of an IPv6 one). A new connection over either limit takes
//!   the place of the oldest *idle* connection (one waiting for a request
//!   head) of that client, or at the server's limit of the client with the
//!   most connections; when none is idle, the new one is closed at once.
//!   So idle connections, from anywhere, never lock out a client that
//!   sends a request;
//! * reading files runs on tokio's blocking pool, at most
//!   [`BLOCKING_THREADS`] threads; requests beyond that wait their turn;
//!   `/history` requests take at most [`HISTORY_REQUESTS`] of them, so a
//!   store that is slow to read (or a file in it that never answers)
//!   cannot stall the other routes; one that waits more than
//!   [`HISTORY_WAIT`] for its turn is answered 503;
//! * answers waiting to be taken by their clients hold at most
//!   [`MAX_ANSWERS_HELD`] bytes in all (answers of up to
//!   [`SMALL_ANSWER`] bytes aside): a client that asks for large answers
//!   and never reads them cannot make the server run out of memory; an
//!   answer that finds no room is a 503 instead;
//! * the `Host` a request names must be an address the server listens on,
//!   `localhost`, or a name given with [`Server::allow_hosts`] (else 421):
//!   a web page whose own name is made to resolve to 127.0.0.1 (DNS
//!   rebinding) sends that name, and is refused.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, HOST};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};

use super::routes::{self, Reply, State};

/// Time a client has to send a request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a connection stays open, however busy.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(300);
/// Largest request head (request line and headers), in bytes.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most connections open at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// Most connections of one client open at once: a quarter of
/// [`MAX_CONNECTIONS`].
pub const MAX_CONNECTIONS_PER_CLIENT: usize = MAX_CONNECTIONS / 4;
/// Most threads reading files at once.
pub const BLOCKING_THREADS: usize = 4;
/// Most `/history` requests answered at once (of [`BLOCKING_THREADS`]).
pub const HISTORY_REQUESTS: usize = 2;
/// Longest a `/history` request waits for its turn before a 503.
pub const HISTORY_WAIT: Duration = Duration::from_secs(10);
/// Most bytes of answers held at once, built and not yet taken by their
/// clients (answers of up to [`SMALL_ANSWER`] bytes are not counted).
pub const MAX_ANSWERS_HELD: usize = 256 << 20;
/// Answers up to this size are not counted in [`MAX_ANSWERS_HELD`]: there
/// are at most [`MAX_CONNECTIONS`] of them, 64 MiB in all.
pub const SMALL_ANSWER: usize = 64 << 10;
/// The unit [`MAX_ANSWERS_HELD`] is counted in.
const ANSWER_UNIT: usize = 1024;

/// A server bound to its address, not yet serving.
#[derive(Debug)]
pub struct Server {
    listener: std::net::TcpListener,
    address: SocketAddr,
    state: State,
    hosts: Hosts,
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
            hosts: Hosts {
                listen: address.ip(),
                names: Vec::new(),
            },
        })
    }

    /// Also answers requests whose `Host` is one of `names` (a name of the
    /// machine that clients use, for a server that listens on an address
    /// other machines reach). The addresses the server listens on and
    /// `localhost` are always answered.
    pub fn allow_hosts<S: AsRef<str>>(mut self, names: impl IntoIterator<Item = S>) -> Server {
        self.hosts
            .names
            .extend(names.into_iter().map(|n| normal_name(n.as_ref())));
        self
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
        let shared = Arc::new(Shared {
            state: self.state,
            hosts: self.hosts,
            history: Arc::new(Semaphore::new(HISTORY_REQUESTS)),
            answers: Arc::new(Semaphore::new(MAX_ANSWERS_HELD / ANSWER_UNIT)),
        });
        let address = self.address;
        runtime.block_on(async move {
            let listener = TcpListener::from_std(self.listener).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot listen on {address}: {e}"))
            })?;
            accept_loop(listener, shared).await
        })
    }
}

/// What every connection's task shares.
struct Shared {
    state: State,
    hosts: Hosts,
    /// Turns for `/history` requests.
    history: Arc<Semaphore>,
    /// Room for answers not yet taken, in [`ANSWER_UNIT`]s.
    answers: Arc<Semaphore>,
}

/// The `Host` values a request may name.
#[derive(Debug, Clone)]
struct Hosts {
    /// The address listened on.
    listen: IpAddr,
    /// Names given with [`Server::allow_hosts`], in lower case.
    names: Vec<String>,
}

impl Hosts {
    /// Whether `host` (a `Host` header or the authority of an absolute
    /// request target, with or without a port) names this server. The port
    /// is not compared: a tunnel or a proxy may change it.
    fn allows(&self, host: &str) -> bool {
        let name = normal_name(host_part(host));
        if name == "localhost" || self.names.contains(&name) {
            return true;
        }
        let Ok(ip) = name.parse::<IpAddr>() else {
            return false;
        };
        // On every address: any address literal reaches this server only
        // if it is one of the machine's, and a literal cannot be rebound.
        self.listen.is_unspecified() || same_address(ip, self.listen)
    }
}

/// `host` without its port and the brackets of an IPv6 literal.
fn host_part(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// A host name as compared: lower case, without the final dot of a fully
/// qualified name.
fn normal_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether two addresses are the same, an IPv4 one and its IPv6 mapping
/// alike.
fn same_address(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

/// A client, as far as the limits on connections go: its IPv4 address, or
/// the /64 network of its IPv6 address (one host usually has a whole /64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Client(IpAddr);

impl Client {
    fn of(peer: SocketAddr) -> Client {
        match peer.ip().to_canonical() {
            IpAddr::V4(v4) => Client(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let [a, b, c, d, ..] = v6.segments();
                Client(IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0)))
            }
        }
    }
}

/// One open connection, as the table of connections knows it.
struct Slot {
    id: u64,
    /// Requests of the connection being answered (0: it waits for a head).
    busy: Arc<AtomicUsize>,
    /// Told to close the connection.
    evict: Arc<Notify>,
}

/// Every open connection, by client, oldest first.
#[derive(Default)]
struct Table {
    clients: HashMap<Client, VecDeque<Slot>>,
    open: usize,
    next_id: u64,
}

/// What an admitted connection's task holds.
struct Admitted {
    id: u64,
    busy: Arc<AtomicUsize>,
    evict: Arc<Notify>,
}

impl Table {
    /// Admits a new connection of `client`, making room first by closing an
    /// idle connection when the client, or the server, is at its limit;
    /// `None` when there is no room to make.
    fn admit(&mut self, client: Client) -> Option<Admitted> {
        let mine = self.clients.get(&client).map_or(0, VecDeque::len);
        if mine >= MAX_CONNECTIONS_PER_CLIENT {
            if !self.evict_idle(client) {
                return None;
            }
        } else if self.open >= MAX_CONNECTIONS {
            // The clients with the most connections give one up first.
            let mut heaviest: Vec<(usize, Client)> =
                self.clients.iter().map(|(c, s)| (s.len(), *c)).collect();
            heaviest.sort_unstable_by_key(|(count, _)| std::cmp::Reverse(*count));
            if !heaviest.into_iter().any(|(_, c)| self.evict_idle(c)) {
                return None;
            }
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let busy = Arc::new(AtomicUsize::new(0));
        let evict = Arc::new(Notify::new());
        self.clients.entry(client).or_default().push_back(Slot {
            id,
            busy: Arc::clone(&busy),
            evict: Arc::clone(&evict),
        });
        self.open = self.open.saturating_add(1);
        Some(Admitted { id, busy, evict })
    }

    /// Closes the oldest idle connection of `client`; whether there was one.
    fn evict_idle(&mut self, client: Client) -> bool {
        let Some(slots) = self.clients.get_mut(&client) else {
            return false;
        };
        let Some(i) = slots
            .iter()
            .position(|s| s.busy.load(Ordering::Acquire) == 0)
        else {
            return false;
        };
        let Some(slot) = slots.remove(i) else {
            return false;
        };
        slot.evict.notify_one();
        if slots.is_empty() {
            self.clients.remove(&client);
        }
        self.open = self.open.saturating_sub(1);
        true
    }

    /// Forgets a connection that ended (no-op for one already evicted).
    fn remove(&mut self, client: Client, id: u64) {
        let Some(slots) = self.clients.get_mut(&client) else {
            return;
        };
        if let Some(i) = slots.iter().position(|s| s.id == id) {
            slots.remove(i);
            self.open = self.open.saturating_sub(1);
        }
        if slots.is_empty() {
            self.clients.remove(&client);
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) -> std::io::Result<()> {
    let table = Arc::new(Mutex::new(Table::default()));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                // Out of file descriptors or a connection reset before it
                // was accepted: wait a little instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let client = Client::of(peer);
        let admitted = table.lock().ok().and_then(|mut t| t.admit(client));
        let Some(Admitted { id, busy, evict }) = admitted else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let table = Arc::clone(&table);
        tokio::spawn(async move {
            let service =
                service_fn(move |request| handle(Arc::clone(&shared), Busy::start(&busy), request));
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEAD)
                .serve_connection(TokioIo::new(stream), service);
            // Errors (a client gone, a head too slow) concern that client
            // only; an evicted connection is dropped, which closes it.
            let mut connection =
                std::pin::pin!(tokio::time::timeout(CONNECTION_LIFETIME, connection));
            let mut evicted = std::pin::pin!(evict.notified());
            std::future::poll_fn(|cx| {
                let done = connection.as_mut().poll(cx).is_ready();
                if done || evicted.as_mut().poll(cx).is_ready() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
            if let Ok(mut table) = table.lock() {
                table.remove(client, id);
            }
        });
    }
}

/// Marks a connection busy from the moment its request head is read until
/// its answer has been handed to the socket (when the body is dropped).
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn start(busy: &Arc<AtomicUsize>) -> Busy {
        busy.fetch_add(1, Ordering::AcqRel);
        Busy(Arc::clone(busy))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A whole body in memory, keeping its connection [`Busy`] while it lives.
struct Answer {
    body: Full<Bytes>,
    _busy: Busy,
}

impl Body for Answer {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The host a request names: the authority of an absolute target, else the
/// `Host` header; `Err` with the answer for a request that names none
/// where it must, or one that is not text.
fn named_host(request: &Request<Incoming>) -> Result<Option<String>, Reply> {
    if let Some(authority) = request.uri().authority() {
        return Ok(Some(authority.host().to_string()));
    }
    match request.headers().get(HOST) {
        Some(value) => value
            .to_str()
            .map(|v| Some(v.trim().to_string()))
            .map_err(|_| Reply::error(400, "the Host header is not text")),
        // HTTP/1.0 had no Host, and no browser leaves it out.
        None if request.version() == Version::HTTP_10 => Ok(None),
        None => Err(Reply::error(400, "a request must name its Host")),
    }
}

async fn handle(
    shared: Arc<Shared>,
    busy: Busy,
    request: Request<Incoming>,
) -> Result<Response<Answer>, Infallible> {
    let host = match named_host(&request) {
        Ok(host) => host,
        Err(reply) => return Ok(response(reply, busy)),
    };
    if let Some(host) = host.filter(|h| !shared.hosts.allows(h)) {
        let reply = Reply::error(
            421,
            &format!(
                "Host {host:?} is not an address this server listens on, nor localhost; \
                 a name it should answer to is given with --allow-host"
            ),
        );
        return Ok(response(reply, busy));
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let reply = Reply::error(405, "only GET and HEAD are served");
        return Ok(response(reply, busy));
    }
    let uri = request.uri().clone();
    let accept = request
        .headers()
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // `/history` waits for one of its own turns, held until its reading is
    // done, however long that takes.
    let turn = if uri.path().starts_with("/history") {
        let wait = tokio::time::timeout(HISTORY_WAIT, Arc::clone(&shared.history).acquire_owned());
        match wait.await {
            Ok(Ok(turn)) => Some(turn),
            _ => {
                let reply = Reply::error(
                    503,
                    &format!(
                        "{HISTORY_REQUESTS} /history requests are being answered and this one \
                         waited {} s for its turn: try again later",
                        HISTORY_WAIT.as_secs()
                    ),
                );
                return Ok(response(reply, busy));
            }
        }
    } else {
        None
    };
    let answers = Arc::clone(&shared.answers);
    let reply = tokio::task::spawn_blocking(move || {
        let reply = routes::respond_to(&shared.state, uri.path(), uri.query(), accept.as_deref());
        drop(turn);
        reply
    })
    .await
    .unwrap_or_else(|_| Reply::error(500, "the request failed"));
    Ok(held(reply, &answers, busy))
}

/// The answer, with room for it among the answers held (see
/// [`MAX_ANSWERS_HELD`]), or a 503 when there is none in time.
fn held(mut reply: Reply, answers: &Arc<Semaphore>, busy: Busy) -> Response<Answer> {
    if reply.body.len() <= SMALL_ANSWER {
        return response(reply, busy);
    }
    let units = reply.body.len().div_ceil(ANSWER_UNIT);
    let units = u32::try_from(units.min(MAX_ANSWERS_HELD / ANSWER_UNIT)).unwrap_or(u32::MAX);
    // No waiting for room: an answer waiting would hold its memory too.
    let Ok(room) = Arc::clone(answers).try_acquire_many_owned(units) else {
        let reply = Reply::error(
            503,
            &format!(
                "the server holds {} MiB of answers that their clients have not taken yet: \
                 try again later",
                MAX_ANSWERS_HELD >> 20
            ),
        );
        return response(reply, busy);
    };
    let body = std::mem::take(&mut reply.body);
    let bytes = Bytes::from_owner(HeldBody { body, _room: room });
    with_body(reply, bytes, busy)
}

/// An answer's bytes with the room they take, given back when the last
/// copy of the bytes is gone (sent, or its connection closed).
struct HeldBody {
    body: Vec<u8>,
    _room: tokio::sync::OwnedSemaphorePermit,
}

impl AsRef<[u8]> for HeldBody {
    fn as_ref(&self) -> &[u8] {
        &self.body
    }
}

fn response(mut reply: Reply, busy: Busy) -> Response<Answer> {
    let body = Bytes::from(std::mem::take(&mut reply.body));
    with_body(reply, body, busy)
}

fn with_body(reply: Reply, body: Bytes, busy: Busy) -> Response<Answer> {
    let mut response = Response::new(Answer {
        body: Full::new(body),
        _busy: busy,
    });
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if reply.truncated {
        headers.insert("x-mmstats-truncated", HeaderValue::from_static("true"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(listen: &str, names: &[&str]) -> Hosts {
        Hosts {
            listen: listen.parse().unwrap(),
            names: names.iter().map(|n| normal_name(n)).collect(),
        }
    }

    #[test]
    fn hosts_that_name_the_server() {
        let loopback = hosts("127.0.0.1", &["Stats.Example"]);
        for host in [
            "127.0.0.1",
            "127.0.0.1:9717",
            "localhost",
            "LOCALHOST:1",
            "localhost.",
            "stats.example:80",
            "[::ffff:127.0.0.1]:9717",
        ] {
            assert!(loopback.allows(host), "{host}");
        }
        for host in [
            "",
            "evil.example",
            "127.0.0.1.evil.example",
            "localhost.evil.example:9717",
            "127.0.0.2",
            "[::1]:9717",
            "::1",
            "0.0.0.0",
            "127.0.0.1:x",
        ] {
            assert!(!loopback.allows(host), "{host}");
        }
        let v6 = hosts("::1", &[]);
        assert!(v6.allows("[::1]:9717"));
        assert!(v6.allows("localhost"));
        assert!(!v6.allows("127.0.0.1"));
        // On every address, any address literal, but still no other name.
        let any = hosts("0.0.0.0", &[]);
        assert!(any.allows("192.0.2.7:9717"));
        assert!(any.allows("[2001:db8::1]"));
        assert!(!any.allows("evil.example"));
    }

    #[test]
    fn clients_are_addresses_and_ipv6_networks() {
        let a: SocketAddr = "[2001:db8:1:2:3:4:5:6]:1000".parse().unwrap();
        let b: SocketAddr = "[2001:db8:1:2:ffff::1]:2000".parse().unwrap();
        let c: SocketAddr = "[2001:db8:1:3::1]:2000".parse().unwrap();
        assert_eq!(Client::of(a), Client::of(b));
        assert_ne!(Client::of(a), Client::of(c));
        let v4: SocketAddr = "127.0.0.2:5".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.2]:6".parse().unwrap();
        assert_eq!(Client::of(v4), Client::of(mapped));
    }

    #[test]
    fn a_client_at_its_limit_gives_up_its_oldest_idle_connection() {
        let mut table = Table::default();
        let one = Client("127.0.0.2".parse().unwrap());
        let other = Client("127.0.0.1".parse().unwrap());
        let first: Vec<Admitted> = (0..MAX_CONNECTIONS_PER_CLIENT)
            .map(|_| table.admit(one).unwrap())
            .collect();
        // The oldest is busy: the next oldest goes.
        first[0].busy.fetch_add(1, Ordering::AcqRel);
        assert!(table.admit(one).is_some());
        assert_eq!(table.clients[&one].len(), MAX_CONNECTIONS_PER_CLIENT);
        assert_eq!(table.clients[&one][0].id, first[0].id);
        assert_eq!(table.clients[&one][1].id, first[2].id);
        // All busy: no room.
        for slot in &table.clients[&one] {
            slot.busy.fetch_add(1, Ordering::AcqRel);
        }
        assert!(table.admit(one).is_none());
        // Another client is not concerned.
        assert!(table.admit(other).is_some());
        assert_eq!(table.open, MAX_CONNECTIONS_PER_CLIENT + 1);
        table.remove(other, table.clients[&other][0].id);
        assert_eq!(table.open, MAX_CONNECTIONS_PER_CLIENT);
        assert!(!table.clients.contains_key(&other));
    }

    #[test]
    fn at_the_servers_limit_the_busiest_client_gives_way() {
        let mut table = Table::default();
        let clients: Vec<Client> = (1..=5u8)
            .map(|i| Client(IpAddr::from([127, 0, 0, i])))
            .collect();
        // Four clients at their limit fill the server.
        for client in &clients[..4] {
            for _ in 0..MAX_CONNECTIONS_PER_CLIENT {
                table.admit(*client).unwrap();
            }
        }
        assert_eq!(table.open, MAX_CONNECTIONS);
        assert!(table.admit(clients[4]).is_some());
        assert_eq!(table.open, MAX_CONNECTIONS);
        assert_eq!(table.clients[&clients[4]].len(), 1);
    }
}
