//! OpenID Connect Back-Channel Logout 1.0 (§2.6): whether a logout token the provider posts is
//! one Portico may act on. `jsonwebtoken` reads the token and verifies its signature with the
//! key it names among the provider's (fetched again at most once per interval for a key id not
//! seen yet, as for ID tokens), on the public-key algorithms of [`ACCEPTED_ALGORITHMS`] only;
//! then every claim is checked on Portico's clock (`logout_claims`); last, the token's `jti` is
//! recorded under a keyed hash for as long as the token could be accepted, so it acts once.

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use openidconnect::core::CoreJwsSigningAlgorithm;
use serde_json::{Map, Value};

use super::Identity;
use super::logout_claims::{self, CheckedClaims};
use super::types::{ACCEPTED_ALGORITHMS, Metadata};

/// The longest logout token read (a few hundred bytes is usual).
pub const MAX_LOGOUT_TOKEN_BYTES: usize = 8 * 1024;

/// A logout token that passed every check: whose sessions it ends.
#[derive(Debug, Clone)]
pub struct LogoutToken {
    /// The provider that sent it (its `iss`, the issuer of the sessions it names).
    pub issuer: String,
    pub sid: Option<String>,
    pub sub: Option<String>,
    /// Where its `jti` is recorded.
    replay_key: String,
}

/// Why a logout token is not acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoutError {
    /// The token failed a check; the reason word says which (for the log, never the answer).
    #[error("the logout token is not valid ({0})")]
    Invalid(&'static str),
    /// The provider's discovery or keys could not be read: the token cannot be checked.
    #[error("the identity provider is unavailable")]
    ProviderUnavailable,
    /// The store could not record the token's use, or end the sessions.
    #[error("the session store is unavailable")]
    Store,
}

impl LogoutError {
    /// A short label for the log and the metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            LogoutError::Invalid(reason) => reason,
            LogoutError::ProviderUnavailable => "provider_unavailable",
            LogoutError::Store => "store_unavailable",
        }
    }
}

impl From<crate::store::StoreError> for LogoutError {
    fn from(_: crate::store::StoreError) -> Self {
        LogoutError::Store
    }
}

impl Identity {
    /// Checks a logout token completely and records its use (its `jti`); a refused token is
    /// not recorded.
    pub async fn verify_logout_token(&self, token: &str) -> Result<LogoutToken, LogoutError> {
        if token.is_empty() || token.len() > MAX_LOGOUT_TOKEN_BYTES {
            return Err(LogoutError::Invalid("malformed"));
        }
        // `alg: none` and unknown algorithms are no `Algorithm`: the header does not parse.
        let header = jsonwebtoken::decode_header(token).map_err(|_| LogoutError::Invalid("malformed"))?;
        if !accepted(header.alg) {
            return Err(LogoutError::Invalid("algorithm"));
        }
        let metadata = self.provider.metadata().await.map_err(|_| LogoutError::ProviderUnavailable)?;
        let key = match signing_key(&metadata, &header) {
            Some(key) => key,
            None => {
                let again =
                    self.provider.refetch_keys().await.map_err(|_| LogoutError::ProviderUnavailable)?;
                again.and_then(|m| signing_key(&m, &header)).ok_or(LogoutError::Invalid("unknown_key"))?
            }
        };
        let claims = verified_claims(token, &key, header.alg)?;
        let issuer = metadata.issuer().as_str().to_owned();
        let now = self.clock.now_millis().div_euclid(1000);
        let checked = logout_claims::check(&claims, &issuer, self.provider.client_id(), now)
            .map_err(LogoutError::Invalid)?;
        let replay_key = self.replay_key(&issuer, &checked.jti);
        self.first_use(&replay_key, &checked, now).await?;
        let CheckedClaims { sid, sub, .. } = checked;
        Ok(LogoutToken { issuer, sid, sub, replay_key })
    }

    /// Forgets that `token` was used, so the provider may send it again after Portico failed
    /// to act on it (the store was down). Best effort: the store may still be down.
    pub async fn forget_logout_token(&self, token: &LogoutToken) {
        if let Err(e) = self.kv.delete(&token.replay_key).await {
            tracing::warn!(error = %e, "a logout token that could not be acted on stays recorded as used");
        }
    }

    /// A keyed hash of the issuer and `jti`: neither is in the store in clear.
    fn replay_key(&self, issuer: &str, jti: &str) -> String {
        let value = format!("{issuer}\0{jti}");
        format!("oidc:logout:{}", self.keys.lookup_hash("oidc-logout-jti", value.as_bytes()))
    }

