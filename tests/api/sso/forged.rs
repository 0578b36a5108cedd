//! ID tokens that must be refused. A test-only fake provider, written here, serves the discovery
//! document, the keys and the token endpoint so that the test can hand Portico tokens no real
//! provider would issue: a wrong nonce, another key's signature, an expired token, `alg: none`,
//! an HMAC signature with the client secret, a wrong audience, an unknown key. Each is refused
//! with a clear page and counted in the audit log; a key published later (rotation) is fetched.
//! The fake provider is shared with `edge_forms` (callbacks and refusals at the edge).

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use super::audit;
use crate::support::{TestApp, TestAppBuilder, location};

pub(crate) struct Key {
    pair: EcdsaKeyPair,
    kid: &'static str,
}

impl Key {
    pub(crate) fn generate(kid: &'static str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        Self { pair, kid }
    }

    pub(crate) fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({ "kty": "EC", "crv": "P-256", "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]),
                "kid": self.kid, "use": "sig", "alg": "ES256" })
    }
}

/// What the fake provider publishes and issues.
#[derive(Default)]
pub(crate) struct Fake {
    pub(crate) issuer: String,
    pub(crate) keys: Vec<Value>,
    pub(crate) id_token: Option<String>,
    /// The token endpoint's whole answer, instead of one carrying `id_token`.
    pub(crate) token_answer: Option<Value>,
}

pub(crate) fn jwt(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
    let signature = sign(input.as_bytes());
    format!("{input}.{}", B64.encode(signature))
}

pub(crate) fn es256(key: &Key, kid: &str, claims: &Value) -> String {
    let header = json!({ "alg": "ES256", "kid": kid, "typ": "JWT" });
    jwt(&header, claims, |input| key.pair.sign(&SystemRandom::new(), input).unwrap().as_ref().to_vec())
}

pub(crate) fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

pub(crate) async fn start_fake(fake: Arc<Mutex<Fake>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    fake.lock().unwrap().issuer = issuer.clone();
    let data = web::Data::from(fake);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route(
                "/.well-known/openid-configuration",
                web::get().to(|f: web::Data<Mutex<Fake>>| async move {
                    let issuer = f.lock().unwrap().issuer.clone();
                    HttpResponse::Ok().json(json!({
                        "issuer": issuer, "authorization_endpoint": format!("{issuer}/auth"),
                        "token_endpoint": format!("{issuer}/token"), "jwks_uri": format!("{issuer}/jwks"),
                        "response_types_supported": ["code"], "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["ES256"],
                    }))
                }),
            )
            .route(
                "/jwks",
                web::get().to(|f: web::Data<Mutex<Fake>>| async move {
                    HttpResponse::Ok().json(json!({ "keys": f.lock().unwrap().keys }))
                }),
            )
            .route(
                "/token",
                web::post().to(|f: web::Data<Mutex<Fake>>| async move {
                    let fake = f.lock().unwrap();
                    let answer = fake.token_answer.clone().unwrap_or_else(|| {
                        json!({ "access_token": "opaque-access-token", "token_type": "Bearer",
                                "expires_in": 300, "id_token": fake.id_token })
                    });
                    HttpResponse::Ok().json(answer)
                }),
            )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    issuer
}

/// Builds an ID token from the nonce Portico sent.
pub(crate) type Forge<'a> = Box<dyn Fn(&str) -> String + 'a>;

/// Starts a sign-in, lets `token` build the ID token from the nonce Portico sent, and gives the
/// callback with the state Portico sent.
pub(crate) async fn attempt(app: &TestApp, fake: &Mutex<Fake>, token: &dyn Fn(&str) -> String) -> String {
    let start = location(&app.get("/login/oidc").await);
    let query: std::collections::HashMap<String, String> =
        url::Url::parse(&start).unwrap().query_pairs().into_owned().collect();
    fake.lock().unwrap().id_token = Some(token(&query["nonce"]));
    format!("/auth/callback?code=some-code&state={}", query["state"])
}

