//! The client's address: the peer, unless the peer is a trusted proxy, in which case the
//! right-most `X-Forwarded-For` entry that is not itself a trusted proxy.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

pub fn client_ip(req: &HttpRequest, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for entry in forwarded.iter().rev() {
        match entry.trim().parse::<IpAddr>() {
            Ok(ip) if trusted(&ip) => continue,
            Ok(ip) => return Some(ip),
            // A malformed entry ends the chain of trust: use what we know for sure.
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
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
        assert_eq!(client_ip(&req("10.0.0.2", Some("garbage")), &proxies), Some(ip("10.0.0.2")));
        assert_eq!(client_ip(&req("10.0.0.2", None), &proxies), Some(ip("10.0.0.2")));
    }
}