    /// Records the token's `jti` until it could no longer be accepted (`SET NX` with that
    /// expiry); a `jti` recorded already is a replay.
    async fn first_use(&self, key: &str, checked: &CheckedClaims, now: i64) -> Result<(), LogoutError> {
        let left = u64::try_from(checked.acceptable_until.saturating_sub(now)).unwrap_or(0).max(1);
        if self.kv.set_if_absent(key, b"1", Duration::from_secs(left)).await? {
            Ok(())
        } else {
            Err(LogoutError::Invalid("replayed"))
        }
    }
}

/// Whether `alg` is one of the public-key algorithms Portico accepts of its provider (the list
/// of ID tokens): never `none`, never HMAC, whose key would be the client secret.
fn accepted(alg: Algorithm) -> bool {
    ACCEPTED_ALGORITHMS.iter().filter_map(as_jwt_algorithm).any(|a| a == alg)
}

fn as_jwt_algorithm(alg: &CoreJwsSigningAlgorithm) -> Option<Algorithm> {
    use CoreJwsSigningAlgorithm as C;
    Some(match alg {
        C::RsaSsaPkcs1V15Sha256 => Algorithm::RS256,
        C::RsaSsaPkcs1V15Sha384 => Algorithm::RS384,
        C::RsaSsaPkcs1V15Sha512 => Algorithm::RS512,
        C::RsaSsaPssSha256 => Algorithm::PS256,
        C::RsaSsaPssSha384 => Algorithm::PS384,
        C::RsaSsaPssSha512 => Algorithm::PS512,
        C::EcdsaP256Sha256 => Algorithm::ES256,
        C::EcdsaP384Sha384 => Algorithm::ES384,
        C::EdDsa => Algorithm::EdDSA,
        _ => return None,
    })
}

/// The JWK key type an algorithm's key has.
fn key_type(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 | Algorithm::ES384 => "EC",
        Algorithm::EdDSA => "OKP",
        _ => "RSA",
    }
}

/// The provider's key for a token with `header`: the one signing key with its `kid` (or, without
/// a `kid`, the only one) that suits its algorithm. Several candidates are no answer.
fn signing_key(metadata: &Metadata, header: &Header) -> Option<DecodingKey> {
    let alg = serde_json::to_value(header.alg).ok()?;
    let fits = |jwk: &Value| {
        let field = |name: &str| jwk.get(name).and_then(Value::as_str);
        field("kty") == Some(key_type(header.alg))
            && field("use").is_none_or(|u| u == "sig")
            && jwk.get("alg").is_none_or(|a| *a == alg)
            && header.kid.as_deref().is_none_or(|kid| field("kid") == Some(kid))
    };
    let candidates: Vec<Jwk> = metadata
        .jwks()
        .keys()
        .iter()
        .filter_map(|key| serde_json::to_value(key).ok())
        .filter(fits)
        .filter_map(|jwk| serde_json::from_value(jwk).ok())
        .collect();
    match candidates.as_slice() {
        [one] => DecodingKey::from_jwk(one).ok(),
        _ => None,
    }
}

