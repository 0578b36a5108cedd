//! Issue 17: what single sign-on answers tokens `openidconnect` does not check or reads wrong,
//! each from the fake provider of `forged.rs` and judged by what the person, the audit log and
//! `/metrics` see: an `azp` naming another client, ID tokens that cannot be read (a refused
//! token, not a provider outage), an `iat` in the future and unusable claims (reasons of their
//! own), and a manager's 403 in `bearer` mode (read from its answer, never guessed).

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::audit;
use super::forged::{Fake, Forge, Key, attempt, es256, now, start_fake};
use crate::support::managers::{refusing_manager_json, start_master};
use crate::support::{TestApp, TestAppBuilder};

/// An app whose identity provider is the fake one, the issuer, and the key it signs with.
struct Signed {
    app: TestApp,
    fake: Arc<Mutex<Fake>>,
    key: Key,
    issuer: String,
}

impl Signed {
    async fn start(manager_auth: &str, master: &str) -> Self {
        let key = Key::generate("a");
        let fake = Arc::new(Mutex::new(Fake { keys: vec![key.jwk()], ..Fake::default() }));
        let issuer = start_fake(fake.clone()).await;
        let app = TestAppBuilder::new(master)
            .toml(&format!(
                "[oidc]\nissuer = \"{issuer}\"\nclient_id = \"portico\"\nclient_secret = \"portico-test-secret\"\n\
                 manager_auth = \"{manager_auth}\"\n\n\
                 [master.auth.basic]\nusername = \"apiadmin\"\npassword = \"apiadmin-password\"\n"
            ))
            .spawn()
            .await;
        Self { app, fake, key, issuer }
    }

    /// Claims every check accepts, for `nonce`.
    fn claims(&self, nonce: &str) -> Value {
        json!({ "iss": self.issuer, "sub": "alice", "aud": "portico", "iat": now(), "exp": now() + 300,
                "nonce": nonce, "preferred_username": "alice", "name": "Alice", "org": "Acme" })
    }

    /// The callback's answer when the provider issues `change`d claims, signed.
    async fn sign_in_with(&self, change: impl Fn(&mut Value)) -> reqwest::Response {
        let token = |nonce: &str| {
            let mut claims = self.claims(nonce);
            change(&mut claims);
            es256(&self.key, "a", &claims)
        };
        self.callback(&token).await
    }

    /// The callback's answer when the provider issues the ID token `token` makes of the nonce.
    async fn callback(&self, token: &dyn Fn(&str) -> String) -> reqwest::Response {
        let path = attempt(&self.app, &self.fake, token).await;
        self.app.get(&path).await
    }

    /// The last audit entry of a refused sign-in, as (reason, detail).
    async fn last_refusal(&self) -> (String, String) {
        let failures = audit(&self.app, "signin.failure").await;
        let detail = &failures.first().expect("a refusal is audited").1;
        assert_eq!(detail["method"], "oidc");
        let word = |key: &str| detail[key].as_str().unwrap_or_default().to_owned();
        (word("reason"), word("detail"))
    }
}

/// `portico_sign_ins_total` for `outcome` (the registry is the process's, shared by tests that run
/// at the same time: a test can count on its own increments, not on exact values).
async fn sign_ins(app: &TestApp, outcome: &str) -> u64 {
    let series = format!("portico_sign_ins_total{{outcome=\"{outcome}\"}}");
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series.as_str()).and_then(|v| v.trim().parse::<f64>().ok()))
        .map_or(0, |v| v as u64)
}

/// Asserts a refusal: its status, the page, no session, and the audit entry.
async fn assert_refused(
    signed: &Signed,
    answer: reqwest::Response,
    status: u16,
    page_says: &str,
    audited: (&str, &str),
) {
    let case = format!("{audited:?}");
    assert_eq!(answer.status(), status, "{case}");
    let page = answer.text().await.unwrap();
    assert!(page.contains(page_says), "{case}: {page}");
    assert!(page.contains("href=\"/login\""), "{case}: a way back");
    assert!(!page.contains("unavailable"), "{case}: not an outage: {page}");
    assert_eq!(signed.app.get("/environments").await.status(), 303, "{case}: no session");
    let (reason, detail) = signed.last_refusal().await;
    assert_eq!((reason.as_str(), detail.as_str()), audited);
}

