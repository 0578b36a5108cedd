//! Single sign-on through a real OpenID provider (`oidc-provider`, SPEC §3.2): the whole flow
//! through an HTTP client, the managers joined with the user's access token (the simulators
//! validate it with the provider's keys), sign-out at the provider, the refresh of the access
//! token under a lock, every refusal as a clear page counted in the audit log, and the
//! provider's back-channel logout.

mod backchannel;
mod flow;
pub(crate) mod forged;
mod refresh;
mod refusals;

use portico::simulator::{Simulator, SimulatorData, SimulatorOptions};
use serde_json::Value;

use crate::support::managers::listener;
use crate::support::oidc::{OidcProvider, sign_in_at_provider};
use crate::support::{TestApp, location};

/// Where the test apps believe they are (`server.public_url`): the provider redirects there.
pub const PUBLIC_URL: &str = "http://localhost";

/// The provider's options for a Portico at [`PUBLIC_URL`].
pub fn provider_options() -> Value {
    serde_json::json!({
        "redirectUris": [format!("{PUBLIC_URL}/auth/callback")],
        "postLogoutRedirectUris": [format!("{PUBLIC_URL}/login")],
    })
}

pub async fn bearer_master(provider: &OidcProvider) -> Simulator {
    let options = SimulatorOptions {
        bearer: Some(provider.bearer_options()),
        ..SimulatorOptions::master(SimulatorData::demo_master())
    };
    Simulator::start(listener(), options).await.expect("master")
}

pub async fn bearer_slave(provider: &OidcProvider, flavour: &str, master: &Simulator) -> Simulator {
    let options = SimulatorOptions {
        bearer: Some(provider.bearer_options()),
        ..SimulatorOptions::slave(SimulatorData::demo_slave(flavour), master.url.clone())
    };
    Simulator::start(listener(), options).await.expect("slave")
}

/// Starts the sign-in at Portico, signs in at the provider as `login`, and brings the browser
/// back to Portico's callback. Returns the callback's answer.
pub async fn single_sign_on(app: &TestApp, login: &str) -> reqwest::Response {
    let start = app.get("/login/oidc").await;
    assert_eq!(start.status(), 303, "{}", start.text().await.unwrap_or_default());
    let back = sign_in_at_provider(&location(&start), login, &format!("{PUBLIC_URL}/auth/callback")).await;
    app.get(&format!("/auth/callback?{}", back.query().unwrap_or_default())).await
}

/// The audit entries with `action`, newest first, as (actor, detail JSON).
pub async fn audit(app: &TestApp, action: &str) -> Vec<(String, Value)> {
    let entries = app.state.db().audit_page(None, 200).await.expect("audit log");
    entries
        .into_iter()
        .filter(|e| e.action == action)
        .map(|e| (e.actor, e.detail.and_then(|d| serde_json::from_str(&d).ok()).unwrap_or(Value::Null)))
        .collect()
}
