//! The checks of `[redis]`: exactly one form, node addresses, credentials.

use url::Url;

use super::super::tree::KeyPath;
use super::super::{RedisSettings, SecretRef, Severity};
use super::{Checker, PLAIN_SECRET, Pem, key};

impl Checker<'_> {
    pub(super) fn redis(&mut self, redis: &RedisSettings) {
        let forms = [redis.url.is_some(), redis.sentinel.is_some(), redis.cluster.is_some()];
        if forms.iter().filter(|set| **set).count() != 1 {
            self.error(key("redis"), "set exactly one of url, sentinel and cluster");
        }
        if let Some(url) = &redis.url {
            self.store_url(key("redis.url"), url, &["redis", "rediss"], "redis:// or rediss://");
        }
        self.credential(key("redis.username"), redis.username.as_ref(), false);
        self.credential(key("redis.password"), redis.password.as_ref(), true);
        if let Some(sentinel) = &redis.sentinel {
            if sentinel.master_name.trim().is_empty() {
                self.error(key("redis.sentinel.master_name"), "must name the master the sentinels monitor");
            }
            self.redis_nodes(key("redis.sentinel.nodes"), &sentinel.nodes);
            self.credential(key("redis.sentinel.username"), sentinel.username.as_ref(), false);
            self.credential(key("redis.sentinel.password"), sentinel.password.as_ref(), true);
            if sentinel.db < 0 {
                self.error(key("redis.sentinel.db"), "must be 0 or more");
            }
        }
        if let Some(cluster) = &redis.cluster {
            self.redis_nodes(key("redis.cluster.nodes"), &cluster.nodes);
        }
        if let Some(ca) = &redis.ca_file {
            self.pem_file(key("redis.ca_file"), ca, Pem::Certificate);
        }
        self.at_least_one(key("redis.pool_size"), redis.pool_size as u64);
    }

    /// Node addresses: at least one, `redis://` or `rediss://` with a host and a port, no
    /// credentials (they have keys of their own, which can be secret references).
    fn redis_nodes(&mut self, at: KeyPath, nodes: &[Url]) {
        if nodes.is_empty() {
            self.error(at.clone(), "must list at least one node");
        }
        for (i, node) in nodes.iter().enumerate() {
            let at = at.index(i);
            if !matches!(node.scheme(), "redis" | "rediss") {
                self.error(at, format!("must be a redis:// or rediss:// address, not {}:", node.scheme()));
            } else if node.host_str().is_none_or(str::is_empty) || node.port().is_none() {
                self.error(at, "must name a host and a port");
            } else if !node.username().is_empty() || node.password().is_some() {
                self.error(at, "must not hold credentials: use the username and password keys");
            } else if !matches!(node.path(), "" | "/") {
                self.error(at, "must be an address only (no database or path)");
            }
        }
    }

    /// A Redis username or password: resolvable; a password is warned about when written in
    /// clear.
    fn credential(&mut self, at: KeyPath, value: Option<&SecretRef>, secret: bool) {
        let Some(value) = value else { return };
        let _ = self.secret(at.clone(), value);
        if secret && value.is_plain() {
            self.push(at, Severity::Warning, PLAIN_SECRET.to_owned(), true);
        }
    }
}
