//! Shared by the service tests: a small Loki push server recording what it gets,
//! and file helpers.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use weft_logs::push::proto::PushRequest;

#[derive(Default)]
pub struct Received {
    /// (labels, line) in arrival order.
    pub lines: Vec<(String, String)>,
    pub tenants: Vec<String>,
    pub requests: usize,
}

pub struct PushServer {
    pub url: String,
    pub received: Arc<Mutex<Received>>,
    /// Answers with this status while the counter is above zero (decremented).
    pub failures: Arc<AtomicUsize>,
    pub failure_status: Arc<AtomicUsize>,
}

pub async fn push_server() -> PushServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let received = Arc::new(Mutex::new(Received::default()));
    let failures = Arc::new(AtomicUsize::new(0));
    let failure_status = Arc::new(AtomicUsize::new(500));
    let (shared, failing, status) = (received.clone(), failures.clone(), failure_status.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let (shared, failing, status) = (shared.clone(), failing.clone(), status.clone());
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                loop {
                    let header_end = loop {
                        if let Some(end) =
                            buffer.windows(4).position(|window| window == b"\r\n\r\n")
                        {
                            break end + 4;
                        }
                        let mut chunk = [0u8; 8192];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buffer[..header_end]).to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|line| line.strip_prefix("content-length:"))
                        .and_then(|value| value.trim().parse().ok())
                        .unwrap_or(0);
                    let tenant = head
                        .lines()
                        .find_map(|line| line.strip_prefix("x-scope-orgid:"))
                        .map(|value| value.trim().to_owned())
                        .unwrap_or_default();
                    while buffer.len() < header_end + length {
                        let mut chunk = [0u8; 65536];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
                        }
                    }
                    let body: Vec<u8> = buffer
                        .drain(..header_end + length)
                        .skip(header_end)
                        .collect();
                    let fail = failing
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                            left.checked_sub(1)
                        })
                        .is_ok();
                    let answer = if fail {
                        format!(
                            "HTTP/1.1 {} Nope\r\ncontent-length: 4\r\n\r\nnope",
                            status.load(Ordering::SeqCst)
                        )
                    } else {
                        let protobuf = snap::raw::Decoder::new()
                            .decompress_vec(&body)
                            .expect("snappy body");
                        let request =
                            PushRequest::decode(protobuf.as_slice()).expect("protobuf body");
                        let mut received = shared.lock().expect("lock");
                        received.requests += 1;
                        received.tenants.push(tenant);
                        for stream in request.streams {
                            for entry in stream.entries {
                                received.lines.push((stream.labels.clone(), entry.line));
                            }
                        }
                        String::from("HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                    };
                    if socket.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    PushServer {
        url: format!("http://{address}/loki/api/v1/push"),
        received,
        failures,
        failure_status,
    }
}

pub fn append(path: &Path, lines: impl IntoIterator<Item = String>) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open");
    for line in lines {
        writeln!(file, "{line}").expect("write");
    }
}

pub async fn wait_for(server: &PushServer, count: usize) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let lines = server.received.lock().expect("lock").lines.clone();
        if lines.len() >= count || Instant::now() > deadline {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
