//! `connvault oauth-app …`: the deployment's OAuth app of each provider.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use secrecy::SecretString;

use crate::config::GlobalArgs;
use crate::crypto::Keyring;
use crate::models::ProviderSlug;
use crate::repositories::oauth_apps::{self, OAuthAppInput};

#[derive(Subcommand, Debug)]
pub enum OAuthAppAction {
    /// Create or replace a provider's OAuth app. The client secret is read from a file
    /// or an environment variable, never from the command line.
    Set {
        #[arg(long)]
        provider: String,
        #[arg(long)]
        client_id: String,
        /// File holding the client secret (surrounding whitespace is trimmed).
        #[arg(long, conflicts_with = "client_secret_env")]
        client_secret_file: Option<PathBuf>,
        /// Environment variable holding the client secret.
        #[arg(long)]
        client_secret_env: Option<String>,
        /// A URL connect sessions may return the end user to (repeat for several).
        #[arg(long = "return-url")]
        return_urls: Vec<String>,
    },
    /// List the apps: provider, client id, secret mask, allowed return URLs.
    List,
    /// Delete a provider's app.
    Delete {
        #[arg(long)]
        provider: String,
    },
}

fn read_secret(file: Option<PathBuf>, env: Option<String>) -> anyhow::Result<Option<SecretString>> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return Ok(Some(SecretString::from(text.trim().to_owned())));
    }
    if let Some(name) = env {
        let value = std::env::var(&name)
            .with_context(|| format!("environment variable {name} is not set"))?;
        return Ok(Some(SecretString::from(value.trim().to_owned())));
    }
    Ok(None)
}

/// One line per app: provider, client id, secret mask, allowed return URLs.
fn print_app(app: &oauth_apps::OAuthAppSummary) {
    println!(
        "{}\t{}\t{}\t{}",
        app.provider,
        app.client_id,
        app.client_secret_mask,
        app.allowed_return_urls.join(",")
    );
}

pub async fn run(global: &GlobalArgs, action: OAuthAppAction) -> anyhow::Result<()> {
    let db = super::open_migrated(global).await?;
    match action {
        OAuthAppAction::Set {
            provider,
            client_id,
            client_secret_file,
            client_secret_env,
            return_urls,
        } => {
            let secret = read_secret(client_secret_file, client_secret_env)?;
            // Local and test profiles make their key file here if `serve` has not yet.
            let master = super::master_key::resolve(global, true)?;
            let keyring = Keyring::open(db.clone(), master, global.keyring_options()).await?;
            let app = oauth_apps::set(
                &db,
                &keyring,
                OAuthAppInput {
                    provider: ProviderSlug::parse(&provider)?,
                    client_id,
                    client_secret: secret,
                    allowed_return_urls: return_urls,
                },
            )
            .await?;
            print_app(&app);
        }
        OAuthAppAction::List => {
            for app in oauth_apps::list(&db).await? {
                print_app(&app);
            }
        }
        OAuthAppAction::Delete { provider } => {
            oauth_apps::delete(&db, &provider).await?;
            println!("deleted the OAuth app of {provider}");
        }
    }
    Ok(())
}
