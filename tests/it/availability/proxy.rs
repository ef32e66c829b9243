//! A TCP proxy the test controls, in front of the shared PostgreSQL server: stopping it
//! is an outage of the database as `connvault serve` sees it (connections cut, new ones
//! refused) without touching the server other tests use.

use std::sync::{Arc, Mutex};

use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

pub struct Proxy {
    pub port: u16,
    target: String,
    acceptor: Option<JoinHandle<()>>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// Listens on a free local port and forwards every connection to `target`.
    pub async fn start(target: &str) -> Self {
        let mut proxy = Self {
            port: 0,
            target: target.to_owned(),
            acceptor: None,
            links: Default::default(),
        };
        proxy.resume().await;
        proxy
    }

    /// Cuts every forwarded connection and stops listening: connecting is refused.
    pub async fn stop(&mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.abort();
            let _ = acceptor.await;
        }
        let links: Vec<_> = self
            .links
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for link in links {
            link.abort();
            let _ = link.await;
        }
    }

    /// Listens again, on the same port once one was chosen.
    pub async fn resume(&mut self) {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket
            .bind(format!("127.0.0.1:{}", self.port).parse().unwrap())
            .expect("bind the proxy port");
        let listener = socket.listen(64).expect("listen");
        self.port = listener.local_addr().unwrap().port();
        let target = self.target.clone();
        let links = self.links.clone();
        self.acceptor = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                links.lock().unwrap_or_else(|e| e.into_inner()).push(link);
            }
        }));
    }
}
