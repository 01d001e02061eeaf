//! Lambda entry point of `rotate-openai-key`: configuration and clients once, then the runtime loop.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let aws = shared::lambda::init().await;
    let config = rotate_openai_key::Config::from_env()?;
    let watch = shared::aws::ecs_consumers::watch(&aws, config.watch.clone());
    let rotator = rotate_openai_key::rotator(aws_sdk_secretsmanager::Client::new(&aws), config)?
        .watching(watch);
    shared::lambda::serve(|event| shared::lambda::handle_rotation(&rotator, event)).await
}
