//! The sample data of `portico demo`: a master with users in two organizations, and slaves that
//! hold organizations of the same names (with their own ids) and their own APIs.

use serde_json::json;

use super::data::{SimApi, SimApiAccess, SimApplication, SimOrganization, SimUser, SimulatorData};
use crate::domain::Role;

/// The demo's users and passwords, for printing: `(login name, password, organization)`.
pub const DEMO_USERS: &[(&str, &str, &str)] = &[
    ("alice", "alice-password", "Acme"),
    ("bob", "bob-password", "Globex"),
    ("oadmin", "oadmin-password", "Acme"),
    ("apiadmin", "apiadmin-password", "API Development"),
    ("carol", "carol-password", "Acme"),
    ("dave", "dave-password", "Globex"),
    ("frank", "frank-password", "Initech"),
];

impl SimulatorData {
    /// The sample master of `portico demo`. `carol` is disabled, `dave` must change his password,
    /// and `frank`'s organization "Initech" exists on the master only.
    pub fn demo_master() -> Self {
        let orgs = [
            ("m-org-acme", "Acme"),
            ("m-org-globex", "Globex"),
            ("m-org-apidev", "API Development"),
            ("m-org-initech", "Initech"),
        ];
        let org_id = |name: &str| {
            orgs.iter().find(|(_, n)| *n == name).map(|(id, _)| (*id).to_owned()).unwrap_or_default()
        };
        let users = DEMO_USERS
            .iter()
            .map(|(login, password, org)| SimUser {
                id: format!("m-user-{login}"),
                login_name: (*login).to_owned(),
                password: Some((*password).to_owned()),
                name: capitalised(login),
                email: Some(format!("{login}@{}.example", org.to_lowercase().replace(' ', "-"))),
                role: match *login {
                    "oadmin" => Role::Oadmin,
                    "apiadmin" => Role::Admin,
                    _ => Role::User,
                },
                organization_id: org_id(org),
                enabled: *login != "carol",
                password_change_required: *login == "dave",
                external: false,
            })
            .collect();
        Self {
            organizations: orgs.iter().map(|(id, name)| organization(id, name)).collect(),
            users,
            apis: vec![
                api("m-api-petstore", "Petstore", "Pets for sale", &["m-org-acme", "m-org-globex"]),
                SimApi {
                    approval: true,
                    ..api("m-api-payments", "Payments", "Take card payments", &["m-org-acme"])
                },
                api("m-api-logistics", "Logistics", "Track parcels", &["m-org-globex"]),
            ],
            applications: vec![
                application("m-app-acme-mobile", "Acme Mobile", "m-org-acme", "m-user-alice"),
                application("m-app-globex-shop", "Globex Shop", "m-org-globex", "m-user-bob"),
            ],
            api_keys: Vec::new(),
            oauth_clients: Vec::new(),
            api_access: vec![access("m-access-acme-petstore", "m-app-acme-mobile", "m-api-petstore")],
        }
    }

    /// A sample slave with organizations named like the master's ("Acme", "Globex",
    /// "API Development"; no "Initech") and APIs of its own. Known flavours are `eu` and
    /// `staging`; any other flavour gets generic APIs named after it.
    pub fn demo_slave(flavour: &str) -> Self {
        let prefix: String =
            flavour.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_lowercase();
        let id = |what: &str| format!("{prefix}-{what}");
        let (acme, globex, apidev) = (id("org-acme"), id("org-globex"), id("org-apidev"));
        let apis = match flavour {
            "eu" => vec![
                api(&id("api-weather"), "EU Weather", "Forecasts for Europe", &[&acme, &globex]),
                api(&id("api-vat"), "EU VAT", "Validate VAT numbers", &[&acme]),
                api(&id("api-customs"), "EU Customs", "Customs declarations", &[&globex]),
            ],
            "staging" => vec![
                api(&id("api-sandbox"), "Sandbox", "Try anything", &[&acme, &globex]),
                api(&id("api-payments-next"), "Payments (next)", "The next Payments release", &[&acme]),
            ],
            other => vec![api(&id("api-main"), &format!("{other} API"), "Sample API", &[&acme, &globex])],
        };
        Self {
            organizations: vec![
                organization(&acme, "Acme"),
                organization(&globex, "Globex"),
                organization(&apidev, "API Development"),
            ],
            users: Vec::new(),
            apis,
            applications: vec![application(&id("app-acme-batch"), "Acme Batch", &acme, "")],
            api_keys: Vec::new(),
            oauth_clients: Vec::new(),
            api_access: Vec::new(),
        }
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn organization(id: &str, name: &str) -> SimOrganization {
    SimOrganization {
        id: id.to_owned(),
        name: name.to_owned(),
        description: Some(format!("The {name} organization")),
        email: None,
        enabled: true,
    }
}

fn api(id: &str, name: &str, summary: &str, organizations: &[&str]) -> SimApi {
    let slug: String = name.to_lowercase().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    SimApi {
        id: id.to_owned(),
        name: name.to_owned(),
        summary: summary.to_owned(),
        kind: "rest".to_owned(),
        uri: None,
        organizations: organizations.iter().map(|org| (*org).to_owned()).collect(),
        approval: false,
        definition: json!({
            "swagger": "2.0",
            "info": { "title": name, "description": summary, "version": "1.0" },
            "host": "gateway.example",
            "schemes": ["https"],
            "basePath": format!("/{slug}"),
            "paths": {
                "/items": { "get": { "summary": format!("List {name} items"),
                                     "responses": { "200": { "description": "OK" } } } }
            }
        }),
    }
}

/// An application's approved access to an API.
fn access(id: &str, application_id: &str, api_id: &str) -> SimApiAccess {
    SimApiAccess {
        id: id.to_owned(),
        application_id: application_id.to_owned(),
        api_id: api_id.to_owned(),
        state: "approved".to_owned(),
        created_by: None,
        created_on: 1_700_000_000_000,
        enabled: true,
    }
}

fn application(id: &str, name: &str, organization_id: &str, created_by: &str) -> SimApplication {
    SimApplication {
        id: id.to_owned(),
        name: name.to_owned(),
        description: Some(format!("{name}, created with the demo data")),
        organization_id: organization_id.to_owned(),
        created_by: (!created_by.is_empty()).then(|| created_by.to_owned()),
        created_on: 1_700_000_000_000,
        enabled: true,
        state: "approved".to_owned(),
        usage: demo_usage(id),
    }
}

/// A day of calls per hour with a working-day shape, different for each application.
fn demo_usage(id: &str) -> Vec<f64> {
    let seed = id.bytes().fold(7u32, |acc, b| acc.wrapping_mul(31).wrapping_add(u32::from(b)));
    (0..24u32)
        .map(|hour| {
            let busy = if (8..19).contains(&hour) { 140 - 9 * hour.abs_diff(13) } else { 8 };
            let wobble = (seed.wrapping_mul(hour + 3) >> 3) % 37;
            f64::from(busy + wobble)
        })
        .collect()
}
