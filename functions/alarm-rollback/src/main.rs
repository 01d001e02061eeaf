//! Lambda entry point of `alarm-rollback`: configuration and clients once, then the runtime loop.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let aws = shared::lambda::init().await;
    let config = alarm_rollback::Config::from_env()?;
    let rollbacker = alarm_rollback::rollbacker(
        aws_sdk_ecs::Client::new(&aws),
        aws_sdk_applicationautoscaling::Client::new(&aws),
        aws_sdk_dynamodb::Client::new(&aws),
        aws_sdk_sns::Client::new(&aws),
        config,
    );
    shared::lambda::serve(|event| alarm_rollback::handle(&rollbacker, event)).await
}
