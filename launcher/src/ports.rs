//! Free loopback ports for the run's processes.

use std::collections::BTreeSet;
use std::sync::Mutex;

/// A free TCP port on 127.0.0.1, picked at random below 32768, where Linux and macOS do not
/// take the local ports of outgoing connections. A port the OS picks (`bind(0)`) comes from that
/// ephemeral range, so between this check and the server's own bind another process's outgoing
/// connection could take it, and daprd then failed at random with "address already in use".
/// A port is handed out once per process, so the topologies of parallel tests stay apart.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..1000 {
        let mut bytes = [0u8; 2];
        getrandom::fill(&mut bytes).expect("random bytes");
        let port = 20_000 + u16::from_le_bytes(bytes) % 12_000;
        if !handed_out.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.insert(port);
            return port;
        }
    }
    panic!("no free port between 20000 and 32000 on 127.0.0.1")
}
