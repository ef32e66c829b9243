//! The `connvault` binary; see [`connvault::cli`].

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match connvault::cli::run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", connvault::cli::error_line(&err));
            std::process::ExitCode::FAILURE
        }
    }
}
