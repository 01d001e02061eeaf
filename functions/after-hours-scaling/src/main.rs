//! Lambda entry point of `after-hours-scaling`: configuration and clients once, then the runtime loop.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let aws = shared::lambda::init().await;
    let config = after_hours_scaling::Config::from_env()?;
    let scaler = after_hours_scaling::scaler(
        aws_sdk_ecs::Client::new(&aws),
        aws_sdk_applicationautoscaling::Client::new(&aws),
        aws_sdk_sns::Client::new(&aws),
        config,
    );
    shared::lambda::serve(|event| after_hours_scaling::handle(&scaler, event)).await
}
