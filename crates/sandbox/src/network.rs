//! The network of a step: nothing by default; outgoing HTTP (`wasi:http`) only to granted
//! hosts, and TCP connections (`wasi:sockets`) only to granted addresses. Every attempt that
//! is refused is remembered, so the runner can record it as an event and a caveat.
//!
//! A grant is `host` (any port), `host:port`, or `*.domain` (any subdomain, any port); for
//! sockets it must name an IP address with a port, e.g. `127.0.0.1:8080`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// What a step may reach, and what it was refused.
#[derive(Debug, Clone, Default)]
pub(crate) struct NetworkPolicy {
    allowed: Arc<Vec<String>>,
    denials: Arc<Mutex<Vec<String>>>,
}

impl NetworkPolicy {
    pub(crate) fn new(allowed: &[String]) -> Self {
        NetworkPolicy {
            allowed: Arc::new(allowed.to_vec()),
            denials: Arc::default(),
        }
    }

    /// Whether `host` (with `port`) is granted.
    fn allows(&self, host: &str, port: Option<u16>) -> bool {
        self.allowed.iter().any(|grant| {
            let (pattern, granted_port) = match grant.rsplit_once(':') {
                Some((h, p)) if p.parse::<u16>().is_ok() => (h, p.parse().ok()),
                _ => (grant.as_str(), None),
            };
            let port_ok = granted_port.is_none() || granted_port == port;
            let host_ok = match pattern.strip_prefix("*.") {
                Some(domain) => host.ends_with(&format!(".{domain}")),
                None => pattern.eq_ignore_ascii_case(host),
            };
            port_ok && host_ok
        })
    }

    fn deny(&self, what: String) {
        tracing::info!("denied {what}");
        self.denials
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(what);
    }

    /// What was refused so far.
    pub(crate) fn denials(&self) -> Vec<String> {
        self.denials
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The check `wasi:sockets` runs before each bind, connect and listen.
    pub(crate) fn socket_check(
        &self,
    ) -> impl Fn(
        SocketAddr,
        SocketAddrUse,
    ) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send + Sync>>
    + Send
    + Sync
    + 'static {
        let policy = self.clone();
        move |addr, use_| {
            let allowed = match use_ {
                // The implicit bind before a connect: harmless on its own.
                SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
                SocketAddrUse::TcpConnect => {
                    policy.allows(&addr.ip().to_string(), Some(addr.port()))
                }
                _ => false,
            };
            if !allowed {
                policy.deny(format!("network: socket {use_:?} {addr} (not granted)"));
            }
            Box::pin(async move { allowed })
        }
    }
}

impl WasiHttpHooks for NetworkPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), Error>> + Send>,
                    ),
                    Error,
                >,
            > + Send,
    > {
        _ = fut;
        let authority = request.uri().authority().cloned();
        let (host, port) = authority
            .as_ref()
            .map_or(("", None), |a| (a.host(), a.port_u16()));
        if !self.allows(host, port) {
            let shown = authority.map_or_else(|| "(no host)".to_owned(), |a| a.to_string());
            self.deny(format!(
                "network: HTTP {} to {shown} (not granted)",
                request.method()
            ));
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hosts_ports_and_subdomains() {
        let policy = NetworkPolicy::new(&[
            "api.example.com".into(),
            "127.0.0.1:8080".into(),
            "*.corp.test".into(),
        ]);
        assert!(policy.allows("api.example.com", Some(443)));
        assert!(policy.allows("127.0.0.1", Some(8080)));
        assert!(!policy.allows("127.0.0.1", Some(8081)));
        assert!(policy.allows("git.corp.test", None));
        assert!(!policy.allows("corp.test.evil.com", None));
        assert!(!policy.allows("example.com", Some(443)));
    }
}
