//! The client's address: the peer, unless the peer is a trusted proxy, in which case the
//! right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
//!
//! Entries are read as gateways write them: `203.0.113.7`, `203.0.113.7:4711`, `[2001:db8::1]`
//! or `[2001:db8::1]:4711`. An entry that is none of these leaves the address unknown (`None`):
//! it never falls back to the proxy's own address, which every client behind that proxy shares
//! (one attacker would lock them all out under `lock_by_ip`).

use std::net::{IpAddr, SocketAddr};

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use ipnet::IpNet;

use crate::state::AppState;

/// A handler argument: the client's address as Portico trusts it (see the module comment), or
/// `None` when it cannot be known.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<IpAddr>);

impl ClientAddress {
    /// As text, for the audit log.
    pub fn text(&self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }
}

impl FromRequest for ClientAddress {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let proxies = req
            .app_data::<web::Data<AppState>>()
            .map(|state| state.settings().server.trusted_proxies.as_slice());
        ready(Ok(ClientAddress(client_ip(req, proxies.unwrap_or_default()))))
    }
}

pub fn client_ip(req: &HttpRequest, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let forwarded_for = req.headers().get_all("x-forwarded-for").map(|v| v.as_bytes());
    client_ip_of(req.peer_addr()?.ip(), forwarded_for, trusted_proxies)
}

/// [`client_ip`] from the peer's address and the values of the `X-Forwarded-For` headers.
pub fn client_ip_of<'a>(
    peer: IpAddr,
    forwarded_for: impl Iterator<Item = &'a [u8]>,
    trusted_proxies: &[IpNet],
) -> Option<IpAddr> {
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<&str> =
        forwarded_for.filter_map(|v| std::str::from_utf8(v).ok()).flat_map(|v| v.split(',')).collect();
    for entry in forwarded.iter().rev() {
        match parse_entry(entry) {
            Some(ip) if trusted(&ip) => continue,
            Some(ip) => return Some(ip),
            // A malformed entry ends the chain of trust, and the client behind it is unknown.
            None => return None,
        }
    }
    Some(peer)
}

/// One `X-Forwarded-For` entry: an address, with or without a port, IPv6 with or without
/// brackets.
pub fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = entry.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    entry.strip_prefix('[')?.strip_suffix(']')?.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn req(peer: &str, xff: Option<&str>) -> HttpRequest {
        let mut r = TestRequest::default().peer_addr(format!("{peer}:4000").parse().unwrap());
        if let Some(x) = xff {
            r = r.insert_header(("x-forwarded-for", x));
        }
        r.to_http_request()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = nets(&["10.0.0.0/8"]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(client_ip(&req("203.0.113.9", Some("1.2.3.4")), &proxies), Some(ip("203.0.113.9")));
        assert_eq!(client_ip(&req("10.0.0.2", Some("1.2.3.4")), &proxies), Some(ip("1.2.3.4")));
        assert_eq!(
            client_ip(&req("10.0.0.2", Some("6.6.6.6, 1.2.3.4, 10.0.0.7")), &proxies),
            Some(ip("1.2.3.4"))
        );
        assert_eq!(client_ip(&req("10.0.0.2", Some("garbage")), &proxies), None);
        assert_eq!(client_ip(&req("10.0.0.2", Some("1.2.3.4, garbage")), &proxies), None);
        assert_eq!(client_ip(&req("10.0.0.2", None), &proxies), Some(ip("10.0.0.2")));
    }

    #[test]
    fn gateways_entries_with_ports_and_brackets_are_read() {
        let proxies = nets(&["10.0.0.0/8"]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        for (entry, expected) in [
            ("1.2.3.4:5678", "1.2.3.4"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("2001:db8::1", "2001:db8::1"),
            (" 1.2.3.4 ", "1.2.3.4"),
        ] {
            assert_eq!(client_ip(&req("10.0.0.2", Some(entry)), &proxies), Some(ip(expected)), "{entry}");
        }
        assert_eq!(client_ip(&req("10.0.0.2", Some("6.6.6.6, 10.0.0.9:80")), &proxies), Some(ip("6.6.6.6")));
    }

    proptest::proptest! {
        /// Whatever a proxy writes, the answer is an address that was written, or unknown; never
        /// the proxy's own.
        #[test]
        fn never_the_proxys_address(entries in proptest::collection::vec("[0-9a-f.:\\[\\] ]{0,24}", 1..4)) {
            let proxies = nets(&["10.0.0.0/8"]);
            let header = entries.join(",");
            if let Some(found) = client_ip(&req("10.0.0.2", Some(&header)), &proxies) {
                proptest::prop_assert!(entries.iter().any(|e| parse_entry(e) == Some(found)));
                proptest::prop_assert!(!proxies[0].contains(&found));
            }
        }

        #[test]
        fn socket_addresses_give_their_ip(v4 in proptest::array::uniform4(0u8..), port in 0u16..) {
            let ip = IpAddr::from(v4);
            let written = SocketAddr::new(ip, port).to_string();
            proptest::prop_assert_eq!(parse_entry(&written), Some(ip));
        }
    }
}
