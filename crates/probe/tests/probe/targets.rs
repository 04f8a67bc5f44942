//! Real targets on 127.0.0.1, port 0: a tiny HTTP/1.1 server (plain or with a self-signed
//! certificate) with one path per behaviour, plus raw sockets that hang, reset, refuse or
//! never complete a connection. No mocks: the probe talks to these over real sockets.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::rustls;

/// The JSON served at `/json`.
pub const JSON: &str = r#"{"status":"up","items":[1,2,3]}"#;
/// Size of the body served at `/huge` and `/huge-declared`.
pub const HUGE: u64 = 100 * 1024 * 1024;

/// What the server counts, so tests can see what happened on the wire.
#[derive(Default)]
pub struct Counters {
    /// Connections accepted.
    pub connections: AtomicUsize,
    /// Body bytes of `/huge*` the server managed to hand to the kernel.
    pub huge_bytes_sent: AtomicU64,
    /// Streams of `/huge*` that ended because the client went away.
    pub huge_streams_cut: AtomicUsize,
}

/// A running test server; stops accepting when dropped.
pub struct Target {
    pub addr: SocketAddr,
    pub counters: Arc<Counters>,
    scheme: &'static str,
    task: JoinHandle<()>,
}

impl Target {
    /// Absolute URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    pub fn connections(&self) -> usize {
        self.counters.connections.load(Ordering::SeqCst)
    }

    pub fn huge_bytes_sent(&self) -> u64 {
        self.counters.huge_bytes_sent.load(Ordering::SeqCst)
    }

    /// Streams of `/huge*` cut short by the client: after one, its bytes are all counted.
    pub fn huge_streams_cut(&self) -> usize {
        self.counters.huge_streams_cut.load(Ordering::SeqCst)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Plain HTTP server.
pub async fn http() -> Target {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counters = Arc::new(Counters::default());
    let c = counters.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            c.connections.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(stream, c.clone()));
        }
    });
    Target {
        addr,
        counters,
        scheme: "http",
        task,
    }
}

/// HTTPS server with a freshly made self-signed certificate for 127.0.0.1 and localhost,
/// which no trust store knows.
pub async fn https_self_signed() -> Target {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counters = Arc::new(Counters::default());
    let c = counters.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            c.connections.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            let c = c.clone();
            tokio::spawn(async move {
                // A client that rejects our certificate aborts the handshake: nothing to do.
                if let Ok(tls) = acceptor.accept(stream).await {
                    serve(tls, c).await;
                }
            });
        }
    });
    Target {
        addr,
        counters,
        scheme: "https",
        task,
    }
}

/// A listener that accepts connections and never reads or answers; stops when dropped.
pub struct Hang {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Hang {
    /// Connections accepted (and held) so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Hang {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn hang() -> Hang {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    Hang {
        addr,
        accepted,
        task,
    }
}

/// A listener that reads the request and then resets the connection (RST, not FIN).
pub async fn reset() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let _ = read_request(&mut stream, &mut buf).await;
            stream.set_zero_linger().unwrap();
            drop(stream);
        }
    });
    (addr, task)
}

/// An address where nothing listens: bind a port, then let it go.
pub async fn refused() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

/// A listener whose accept queue is full, so a new connection never completes (the kernel
/// drops the SYN): the way a firewalled or overloaded host looks. Keep the value alive.
pub struct Unreachable {
    pub addr: SocketAddr,
    _listener: TcpListener,
    _fillers: Vec<TcpStream>,
}

pub async fn unreachable() -> Unreachable {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => fillers.push(stream),
            Ok(Err(err)) => panic!("filling the accept queue: {err}"),
            Err(_) => break,
        }
        assert!(fillers.len() < 64, "the accept queue never filled");
    }
    Unreachable {
        addr,
        _listener: listener,
        _fillers: fillers,
    }
}

struct Request {
    method: String,
    path: String,
    head: String,
    body: Vec<u8>,
}

/// Reads one request (head and `Content-Length` body); `None` at end of stream.
async fn read_request<S: AsyncRead + Unpin>(io: &mut S, buf: &mut Vec<u8>) -> Option<Request> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = io.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut words = head.split_whitespace();
    let method = words.next()?.to_owned();
    let path = words.next()?.to_owned();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 4096];
        let n = io.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end..head_end + length].to_vec();
    buf.drain(..head_end + length);
    Some(Request {
        method,
        path,
        head,
        body,
    })
}

async fn respond<S: AsyncWrite + Unpin>(
    io: &mut S,
    status: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    io.write_all(out.as_bytes()).await?;
    io.write_all(body).await?;
    io.flush().await
}

/// Streams `HUGE` bytes in 64 KiB chunks, counting what the kernel took, until the client
/// goes away.
async fn stream_huge<S: AsyncWrite + Unpin>(io: &mut S, counters: &Counters, declared: bool) {
    let head = if declared {
        format!("HTTP/1.1 200 OK\r\ncontent-length: {HUGE}\r\n\r\n")
    } else {
        // No length: the body runs until the connection closes.
        "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_owned()
    };
    let cut = || {
        counters.huge_streams_cut.fetch_add(1, Ordering::SeqCst);
    };
    if io.write_all(head.as_bytes()).await.is_err() {
        return cut();
    }
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0u64;
    while sent < HUGE {
        if io.write_all(&chunk).await.is_err() {
            return cut();
        }
        sent += chunk.len() as u64;
        counters
            .huge_bytes_sent
            .fetch_add(chunk.len() as u64, Ordering::SeqCst);
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, counters: Arc<Counters>) {
    let mut buf = Vec::new();
    while let Some(req) = read_request(&mut io, &mut buf).await {
        let written = match req.path.as_str() {
            "/json" => {
                respond(
                    &mut io,
                    "200 OK",
                    &[
                        ("content-type", "application/json"),
                        ("X-Served-By", "pharos-test"),
                    ],
                    JSON.as_bytes(),
                )
                .await
            }
            "/unavailable" => respond(&mut io, "503 Service Unavailable", &[], b"down").await,
            "/loop" => respond(&mut io, "302 Found", &[("location", "/loop")], b"").await,
            "/redirect" => {
                respond(
                    &mut io,
                    "301 Moved Permanently",
                    &[("location", "/json")],
                    b"",
                )
                .await
            }
            "/echo" => {
                let text = format!(
                    "{} {}\n{}{}",
                    req.method,
                    req.path,
                    req.head.to_lowercase(),
                    String::from_utf8_lossy(&req.body)
                );
                respond(&mut io, "200 OK", &[], text.as_bytes()).await
            }
            "/latin1" => respond(&mut io, "200 OK", &[], b"caf\xe9").await,
            "/hang" => std::future::pending().await,
            "/slow-body" => {
                // Headers now, one byte of ten, then nothing.
                let _ = io
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nx")
                    .await;
                let _ = io.flush().await;
                std::future::pending().await
            }
            "/huge" => return stream_huge(&mut io, &counters, false).await,
            "/huge-declared" => return stream_huge(&mut io, &counters, true).await,
            _ => respond(&mut io, "404 Not Found", &[], b"").await,
        };
        if written.is_err() {
            return;
        }
    }
}
