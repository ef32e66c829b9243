//! Tenant isolation at the repository layer: with another tenant's id, every method
//! finds nothing and changes nothing.

use connvault::Error;
use connvault::models::connection::ConnectionStatus;
use connvault::models::{ExternalId, ProviderSlug};
use connvault::repositories::Page;
use connvault::repositories::connections::{self, TokenStatusPatch};

use crate::support::{TestDb, connection, tenant};

async fn another_tenant_cannot_read_or_change_a_connection(t: TestDb) {
    let a = tenant(&t).await;
    let b = tenant(&t).await;
    let a1 = connection(&t, a, "github", "acme/widgets").await;
    let a2 = connection(&t, a, "github", "acme/gadgets").await;
    let slug = ProviderSlug::parse("github").unwrap();

    // get / find / list as B: nothing.
    assert!(
        connections::get_by_id(&t.db, b, a1.connection_id())
            .await
            .unwrap()
            .is_none()
    );
    let found =
        connections::find_by_unique(&t.db, b, &slug, &ExternalId::parse("acme/widgets").unwrap())
            .await
            .unwrap();
    assert!(found.is_none());
    let listed = connections::list_by_tenant_provider(&t.db, b, &slug, Page::default())
        .await
        .unwrap();
    assert!(listed.items.is_empty());
    assert!(listed.next_cursor.is_none());

    // update / make_default as B: NotFound, and A's rows are untouched.
    let update = connections::update_tokens_status(
        &t.db,
        b,
        a1.connection_id(),
        TokenStatusPatch {
            status: Some(ConnectionStatus::Revoked),
            health_status: Some(connvault::models::connection::HealthStatus::Unhealthy),
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(update, Err(Error::NotFound("connection"))));
    let default = connections::make_default(&t.db, b, a2.connection_id()).await;
    assert!(matches!(default, Err(Error::NotFound("connection"))));

    let a1_after = connections::get_by_id(&t.db, a, a1.connection_id())
        .await
        .unwrap();
    let a2_after = connections::get_by_id(&t.db, a, a2.connection_id())
        .await
        .unwrap();
    assert_eq!(a1_after, Some(a1));
    assert_eq!(a2_after, Some(a2));
}

async fn a_cursor_from_one_tenant_shows_nothing_of_it_to_another(t: TestDb) {
    let a = tenant(&t).await;
    let b = tenant(&t).await;
    for i in 0..5 {
        connection(&t, a, "slack", &format!("T{i}")).await;
    }
    connection(&t, b, "slack", "B-only").await;
    let slug = ProviderSlug::parse("slack").unwrap();
    let page = connections::list_by_tenant_provider(&t.db, a, &slug, Page::first(2))
        .await
        .unwrap();
    let cursor = page.next_cursor.expect("more pages");
    let as_b = connections::list_by_tenant_provider(&t.db, b, &slug, Page::after(50, cursor))
        .await
        .unwrap();
    assert!(as_b.items.iter().all(|c| c.tenant_id == b.as_uuid()));
}

crate::on_both_backends!(
    another_tenant_cannot_read_or_change_a_connection,
    a_cursor_from_one_tenant_shows_nothing_of_it_to_another,
);
