//! Manager service credentials that are tokens: from the managed identity, and from OAuth2
//! credential connections (client credentials; authorization code consented in the admin UI),
//! with the connections' access policies and their state on `/admin/credentials`.
//!
//! The token endpoint is a local RFC 6749 server (`support::oauth`); the managed identity is the
//! local instance-metadata stand-in (`support::azure`). The simulated managers record the
//! authorization scheme of what they receive.

mod browser;
mod client_credentials;
mod consent;
mod managed_identity;
mod policy;

use portico::credentials::{Caller, CredentialError};
use portico::domain::EnvironmentId;
use portico::federation::ServiceAuth;
use secrecy::ExposeSecret;

use crate::support::TestApp;

/// `[[credentials]]` with one provider and `connections` (TOML of `[[credentials.connections]]`).
pub fn provider(
    id: &str,
    token_url: &str,
    grant: &str,
    authorize_url: Option<&str>,
    connections: &str,
) -> String {
    let authorize = authorize_url.map(|u| format!("authorize_url = \"{u}\"\n")).unwrap_or_default();
    format!(
        "[[credentials]]\nid = \"{id}\"\ntoken_url = \"{token_url}\"\ngrant = \"{grant}\"\n{authorize}\n{connections}\n"
    )
}

/// A slave at `url` whose service credential is `auth` (inline TOML).
pub fn slave(id: &str, url: &str, auth: &str, enabled: bool) -> String {
    format!(
        "[[slaves]]\nid = \"{id}\"\nname = \"{id}\"\nurl = \"{url}\"\nenabled = {enabled}\nauth = {auth}\n\n"
    )
}

/// The bearer token a service call to `env` would carry now, on behalf of `caller`.
pub async fn bearer(app: &TestApp, env: &str, caller: Caller<'_>) -> Result<String, CredentialError> {
    let env = app.state.environments().get(&EnvironmentId::parse(env).unwrap()).expect("environment");
    let service = env.service.clone().expect("a service credential");
    match service.authorize(caller).await? {
        ServiceAuth::Bearer(token) => Ok(token.expose_secret().to_owned()),
        ServiceAuth::Basic { .. } => panic!("a bearer credential"),
    }
}

/// The requests a simulator received for `GET /currentuser` with a bearer token.
pub fn bearer_calls(sim: &portico::simulator::Simulator) -> usize {
    sim.requests()
        .iter()
        .filter(|r| {
            r.path.ends_with("/currentuser")
                && r.headers.get("authorization").map(String::as_str) == Some("Bearer")
        })
        .count()
}
