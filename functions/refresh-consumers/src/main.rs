//! Lambda entry point of `refresh-consumers`: configuration and clients once, then the runtime
//! loop.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let aws = shared::lambda::init().await;
    let config = refresh_consumers::Config::from_env()?;
    let refresher = refresh_consumers::refresher(
        aws_sdk_secretsmanager::Client::new(&aws),
        aws_sdk_ecs::Client::new(&aws),
        aws_sdk_dynamodb::Client::new(&aws),
        aws_sdk_sns::Client::new(&aws),
        config,
    );
    shared::lambda::serve(|event| refresh_consumers::handle(&refresher, event)).await
}
