//! A real OpenID provider for the tests: `oidc-provider` from npm (pinned in
//! `tests/peers/package.json`) run by `tests/peers/oidc-provider.mjs`, and a client that signs
//! in through its development interactions (login form, then consent form) the way a browser
//! does.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use url::Url;

use super::missing_peer;

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

/// What is missing to run the provider, if anything: `(what, how to install it)`.
pub fn missing() -> Option<(String, String)> {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|out| out.status.success()) {
        return Some(("node".to_owned(), "apt-get install nodejs npm".to_owned()));
    }
    if !peers_dir().join("node_modules/oidc-provider/package.json").is_file() {
        return Some(("oidc-provider".to_owned(), "run: npm install --prefix tests/peers".to_owned()));
    }
    None
}

/// The running provider; killed on drop.
pub struct OidcProvider {
    child: Child,
    pub issuer: Url,
}

/// The resource indicator access tokens are issued for (the managers' audience).
pub const RESOURCE: &str = "urn:portico:managers";
pub const CLIENT_ID: &str = "portico";
pub const CLIENT_SECRET: &str = "portico-test-secret";

/// How long the provider may take to listen, and how many times it is started before a test fails.
const START_DEADLINE: Duration = Duration::from_secs(30);
const STARTS: u32 = 2;

impl OidcProvider {
    /// Starts the provider with `options` (see the script); `None` when a peer is missing (a NOTE,
    /// or a failure under `PORTICO_REQUIRE_PEERS=1`).
    pub fn start(test: &str, options: Value) -> Option<Self> {
        if let Some((what, install)) = missing() {
            missing_peer(test, &what, &install);
            return None;
        }
        // A node process that hangs before it listens (seen once in a loaded CI run: asleep on a
        // futex, nothing written) would hold the test for ever: give it a deadline, then once more.
        for _ in 1..STARTS {
            match Self::launch(&options) {
                Ok(provider) => return Some(provider),
                Err(why) => eprintln!("{test}: the OpenID provider {why}; starting it again"),
            }
        }
        let provider = Self::launch(&options)
            .unwrap_or_else(|why| panic!("the OpenID provider {why} (see its output above)"));
        Some(provider)
    }

