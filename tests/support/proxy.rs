//! A TCP proxy on loopback in front of the API server, to cut one operator's
//! access to it (connections dropped, new ones refused) while others keep theirs.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// A running proxy; stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    cut_signal: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Forwards a free loopback port to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let cut = Arc::new(AtomicBool::new(false));
        let (cut_signal, _) = watch::channel(false);
        let task = tokio::spawn({
            let cut = Arc::clone(&cut);
            let signal = cut_signal.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let mut stop = signal.subscribe();
                    tokio::spawn(async move {
                        let Ok(mut server) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        let mut client = client;
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = stop.wait_for(|cut| *cut) => {}
                        }
                    });
                }
            }
        });
        Self {
            addr,
            cut,
            cut_signal,
            task,
        }
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        let _ = self.cut_signal.send(true);
    }

    /// A copy of `kubeconfig` whose server is this proxy.
    pub fn kubeconfig(&self, kubeconfig: &Path, upstream: SocketAddr) -> PathBuf {
        let text = std::fs::read_to_string(kubeconfig).expect("read kubeconfig");
        let rewritten = text.replace(&upstream.to_string(), &self.addr.to_string());
        assert_ne!(rewritten, text, "the kubeconfig names {upstream}");
        let path = kubeconfig.with_file_name(format!("kubeconfig-proxy-{}", self.addr.port()));
        std::fs::write(&path, rewritten).expect("write proxied kubeconfig");
        path
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        let _ = self.cut_signal.send(true);
    }
}

/// The API server address in a kubeconfig (`server: https://127.0.0.1:PORT`).
pub fn api_server_addr(kubeconfig: &Path) -> SocketAddr {
    let text = std::fs::read_to_string(kubeconfig).expect("read kubeconfig");
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server:"))
        .expect("a server line")
        .trim()
        .trim_start_matches("https://");
    server.parse().expect("server is IP:port")
}
