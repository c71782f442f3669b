//! A DNS server on loopback UDP answering from a table, for DNS SD tests.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// Answers `(name, type)` queries with the records in its table; unknown names get
/// NXDOMAIN. Records have a TTL of 1s.
#[derive(Clone)]
pub struct DnsServer {
    pub address: SocketAddr,
    records: Arc<Mutex<Vec<(Name, RData)>>>,
}

impl DnsServer {
    pub async fn start() -> Self {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind udp");
        let address = socket.local_addr().expect("address");
        let records: Arc<Mutex<Vec<(Name, RData)>>> = Arc::default();
        let table = Arc::clone(&records);
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            loop {
                let Ok((length, peer)) = socket.recv_from(&mut buffer).await else {
                    return;
                };
                let Ok(query) = Message::from_vec(&buffer[..length]) else {
                    continue;
                };
                let answer = answer(&query, &table.lock().expect("dns table"));
                if let Ok(bytes) = answer.to_vec() {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        Self { address, records }
    }

    /// Adds a record for `name` (fully qualified, ending with a dot).
    pub fn add(&self, name: &str, data: RData) {
        let name = Name::from_ascii(name).expect("dns name");
        self.records.lock().expect("dns table").push((name, data));
    }
}

fn answer(query: &Message, table: &[(Name, RData)]) -> Message {
    let mut response = Message::new();
    response
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .set_authoritative(true);
    let Some(question) = query.queries().first() else {
        response.set_response_code(ResponseCode::FormErr);
        return response;
    };
    response.add_query(question.clone());
    let name_known = table.iter().any(|(name, _)| name == question.name());
    if !name_known {
        response.set_response_code(ResponseCode::NXDomain);
        return response;
    }
    for (name, data) in table {
        if name == question.name()
            && (data.record_type() == question.query_type()
                || question.query_type() == RecordType::ANY)
        {
            response.add_answer(Record::from_rdata(name.clone(), 1, data.clone()));
        }
    }
    response
}