/// The token's claims once its signature verifies with `key` under `alg`. Every claim check is
/// Portico's (on its clock, with reasons of its own), so the crate checks none.
fn verified_claims(
    token: &str,
    key: &DecodingKey,
    alg: Algorithm,
) -> Result<Map<String, Value>, LogoutError> {
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation).map(|data| data.claims).map_err(|e| {
        LogoutError::Invalid(match e.kind() {
            ErrorKind::InvalidSignature => "signature",
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName | ErrorKind::InvalidKeyFormat => {
                "algorithm"
            }
            _ => "malformed",
        })
    })
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use jsonwebtoken::{EncodingKey, Header};
    use openidconnect::core::{CoreResponseType, CoreSubjectIdentifierType};
    use openidconnect::{AuthUrl, IssuerUrl, JsonWebKeySetUrl, ResponseTypes};
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use serde_json::json;

    use super::*;
    use crate::sso::types::LogoutMetadata;

    /// A P-256 key: its signing key for `jsonwebtoken`, and its public JWK (without `kid`).
    fn key() -> (EncodingKey, Value) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let point = pair.public_key().as_ref();
        let jwk = json!({ "kty": "EC", "crv": "P-256", "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]) });
        (EncodingKey::from_ec_der(pkcs8.as_ref()), jwk)
    }

    fn with_kid(jwk: &Value, kid: &str, extra: Value) -> Value {
        let mut jwk = jwk.clone();
        jwk["kid"] = json!(kid);
        for (name, value) in extra.as_object().unwrap() {
            jwk[name] = value.clone();
        }
        jwk
    }

    fn metadata(keys: Vec<Value>) -> Metadata {
        Metadata::new(
            IssuerUrl::new("https://idp.example".to_owned()).unwrap(),
            AuthUrl::new("https://idp.example/auth".to_owned()).unwrap(),
            JsonWebKeySetUrl::new("https://idp.example/jwks".to_owned()).unwrap(),
            vec![ResponseTypes::new(vec![CoreResponseType::Code])],
            vec![CoreSubjectIdentifierType::Public],
            vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256],
            LogoutMetadata { end_session_endpoint: None },
        )
        .set_jwks(serde_json::from_value(json!({ "keys": keys })).unwrap())
    }

    fn header(alg: Algorithm, kid: Option<&str>) -> Header {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        header
    }

    #[test]
    fn only_the_public_key_algorithms_of_id_tokens_are_accepted() {
        for alg in [Algorithm::RS256, Algorithm::PS512, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA]
        {
            assert!(accepted(alg), "{alg:?}");
        }
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            assert!(!accepted(alg), "{alg:?}: the client secret would be the key");
        }
        let unsigned = format!("{}.{}.", B64.encode(r#"{"alg":"none"}"#), B64.encode("{}"));
        assert!(jsonwebtoken::decode_header(&unsigned).is_err(), "`none` is no algorithm at all");
    }

    #[test]
    fn the_key_is_the_one_of_the_token_s_id_type_and_algorithm() {
        let (_, a) = key();
        let (_, b) = key();
        let es256 = |kid| header(Algorithm::ES256, kid);
        let both = metadata(vec![with_kid(&a, "a", json!({})), with_kid(&b, "b", json!({ "alg": "ES256" }))]);
        assert!(signing_key(&both, &es256(Some("a"))).is_some());
        assert!(signing_key(&both, &es256(Some("b"))).is_some());
        assert!(signing_key(&both, &es256(Some("c"))).is_none(), "an unknown key id");
        assert!(signing_key(&both, &es256(None)).is_none(), "no key id and several keys");
        assert!(signing_key(&metadata(vec![a.clone()]), &es256(None)).is_some(), "no key id, one key");
        let twice = metadata(vec![with_kid(&a, "a", json!({})), with_kid(&b, "a", json!({}))]);
        assert!(signing_key(&twice, &es256(Some("a"))).is_none(), "an ambiguous key id");
        let other_alg = metadata(vec![with_kid(&a, "a", json!({ "alg": "ES384" }))]);
        assert!(signing_key(&other_alg, &es256(Some("a"))).is_none(), "the key is for another algorithm");
        let encryption = metadata(vec![with_kid(&a, "a", json!({ "use": "enc" }))]);
        assert!(signing_key(&encryption, &es256(Some("a"))).is_none(), "an encryption key");
        assert!(signing_key(&both, &header(Algorithm::RS256, Some("a"))).is_none(), "an EC key for RS256");
    }

    #[test]
    fn the_signature_must_verify_with_the_key_found() {
        let (signer, public) = key();
        let (_, other) = key();
        let claims = json!({ "iss": "https://idp.example", "sub": "alice" });
        let token = jsonwebtoken::encode(&header(Algorithm::ES256, Some("a")), &claims, &signer).unwrap();
        let keys = |jwk: &Value| metadata(vec![with_kid(jwk, "a", json!({}))]);
        let right = signing_key(&keys(&public), &header(Algorithm::ES256, Some("a"))).unwrap();
        assert_eq!(verified_claims(&token, &right, Algorithm::ES256).unwrap()["sub"], "alice");
        let wrong = signing_key(&keys(&other), &header(Algorithm::ES256, Some("a"))).unwrap();
        assert_eq!(verified_claims(&token, &wrong, Algorithm::ES256), Err(LogoutError::Invalid("signature")));
        let (head, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let altered =
            format!("{head}.{}.{signature}", B64.encode(r#"{"iss":"https://idp.example","sub":"bob"}"#));
        assert_eq!(
            verified_claims(&altered, &right, Algorithm::ES256),
            Err(LogoutError::Invalid("signature"))
        );
        assert_eq!(verified_claims("a.b", &right, Algorithm::ES256), Err(LogoutError::Invalid("malformed")));
    }
}
