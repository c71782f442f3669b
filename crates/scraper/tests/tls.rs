//! Scraping over HTTPS: CA verification, `insecure_skip_verify`, client certificates.
//! The certificates are fixtures (see `tests/fixtures/tls/README.md`); the server is a
//! rustls listener on loopback answering every request with an empty scrape.

mod support;

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::{RecordingSink, eventually, start_scraper, status_of};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weft_scraper::TargetHealth;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// Serves HTTPS on loopback; with `require_client_certificate`, only clients with a
/// certificate signed by the test CA complete the handshake.
async fn start_https_server(require_client_certificate: bool) -> String {
    let certificates: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(fixture("server.pem"))
            .expect("server.pem")
            .collect::<Result<_, _>>()
            .expect("certificates");
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).expect("server.key");
    let builder = rustls::ServerConfig::builder();
    let config = if require_client_certificate {
        let mut roots = rustls::RootCertStore::empty();
        for certificate in CertificateDer::pem_file_iter(fixture("ca.pem")).expect("ca.pem") {
            roots.add(certificate.expect("ca")).expect("add ca");
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
            .build()
            .expect("verifier");
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    }
    .with_single_cert(certificates, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(stream).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let response = "HTTP/1.1 200 OK\r\nWeft-Cursor-First: 0\r\nWeft-Cursor-Next: 0\r\nWeft-Dropped: 0\r\nWeft-Dropped-Total: 0\r\nWeft-Instance: tls\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    address.to_string()
}

fn job(name: &str, target: &str, tls_config: &str) -> String {
    format!(
        "  - job_name: {name}\n    scheme: https\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    metrics_path: /traces\n    tls_config: {{{tls_config}}}\n    static_configs: [{{targets: [\"{target}\"], labels: {{instance: {name}}}}}]\n"
    )
}

#[tokio::test]
async fn https_targets_are_verified_and_client_certificates_sent() {
    let server = start_https_server(false).await;
    let mutual = start_https_server(true).await;
    let ca = fixture("ca.pem").display().to_string();
    let cert = fixture("client.pem").display().to_string();
    let key = fixture("client.key").display().to_string();
    let text = [
        String::from("scrape_configs:\n"),
        job("verified", &server, &format!("ca_file: {ca}")),
        job("unknown-ca", &server, ""),
        job("skip-verify", &server, "insecure_skip_verify: true"),
        job(
            "client-cert",
            &mutual,
            &format!("ca_file: {ca}, cert_file: {cert}, key_file: {key}"),
        ),
        job("no-client-cert", &mutual, &format!("ca_file: {ca}")),
    ]
    .concat();
    let config = weft_scrape_config::Config::parse(&text, "tls.yml").expect("config");
    let sink = RecordingSink::new();
    let (scraper, _directory) = start_scraper(config, &sink).await;
    let health = |instance: &str| status_of(&scraper, instance).map(|status| status.health);
    for instance in ["verified", "skip-verify", "client-cert"] {
        eventually(instance, || health(instance) == Some(TargetHealth::Up)).await;
    }
    for instance in ["unknown-ca", "no-client-cert"] {
        eventually(instance, || health(instance) == Some(TargetHealth::Down)).await;
    }
    let error = status_of(&scraper, "unknown-ca")
        .expect("listed")
        .last_error;
    assert!(error.contains("certificate"), "{error}");
    scraper.shutdown().await;
}

#[tokio::test]
async fn an_unreadable_ca_file_refuses_the_configuration() {
    let text = "scrape_configs:\n  - job_name: broken\n    tls_config: {ca_file: /nonexistent/ca.pem}\n    static_configs: [{targets: [\"127.0.0.1:1\"]}]\n";
    let config = weft_scrape_config::Config::parse(text, "tls.yml").expect("config");
    let directory = tempfile::tempdir().expect("tempdir");
    let sink = RecordingSink::new();
    let error = weft_scraper::Scraper::start(config, sink, support::options(directory.path()))
        .await
        .err()
        .expect("refused");
    let message = error.to_string();
    assert!(
        message.contains("\"broken\"") && message.contains("/nonexistent/ca.pem"),
        "{message}"
    );
}
