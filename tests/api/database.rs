//! The SQL schema from empty on SQLite and PostgreSQL, admin accounts and the audit log, on both.

use portico::store::Database;
use portico::store::sql::{AdminName, NewAuditEntry};
use secrecy::SecretString;

use crate::support::TestPostgres;

async fn sqlite() -> (Database, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    // A nested folder that does not exist yet: Portico creates it.
    let url = format!("sqlite://{}", dir.path().join("nested/portico.db").display());
    let db = Database::connect(&SecretString::from(url.clone()), 2).await.unwrap();
    (db, url, dir)
}

/// Looks at the schema with a connection of its own, as an operator's tool would.
async fn table_names(db: &Database, url: &str) -> Vec<String> {
    let sql = match db.backend() {
        portico::store::sql::Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        portico::store::sql::Backend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
        }
    };
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let names: Vec<String> = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
    pool.close().await;
    names
}

async fn migrations_apply_from_empty_and_are_idempotent(db: &Database, url: &str) {
    assert!(table_names(db, url).await.iter().all(|t| t != "admins"), "empty before");
    let applied = db.migrate().await.unwrap();
    assert!(applied >= 1, "migrations ran from empty");
    let tables = table_names(db, url).await;
    for t in ["admins", "audit_log", "_sqlx_migrations"] {
        assert!(tables.iter().any(|x| x == t), "{t} in {tables:?}");
    }
    assert_eq!(db.migrate().await.unwrap(), 0, "nothing to apply the second time");
}

async fn admins_and_audit_round_trip(db: &Database) {
    db.migrate().await.unwrap();
    let alice = AdminName::parse("alice").unwrap();
    let hash = portico::password::hash(SecretString::from("a long enough password")).await.unwrap();
    db.create_admin(&alice, &hash).await.unwrap();
    let again = db.create_admin(&alice, &hash).await;
    assert!(again.unwrap_err().to_string().contains("already exists"));
    let stored = db.admin_password_hash(&alice).await.unwrap();
    assert!(portico::password::verify(SecretString::from("a long enough password"), stored).await);

    let new_hash = portico::password::hash(SecretString::from("another long password")).await.unwrap();
    db.set_admin_password(&alice, &new_hash).await.unwrap();
    let stored = db.admin_password_hash(&alice).await.unwrap();
    assert!(!portico::password::verify(SecretString::from("a long enough password"), stored.clone()).await);
    assert!(portico::password::verify(SecretString::from("another long password"), stored).await);
    let nobody = AdminName::parse("nobody").unwrap();
    assert!(db.set_admin_password(&nobody, &new_hash).await.is_err());
    assert_eq!(
        db.list_admins().await.unwrap().iter().map(|a| a.username.as_str()).collect::<Vec<_>>(),
        ["alice"]
    );

    for i in 0..5 {
        let target = format!("t{i}");
        db.audit(NewAuditEntry {
            actor: "cli",
            action: "admin.add",
            target: Some(&target),
            detail: Some(serde_json::json!({ "n": i })),
            client_ip: None,
        })
        .await
        .unwrap();
    }
    let first = db.audit_page(None, 3).await.unwrap();
    assert_eq!(first.iter().map(|e| e.target.as_deref().unwrap()).collect::<Vec<_>>(), ["t4", "t3", "t2"]);
    let second = db.audit_page(Some(&first[2].id), 3).await.unwrap();
    assert_eq!(second.iter().map(|e| e.target.as_deref().unwrap()).collect::<Vec<_>>(), ["t1", "t0"]);
}

#[tokio::test]
async fn sqlite_migrations_apply_from_empty() {
    let (db, url, _dir) = sqlite().await;
    migrations_apply_from_empty_and_are_idempotent(&db, &url).await;
}

#[tokio::test]
async fn sqlite_admins_and_audit() {
    let (db, _url, _dir) = sqlite().await;
    admins_and_audit_round_trip(&db).await;
}

#[tokio::test]
async fn postgres_migrations_apply_from_empty() {
    let Some(pg) = TestPostgres::create("postgres_migrations_apply_from_empty").await else {
        return;
    };
    let db = Database::connect(&SecretString::from(pg.url.clone()), 2).await.unwrap();
    migrations_apply_from_empty_and_are_idempotent(&db, &pg.url).await;
    db.close().await;
}

#[tokio::test]
async fn postgres_admins_and_audit() {
    let Some(pg) = TestPostgres::create("postgres_admins_and_audit").await else {
        return;
    };
    let db = Database::connect(&SecretString::from(pg.url.clone()), 2).await.unwrap();
    admins_and_audit_round_trip(&db).await;
    db.close().await;
}