#[tokio::test]
async fn sso_refuses_forged_id_tokens_with_a_clear_page_each_counted_in_the_audit_log() {
    let (key_a, key_b) = (Key::generate("a"), Key::generate("b"));
    let fake = Arc::new(Mutex::new(Fake { keys: vec![key_a.jwk()], ..Fake::default() }));
    let issuer = start_fake(fake.clone()).await;
    let master = crate::support::managers::start_master().await;
    let builder = TestAppBuilder::new(master.url.as_str()).toml(&format!(
        "[oidc]\nissuer = \"{issuer}\"\nclient_id = \"portico\"\nclient_secret = \"portico-test-secret\"\nmanager_auth = \"service\"\n\n\
         [master.auth.basic]\nusername = \"apiadmin\"\npassword = \"apiadmin-password\"\n"
    ));
    let clock = builder.clock();
    let app = builder.spawn().await;

    let claims = |nonce: &str| {
        json!({ "iss": issuer, "sub": "alice", "aud": "portico", "iat": now(), "exp": now() + 300,
                "nonce": nonce, "preferred_username": "alice", "name": "Alice", "org": "Acme" })
    };

    let cases: Vec<(&str, Forge<'_>)> = vec![
        ("nonce", Box::new(|_: &str| es256(&key_a, "a", &claims("not-the-nonce")))),
        ("signature", Box::new(|n: &str| es256(&key_b, "a", &claims(n)))),
        (
            "expired",
            Box::new(|n: &str| {
                let mut c = claims(n);
                c["iat"] = json!(now() - 7200);
                c["exp"] = json!(now() - 3600);
                es256(&key_a, "a", &c)
            }),
        ),
        (
            "unsigned",
            Box::new(|n: &str| jwt(&json!({ "alg": "none", "typ": "JWT" }), &claims(n), |_| Vec::new())),
        ),
        (
            "audience",
            Box::new(|n: &str| {
                let mut c = claims(n);
                c["aud"] = json!("someone-else");
                es256(&key_a, "a", &c)
            }),
        ),
        (
            "algorithm",
            Box::new(|n: &str| {
                use ring::hmac;
                let secret = hmac::Key::new(hmac::HMAC_SHA256, b"portico-test-secret");
                jwt(&json!({ "alg": "HS256", "typ": "JWT" }), &claims(n), |input| {
                    hmac::sign(&secret, input).as_ref().to_vec()
                })
            }),
        ),
        ("unknown_key", Box::new(|n: &str| es256(&key_b, "b", &claims(n)))),
    ];
    for (reason, token) in &cases {
        let path = attempt(&app, &fake, token.as_ref()).await;
        let answer = app.get(&path).await;
        assert_eq!(answer.status(), 401, "{reason}");
        let page = answer.text().await.unwrap();
        assert!(page.contains(&format!("could not be trusted ({reason})")), "{reason}: {page}");
        assert!(page.contains("href=\"/login\""), "a way back");
        assert_eq!(app.get("/environments").await.status(), 303, "{reason}: no session");
    }
    let failures = audit(&app, "signin.failure").await;
    let details: Vec<&str> = failures.iter().rev().map(|(_, d)| d["detail"].as_str().unwrap()).collect();
    let expected: Vec<&str> = cases.iter().map(|(reason, _)| *reason).collect();
    assert_eq!(details, expected);
    assert!(failures.iter().all(|(_, d)| d["reason"] == "invalid_token"));

    // The provider rotates to key b: once the refetch interval has passed, a token signed with
    // it is accepted (the keys are fetched again for the unknown key id).
    fake.lock().unwrap().keys.push(key_b.jwk());
    clock.advance(portico::sso::KEY_REFETCH_INTERVAL + Duration::from_secs(1));
    let path = attempt(&app, &fake, &|n: &str| es256(&key_b, "b", &claims(n))).await;
    let answer = app.get(&path).await;
    assert_eq!(answer.status(), 303, "{}", answer.text().await.unwrap());
    // manager_auth = "service": the catalog is read with the service credential and scoped to
    // the user's organization (the service account itself sees every API).
    let catalog = app.get("/environments/master/apis").await.text().await.unwrap();
    assert!(catalog.contains("Petstore") && catalog.contains("Payments"), "{catalog}");
    assert!(!catalog.contains("Logistics"), "Globex's API is not Acme's: {catalog}");
    let routed = app.get("/api/portal/v1.3/discovery/apis").await;
    assert_eq!(routed.status(), 403, "the service credential is not lent to raw calls");
    app.stop().await;
}
