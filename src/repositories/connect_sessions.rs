//! A tenant's connect sessions: inserted once, then moved from status to status by one
//! compare-and-swap ([`transition`]), so that a link and a state work once.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    QueryFilter, Set, Statement,
};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::models::connect_session::{self, SessionStatus};
use crate::models::json::StringList;
use crate::models::{TenantId, tenant};
use crate::tenancy::{self, TenantScope};

/// A new session as the service made it: ids, hashes and limits already checked.
pub struct NewSession {
    pub id: Uuid,
    pub provider: String,
    /// For a link with a picker: the providers allowed, `provider` first.
    pub allowed_providers: Option<Vec<String>>,
    pub token_hash: Vec<u8>,
    pub return_url: String,
    pub scopes: Vec<String>,
    pub end_user_label: Option<String>,
    pub actor_key_id: Option<Uuid>,
    pub actor_name: String,
    pub expires_at: DateTime<Utc>,
}

/// Inserts a `created` session. `UnknownTenant` when the tenant does not exist.
pub async fn insert<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    input: NewSession,
) -> Result<connect_session::Model> {
    let now = super::now();
    let row = connect_session::ActiveModel {
        id: Set(input.id),
        tenant_id: Set(tenant.as_uuid()),
        provider_slug: Set(input.provider),
        allowed_providers: Set(input.allowed_providers.map(StringList)),
        token_hash: Set(input.token_hash),
        state_hash: Set(None),
        verifier_ciphertext: Set(None),
        verifier_key_id: Set(None),
        return_url: Set(input.return_url),
        scopes: Set(StringList(input.scopes)),
        end_user_label: Set(input.end_user_label),
        status: Set(SessionStatus::Created),
        connection_id: Set(None),
        error_code: Set(None),
        actor_key_id: Set(input.actor_key_id),
        actor_name: Set(Some(input.actor_name)),
        expires_at: Set(input.expires_at),
        created_at: Set(now),
        updated_at: Set(now),
    };
    tenancy::write(db, tenant, async |db| {
        if tenant::Entity::find_by_id(tenant.as_uuid())
            .one(db)
            .await?
            .is_none()
        {
            return Err(Error::UnknownTenant(tenant.as_uuid()));
        }
        Ok(row.insert(db).await?)
    })
    .await
}

/// The tenant's connect session, or `None`.
pub async fn get<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<connect_session::Model>> {
    let query = connect_session::Entity::find()
        .filter(connect_session::Column::TenantId.eq(tenant.as_uuid()))
        .filter(connect_session::Column::Id.eq(id));
    tenancy::read(db, tenant, async |db| Ok(query.one(db).await?)).await
}

/// A step of a session's life. Each names the status it leaves.
pub enum Transition {
    /// `created` → `started`: the link was opened for `provider`; the state's hash
    /// and the encrypted PKCE verifier are stored.
    Start {
        provider: String,
        state_hash: Vec<u8>,
        verifier_key_id: u32,
        verifier_ciphertext: Vec<u8>,
    },
    /// `started` → `exchanging`: the state is consumed and the verifier erased.
    Consume,
    /// `created` → `exchanging`: the connect form's credential for `provider` passed
    /// its test and is being stored; the link is spent.
    Claim { provider: String },
    /// `exchanging` → `completed`, with the connection it made.
    Complete { connection_id: Uuid },
    /// `from` → `failed` with an error code; the verifier is erased.
    Fail { from: SessionStatus, code: String },
}

impl Transition {
    fn from(&self) -> SessionStatus {
        match self {
            Transition::Start { .. } => SessionStatus::Created,
            Transition::Consume => SessionStatus::Started,
            Transition::Claim { .. } => SessionStatus::Created,
            Transition::Complete { .. } => SessionStatus::Exchanging,
            Transition::Fail { from, .. } => *from,
        }
    }

    fn changes(self, now: DateTime<Utc>) -> connect_session::ActiveModel {
        let mut row = connect_session::ActiveModel {
            updated_at: Set(now),
            ..Default::default()
        };
        match self {
            Transition::Start {
                provider,
                state_hash,
                verifier_key_id,
                verifier_ciphertext,
            } => {
                row.status = Set(SessionStatus::Started);
                row.provider_slug = Set(provider);
                row.state_hash = Set(Some(state_hash));
                row.verifier_ciphertext = Set(Some(verifier_ciphertext));
                row.verifier_key_id = Set(Some(verifier_key_id as i32));
            }
            Transition::Claim { provider } => {
                row.status = Set(SessionStatus::Exchanging);
                row.provider_slug = Set(provider);
            }
            Transition::Consume => {
                row.status = Set(SessionStatus::Exchanging);
                row.verifier_ciphertext = Set(None);
                row.verifier_key_id = Set(None);
            }
            Transition::Complete { connection_id } => {
                row.status = Set(SessionStatus::Completed);
                row.connection_id = Set(Some(connection_id));
            }
            Transition::Fail { code, .. } => {
                row.status = Set(SessionStatus::Failed);
                row.error_code = Set(Some(code));
                row.verifier_ciphertext = Set(None);
                row.verifier_key_id = Set(None);
            }
        }
        row
    }
}

/// Applies `step` if the session is still in the status the step leaves; false (and no
/// change) when it is not any more.
pub async fn transition<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: Uuid,
    step: Transition,
) -> Result<bool> {
    let update = connect_session::Entity::update_many()
        .filter(connect_session::Column::TenantId.eq(tenant.as_uuid()))
        .filter(connect_session::Column::Id.eq(id))
        .filter(connect_session::Column::Status.eq(step.from()))
        .set(step.changes(super::now()));
    let result = tenancy::write(db, tenant, async |db| update.exec(db).await).await?;
    Ok(result.rows_affected == 1)
}

/// Fails every connect session, of every tenant, that expired before it completed,
/// and erases its PKCE verifier. Returns how many. On PostgreSQL the function
/// `connvault_expire_connect_sessions` visits the tenants one at a time under the
/// policy.
pub async fn expire(db: &DatabaseConnection) -> Result<u64> {
    let now = super::now();
    let backend = db.get_database_backend();
    if backend == DbBackend::Postgres {
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                "SELECT connvault_expire_connect_sessions($1) AS n",
                [now.into()],
            ))
            .await?;
        let n: i64 = match row {
            Some(row) => row.try_get("", "n")?,
            None => 0,
        };
        return Ok(u64::try_from(n).unwrap_or(0));
    }
    let fail = Transition::Fail {
        from: SessionStatus::Created,
        code: "session_expired".to_owned(),
    };
    let result = connect_session::Entity::update_many()
        .set(fail.changes(now))
        .filter(connect_session::Column::ExpiresAt.lt(now))
        .filter(
            connect_session::Column::Status.is_in([SessionStatus::Created, SessionStatus::Started]),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
