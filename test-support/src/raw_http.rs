//! HTTP/1.1 written and read by hand on a socket of its own: for what a client library would
//! not send (a slowloris, a body that trickles in, a declared length it never sends, two
//! `Host` headers) and for watching when the server closes. Every wait is bounded.

use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};

use crate::answer::Answer;

/// One answer as it came: its status, its head (status line and headers) and its body, read
/// by its `Content-Length`.
#[derive(Debug, Clone)]
pub struct Raw {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }

    /// The answer as sent: head, blank line, body.
    pub fn text(&self) -> String {
        format!("{}\r\n\r\n{}", self.head, self.body)
    }

    pub fn into_answer(self) -> Answer {
        let headers: HeaderMap = self
            .head
            .lines()
            .skip(1)
            .filter_map(|line| {
                let (name, value) = line.split_once(':')?;
                Some((
                    HeaderName::from_bytes(name.trim().as_bytes()).ok()?,
                    HeaderValue::from_str(value.trim()).ok()?,
                ))
            })
            .collect();
        Answer {
            status: self.status,
            headers,
            text: self.body,
        }
    }

    /// Asserts this status and a problem body whose detail contains `detail`.
    pub fn assert_problem(&self, status: u16, detail: &str) {
        self.clone().into_answer().assert_problem(status, detail);
    }
}

/// A connection to `address`, within 5 s.
pub async fn connect(address: impl ToSocketAddrs) -> TcpStream {
    tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(address))
        .await
        .expect("connected within 5 s")
        .expect("a connection")
}

/// One whole answer on `tcp`, within `wait`; panics, with what came, if none does.
pub async fn answer(tcp: &mut TcpStream, wait: Duration) -> Raw {
    let deadline = tokio::time::Instant::now() + wait;
    let mut received = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).into_owned();
            let length = head
                .lines()
                .find_map(|line| {
                    let (key, value) = line.split_once(':')?;
                    key.trim()
                        .eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                let status = head
                    .split(' ')
                    .nth(1)
                    .and_then(|code| code.parse().ok())
                    .unwrap_or(0);
                let body =
                    String::from_utf8_lossy(&received[end + 4..end + 4 + length]).into_owned();
                return Raw { status, head, body };
            }
        }
        match tokio::time::timeout_at(deadline, tcp.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => received.extend_from_slice(&buffer[..n]),
            other => panic!(
                "no whole answer within {wait:?} ({other:?}): {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
}

/// Sends `request` on a new connection and reads the answer, within 5 s.
pub async fn exchange(address: impl ToSocketAddrs, request: &[u8]) -> Raw {
    let mut tcp = connect(address).await;
    tcp.write_all(request).await.expect("the request sent");
    answer(&mut tcp, Duration::from_secs(5)).await
}

/// The server closed the connection: after how long, and what it sent before.
#[derive(Debug)]
pub struct Closed {
    pub after: Duration,
    pub received: String,
}

/// Reads `tcp` until the server closes it, if it does within `wait`.
pub async fn until_closed(tcp: &mut TcpStream, wait: Duration) -> Option<Closed> {
    let started = Instant::now();
    let mut received = Vec::new();
    match tokio::time::timeout(wait, tcp.read_to_end(&mut received)).await {
        Ok(_) => Some(Closed {
            after: started.elapsed(),
            received: String::from_utf8_lossy(&received).into_owned(),
        }),
        Err(_) => None,
    }
}
