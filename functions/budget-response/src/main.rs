//! Lambda entry point of `budget-response`: configuration and clients once, then the runtime loop.

use lambda_runtime::{Error, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::lambda::init_tracing();
    let config = budget_response::Config::from_env()?;
    let aws = aws_config::load_from_env().await;
    let responder = budget_response::responder(
        aws_sdk_ecs::Client::new(&aws),
        aws_sdk_applicationautoscaling::Client::new(&aws),
        aws_sdk_dynamodb::Client::new(&aws),
        aws_sdk_sns::Client::new(&aws),
        config,
    );
    run(service_fn(|event| {
        budget_response::handle(&responder, event)
    }))
    .await
}
