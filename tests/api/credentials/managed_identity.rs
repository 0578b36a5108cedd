//! `auth = { managed_identity = { resource, client_id } }`: the manager receives a bearer token
//! of the managed identity (local instance-metadata endpoint following the documented format),
//! asked for its resource, system- or user-assigned.

use portico::credentials::Caller;

use super::{bearer, bearer_calls, slave};
use crate::admin::{builder, csrf, signed_in};
use crate::support::TestDatabase;
use crate::support::azure::AzureEndpoints;
use crate::support::managers::start_master;

#[tokio::test]
async fn managers_receive_the_managed_identitys_bearer_token_for_their_resource() {
    let azure = AzureEndpoints::start().await;
    let master = start_master().await;
    let url = master.url.as_str().trim_end_matches('/');
    let config = format!(
        "[identity]\nendpoint = \"{}\"\n\n{}{}",
        azure.imds_url(),
        slave(
            "user-assigned",
            url,
            "{ managed_identity = { resource = \"api://managers\", client_id = \"cid-42\" } }",
            true
        ),
        slave("system", url, "{ managed_identity = { resource = \"api://other\" } }", false),
    );
    let app = builder(&TestDatabase::Sqlite, master.url.as_str()).toml(&config).spawn().await;
    signed_in(&app).await;
    let before = bearer_calls(&master);
    let token = csrf(&app).await;
    let res = app.post_form("/admin/slaves/user-assigned/test", &[("csrf_token", &token)]).await;
    let text = res.text().await.unwrap();
    assert!(text.contains("the managed identity cid-42 (bearer token for api://managers)"), "{text}");
    assert!(
        bearer_calls(&master) > before,
        "the manager got `Authorization: Bearer`: {:?}",
        master.requests()
    );

    let user_assigned = bearer(&app, "user-assigned", Caller::Portico).await.unwrap();
    let system = bearer(&app, "system", Caller::Portico).await.unwrap();
    assert!(user_assigned.ends_with("-cid-42") && system.ends_with("-system"), "{user_assigned} {system}");
    let asked: Vec<(Option<String>, Option<String>)> =
        azure.token_requests().into_iter().map(|r| (r.resource, r.client_id)).collect();
    assert!(asked.contains(&(Some("api://managers".into()), Some("cid-42".into()))), "{asked:?}");
    assert!(asked.contains(&(Some("api://other".into()), None)), "{asked:?}");
    // Cached: the same token again without asking the endpoint.
    let count = azure.token_requests().len();
    assert_eq!(bearer(&app, "user-assigned", Caller::Portico).await.unwrap(), user_assigned);
    assert_eq!(azure.token_requests().len(), count);
}
