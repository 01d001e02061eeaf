//! Lambda entry point of `after-hours-scaling`: configuration and clients once, then the runtime loop.

use lambda_runtime::{Error, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::lambda::init_tracing();
    let config = after_hours_scaling::Config::from_env()?;
    let aws = aws_config::load_from_env().await;
    let scaler = after_hours_scaling::scaler(
        aws_sdk_ecs::Client::new(&aws),
        aws_sdk_applicationautoscaling::Client::new(&aws),
        aws_sdk_sns::Client::new(&aws),
        config,
    );
    run(service_fn(|event| {
        after_hours_scaling::handle(&scaler, event)
    }))
    .await
}
