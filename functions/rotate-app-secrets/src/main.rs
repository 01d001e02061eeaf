//! Lambda entry point of `rotate-app-secrets`: configuration and clients once, then the runtime loop.

use lambda_runtime::{Error, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::lambda::init_tracing();
    let config = rotate_app_secrets::Config::from_env()?;
    let aws = aws_config::load_from_env().await;
    let rotator = rotate_app_secrets::rotator(aws_sdk_secretsmanager::Client::new(&aws), config);
    run(service_fn(|event| {
        shared::lambda::handle_rotation(&rotator, event)
    }))
    .await
}
