//! [`Relay`]: a TCP relay in front of a real server (PostgreSQL, say) that a test can cut
//! like a network partition: nothing more passes either way, connections stay open and
//! silent, and new ones are taken but never answered. Healing lets new connections through.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A relay from a local port to `upstream`.
pub struct Relay {
    /// `host:port` to connect to instead of the upstream.
    pub addr: String,
    cut: watch::Sender<bool>,
    /// Sockets held silent after a cut, so their peers wait as in a partition.
    held: Arc<Mutex<Vec<TcpStream>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Starts relaying 127.0.0.1:<free port> to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (cut, cut_rx) = watch::channel(false);
        let held = Arc::new(Mutex::new(Vec::new()));
        let upstream = upstream.to_owned();
        let task = tokio::spawn(accept(listener, upstream, cut_rx, held.clone()));
        Relay {
            addr,
            cut,
            held,
            task,
        }
    }

    /// Cuts the link: every byte in flight and to come is held back, in both directions.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Lets new connections through again; those open during the cut stay dead, as after a
    /// partition whose connections timed out.
    pub fn heal(&self) {
        self.cut.send_replace(false);
        self.held.lock().unwrap().clear();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(
    listener: TcpListener,
    upstream: String,
    cut: watch::Receiver<bool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
) {
    while let Ok((client, _)) = listener.accept().await {
        if *cut.borrow() {
            held.lock().unwrap().push(client);
            continue;
        }
        let Ok(server) = TcpStream::connect(&upstream).await else {
            continue;
        };
        tokio::spawn(pair(client, server, cut.clone(), held.clone()));
    }
}

/// Copies both ways until either side closes or the link is cut; after a cut both sockets
/// are held open and silent.
async fn pair(
    client: TcpStream,
    server: TcpStream,
    mut cut: watch::Receiver<bool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
) {
    let (mut client, mut server) = (client, server);
    let mut a = [0u8; 16 * 1024];
    let mut b = [0u8; 16 * 1024];
    loop {
        tokio::select! {
            n = client.read(&mut a) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => if server.write_all(&a[..n]).await.is_err() { return },
            },
            n = server.read(&mut b) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => if client.write_all(&b[..n]).await.is_err() { return },
            },
            changed = cut.changed() => {
                if changed.is_err() {
                    return;
                }
                let is_cut = *cut.borrow_and_update();
                if is_cut {
                    let mut held = held.lock().unwrap();
                    held.push(client);
                    held.push(server);
                    return;
                }
            }
        }
    }
}
