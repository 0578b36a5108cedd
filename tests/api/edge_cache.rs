//! The user and organization cache in a real Redis, looked at as someone with access to Redis
//! would: no login name, name, email or organization in clear, no value that can be altered or
//! moved to another key and still be believed, and still a cache (a hit saves the manager call).

use portico::simulator::Simulator;

use crate::support::managers::{start_master, start_slave};
use crate::support::{RedisServer, TestApp, TestAppBuilder};

/// What the simulator's master knows of alice (`SimulatorData::demo_master`): login name, name,
/// email, organization name, and the ids of her and of her organization on every manager.
const ALICE: &[&str] =
    &["alice", "Alice", "alice@acme.example", "Acme", "acme", "m-user-alice", "m-org-acme", "eu-org-acme"];

/// The cache entries in Redis by kind (`user:master`, `org-name:master`, `org-id:prod-eu`, …):
/// `(kind, full key, value)`.
fn cache_entries(redis: &RedisServer) -> Vec<(String, String, Vec<u8>)> {
    let mut entries: Vec<(String, String, Vec<u8>)> = redis
        .dump()
        .into_iter()
        .filter_map(|(key, value)| {
            let rest = &key[key.find(":cache:")? + ":cache:".len()..];
            let kind = rest[..rest.rfind(':')?].to_owned();
            Some((kind, key, value))
        })
        .collect();
    entries.sort();
    entries
}

fn entry<'a>(entries: &'a [(String, String, Vec<u8>)], kind: &str) -> &'a (String, String, Vec<u8>) {
    entries.iter().find(|(k, _, _)| k == kind).unwrap_or_else(|| panic!("no {kind} entry in {entries:?}"))
}

fn set(redis: &RedisServer, key: &str, value: &[u8]) {
    let _: () = redis::cmd("SET").arg(key).arg(value).query(&mut redis.client()).expect("SET");
}

/// The organization look-ups a manager answered: by id on the master, by name on a slave.
fn organization_lookups(sim: &Simulator) -> usize {
    sim.requests().iter().filter(|r| r.method == "GET" && r.path.contains("/organizations")).count()
}

/// The organization look-ups Portico made on the master and on each slave. A slave asks the
/// master for the user's organization at each login it accepts (as "Get Organization Name" does
/// on a real slave): those are not Portico's.
fn portico_lookups(master: &Simulator, slaves: [&Simulator; 2]) -> [usize; 3] {
    let accepted = |sim: &Simulator| {
        sim.requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/login") && r.status == Some(303))
            .count()
    };
    let by_slaves: usize = slaves.iter().map(|s| accepted(s)).sum();
    [
        organization_lookups(master) - by_slaves,
        organization_lookups(slaves[0]),
        organization_lookups(slaves[1]),
    ]
}

fn assert_nothing_in_clear(redis: &RedisServer) {
    let dump = redis.dump();
    assert!(dump.iter().any(|(k, _)| k.contains(":cache:user:")), "the user is cached");
    for (key, value) in &dump {
        for needle in ALICE {
            assert!(!key.contains(needle), "{needle:?} in the key {key}");
            assert!(
                !value.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle:?} in clear in Redis at {key}"
            );
        }
    }
}

async fn sign_in_again(app: &TestApp) -> String {
    assert_eq!(app.sign_out().await.status(), 303);
    assert_eq!(app.sign_in("alice", "alice-password").await.status(), 303);
    app.get("/environments").await.text().await.unwrap()
}

#[tokio::test]
async fn cached_users_and_organizations_are_sealed_bound_to_their_key_and_still_save_calls() {
    let Some(redis) = RedisServer::start("cached_users_and_organizations_are_sealed") else { return };
    let master = start_master().await;
    let eu = start_slave("eu", &master.url).await;
    let staging = start_slave("staging", &master.url).await;
    let app = TestAppBuilder::new(master.url.as_str())
        .redis(&redis)
        .slave("prod-eu", "Production EU", eu.url.as_str())
        .slave("staging", "Staging", staging.url.as_str())
        .timeouts("5s", "5s")
        .spawn()
        .await;
    let lookups = || portico_lookups(&master, [&eu, &staging]);

    assert_eq!(app.sign_in("alice", "alice-password").await.status(), 303);
    let entries = cache_entries(&redis);
    let kinds: Vec<&str> = entries.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(kinds, ["org-id:prod-eu", "org-id:staging", "org-name:master", "user:master"]);
    assert_eq!(lookups(), [1, 1, 1], "the first sign-in fills the cache");
    assert_nothing_in_clear(&redis);

    // A hit opens the sealed entry and saves every organization look-up.
    sign_in_again(&app).await;
    assert_eq!(lookups(), [1, 1, 1], "the second sign-in is answered from the cache");

    // An entry as an earlier version wrote it (in clear), or forged: not believed.
    let (_, name_key, _) = entry(&entries, "org-name:master");
    set(&redis, name_key, b"Evil Corp");
    // A sealed entry moved to the same organization's key on another environment: not believed.
    let (_, eu_key, eu_value) = entry(&entries, "org-id:prod-eu");
    let (_, staging_key, staging_value) = entry(&entries, "org-id:staging");
    set(&redis, staging_key, eu_value);
    // An altered sealed entry.
    let (_, user_key, user_value) = entry(&entries, "user:master");
    let mut altered = user_value.clone();
    *altered.last_mut().unwrap() ^= 1;
    set(&redis, user_key, &altered);

    let page = sign_in_again(&app).await;
    assert!(page.contains("Acme") && !page.contains("Evil Corp"), "the manager's name is shown:\n{page}");
    assert_eq!(lookups(), [2, 1, 2], "the entries that did not open are misses, the intact one a hit");
    let now = cache_entries(&redis);
    assert_ne!(entry(&now, "org-name:master").2, b"Evil Corp", "replaced");
    assert_ne!(&entry(&now, "org-id:staging").2, eu_value, "replaced");
    assert_ne!(&entry(&now, "org-id:staging").2, staging_value, "sealed afresh");
    assert_eq!(&entry(&now, "org-id:prod-eu").2, eu_value, "the intact entry is kept");
    assert_ne!(entry(&now, "user:master").2, altered, "the user is written again at each sign-in");
    assert_eq!(entry(&now, "org-id:prod-eu").1, *eu_key);
    assert_nothing_in_clear(&redis);

    // The replacements open: the next sign-in asks no manager again.
    sign_in_again(&app).await;
    assert_eq!(lookups(), [2, 1, 2], "the replaced entries are hits");
    app.stop().await;
}
