//! A DNS server on loopback that answers as a test's scripts say, for the
//! failures a real nsd will not produce on demand (wrong IDs, wrong source
//! ports, SERVFAIL, silence, truncation).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use hickory_resolver::proto::op::Message;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, UdpSocket},
};

/// A reply of the scripted server.
pub struct Send {
    /// Delay before sending.
    pub after: Duration,
    /// From a second socket (another port) instead of the one asked.
    pub from_elsewhere: bool,
    /// The reply.
    pub message: Message,
}

/// `message`, at once.
pub fn now(message: Message) -> Send {
    Send {
        after: Duration::ZERO,
        from_elsewhere: false,
        message,
    }
}

/// `message`, after `after`.
pub fn later(after: Duration, message: Message) -> Send {
    Send {
        after,
        from_elsewhere: false,
        message,
    }
}

/// What the server sends for a UDP query.
pub type UdpScript = dyn Fn(&Message) -> Vec<Send> + std::marker::Send + Sync;
/// What the server answers to a TCP query.
pub type TcpScript = dyn Fn(&Message) -> Option<Message> + std::marker::Send + Sync;

/// A DNS server on 127.0.0.1 that answers as its scripts say: over UDP any
/// number of replies per query, each after its delay; over TCP (when there
/// is a TCP script) at most one.
pub struct Scripted {
    /// Where it listens (UDP and TCP, one port).
    pub addr: SocketAddr,
    udp_queries: Arc<AtomicUsize>,
    tcp_queries: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Scripted {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Scripted {
    /// Serves on a free loopback port; TCP only with a `tcp_script`.
    pub async fn start(
        udp_script: impl Fn(&Message) -> Vec<Send> + std::marker::Send + Sync + 'static,
        tcp_script: Option<Arc<TcpScript>>,
    ) -> Self {
        let udp_script: Arc<UdpScript> = Arc::new(udp_script);
        let (udp, tcp) = loop {
            let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = tcp.local_addr().unwrap().port();
            if let Ok(udp) = UdpSocket::bind(("127.0.0.1", port)).await {
                break (Arc::new(udp), tcp);
            }
        };
        let elsewhere = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = udp.local_addr().unwrap();
        let udp_queries = Arc::new(AtomicUsize::new(0));
        let tcp_queries = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        let counter = udp_queries.clone();
        tasks.push(tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            while let Ok((len, from)) = udp.recv_from(&mut buffer).await {
                counter.fetch_add(1, Ordering::SeqCst);
                let Ok(query) = Message::from_vec(&buffer[..len]) else {
                    continue;
                };
                for send in udp_script(&query) {
                    let socket = if send.from_elsewhere {
                        elsewhere.clone()
                    } else {
                        udp.clone()
                    };
                    tokio::spawn(async move {
                        tokio::time::sleep(send.after).await;
                        let _ = socket.send_to(&send.message.to_vec().unwrap(), from).await;
                    });
                }
            }
        }));
        if let Some(tcp_script) = tcp_script {
            let counter = tcp_queries.clone();
            tasks.push(tokio::spawn(async move {
                while let Ok((mut stream, _)) = tcp.accept().await {
                    let (counter, tcp_script) = (counter.clone(), tcp_script.clone());
                    tokio::spawn(async move {
                        loop {
                            let Ok(len) = stream.read_u16().await else {
                                return;
                            };
                            let mut query = vec![0u8; usize::from(len)];
                            if stream.read_exact(&mut query).await.is_err() {
                                return;
                            }
                            counter.fetch_add(1, Ordering::SeqCst);
                            let Ok(query) = Message::from_vec(&query) else {
                                return;
                            };
                            if let Some(reply) = tcp_script(&query) {
                                let reply = reply.to_vec().unwrap();
                                let _ = stream.write_u16(reply.len() as u16).await;
                                let _ = stream.write_all(&reply).await;
                            }
                        }
                    });
                }
            }));
        }
        Self {
            addr,
            udp_queries,
            tcp_queries,
            tasks,
        }
    }

    /// UDP queries received.
    pub fn udp_queries(&self) -> usize {
        self.udp_queries.load(Ordering::SeqCst)
    }

    /// TCP queries received.
    pub fn tcp_queries(&self) -> usize {
        self.tcp_queries.load(Ordering::SeqCst)
    }
}
