//! A connection's access policy: a call for an organization (or role) it does not allow is
//! refused before any request leaves Portico, with a message that says why; the admin sees the
//! refusal on the connection and in the audit log. Portico's own calls are not restricted.

use portico::credentials::{Caller, CredentialError};
use portico::domain::Role;

use super::{bearer, provider, slave};
use crate::admin::{audit_actions, builder, item, page, signed_in};
use crate::support::TestDatabase;
use crate::support::managers::start_master;
use crate::support::oauth::OAuthServer;

crate::on_both_databases!(a_call_for_an_organization_the_policy_does_not_allow_is_refused_and_shown);

async fn a_call_for_an_organization_the_policy_does_not_allow_is_refused_and_shown(db: TestDatabase) {
    let oauth = OAuthServer::start().await;
    oauth.client("portico-acme", Some("acme-secret"));
    let master = start_master().await;
    let connections = "[[credentials.connections]]\nid = \"acme-only\"\nclient_id = \"portico-acme\"\n\
        client_secret = \"acme-secret\"\nallowed = { organizations = [\"Acme\"], roles = [\"user\", \"oadmin\"] }\n";
    // Disabled, so no health probe asks for a token behind the test's back.
    let config = format!(
        "{}{}",
        slave("acme-env", master.url.as_str().trim_end_matches('/'), "{ connection = \"acme-only\" }", false),
        provider("idp", &oauth.token_url(), "client_credentials", None, connections)
    );
    let app = builder(&db, master.url.as_str()).toml(&config).spawn().await;

    let globex = Caller::User { username: "bob", organization: "Globex", role: Some(Role::User) };
    let refused = bearer(&app, "acme-env", globex).await.unwrap_err();
    assert!(matches!(refused, CredentialError::Refused { .. }), "{refused:?}");
    let message = refused.to_string();
    assert_eq!(
        message,
        "connection \"acme-only\" may not be used for organization “Globex” (role user): allowed organizations are “Acme”"
    );
    assert!(oauth.requests().is_empty(), "nothing was sent to the provider");
    let admin_role = Caller::User { username: "carol", organization: "Acme", role: Some(Role::Admin) };
    let refused_role = bearer(&app, "acme-env", admin_role).await.unwrap_err().to_string();
    assert!(
        refused_role.contains("role “admin” is not allowed (allowed roles: user, oadmin)"),
        "{refused_role}"
    );
    assert!(oauth.requests().is_empty());

    // Allowed: a user of Acme, and Portico itself.
    let acme = Caller::User { username: "alice", organization: "Acme", role: Some(Role::User) };
    let token = bearer(&app, "acme-env", acme).await.unwrap();
    assert_eq!(bearer(&app, "acme-env", Caller::Portico).await.unwrap(), token);
    assert_eq!(oauth.requests().len(), 1);

    // The admin sees why.
    signed_in(&app).await;
    let credentials = page(&app, "/admin/credentials").await;
    let shown = item(&credentials, "connection-acme-only");
    assert!(shown.contains("organizations “Acme”; roles user, oadmin"), "{shown}");
    assert!(shown.contains("Last refusal"), "{shown}");
    assert!(shown.contains("role “admin” is not allowed"), "the latest refusal: {shown}");
    assert!(shown.contains(">connected<"), "{shown}");
    let audit = audit_actions(&app).await;
    let refusals: Vec<_> = audit.iter().filter(|(_, action, _)| action == "credential.refused").collect();
    assert_eq!(refusals.len(), 2, "{audit:?}");
    assert!(
        refusals
            .iter()
            .any(|(actor, _, target)| actor == "consumer:bob" && target.as_deref() == Some("acme-only"))
    );
    let audit_page = page(&app, "/admin/audit").await;
    assert!(audit_page.contains("credential.refused") && audit_page.contains("Globex"), "{audit_page}");

    // A refusal repeated at once is refused again, but recorded once (no flood in the audit log).
    assert!(bearer(&app, "acme-env", globex).await.is_err());
    let again = audit_actions(&app).await.into_iter().filter(|(_, a, _)| a == "credential.refused").count();
    assert_eq!(again, 2);
}
