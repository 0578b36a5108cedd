//! Checks on `[[credentials]]` and on managers' `auth`: unique ids, the URLs each grant needs,
//! client secrets, access policies, and connections that managers name but nobody defines.

use super::tree::KeyPath;
use super::validate::{Checker, PLAIN_SECRET, key};
use super::{Grant, ManagerAuthSettings, Settings, Severity};

impl Checker<'_> {
    pub(super) fn credentials(&mut self, s: &Settings) {
        let mut providers: Vec<(&str, String)> = Vec::new();
        let mut connections: Vec<(&str, String)> = Vec::new();
        for (i, provider) in s.credentials.iter().enumerate() {
            let at = key("credentials").index(i);
            let here = format!("credentials[{i}]");
            match providers.iter().find(|(id, _)| *id == provider.id.as_str()) {
                Some((_, first)) => self.error(
                    at.key("id"),
                    format!("provider id \"{}\" is already used by {first}", provider.id),
                ),
                None => providers.push((provider.id.as_str(), here.clone())),
            }
            self.http_url(at.key("token_url"), &provider.token_url);
            self.positive(at.key("timeout"), provider.timeout);
            match (provider.grant, &provider.authorize_url) {
                (Grant::AuthorizationCode, Some(url)) => self.http_url(at.key("authorize_url"), url),
                (Grant::AuthorizationCode, None) => self.error(
                    at.key("authorize_url"),
                    "is required with grant = \"authorization_code\" (where an admin gives consent)",
                ),
                (Grant::ClientCredentials, Some(_)) => self.warn(
                    at.key("authorize_url"),
                    "is not used with grant = \"client_credentials\" (no one consents)",
                ),
                (Grant::ClientCredentials, None) => {}
            }
            if provider.connections.is_empty() {
                self.warn(at.key("connections"), "no [[credentials.connections]]: this provider is not used");
            }
            for (j, connection) in provider.connections.iter().enumerate() {
                let at = at.key("connections").index(j);
                match connections.iter().find(|(id, _)| *id == connection.id.as_str()) {
                    Some((_, first)) => self.error(
                        at.key("id"),
                        format!(
                            "connection id \"{}\" is already used by {first} (ids are unique across providers)",
                            connection.id
                        ),
                    ),
                    None => connections.push((connection.id.as_str(), format!("{here}.connections[{j}]"))),
                }
                self.connection(&at, provider.grant, connection);
            }
        }
    }

    fn connection(&mut self, at: &KeyPath, grant: Grant, c: &super::ConnectionSettings) {
        if c.client_id.trim().is_empty() {
            self.error(at.key("client_id"), "must not be empty");
        }
        match &c.client_secret {
            Some(secret) => {
                if secret.is_plain() {
                    self.push(at.key("client_secret"), Severity::Warning, PLAIN_SECRET.to_owned(), true);
                }
                let _ = self.secret(at.key("client_secret"), secret);
            }
            None if grant == Grant::ClientCredentials => self.error(
                at.key("client_secret"),
                "is required with grant = \"client_credentials\" (the client authenticates itself)",
            ),
            None => {}
        }
        for (k, scope) in c.scopes.iter().enumerate() {
            if scope.is_empty() || scope.chars().any(|ch| ch.is_whitespace() || ch == '"' || ch == '\\') {
                self.error(
                    at.key("scopes").index(k),
                    format!("{scope:?} is not a scope: one word per entry"),
                );
            }
        }
        if c.resource.as_deref().is_some_and(|r| url::Url::parse(r).is_err()) {
            self.error(
                at.key("resource"),
                "must be an absolute URI (RFC 8707), such as \"https://api.example.com\"",
            );
        }
        let organizations = &c.allowed.organizations;
        if organizations.iter().any(|o| o.trim().is_empty()) {
            self.error(at.key("allowed").key("organizations"), "an organization name must not be empty");
        }
        if organizations.is_empty() {
            self.warn(
                at.key("allowed").key("organizations"),
                "is empty: calls on behalf of users are refused; only Portico's own calls (health checks) \
                 use this connection. List organization names, or [\"*\"] for every organization",
            );
        }
    }

    /// A manager's `auth`: its secret, the managed identity's resource, or a known connection.
    pub(super) fn manager_auth(&mut self, at: &KeyPath, auth: &ManagerAuthSettings, s: &Settings) {
        match auth {
            ManagerAuthSettings::Basic { username, password } => {
                let at = at.key("basic");
                if username.is_empty() {
                    self.error(at.key("username"), "must not be empty");
                }
                if password.is_plain() {
                    self.push(at.key("password"), Severity::Warning, PLAIN_SECRET.to_owned(), true);
                }
                let _ = self.secret(at.key("password"), password);
            }
            ManagerAuthSettings::ManagedIdentity { resource, client_id } => {
                let at = at.key("managed_identity");
                if resource.trim().is_empty() {
                    self.error(at.key("resource"), "must name the resource the token is for");
                }
                if client_id.as_deref().is_some_and(|c| c.trim().is_empty()) {
                    self.error(
                        at.key("client_id"),
                        "must not be empty (leave it out for the system-assigned identity)",
                    );
                }
            }
            ManagerAuthSettings::Connection(id) => {
                let mut known: Vec<&str> =
                    s.credentials.iter().flat_map(|p| &p.connections).map(|c| c.id.as_str()).collect();
                known.sort_unstable();
                known.dedup();
                if !known.contains(&id.as_str()) {
                    let hint = if known.is_empty() {
                        "no [[credentials.connections]] is defined".to_owned()
                    } else {
                        format!("known connections: {}", known.join(", "))
                    };
                    self.error(at.key("connection"), format!("unknown connection \"{id}\"; {hint}"));
                }
            }
        }
    }
}