    /// One start of the provider: it, once it says where it listens, or why not.
    fn launch(options: &Value) -> Result<Self, String> {
        let mut child = Command::new("node")
            .arg(peers_dir().join("oidc-provider.mjs"))
            .arg(options.to_string())
            .current_dir(peers_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node");
        let stdout = child.stdout.take().expect("stdout");
        let (listening, issuer) = std::sync::mpsc::channel();
        // Reads its output: the issuer once it is listening, then the rest, so that it never
        // blocks on a full pipe.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            for line in lines.by_ref() {
                if let Some(url) = line.strip_prefix("oidc provider listening on ") {
                    let _ = listening.send(Url::parse(url.trim()).expect("issuer URL"));
                    break;
                }
            }
            for _ in lines {}
        });
        match issuer.recv_timeout(START_DEADLINE) {
            Ok(issuer) => Ok(Self { child, issuer }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(match e {
                    std::sync::mpsc::RecvTimeoutError::Timeout => {
                        format!("did not listen within {START_DEADLINE:?}")
                    }
                    std::sync::mpsc::RecvTimeoutError::Disconnected => "did not start".to_owned(),
                })
            }
        }
    }

    /// The issuer as the provider writes it (no trailing slash).
    pub fn issuer(&self) -> String {
        self.issuer.as_str().trim_end_matches('/').to_owned()
    }

    /// What its token endpoint issued: `{"authorization_code": n, "refresh_token": n,
    /// "reused_refresh_tokens": n}` (a test-only control of the script).
    pub async fn stats(&self) -> Value {
        reqwest::get(format!("{}/__test/stats", self.issuer()))
            .await
            .expect("stats")
            .json()
            .await
            .expect("json")
    }

    /// `claims` signed RS256 under the provider's key id: with its own key (`"provider"`), or with
    /// another key (`"impostor"`) (a test-only control of the script).
    pub async fn sign(&self, claims: &Value, key: &str) -> String {
        self.sign_with(claims, key, &serde_json::json!({})).await
    }

    /// [`OidcProvider::sign`] with `header` over the script's (`{"kid": …}`).
    pub async fn sign_with(&self, claims: &Value, key: &str, header: &Value) -> String {
        let body = serde_json::json!({ "claims": claims, "key": key, "header": header });
        let answer: Value = reqwest::Client::new()
            .post(format!("{}/__test/sign", self.issuer()))
            .json(&body)
            .send()
            .await
            .expect("sign")
            .json()
            .await
            .expect("json");
        answer["token"].as_str().expect("a token").to_owned()
    }

    /// The `[oidc]` section for a Portico using this provider.
    pub fn config(&self, manager_auth: &str) -> String {
        format!(
            "[oidc]\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
             scopes = [\"profile\", \"email\"]\nmanager_auth = \"{manager_auth}\"\nresource = \"{RESOURCE}\"\n\
             display_name = \"Test IdP\"\n",
            self.issuer()
        )
    }

    /// What a simulated manager needs to accept this provider's access tokens.
    pub fn bearer_options(&self) -> portico::simulator::BearerOptions {
        portico::simulator::BearerOptions {
            issuer: self.issuer.clone(),
            audience: RESOURCE.to_owned(),
            username_claim: "preferred_username".to_owned(),
            org_claim: "org".to_owned(),
        }
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser at the provider (it keeps the provider's cookies, follows no redirect).
pub fn provider_browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// A browser at the provider: follows its redirects and fills its login and consent forms as
/// `login`, until the provider sends the browser back to the relying party. Returns that URL.
pub async fn sign_in_at_provider(authorization_url: &str, login: &str, redirect_prefix: &str) -> Url {
    sign_in_with(&provider_browser(), authorization_url, login, redirect_prefix).await
}

/// [`sign_in_at_provider`] in `browser`, which keeps the provider's session (to sign out there).
pub async fn sign_in_with(
    browser: &reqwest::Client,
    authorization_url: &str,
    login: &str,
    redirect_prefix: &str,
) -> Url {
    let mut next = Url::parse(authorization_url).expect("authorization URL");
    let mut form: Option<(Url, Vec<(String, String)>)> = None;
    for _ in 0..20 {
        let response = match form.take() {
            Some((action, fields)) => browser.post(action).form(&fields).send().await,
            None => browser.get(next.clone()).send().await,
        }
        .expect("provider answers");
        let status = response.status();
        if status.is_redirection() {
            let location = response.headers()["location"].to_str().expect("location").to_owned();
            let target = next.join(&location).expect("redirect URL");
            if target.as_str().starts_with(redirect_prefix) {
                return target;
            }
            next = target;
            continue;
        }
        let page = response.text().await.expect("page");
        assert!(status.is_success(), "the provider answered {status}: {page}");
        let action = attribute_after(&page, "<form", "action").expect("a form on the provider's page");
        let action = next.join(&action.replace("&amp;", "&")).expect("form action");
        let prompt = attribute_after(&page, "name=\"prompt\"", "value").expect("the form's prompt");
        let mut fields = vec![("prompt".to_owned(), prompt.clone())];
        if prompt == "login" {
            fields.push(("login".to_owned(), login.to_owned()));
            fields.push(("password".to_owned(), "any password".to_owned()));
        }
        form = Some((action, fields));
    }
    panic!("the provider never sent the browser back");
}

/// Signs `browser` out at the provider as a user does: its end-session page, then "Yes, sign me
/// out" (`xsrf` and `logout=yes`), which ends every client's session there, back-channel logout
/// included (the provider answers once its logout tokens are delivered). Returns the status.
pub async fn sign_out_at_provider(browser: &reqwest::Client, issuer: &str) -> u16 {
    let end = Url::parse(&format!("{issuer}/session/end")).expect("end-session URL");
    let page = browser.get(end.clone()).send().await.expect("end-session page");
    assert_eq!(page.status(), 200, "the provider asks to confirm");
    let page = page.text().await.expect("page");
    let action = attribute_after(&page, "id=\"op.logoutForm\"", "action").expect("the logout form");
    let xsrf = attribute_after(&page, "name=\"xsrf\"", "value").expect("the form's xsrf");
    let confirm = browser
        .post(end.join(&action).expect("form action"))
        .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
        .send()
        .await
        .expect("confirmation");
    confirm.status().as_u16()
}

/// The value of `attribute="…"` in the first tag after `marker`.
fn attribute_after(page: &str, marker: &str, attribute: &str) -> Option<String> {
    let at = page.find(marker)?;
    let rest = &page[at..];
    let needle = format!("{attribute}=\"");
    let start = rest.find(&needle)? + needle.len();
    let value = &rest[start..];
    Some(value[..value.find('"')?].to_owned())
}