/// Finding 1: `azp` (OpenID Connect Core §3.1.3.7 steps 4–5) must name Portico.
#[tokio::test]
async fn sso_refuses_an_id_token_whose_authorized_party_is_another_client() {
    let master = start_master().await;
    let signed = Signed::start("service", master.url.as_str()).await;
    let (refused_before, success_before) =
        (sign_ins(&signed.app, "sso_invalid_token").await, sign_ins(&signed.app, "sso_success").await);

    let answer = signed.sign_in_with(|c| c["azp"] = json!("another-client")).await;
    let trusted = "could not be trusted (authorized_party)";
    assert_refused(&signed, answer, 401, trusted, ("invalid_token", "authorized_party")).await;
    // Several audiences: Portico trusts no audience but its own, so the token is refused for its
    // audience before `azp` is looked at, whether `azp` is there (and Portico) or not.
    for azp in [None, Some("portico")] {
        let answer = signed
            .sign_in_with(|c| {
                c["aud"] = json!(["portico", "another-client"]);
                if let Some(azp) = azp {
                    c["azp"] = json!(azp);
                }
            })
            .await;
        assert_refused(
            &signed,
            answer,
            401,
            "could not be trusted (audience)",
            ("invalid_token", "audience"),
        )
        .await;
    }
    assert!(sign_ins(&signed.app, "sso_invalid_token").await >= refused_before + 3, "counted as refused");

    // `azp` naming Portico is fine.
    let answer = signed.sign_in_with(|c| c["azp"] = json!("portico")).await;
    assert_eq!(answer.status(), 303, "{}", answer.text().await.unwrap());
    assert_eq!(audit(&signed.app, "signin.success").await.len(), 1);
    assert!(sign_ins(&signed.app, "sso_success").await > success_before);
    signed.app.stop().await;
}

/// Finding 2: an ID token that cannot be read is a refused token (401), not a provider outage.
#[tokio::test]
async fn sso_refuses_an_unreadable_id_token_as_untrusted_not_as_a_provider_outage() {
    let master = start_master().await;
    let signed = Signed::start("service", master.url.as_str()).await;
    let refused_before = sign_ins(&signed.app, "sso_invalid_token").await;
    let outage_page = "The identity provider is unavailable";

    let cases: Vec<(&str, Forge<'_>)> = vec![
        (
            "signed, without iss",
            Box::new(|n: &str| {
                let mut claims = signed.claims(n);
                claims.as_object_mut().unwrap().remove("iss");
                es256(&signed.key, "a", &claims)
            }),
        ),
        (
            "signed, without exp",
            Box::new(|n: &str| {
                let mut claims = signed.claims(n);
                claims.as_object_mut().unwrap().remove("exp");
                es256(&signed.key, "a", &claims)
            }),
        ),
        ("not a JWT", Box::new(|_: &str| "not-a-jwt".to_owned())),
        ("three parts of nothing", Box::new(|_: &str| "e30.bm90IGpzb24.c2ln".to_owned())),
    ];
    for (what, token) in &cases {
        let answer = signed.callback(token.as_ref()).await;
        assert_ne!(answer.status(), 503, "{what}");
        let trusted = "could not be trusted (malformed)";
        assert_refused(&signed, answer, 401, trusted, ("invalid_token", "malformed")).await;
    }
    let refused = sign_ins(&signed.app, "sso_invalid_token").await - refused_before;
    assert!(refused >= cases.len() as u64, "counted as refused tokens: {refused}");
    drop(cases);

    // An answer that is no token answer at all is still the provider failing: 503.
    signed.fake.lock().unwrap().token_answer = Some(json!({ "id_token": "not-a-jwt" }));
    let outage_before = sign_ins(&signed.app, "sso_provider_unavailable").await;
    let answer = signed.callback(&|_: &str| String::new()).await;
    assert_eq!(answer.status(), 503);
    assert!(answer.text().await.unwrap().contains(outage_page));
    assert_eq!(signed.last_refusal().await.0, "provider_unavailable");
    assert!(sign_ins(&signed.app, "sso_provider_unavailable").await > outage_before);
    signed.app.stop().await;
}

