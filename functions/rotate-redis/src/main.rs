//! Lambda entry point of `rotate-redis`: configuration and clients once, then the runtime loop.

use lambda_runtime::{Error, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::lambda::init_tracing();
    let config = rotate_redis::Config::from_env()?;
    let aws = aws_config::load_from_env().await;
    let rotator = rotate_redis::rotator(
        aws_sdk_secretsmanager::Client::new(&aws),
        Some(aws_sdk_elasticache::Client::new(&aws)),
        config,
    )?;
    run(service_fn(|event| {
        shared::lambda::handle_rotation(&rotator, event)
    }))
    .await
}
