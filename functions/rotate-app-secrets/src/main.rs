//! Lambda entry point of `rotate-app-secrets`: configuration and clients once, then the runtime loop.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let aws = shared::lambda::init().await;
    let config = rotate_app_secrets::Config::from_env()?;
    let watch = shared::aws::ecs_consumers::watch(&aws, config.watch.clone());
    let rotator = rotate_app_secrets::rotator(aws_sdk_secretsmanager::Client::new(&aws), config)
        .watching(watch);
    shared::lambda::serve(|event| shared::lambda::handle_rotation(&rotator, event)).await
}
