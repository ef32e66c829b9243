//! `connvault keys …`: data keys and the master key.

use std::path::PathBuf;

use clap::Subcommand;

use crate::config::GlobalArgs;
use crate::crypto::{Keyring, MasterKey};
use crate::services::reencrypt;

#[derive(Subcommand, Debug)]
pub enum KeysAction {
    /// List data keys: state, encryptions reserved, ciphertexts using each.
    Status,
    /// Make a new active data key; older keys stay readable.
    Rotate,
    /// Move every ciphertext to the active key, in batches (resumable, safe while serving).
    Reencrypt {
        #[arg(long, default_value_t = 500)]
        batch_size: u64,
        /// Stop after this many rows (the next run continues).
        #[arg(long)]
        max_rows: Option<u64>,
    },
    /// Destroy a data key that no ciphertext uses any more.
    Retire { id: u32 },
    /// Write a new random master key to a file (mode 0600) and print its fingerprint.
    GenerateMasterKey {
        #[arg(long)]
        out: PathBuf,
    },
    /// Re-wrap every data key under a new master key; ciphertexts are untouched.
    /// Afterwards configure the new key and restart.
    RotateMaster {
        #[arg(long)]
        new_key_file: PathBuf,
    },
}

pub async fn run(global: &GlobalArgs, action: KeysAction) -> anyhow::Result<()> {
    if let KeysAction::GenerateMasterKey { out } = &action {
        let key = MasterKey::generate();
        key.write_new_file(out)?;
        println!("wrote master key {} to {}", key.id(), out.display());
        return Ok(());
    }
    let master = super::master_key::resolve(global, false)?;
    let db = super::open_migrated(global).await?;
    let keyring = Keyring::open(db.clone(), master, global.keyring_options()).await?;
    match action {
        KeysAction::Status => {
            println!("master key {}", keyring.master_key_id());
            println!("id\tstate\tencryptions\tciphertexts\tcreated_at");
            for k in keyring.status().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    k.id,
                    k.state.as_str(),
                    k.encryptions,
                    k.ciphertexts,
                    k.created_at.to_rfc3339()
                );
            }
        }
        KeysAction::Rotate => {
            let id = keyring.rotate().await?;
            println!("active data key {id}");
        }
        KeysAction::Reencrypt {
            batch_size,
            max_rows,
        } => {
            let report = reencrypt::run(&db, &keyring, batch_size, max_rows).await?;
            println!(
                "re-encrypted {} skipped {} unreadable {} remaining {}",
                report.reencrypted, report.skipped, report.unreadable, report.remaining
            );
            if report.unreadable > 0 {
                anyhow::bail!(
                    "{} stored secret(s) could not be decrypted and stay under their old key; the log names them",
                    report.unreadable
                );
            }
        }
        KeysAction::Retire { id } => {
            keyring.retire(id).await?;
            println!("retired data key {id}");
        }
        KeysAction::RotateMaster { new_key_file } => {
            let new_master = MasterKey::from_file(&new_key_file)?;
            let count = keyring.rewrap(&new_master).await?;
            println!(
                "re-wrapped {count} data key(s) under master key {}; configure CONNVAULT_MASTER_KEY_FILE={} and restart",
                new_master.id(),
                new_key_file.display()
            );
        }
        KeysAction::GenerateMasterKey { .. } => {}
    }
    Ok(())
}
