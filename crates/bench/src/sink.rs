//! [`Sink`]: a TCP server on 127.0.0.1 that hands every accepted connection to a protocol
//! handler (HTTP in `webhook`, SMTP in `smtp`), which counts what arrives in the sink's
//! [`Tally`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::tally::Tally;

/// A running sink; stops accepting when dropped.
#[derive(Debug)]
pub struct Sink {
    addr: SocketAddr,
    tally: Arc<Tally>,
    task: JoinHandle<()>,
}

impl Sink {
    /// Listens on a free port of 127.0.0.1 and serves each connection, with `TCP_NODELAY`,
    /// with `serve` in a task of its own.
    pub async fn start<F, Fut>(serve: F) -> std::io::Result<Sink>
    where
        F: Fn(TcpStream, Arc<Tally>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let tally = Arc::new(Tally::new());
        let counting = tally.clone();
        let task = tokio::spawn(async move {
            loop {
                let sock = match listener.accept().await {
                    Ok((sock, _)) => sock,
                    // Out of file descriptors and the like: wait a moment and go on.
                    Err(_) => {
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = sock.set_nodelay(true);
                tokio::spawn(serve(sock, counting.clone()));
            }
        });
        Ok(Sink { addr, tally, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it has received.
    pub fn tally(&self) -> &Arc<Tally> {
        &self.tally
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}
