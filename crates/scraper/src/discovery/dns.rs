//! DNS service discovery (`dns_sd_configs`), Prometheus's `discovery/dns`.
//!
//! Each name is queried every `refresh_interval` for the configured record type and
//! becomes one group (source = the name). Targets and their labels, as Prometheus:
//!
//! | type | `__address__` | labels |
//! |---|---|---|
//! | SRV | `<target without final dot>:<record port>` | `__meta_dns_name`, `__meta_dns_srv_record_target` (as returned, final dot kept), `__meta_dns_srv_record_port` |
//! | A, AAAA | `<ip>:<port>` (`[ip]:port` for IPv6) | `__meta_dns_name` |
//! | MX | `<exchange without final dot>:<port>` | `__meta_dns_name`, `__meta_dns_mx_record_target` |
//! | NS | `<name server without final dot>:<port>` | `__meta_dns_name`, `__meta_dns_ns_record_target` |
//!
//! A name that does not exist or has no such records gives an empty group. Any other
//! failure keeps the previous groups of every name (Prometheus fails the whole
//! refresh). Answers are not cached between refreshes.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{ResolveError, Resolver, TokioResolver};
use weft_scrape_config::TargetGroup;
use weft_scrape_config::config::{DnsRecordType, DnsSdConfig};
use weft_scrape_config::labels::ADDRESS_LABEL;

use super::{Publisher, count_refresh_failure};

/// `__meta_dns_name`: the name queried.
pub const NAME_LABEL: &str = "__meta_dns_name";
/// `__meta_dns_srv_record_target`.
pub const SRV_RECORD_TARGET_LABEL: &str = "__meta_dns_srv_record_target";
/// `__meta_dns_srv_record_port`.
pub const SRV_RECORD_PORT_LABEL: &str = "__meta_dns_srv_record_port";
/// `__meta_dns_mx_record_target`.
pub const MX_RECORD_TARGET_LABEL: &str = "__meta_dns_mx_record_target";
/// `__meta_dns_ns_record_target`.
pub const NS_RECORD_TARGET_LABEL: &str = "__meta_dns_ns_record_target";

/// Runs the provider until aborted.
pub(crate) async fn run(
    config: DnsSdConfig,
    name_servers: Option<Vec<SocketAddr>>,
    publisher: Publisher,
) {
    let resolver = match build_resolver(name_servers) {
        Ok(resolver) => resolver,
        Err(error) => {
            count_refresh_failure("dns");
            tracing::warn!(%error, "DNS SD: cannot build a resolver; no targets");
            return;
        }
    };
    let refresh_interval = config.refresh_interval.as_std();
    loop {
        let mut groups = Vec::with_capacity(config.names.len());
        let mut failed = false;
        for name in &config.names {
            match lookup(&resolver, &config, name).await {
                Ok(targets) => groups.push(TargetGroup {
                    targets,
                    labels: BTreeMap::new(),
                    source: name.clone(),
                }),
                Err(error) => {
                    failed = true;
                    tracing::warn!(%name, %error, "DNS SD: keeping the previous targets");
                }
            }
        }
        if failed {
            count_refresh_failure("dns");
        } else {
            publisher.publish(groups);
        }
        tokio::time::sleep(refresh_interval).await;
    }
}

fn build_resolver(name_servers: Option<Vec<SocketAddr>>) -> Result<TokioResolver, ResolveError> {
    let mut builder = match name_servers {
        Some(addresses) => {
            let mut config = ResolverConfig::new();
            for address in addresses {
                config.add_name_server(NameServerConfig::new(address, Protocol::Udp));
            }
            Resolver::builder_with_config(config, TokioConnectionProvider::default())
        }
        None => Resolver::builder_tokio()?,
    };
    builder.options_mut().cache_size = 0;
    Ok(builder.build())
}

fn without_final_dot(name: &str) -> &str {
    name.trim_end_matches('.')
}

/// Go's `net.JoinHostPort`: brackets around hosts containing `:`.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn target(address: String, name: &str, extra: &[(&str, String)]) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (String::from(ADDRESS_LABEL), address),
        (String::from(NAME_LABEL), name.to_owned()),
    ]);
    for (label, value) in extra {
        labels.insert((*label).to_owned(), value.clone());
    }
    labels
}

async fn lookup(
    resolver: &TokioResolver,
    config: &DnsSdConfig,
    name: &str,
) -> Result<Vec<BTreeMap<String, String>>, ResolveError> {
    let port = config.port;
    let result = match config.record_type {
        DnsRecordType::Srv => resolver.srv_lookup(name).await.map(|records| {
            records
                .iter()
                .map(|record| {
                    let record_target = record.target().to_string();
                    target(
                        host_port(without_final_dot(&record_target), record.port()),
                        name,
                        &[
                            (SRV_RECORD_TARGET_LABEL, record_target.clone()),
                            (SRV_RECORD_PORT_LABEL, record.port().to_string()),
                        ],
                    )
                })
                .collect()
        }),
        DnsRecordType::A => resolver.ipv4_lookup(name).await.map(|records| {
            records
                .iter()
                .map(|record| target(ip_target(IpAddr::V4(record.0), port), name, &[]))
                .collect()
        }),
        DnsRecordType::Aaaa => resolver.ipv6_lookup(name).await.map(|records| {
            records
                .iter()
                .map(|record| target(ip_target(IpAddr::V6(record.0), port), name, &[]))
                .collect()
        }),
        DnsRecordType::Mx => resolver.mx_lookup(name).await.map(|records| {
            records
                .iter()
                .map(|record| {
                    let exchange = record.exchange().to_string();
                    target(
                        host_port(without_final_dot(&exchange), port),
                        name,
                        &[(MX_RECORD_TARGET_LABEL, exchange.clone())],
                    )
                })
                .collect()
        }),
        DnsRecordType::Ns => resolver.ns_lookup(name).await.map(|records| {
            records
                .iter()
                .map(|record| {
                    let server = record.0.to_string();
                    target(
                        host_port(without_final_dot(&server), port),
                        name,
                        &[(NS_RECORD_TARGET_LABEL, server.clone())],
                    )
                })
                .collect()
        }),
    };
    match result {
        Err(error) if error.is_no_records_found() || error.is_nx_domain() => Ok(Vec::new()),
        other => other,
    }
}

fn ip_target(ip: IpAddr, port: u16) -> String {
    SocketAddr::new(ip, port).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_joined_as_go_does() {
        assert_eq!(host_port("db.example.com", 5432), "db.example.com:5432");
        assert_eq!(host_port("::1", 80), "[::1]:80");
        assert_eq!(ip_target("::1".parse().expect("ip"), 80), "[::1]:80");
        assert_eq!(ip_target("10.0.0.1".parse().expect("ip"), 9), "10.0.0.1:9");
        assert_eq!(without_final_dot("a.example."), "a.example");
    }
}
