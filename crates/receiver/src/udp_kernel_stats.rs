//! The kernel's own counters for a UDP socket, read from `/proc/net/udp` and
//! `/proc/net/udp6` (Linux only): datagrams it dropped because the socket's receive buffer
//! was full, and the bytes waiting in that buffer. These are the only view of loss that
//! happens before the listener ever sees a datagram.

use std::os::fd::AsRawFd;

use crate::counters::{UDP_KERNEL_DROPS_TOTAL, UDP_RECEIVE_QUEUE_BYTES};

/// One socket's line of `/proc/net/udp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SocketStats {
    /// Datagrams dropped since the socket was created (the `drops` column).
    pub(crate) drops: u64,
    /// Bytes in the receive buffer (the `rx_queue` half of `tx_queue:rx_queue`, hex).
    pub(crate) receive_queue_bytes: u64,
}

/// Finds the socket whose inode is `inode` in a `/proc/net/udp` style table. Lines that do
/// not parse are skipped; `None` when no line matches.
pub(crate) fn parse_socket_stats(table: &str, inode: u64) -> Option<SocketStats> {
    // sl local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref pointer drops
    table.lines().skip(1).find_map(|line| {
        let columns: Vec<&str> = line.split_whitespace().collect();
        if columns.get(9)?.parse::<u64>().ok()? != inode {
            return None;
        }
        let receive_queue_hex = columns.get(4)?.split(':').nth(1)?;
        Some(SocketStats {
            drops: columns.get(12)?.parse().ok()?,
            receive_queue_bytes: u64::from_str_radix(receive_queue_hex, 16).ok()?,
        })
    })
}

/// Exports the kernel's counters of one UDP socket under a `listener` label.
#[derive(Debug)]
pub(crate) struct KernelUdpStats {
    inode: u64,
    listener: &'static str,
}

impl KernelUdpStats {
    /// Finds the socket's inode through `/proc/self/fd`; `None` where that does not exist
    /// (not Linux, no procfs), in which case nothing is exported.
    pub(crate) fn for_socket(socket: &impl AsRawFd, listener: &'static str) -> Option<Self> {
        let link = std::fs::read_link(format!("/proc/self/fd/{}", socket.as_raw_fd())).ok()?;
        let text = link.to_str()?;
        let inode = text
            .strip_prefix("socket:[")?
            .strip_suffix(']')?
            .parse()
            .ok()?;
        Some(KernelUdpStats { inode, listener })
    }

    /// Reads the socket's line and sets `weft_receiver_udp_kernel_drops_total` and
    /// `weft_receiver_udp_receive_queue_bytes`. Returns what it read, `None` when the line
    /// was not found (then nothing is set).
    pub(crate) fn refresh(&self) -> Option<SocketStats> {
        let stats = ["/proc/net/udp", "/proc/net/udp6"]
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .find_map(|table| parse_socket_stats(&table, self.inode))?;
        metrics::counter!(UDP_KERNEL_DROPS_TOTAL, "listener" => self.listener)
            .absolute(stats.drops);
        metrics::gauge!(UDP_RECEIVE_QUEUE_BYTES, "listener" => self.listener)
            .set(stats.receive_queue_bytes as f64);
        Some(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  137: 00000000:1AAF 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 48211 2 0000000000000000 0
  138: 0100007F:1AB0 00000000:0000 07 00000000:0001A200 00:00000000 00000000  1000        0 48399 2 0000000000000000 1234
";

    #[test]
    fn finds_drops_and_queue_by_inode() {
        assert_eq!(
            parse_socket_stats(TABLE, 48399),
            Some(SocketStats {
                drops: 1234,
                receive_queue_bytes: 0x1A200
            })
        );
        assert_eq!(
            parse_socket_stats(TABLE, 48211).map(|stats| stats.drops),
            Some(0)
        );
        assert_eq!(parse_socket_stats(TABLE, 1), None);
        assert_eq!(parse_socket_stats("header only\n", 48399), None);
    }

    #[test]
    fn truncated_lines_are_skipped_not_fatal() {
        let table = "header\n  1: 0100007F:1AB0 00000000:0000 07 00000000:00000000 00:0 0 0 0 77\n";
        assert_eq!(parse_socket_stats(table, 77), None);
    }

    #[test]
    fn a_real_socket_is_found_with_no_drops() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
        let Some(stats) = KernelUdpStats::for_socket(&socket, "test") else {
            return; // no procfs here
        };
        assert_eq!(stats.refresh().map(|s| s.drops), Some(0));
    }
}
