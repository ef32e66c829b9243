//! Keyset pagination: stable order, no duplicates, no gaps, even while rows are
//! inserted between pages.

use std::collections::HashSet;

use base64::Engine;
use connvault::Error;
use connvault::models::ProviderSlug;
use connvault::repositories::Page;
use connvault::repositories::connections;

use crate::support::{TestDb, connection, tenant};

async fn pages_cover_every_row_once_in_creation_order(t: TestDb) {
    let tenant = tenant(&t).await;
    let mut created = Vec::new();
    for i in 0..25 {
        created.push(
            connection(&t, tenant, "gitlab", &format!("group/project-{i:02}"))
                .await
                .id,
        );
    }
    connection(&t, tenant, "github", "not-listed").await;
    let slug = ProviderSlug::parse("gitlab").unwrap();

    let mut seen = Vec::new();
    let mut page = Page::first(10);
    let mut pages = 0;
    loop {
        let result = connections::list_by_tenant_provider(&t.db, tenant, &slug, page.clone())
            .await
            .unwrap();
        pages += 1;
        assert!(result.items.len() <= 10);
        seen.extend(result.items.iter().map(|c| c.id));
        match result.next_cursor {
            Some(cursor) => page = Page::after(10, cursor),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created, "creation order, every row once");
}

async fn rows_inserted_between_pages_cause_no_duplicates_or_gaps(t: TestDb) {
    let tenant = tenant(&t).await;
    let slug = ProviderSlug::parse("slack").unwrap();
    let mut original = HashSet::new();
    for i in 0..30 {
        original.insert(
            connection(&t, tenant, "slack", &format!("T{i:03}"))
                .await
                .id,
        );
    }

    let mut seen = Vec::new();
    let mut page = Page::first(7);
    let mut extra = 0;
    loop {
        let result = connections::list_by_tenant_provider(&t.db, tenant, &slug, page.clone())
            .await
            .unwrap();
        seen.extend(result.items.iter().map(|c| c.id));
        // Other writers keep inserting while the reader pages through.
        let writers = (0..3).map(|_| {
            extra += 1;
            let db = t.db.clone();
            let input = crate::support::new_connection("slack", &format!("NEW{extra:03}"));
            tokio::spawn(async move { connections::create(&db, tenant, input).await })
        });
        for w in futures::future::join_all(writers).await {
            w.unwrap().unwrap();
        }
        match result.next_cursor {
            Some(cursor) if seen.len() < 200 => page = Page::after(7, cursor),
            _ => break,
        }
    }
    let unique: HashSet<_> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no row is listed twice");
    assert!(
        original.is_subset(&unique),
        "every row that existed before is listed"
    );
}

async fn a_tampered_cursor_is_refused(t: TestDb) {
    let tenant = tenant(&t).await;
    let slug = ProviderSlug::parse("slack").unwrap();
    for bad in [
        "not-base64!!",
        "e30",
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"{\"t\":1}"),
    ] {
        let result =
            connections::list_by_tenant_provider(&t.db, tenant, &slug, Page::after(10, bad)).await;
        assert!(
            matches!(result, Err(Error::InvalidCursor)),
            "{bad}: {result:?}"
        );
    }
}

async fn the_page_size_is_clamped(t: TestDb) {
    let tenant = tenant(&t).await;
    let slug = ProviderSlug::parse("slack").unwrap();
    for i in 0..3 {
        connection(&t, tenant, "slack", &format!("T{i}")).await;
    }
    let zero = connections::list_by_tenant_provider(&t.db, tenant, &slug, Page::first(0))
        .await
        .unwrap();
    assert_eq!(zero.items.len(), 1, "a zero limit still returns one row");
    assert!(zero.next_cursor.is_some());
    let huge = connections::list_by_tenant_provider(&t.db, tenant, &slug, Page::first(10_000))
        .await
        .unwrap();
    assert_eq!(huge.items.len(), 3);
    assert!(huge.next_cursor.is_none());
}

crate::on_both_backends!(
    pages_cover_every_row_once_in_creation_order,
    rows_inserted_between_pages_cause_no_duplicates_or_gaps,
    a_tampered_cursor_is_refused,
    the_page_size_is_clamped,
);