/// Finding 3: an `iat` in the future is not `expired`; an unusable claim is not a missing one.
#[tokio::test]
async fn sso_gives_a_future_issue_time_and_an_unusable_claim_reasons_of_their_own() {
    let master = start_master().await;
    let signed = Signed::start("service", master.url.as_str()).await;
    let before = |outcome| sign_ins(&signed.app, outcome);
    let (tokens_before, claims_before, missing_before) = (
        before("sso_invalid_token").await,
        before("sso_unusable_claim").await,
        before("sso_missing_claim").await,
    );

    let answer = signed
        .sign_in_with(|c| {
            c["iat"] = json!(now() + 3600);
            c["exp"] = json!(now() + 7200);
        })
        .await;
    assert_refused(
        &signed,
        answer,
        401,
        "could not be trusted (issue_time)",
        ("invalid_token", "issue_time"),
    )
    .await;
    // Within the 60 s of skew tolerated, a provider's clock a little ahead is fine.
    let answer = signed.sign_in_with(|c| c["iat"] = json!(now() + 30)).await;
    assert_eq!(answer.status(), 303, "{}", answer.text().await.unwrap());
    signed.app.sign_out().await;

    let answer = signed.sign_in_with(|c| c["preferred_username"] = json!("a".repeat(256))).await;
    let page = "Your username at the identity provider (claim &#34;preferred_username&#34;) is longer than 255 bytes.";
    assert_refused(&signed, answer, 403, page, ("claim_too_long", "preferred_username")).await;
    let answer = signed.sign_in_with(|c| c["org"] = json!("Ac\u{7}me")).await;
    let page =
        "Your organization at the identity provider (claim &#34;org&#34;) contains control characters.";
    assert_refused(&signed, answer, 403, page, ("claim_control_characters", "org")).await;
    // Missing stays missing.
    let answer = signed.sign_in_with(|c| _ = c.as_object_mut().unwrap().remove("org")).await;
    let page = "Your account at the identity provider has no organization (claim &#34;org&#34;).";
    assert_refused(&signed, answer, 403, page, ("missing_claim", "org")).await;

    assert!(before("sso_invalid_token").await > tokens_before);
    assert!(before("sso_unusable_claim").await >= claims_before + 2);
    assert!(before("sso_missing_claim").await > missing_before);
    signed.app.stop().await;
}

/// Finding 4: in `bearer` mode the master's 403 is read from its answer by the one reading the
/// password flow uses (`manager/refusal.rs`): a missing organization says so, a disabled account
/// only when the manager says that.
#[tokio::test]
async fn in_bearer_mode_a_masters_403_says_what_the_master_answered() {
    let organization_page = "Your organization &#34;Acme&#34; does not exist on the main environment.";
    let disabled_page =
        "The main environment refused your sign-in: your account is disabled on this environment.";
    let answers = [
        // The manager's message alone, and its machine-readable reason alone.
        (
            json!({ "errors": [{ "code": 403, "message": "Organization Acme does not exist" }] }),
            organization_page,
            "organization_missing",
        ),
        (
            json!({ "errors": [{ "code": 403, "message": "Forbidden", "reason": "organization_not_found" }] }),
            organization_page,
            "organization_missing",
        ),
        (
            json!({ "errors": [{ "code": 403, "message": "The account is disabled" }] }),
            disabled_page,
            "account_disabled",
        ),
    ];
    for (body, page_says, reason) in answers {
        let master = refusing_manager_json(body.clone()).await;
        let signed = Signed::start("bearer", &master).await;
        let refused_before = sign_ins(&signed.app, "sso_refused").await;
        let answer = signed.sign_in_with(|_| {}).await;
        assert_eq!(answer.status(), 403, "{body}");
        let page = answer.text().await.unwrap();
        assert!(page.contains(page_says), "{body}: {page}");
        if reason == "organization_missing" {
            assert!(!page.contains("disabled"), "{body}: {page}");
        }
        assert_eq!(signed.app.get("/environments").await.status(), 303, "no session");
        assert_eq!(signed.last_refusal().await, (reason.to_owned(), String::new()), "{body}");
        assert!(sign_ins(&signed.app, "sso_refused").await > refused_before, "{body}");

        // The password flow reads the same answer the same way (one reading, `manager/refusal.rs`).
        let password = signed.app.sign_in("alice", "alice-password").await;
        assert_eq!(password.status(), 403, "{body}");
        let failures = audit(&signed.app, "signin.failure").await;
        assert_eq!(failures[0].1["reason"], reason, "{body}: {failures:?}");
        signed.app.stop().await;
    }
}
